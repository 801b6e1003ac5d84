"""When the engine writes its queue, and what it says when it cannot.

The queue file is written whole. What a user asks for (an add, a pause, a remove) is
saved at once; what the downloads change (progress, ends) at most once per
SAVE_SECONDS: saving at every end of a long list of small files made the engine's work
grow with the square of the list. A crash loses at most a second of ends, and a rerun
finds those files complete. Saving never takes more than a tenth of the time either: a
queue of thousands takes tens of milliseconds to write, and an `add -i` of thousands of
URLs is as many commands, each of which saved it (4000 took 36 s).
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
COST_SHARE = 10
"""Between two saves, at least this many times what the last one took."""


class QueueSaver:
    """Used by the engine's scheduler thread only."""

    def __init__(
        self, joblist: JobList, ledger: Ledger, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._joblist = joblist
        self._ledger = ledger
        self._clock = clock
        self._last = clock()
        self._took = 0.0
        self._asked = False
        """A command was applied since the last save."""
        self._failed: str | None = None

    def due(self, asked: bool, running: bool) -> bool:
        """``asked``: a user's command was applied since the last look; ``running``:
        downloads are running (their progress is saved every SAVE_SECONDS)."""
        if not self._joblist.persistent:  # get's queue is never saved
            return False
        self._asked = self._asked or asked
        since = self._clock() - self._last
        if since < COST_SHARE * self._took:
            return False
        if since >= SAVE_SECONDS:
            return self._ledger.dirty or running
        return self._asked and self._ledger.dirty

    def save(self, running: dict[str, Download]) -> None:
        """A failure is said once, not on every retry (L9: a full disk flooded the log)."""
        started = self._clock()
        jobs = self._ledger.progress(running)
        self._asked = False
        try:
            self._joblist.save(jobs)
            said, self._failed = self._failed, None
            if said:
                self._ledger.note("", "the queue is saved again", "queue")
        except OSError as e:
            said, self._failed = self._failed, f"cannot save the queue: {e.strerror or e}"
            if said != self._failed:
                self._ledger.note("", self._failed, "queue")
        finally:
            self._last = self._clock()
            self._took = self._last - started


__all__ = ["COST_SHARE", "SAVE_SECONDS", "QueueSaver"]
