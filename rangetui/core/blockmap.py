"""Which bytes of a file are on disk, and which connection fetches which range next.

The file is covered by segments ``[start, end)``; each has a ``done`` offset: bytes
``[start, done)`` are written. A connection owns at most one segment and streams it
with one Range request. When no unowned segment is left, an idle connection takes
the far half of the largest remaining range of another one (as IDM and axel do), so
no connection idles while one straggles. The owner learns of the shrink on its next
``advance`` call, which returns the segment's current end.

Everything is guarded by one lock, but it is taken once per network read (about a
megabyte), never per byte, and never around file I/O.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from rangetui.core.intervals import Interval, MapSnapshot, gaps, merge_intervals

RATE_SAMPLE = 0.25
MIN_STEAL_SECONDS = 1.0
"""A segment that its owner will finish sooner than this is not worth a new request."""

FORGIVING_PROGRESS = 1 << 20
"""Bytes a segment must gain after a failure before its failures are forgotten: a flaky
link that drops now and then still finishes, while a server that trickles a few bytes
and stalls on every request runs out of --retries instead of keeping us for hours."""


@dataclass
class _Segment:
    start: int
    done: int
    end: int
    owner: int | None = None
    requested: int = 0
    failures: int = 0
    since_failure: int = 0
    not_before: float = 0.0
    rate: float = 0.0
    mark_time: float = 0.0
    mark_done: int = 0
    claimed_at: float = 0.0

    @property
    def remaining(self) -> int:
        return self.end - self.done

    def update_rate(self, now: float) -> None:
        """Smoothed bytes/s of the current owner, sampled at most every RATE_SAMPLE seconds."""
        elapsed = now - self.mark_time
        if elapsed < RATE_SAMPLE:
            return
        current = (self.done - self.mark_done) / elapsed
        self.rate = current if self.rate == 0 else 0.5 * self.rate + 0.5 * current
        self.mark_time, self.mark_done = now, self.done

    def rate_at(self, now: float) -> float | None:
        """The smoothed rate, or the average since the claim before the first sample.

        None while it is too early to tell (no sample and no byte yet); 0.0 means stalled.
        """
        elapsed = now - self.mark_time
        recent = (self.done - self.mark_done) / elapsed if elapsed > 0.05 else 0.0
        if self.rate <= 0:
            return recent if recent > 0 or elapsed > MIN_STEAL_SECONDS else None
        # A stalled connection makes no advance calls, so its sample ages: trust the lower.
        return min(self.rate, recent) if elapsed > 2 * RATE_SAMPLE else self.rate

    def restart_rate(self, now: float) -> None:
        self.rate, self.mark_time, self.mark_done = 0.0, now, self.done
        self.claimed_at = now


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
        self._segments: list[_Segment] = [_Segment(a, b, b) for a, b in merged]
        self._segments += [_Segment(a, a, b) for a, b in gaps(size, merged)]
        self._segments.sort(key=lambda s: s.start)
        self._completed = sum(b - a for a, b in merged)

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
                if self._split_largest(owner=None) is None:
                    break

    def _split_evenly(self, gaps: list[_Segment], parts: int) -> None:
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
                self._segments.append(_Segment(a, a, b))

    # -- what connections call -------------------------------------------------------

    def claim(self, worker: int, now: float | None = None) -> Claim | None:
        """Give ``worker`` an unowned segment, else half of the largest owned one."""
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
            index = self._steal(worker, now)
            if index is None:
                return None
            seg = self._segments[index]
            return Claim(index, seg.done, seg.end)

    def advance(self, segment: int, nbytes: int) -> int:
        """Record ``nbytes`` written at the segment's done offset; return its current end.

        A read that was in flight when another connection stole the tail may overrun the
        new end; those bytes are identical (same validators), so only the part up to the
        end is counted and the thief rewrites the rest.
        """
        with self._lock:
            seg = self._segments[segment]
            counted = max(0, min(nbytes, seg.end - seg.done))
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
        with self._lock:
            seg = self._segments[segment]
            seg.owner = None
            seg.requested = seg.done
            if failed:
                seg.failures += 1
                seg.since_failure = 0
            if backoff > 0:
                seg.not_before = time.monotonic() + backoff
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

    # -- internals (lock held) -------------------------------------------------------

    def _steal(self, thief: int, now: float) -> int | None:
        """Split the owned segment that will finish last, in proportion to speeds.

        A straggler keeps only what it can fetch in the time the thief needs for the
        rest, so both finish together. Nothing is stolen from a segment that will be done
        within MIN_STEAL_SECONDS: a new request would cost more than it saves.
        """
        owned = [s for s in self._segments if s.owner is not None and s.remaining > 0]
        rates = {id(s): s.rate_at(now) for s in owned}
        measured = [r for r in rates.values() if r]
        if not measured:
            return None  # too early to tell who is slow; the caller asks again shortly
        typical = sum(measured) / len(measured)

        def rate(seg: _Segment) -> float:
            r = rates[id(seg)]
            return typical if r is None else r

        def eta(seg: _Segment) -> float:
            return seg.remaining / rate(seg) if rate(seg) > 0 else math.inf

        for victim in sorted(owned, key=eta, reverse=True):
            if eta(victim) < MIN_STEAL_SECONDS:
                return None
            keep = int(victim.remaining * rate(victim) / (rate(victim) + typical))
            index = self._cut(victim, victim.done + keep, thief, now, rate(victim))
            if index is not None:
                return index
        return None

    def _cut(self, seg: _Segment, at: int, owner: int, now: float, rate: float) -> int | None:
        """Split ``seg`` near ``at``: block-aligned, and after its open request when that
        costs its owner at most MIN_STEAL_SECONDS more work. Cutting inside an open request
        wastes what the server already sent past the cut and the owner's connection."""
        block = self.block_size
        at -= at % block
        after_request = seg.requested + (-seg.requested % block)
        extra = after_request - at
        if extra > 0 and seg.end - after_request >= block and extra <= rate * MIN_STEAL_SECONDS:
            at = after_request
        at = max(at, seg.done + block)
        if seg.end - at < block:
            return None
        new = _Segment(at, at, seg.end, owner=owner)
        new.restart_rate(now)
        seg.end = at
        self._segments.append(new)
        return len(self._segments) - 1

    def _split_largest(self, owner: int | None) -> int | None:
        """Cut the far half off the segment with the most remaining; None if none is big enough.

        The cut is block-aligned and leaves the owner at least one block. It falls after
        the owner's open request when that still leaves a block to take, because bytes the
        server already sent past a cut are thrown away when the owner closes early.
        """
        best = max(self._segments, key=lambda s: s.remaining, default=None)
        if best is None or best.remaining < 2 * self.block_size:
            return None
        block = self.block_size
        mid = best.done + best.remaining // 2
        mid -= mid % block
        after_request = best.requested + (-best.requested % block)
        if best.owner is not None and after_request > mid and best.end - after_request >= block:
            mid = after_request
        if mid - best.done < block:
            mid = best.done + self.block_size
        if best.end - mid < self.block_size:
            return None
        new = _Segment(mid, mid, best.end, owner=owner)
        best.end = mid
        self._segments.append(new)
        return len(self._segments) - 1
