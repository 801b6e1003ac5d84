"""Say when the queue has finished: a terminal bell, and an OSC 9 notification that
terminals which support it (iTerm2, kitty, WezTerm, Windows Terminal) show as a desktop
notice and others ignore. Off unless asked for (`--notify`, or `notify = true`)."""

from __future__ import annotations

from typing import Any

from textual.app import App

from rangetui.core.snapshots import EngineSnapshot

OSC9 = "\x1b]9;rangetui: every download has ended\x07"


class QueueWatcher:
    """True once, each time the queue goes from busy (something queued or running) to
    idle: not at start-up on an idle queue, not again until it has been busy."""

    def __init__(self, snap: EngineSnapshot) -> None:
        self._busy = busy(snap)

    def ended(self, snap: EngineSnapshot) -> bool:
        was, self._busy = self._busy, busy(snap)
        return was and not self._busy


def busy(snap: EngineSnapshot) -> bool:
    return snap.going_on > 0


def announce(app: App[Any]) -> None:
    """The bell, then OSC 9 straight to the terminal (Textual has no call for it)."""
    app.bell()
    driver = getattr(app, "_driver", None)
    if driver is not None:
        driver.write(OSC9)
