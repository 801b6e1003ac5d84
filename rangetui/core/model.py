"""The values that cross thread boundaries: options in, immutable snapshots out."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from rangetui.core.blockmap import MapSnapshot
from rangetui.core.http import HttpOptions


class Phase(StrEnum):
    QUEUED = "queued"
    PROBING = "probing"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Options:
    """Per-download settings, from the command line or the add dialog."""

    connections: int = 8
    block_size: int = 1024 * 1024
    buffer_size: int = 1024 * 1024
    retries: int = 5
    limit_rate: int | None = None
    checksum: str | None = None  # sha256 hex
    http: HttpOptions = field(default_factory=HttpOptions)


@dataclass(frozen=True)
class ConnectionView:
    wid: int
    start: int
    pos: int
    end: int


@dataclass(frozen=True)
class DownloadSnapshot:
    """Everything a front end shows about one download, frozen at one instant."""

    url: str
    target: str | None
    phase: Phase
    size: int | None
    completed: int
    speed: float
    connections: tuple[ConnectionView, ...]
    blocks: MapSnapshot | None
    retries: int
    message: str
    etag: str | None = None
    last_modified: str | None = None

    @property
    def eta(self) -> float | None:
        if self.size is None or self.speed <= 0:
            return None
        return max(0, self.size - self.completed) / self.speed

    @property
    def fraction(self) -> float | None:
        if not self.size:
            return 1.0 if self.size == 0 and self.phase is Phase.DONE else None
        return min(1.0, self.completed / self.size)


class Speedometer:
    """Speed over a sliding window, so one burst does not make the figure jump."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, total: int) -> float:
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return (total - b0) / (now - t0) if now > t0 else 0.0
