"""A token bucket shared by a download's connections, for ``--limit-rate`` and live limits."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Hands out byte allowances at ``rate`` bytes/s; callers block until theirs is due.

    Each grant is small (a twentieth of a second's worth) so the limit is smooth and a
    pause or quit is noticed quickly. ``rate`` None lets bytes through at once, so a
    download can carry a limiter from the start and have a limit set while it runs.
    A ``parent`` (the engine's limit for all downloads) is asked after this one, so the
    stricter of the two wins.
    """

    def __init__(self, rate: int | None, parent: RateLimiter | None = None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.parent = parent
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def set_rate(self, rate: int | None) -> None:
        """Any thread; from the next grant on. No debt or credit of the old rate is kept."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        with self._lock:
            self.rate = rate
            self._next = time.monotonic()

    def take(self, want: int, stop: threading.Event) -> int:
        """Reserve up to ``want`` bytes; returns the amount granted (at least 1)."""
        rate = self.rate
        grant = want
        if rate is not None:
            grant = max(1, min(want, rate // 20 or 1))
            with self._lock:
                now = time.monotonic()
                start = max(self._next, now - 0.25)
                self._next = start + grant / rate
                wait = start - now
            if wait > 0:
                stop.wait(wait)
        if self.parent is not None:
            grant = self.parent.take(grant, stop)
        return grant
