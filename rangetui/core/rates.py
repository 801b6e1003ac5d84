"""Speeds measured over a window, so that one burst does not make a figure jump."""

from __future__ import annotations

from collections import deque


class Speedometer:
    """Bytes/s over a sliding window of (time, total) samples."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, total: int) -> float:
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return (total - b0) / (now - t0) if now > t0 else 0.0
