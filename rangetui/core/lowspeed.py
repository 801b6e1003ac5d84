"""--lowest-speed-limit: a download that stays slower than this gives up (L12).

Without it, a server that sends a byte every two seconds never times out (each read
gets its byte before --timeout) and keeps a job, a slot and a connection forever.
curl has --speed-limit/--speed-time and aria2c --lowest-speed-limit; as curl does, the
whole download is judged over a window (a slow start or one slow connection among
fast ones is not a reason), and as always its progress is kept for a later run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rangetui.core.errors import FatalError
from rangetui.core.units import format_rate

WINDOW_SECONDS = 30.0
"""As curl's --speed-time default: long enough that a retry's backoff is not the verdict."""


class SpeedFloor:
    """Fed the bytes done so far; raises once a whole window stayed below the floor."""

    def __init__(self, floor: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.floor = floor
        self._clock = clock
        self._mark: tuple[float, int] | None = None

    def observe(self, done: int) -> None:
        if not self.floor:
            return
        now = self._clock()
        if self._mark is None or done < self._mark[1]:  # the first look, or a restart
            self._mark = (now, done)
            return
        since, then = self._mark
        if now - since < WINDOW_SECONDS:
            return
        rate = (done - then) / (now - since)
        if rate < self.floor:
            raise FatalError(
                f"slower than --lowest-speed-limit {format_rate(self.floor)} for"
                f" {WINDOW_SECONDS:.0f} s ({format_rate(rate)}); giving up"
            )
        self._mark = (now, done)


__all__ = ["WINDOW_SECONDS", "SpeedFloor"]
