"""When the engine writes its queue, and what it says when it cannot.

The queue file is written whole. What a user asks for (an add, a pause, a remove) is
saved at once; what the downloads change (progress, ends) at most once per
SAVE_SECONDS: saving at every end of a long list of small files made the engine's work
grow with the square of the list. A crash loses at most a second of ends, and a rerun
finds those files complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rangetui.core.jobs import JobList
from rangetui.core.ledger import Ledger

if TYPE_CHECKING:
    from rangetui.core.download import Download

SAVE_SECONDS = 1.0


class QueueSaver:
    """Used by the engine's scheduler thread only."""

    def __init__(
        self, joblist: JobList, ledger: Ledger, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._joblist = joblist
        self._ledger = ledger
        self._clock = clock
        self._last = clock()
        self._failed: str | None = None

    def due(self, asked: bool, running: bool) -> bool:
        """``asked``: a user's command was applied since the last look; ``running``:
        downloads are running (their progress is saved every SAVE_SECONDS)."""
        if not self._joblist.persistent:  # get's queue is never saved
            return False
        if self._clock() - self._last >= SAVE_SECONDS:
            return self._ledger.dirty or running
        return asked and self._ledger.dirty

    def save(self, running: dict[str, Download]) -> None:
        """A failure is said once, not on every retry (L9: a full disk flooded the log)."""
        self._last = self._clock()
        jobs = self._ledger.progress(running)
        try:
            self._joblist.save(jobs)
            said, self._failed = self._failed, None
            if said:
                self._ledger.note("", "the queue is saved again", "queue")
        except OSError as e:
            said, self._failed = self._failed, f"cannot save the queue: {e.strerror or e}"
            if said != self._failed:
                self._ledger.note("", self._failed, "queue")


__all__ = ["SAVE_SECONDS", "QueueSaver"]
