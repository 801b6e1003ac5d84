"""What a download said last, for the line a front end shows beside it.

A note is news while it is new: "resuming at …", "retrying in 5 s …", "connection 3 is
much slower …; reconnecting". Once bytes have kept coming for ``NOTE_SECONDS`` after it,
it is old news (the retry worked, the resume is under way) and the line goes quiet; the
log keeps every note. A note after which no byte came (a failure, "done", a stall)
stays, and so does one that stays true for the whole download ("lasting": no Range
support, so an interruption starts over).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

NOTE_SECONDS = 3.0


class _Said(NamedTuple):
    text: str
    at: float
    completed: int
    lasting: bool


class Note:
    """Written by the download's threads, read by any: its state is one tuple, replaced
    whole (under a lock, for writers), so a reader never sees a new text with an old
    time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._said = _Said("", 0.0, 0, False)
        self._lock = threading.Lock()

    def say(self, text: str, completed: int, lasting: bool = False) -> None:
        """``completed``: the download's bytes when it was said."""
        with self._lock:
            self._said = _Said(text, self._clock(), completed, lasting)

    def rebase(self, completed: int) -> None:
        """The download's count starts here (its map or stream exists now): a note said
        before it, against a count of 0 or of a map now dropped, waits for bytes beyond
        this."""
        with self._lock:
            said = self._said
            self._said = said._replace(completed=completed)

    def shown(self, completed: int) -> str:
        """The note, or "" once it is old news."""
        said = self._said
        if (
            not said.lasting
            and completed > said.completed
            and self._clock() - said.at >= NOTE_SECONDS
        ):
            return ""
        return said.text
