"""The real TUI in a pty with every byte it wrote kept, escape sequences and all.

tests/pty_helpers.py keeps only the tail, with escapes stripped, for reading the screen.
Terminal-safety tests need the raw stream: which OSC sequences were sent, whether the
alternate screen was left at the end, whether a server's text reached the terminal as
control sequences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.pty_helpers import PtyDrain, Tui

RAW_LIMIT = 64 * 1024 * 1024
ALT_SCREEN_ON, ALT_SCREEN_OFF = b"\x1b[?1049h", b"\x1b[?1049l"
MOUSE_OFF = (b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l")
CURSOR_ON = b"\x1b[?25h"
OSC = re.compile(rb"\x1b\](\d*)")


class RawDrain(PtyDrain):
    """A PtyDrain that also keeps everything (up to RAW_LIMIT bytes)."""

    def __init__(self, master: int) -> None:
        super().__init__(master)
        self.raw = bytearray()

    def received(self, data: bytes) -> None:
        super().received(data)
        if len(self.raw) < RAW_LIMIT:
            self.raw += data


@dataclass
class RawTui(Tui):
    drain: RawDrain

    @classmethod
    def start_raw(cls, args: list[str], cwd: Path, **env: str) -> RawTui:
        tui = Tui.start(args, cwd, env=env, drain_type=RawDrain)
        assert isinstance(tui.drain, RawDrain)
        return cls(tui.proc, tui.master, tui.drain)

    @property
    def raw(self) -> bytes:
        return bytes(self.drain.raw)


def osc_numbers(raw: bytes) -> set[bytes]:
    """The numbers of every OSC sequence (ESC ] N ...) in ``raw``."""
    return {m.group(1) for m in OSC.finditer(raw)}


def assert_terminal_restored(raw: bytes) -> None:
    """The last alternate-screen switch leaves it; mouse reporting off; a cursor."""
    last_on = raw.rfind(ALT_SCREEN_ON)
    assert last_on >= 0, "the TUI never drew"
    after = raw[last_on:]
    assert ALT_SCREEN_OFF in after, f"still in the alternate screen; last bytes {raw[-200:]!r}"
    for sequence in (*MOUSE_OFF, CURSOR_ON):
        assert sequence in after, f"{sequence!r} never sent; last bytes {raw[-200:]!r}"
