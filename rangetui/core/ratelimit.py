"""A token bucket shared by a download's connections, for ``--limit-rate``."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Hands out byte allowances at ``rate`` bytes/s; callers block until theirs is due.

    Each grant is small (a twentieth of a second's worth) so the limit is smooth and a
    pause or quit is noticed quickly.
    """

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, want: int, stop: threading.Event) -> int:
        """Reserve up to ``want`` bytes; returns the amount granted (at least 1)."""
        grant = max(1, min(want, self.rate // 20 or 1))
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now - 0.25)
            self._next = start + grant / self.rate
            wait = start - now
        if wait > 0:
            stop.wait(wait)
        return grant
