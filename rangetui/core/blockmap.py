"""Which bytes of a file are on disk, and which connection fetches which range next.

The file is covered by segments ``[start, end)``; each has a ``done`` offset: bytes
``[start, done)`` are written. A connection owns at most one segment and streams it
with one Range request. When no unowned segment is left, an idle connection takes part
of another's range (``segments.steal``): a share sized so that both finish together,
or, from an owner far slower than itself, everything from the owner's write position
(the tail race), so that the download never waits on a straggler's last bytes. The
owner learns of the shrink on its next ``reserve``/``advance`` call, which returns the
segment's current end; bytes it is writing at that moment are reserved, so no cut
falls inside them and no byte is written by two connections.

Everything is guarded by one lock, but it is taken a couple of times per network read
(about a megabyte), never per byte, and never around file I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from rangetui.core.intervals import Interval, MapSnapshot, gaps, merge_intervals
from rangetui.core.segments import (
    MIN_STEAL_SECONDS,
    Segment,
    probation_share,
    split_largest,
    steal,
)

FORGIVING_PROGRESS = 1 << 20
"""Bytes a segment must gain after a failure before its failures are forgotten: a flaky
link that drops now and then still finishes, while a server that trickles a few bytes
and stalls on every request runs out of --retries instead of keeping us for hours."""


@dataclass(frozen=True)
class Claim:
    """What a connection should fetch: bytes ``[start, end)`` of segment ``segment``."""

    segment: int
    start: int
    end: int


class BlockMap:
    """Thread-safe map of done bytes and the segment each connection owns."""

    def __init__(self, size: int, block_size: int, done: Iterable[Interval] = ()) -> None:
        if size < 0 or block_size <= 0:
            raise ValueError("size must be >= 0 and block_size > 0")
        self.size = size
        self.block_size = block_size
        self._lock = threading.Lock()
        merged = merge_intervals((max(0, a), min(size, b)) for a, b in done)
        self._segments: list[Segment] = [Segment(a, b, b) for a, b in merged]
        self._segments += [Segment(a, a, b) for a, b in gaps(size, merged)]
        self._segments.sort(key=lambda s: s.start)
        self._completed = sum(b - a for a, b in merged)
        self._worker_rates: dict[int, float] = {}
        """What each connection achieved on its last range: an idle one is judged by it."""

    @classmethod
    def fresh(cls, size: int, block_size: int, parts: int) -> BlockMap:
        """A new map whose pending range is cut into ``parts`` block-aligned segments."""
        bmap = cls(size, block_size)
        bmap.partition(parts)
        return bmap

    def partition(self, parts: int) -> None:
        """Pre-split pending gaps so that ``parts`` connections can start at once.

        Before any connection runs, the gaps are cut into pieces of equal length, so
        equal connections finish together and nobody needs to steal at the end.
        """
        with self._lock:
            pending = [s for s in self._segments if s.remaining > 0]
            if pending and all(s.owner is None for s in pending) and len(pending) < parts:
                self._split_evenly(pending, parts)
            while sum(1 for s in self._segments if s.remaining > 0) < parts:
                if split_largest(self._segments, None, self.block_size) is None:
                    break

    def _split_evenly(self, gaps: list[Segment], parts: int) -> None:
        total = sum(s.remaining for s in gaps)
        for seg in gaps:
            share = round(parts * seg.remaining / total)
            pieces = min(share, seg.remaining // self.block_size)
            if pieces < 2:
                continue
            start, length, end = seg.done, seg.remaining, seg.end
            cuts = [start + length * i // pieces for i in range(1, pieces)]
            seg.end = cuts[0] if cuts else end
            for a, b in zip(cuts, [*cuts[1:], end], strict=True):
                self._segments.append(Segment(a, a, b))

    # -- what connections call -------------------------------------------------------

    def claim(
        self, worker: int, now: float | None = None, vouched: float | None = None
    ) -> Claim | None:
        """Give ``worker`` an unowned segment, else a share of an owned one, or all that is
        left of a far slower owner's (``segments.steal``). ``vouched``: ``worker`` is a
        mirror's probation, whose samples came at this speed (``probation_share``)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [
                (s.not_before, s.start, i)
                for i, s in enumerate(self._segments)
                if s.owner is None and s.remaining > 0 and s.not_before <= now
            ]
            if idle:
                first = min(idle)[2]
                seg = self._segments[first]
                seg.owner = worker
                seg.restart_rate(now)
                return Claim(first, seg.done, seg.end)
            rate = self._worker_rates.get(worker)
            index = steal(self._segments, worker, rate, self.block_size, now)
            if index is None and vouched:
                speed = rate or vouched  # its own last range's, unless none or stalled
                index = probation_share(self._segments, worker, speed, now)
            if index is None:
                return None
            seg = self._segments[index]
            return Claim(index, seg.done, seg.end)

    def reserve(self, segment: int, nbytes: int) -> int:
        """How many of ``nbytes`` received at the done offset the owner may write: those
        before the segment's current end. They are pinned until ``advance`` (no cut falls
        inside), so a read that was in flight when another connection took the tail is
        written only up to the cut, and the thief writes the rest: each byte once."""
        with self._lock:
            seg = self._segments[segment]
            seg.writing = max(0, min(nbytes, seg.end - seg.done))
            return seg.writing

    def advance(self, segment: int, nbytes: int) -> int:
        """Record ``nbytes`` written at the segment's done offset; return its current end.

        Only the part up to the end is counted: an owner that did not ``reserve`` may
        overrun a cut made during its read (the thief rewrites those bytes, identical
        under the same validators).
        """
        with self._lock:
            seg = self._segments[segment]
            counted = max(0, min(nbytes, seg.end - seg.done))
            seg.writing = 0
            seg.done += counted
            seg.update_rate(time.monotonic())
            self._completed += counted
            seg.since_failure += counted
            if seg.since_failure >= FORGIVING_PROGRESS:
                seg.failures = 0
            return seg.end

    def note_request(self, segment: int, until: int) -> None:
        """The owner has asked the server for bytes up to ``until``; steals prefer to cut after."""
        with self._lock:
            self._segments[segment].requested = until

    def limit(self, segment: int) -> int:
        """The current end of a segment (it shrinks when another connection steals from it)."""
        with self._lock:
            return self._segments[segment].end

    def release(self, segment: int, *, failed: bool = False, backoff: float = 0.0) -> int:
        """Give a segment back (error, stall, pause); returns its consecutive failures."""
        now = time.monotonic()
        with self._lock:
            seg = self._segments[segment]
            rate = seg.rate_at(now)
            if seg.owner is not None and rate is not None:
                self._worker_rates[seg.owner] = rate
            seg.owner = None
            seg.requested = seg.done
            seg.writing = 0
            if failed:
                seg.failures += 1
                seg.since_failure = 0
            if backoff > 0:
                seg.not_before = now + backoff
            return seg.failures

    def peer_rates(
        self, segment: int, now: float | None = None
    ) -> tuple[float | None, list[float], float, int]:
        """What the straggler verdict weighs, as plain numbers: this segment's rate (None
        while too early to tell), the measured rates of the other owned segments (0.0 for
        a stalled one), how long ago this one was claimed, and what it has left. The tuner
        decides; the map only measures."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seg = self._segments[segment]
            others = [
                r
                for s in self._segments
                if s is not seg and s.owner is not None and s.remaining > 0
                for r in (s.rate_at(now),)
                if r is not None
            ]
            return seg.rate_at(now), others, now - seg.claimed_at, seg.remaining

    def owner_rates(self, now: float | None = None) -> dict[int, float]:
        """Each owner's bytes/s on the segment it owns (0.0 while too early to tell), for
        the per-connection speeds a front end shows; the same figures stragglers are
        judged by, so what the user sees explains a reconnect."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return {s.owner: s.rate_at(now) or 0.0 for s in self._segments if s.owner is not None}

    def failures(self, segment: int) -> int:
        with self._lock:
            return self._segments[segment].failures

    def earliest_retry(self) -> float | None:
        """When the next backed-off segment may be retried (None: nothing is waiting)."""
        with self._lock:
            times = [s.not_before for s in self._segments if s.owner is None and s.remaining > 0]
            return min(times) if times else None

    # -- reading ---------------------------------------------------------------------

    @property
    def completed(self) -> int:
        return self._completed

    @property
    def is_complete(self) -> bool:
        with self._lock:
            return all(s.remaining == 0 for s in self._segments)

    def pending_segments(self) -> int:
        with self._lock:
            return sum(1 for s in self._segments if s.remaining > 0)

    def snapshot(self) -> MapSnapshot:
        with self._lock:
            done = merge_intervals((s.start, s.done) for s in self._segments)
            active = tuple(
                (s.done, s.end) for s in self._segments if s.owner is not None and s.remaining
            )
            return MapSnapshot(self.size, done, active, self._completed)


__all__ = ["FORGIVING_PROGRESS", "MIN_STEAL_SECONDS", "BlockMap", "Claim"]
