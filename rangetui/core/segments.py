"""The block map's segments, and how an idle connection takes work from a busy one.

Two ways, both cuts of one segment into two that still tile the file, so every byte
stays owned by one connection and is counted once:

- **Steal** (as IDM and axel do): the far part of the segment that will finish last,
  sized so that owner and thief finish together, cut after the owner's open request
  when that costs little, because what the server already sent past a cut is wasted.
- **Tail race**: when the owner is far slower than the thief (or the peers) and its
  remaining bytes would take it much longer than a fast connection, leaving it any of
  them keeps the whole download waiting on it. The thief then takes *everything* from
  the owner's write position, including what the owner has asked for and not yet
  received. The owner learns of its new end on its next ``advance`` (or ``reserve``),
  stops there and closes its response; whichever connection reaches a byte first owns
  it: the owner everything before the cut, the thief everything after. A write never
  lands past its owner's end, because ``reserve`` pins the bytes being written
  (``writing``) and no cut falls inside them.

Plain functions on segments, called with the block map's lock held and the time
passed in, so that tests drive them with a fake clock.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

RATE_SAMPLE = 0.25
MIN_STEAL_SECONDS = 1.0
"""How long a claim runs before its rate is trusted; and how much more work a cut after
the owner's open request may leave it, rather than cut into what the server sends."""
WORTH_STEALING_SECONDS = 0.5
"""A segment that its owner will finish sooner than this is not worth a new request: a
kept-alive connection's round trip is far less, and a second idle at the end of every
download is what kept the straggler workload at 0.84x of aria2c (0.77x with this)."""
RACE_FACTOR = 4.0
"""An owner this many times slower than the idle connection is raced for its tail
(the tuner's straggler factor: the same "far slower")."""
RACE_GAIN_SECONDS = 1.0
"""Race only when the fast connection would finish the tail at least this much sooner:
a new request and a dropped response cost a round trip or two."""


@dataclass
class Segment:
    start: int
    done: int
    end: int
    owner: int | None = None
    requested: int = 0
    writing: int = 0
    """Bytes past ``done`` its owner is writing now (reserved): no cut falls inside."""
    failures: int = 0
    since_failure: int = 0
    not_before: float = 0.0
    rate: float = 0.0
    mark_time: float = 0.0
    mark_done: int = 0
    claimed_at: float = 0.0
    claimed_done: int = 0

    @property
    def remaining(self) -> int:
        return self.end - self.done

    @property
    def first_free(self) -> int:
        """The lowest offset a cut may fall at: nothing below it can change hands."""
        return self.done + self.writing

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
        self.claimed_at, self.claimed_done = now, self.done

    def average_since_claim(self, now: float) -> float:
        """What its owner has achieved overall: a connection of a server that serves in
        turns stalls now and then but keeps up on average, and a cut into its open
        request would throw away what the server is about to send."""
        age = now - self.claimed_at
        return (self.done - self.claimed_done) / age if age > 0 else 0.0


def races(own: float, remaining: int, fast: float) -> bool:
    """Whether an owner at ``own`` bytes/s should lose the rest of its range to a
    connection at ``fast``: far slower, and the tail worth a new request."""
    if remaining <= 0 or fast <= 0 or own * RACE_FACTOR >= fast:
        return False
    slow_eta = remaining / own if own > 0 else math.inf
    return slow_eta - remaining / fast >= RACE_GAIN_SECONDS


def steal(
    segments: list[Segment], thief: int, thief_rate: float | None, block: int, now: float
) -> int | None:
    """Give ``thief`` part of an owned segment, the one that will finish last first;
    returns the new segment's index. ``thief_rate`` is what the thief achieved on its
    last range (None: not known); a thief far slower than its peers takes nothing, as
    it would only become the tail that others then race."""
    owned = [s for s in segments if s.owner not in (None, thief) and s.remaining > 0]
    rates = {id(s): s.rate_at(now) for s in owned}
    measured = [r for r in rates.values() if r]
    if not measured:
        return None  # too early to tell who is slow; the caller asks again shortly
    typical = sum(measured) / len(measured)
    if thief_rate is not None and thief_rate * RACE_FACTOR < statistics.median(measured):
        return None

    def rate(seg: Segment) -> float:
        r = rates[id(seg)]
        return typical if r is None else r

    def eta(seg: Segment) -> float:
        return seg.remaining / rate(seg) if rate(seg) > 0 else math.inf

    for victim in sorted(owned, key=eta, reverse=True):
        own = rates[id(victim)]
        if own is not None and now - victim.claimed_at < MIN_STEAL_SECONDS:
            own = None  # a claim this young is not judged: a loaded machine's stall looks slow
        if own is not None:
            own = max(own, victim.average_since_claim(now))
        peers = [r for s in owned if s is not victim for r in (rates[id(s)],) if r]
        known = [r for r in (thief_rate, statistics.median(peers) if peers else None) if r]
        fast = min(known, default=0.0)  # faster than both: a burst alone proves nothing
        if own is not None and races(own, victim.remaining - victim.writing, fast):
            return _split(segments, victim, victim.first_free, thief, now)
        if eta(victim) < WORTH_STEALING_SECONDS:
            return None
        mine = min(thief_rate, max(measured)) if thief_rate else typical  # bursts again
        keep = int(victim.remaining * rate(victim) / (rate(victim) + mine))
        kept_up = max(rate(victim), victim.average_since_claim(now))
        index = _cut(segments, victim, victim.done + keep, thief, now, kept_up, block)
        if index is not None:
            return index
    return None


def probation_share(segments: list[Segment], thief: int, vouched: float, now: float) -> int | None:
    """A range for a mirror's probation connection when ``steal`` cut none (segments
    under two blocks): it is the mirror's measurement, so without a range a mirror of a
    small file would never be measured, nor used. The owner that would finish last
    keeps its share of the rest by speed (``vouched``: what the mirror's samples came
    at), the probation takes the other, however short; all of it when the owner is far
    slower (``races``). Not compared with the peers' speed as ``steal`` does: they are
    the other server's connections."""
    best: tuple[float, Segment, float] | None = None
    for seg in segments:
        own = seg.rate_at(now)
        if seg.owner in (None, thief) or own is None or now - seg.claimed_at < MIN_STEAL_SECONDS:
            continue
        own = max(own, seg.average_since_claim(now))
        eta = (seg.remaining - seg.writing) / own if own > 0 else math.inf
        if eta >= RACE_GAIN_SECONDS and (best is None or eta > best[0]):
            best = (eta, seg, own)
    if best is None:
        return None
    _, seg, own = best
    left = seg.remaining - seg.writing
    if races(own, left, vouched) or own + vouched <= 0:
        return _split(segments, seg, seg.first_free, thief, now)
    at = seg.first_free + int(left * own / (own + vouched))
    if at < seg.requested < seg.end and seg.requested - at <= own * MIN_STEAL_SECONDS:
        at = seg.requested  # after the owner's open request: nothing it was sent is lost
    return _split(segments, seg, at, thief, now)


def _cut(
    segments: list[Segment], seg: Segment, at: int, owner: int, now: float, rate: float, block: int
) -> int | None:
    """Split ``seg`` near ``at``: block-aligned, and after its open request when that
    costs its owner at most MIN_STEAL_SECONDS more work. Cutting inside an open request
    wastes what the server already sent past the cut and the owner's connection."""
    at -= at % block
    after_request = seg.requested + (-seg.requested % block)
    extra = after_request - at
    if extra > 0 and seg.end - after_request >= block and extra <= rate * MIN_STEAL_SECONDS:
        at = after_request
    at = max(at, seg.done + block, seg.first_free)
    if seg.end - at < block:
        return None
    return _split(segments, seg, at, owner, now)


def split_largest(segments: list[Segment], owner: int | None, block: int) -> int | None:
    """Cut the far half off the segment with the most left to cut (what its owner is
    writing now cannot change hands); None if none is big enough.

    The cut is block-aligned and leaves the owner at least one block. It falls after
    the owner's open request when that still leaves a block to take, because bytes the
    server already sent past a cut are thrown away when the owner closes early.
    """
    best = max(segments, key=lambda s: s.end - s.first_free, default=None)
    if best is None or best.end - best.first_free < 2 * block:
        return None
    mid = best.done + best.remaining // 2
    mid -= mid % block
    after_request = best.requested + (-best.requested % block)
    if best.owner is not None and after_request > mid and best.end - after_request >= block:
        mid = after_request
    mid = max(mid, best.done + block, best.first_free)
    if best.end - mid < block:
        return None
    new = Segment(mid, mid, best.end, owner=owner)
    best.end = mid
    segments.append(new)
    return len(segments) - 1


def _split(segments: list[Segment], seg: Segment, at: int, owner: int, now: float) -> int | None:
    if not seg.first_free <= at < seg.end:
        return None
    new = Segment(at, at, seg.end, owner=owner)
    new.restart_rate(now)
    seg.end = at
    segments.append(new)
    return len(segments) - 1
