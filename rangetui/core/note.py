"""What a download said last, for the line a front end shows beside it.

A note is news while it is new: "resuming at …", "retrying in 5 s …", "connection 3 is
much slower …; reconnecting". Once bytes have kept coming for ``NOTE_SECONDS`` after it,
it is old news (the retry worked, the resume is under way) and the line goes quiet; the
log keeps every note. A note after which no byte came (a failure, "done", a stall)
stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable

NOTE_SECONDS = 3.0


class Note:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._text = ""
        self._said_at = 0.0
        self._completed_then = 0

    def say(self, text: str, completed: int) -> None:
        """``completed``: the download's bytes when it was said."""
        self._text, self._said_at, self._completed_then = text, self._clock(), completed

    def shown(self, completed: int) -> str:
        """The note, or "" once it is old news."""
        if (
            self._text
            and completed > self._completed_then
            and self._clock() - self._said_at >= NOTE_SECONDS
        ):
            return ""
        return self._text
