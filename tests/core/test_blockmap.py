"""Tests for rangetui.core.blockmap: tiling, claims, steals, backoff, snapshots, heatmap cells.

Most checks look at the map from outside (claims, ``advance`` results, snapshots) and keep
their own record of which bytes a simulated connection wrote. ``check_map`` also reads the
private segment list to prove the segments tile the file exactly.
"""

from __future__ import annotations

import random
import threading
import time as real_time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from rangetui.core import blockmap
from rangetui.core.blockmap import FORGIVING_PROGRESS, BlockMap, Claim
from rangetui.core.intervals import (
    MapSnapshot,
    bucket_flags,
    bucket_fractions,
    gaps,
    merge_intervals,
)
from rangetui.core.segments import WORTH_STEALING_SECONDS

Interval = tuple[int, int]
T0 = 1000.0


# -- helpers -----------------------------------------------------------------------------


class FakeClock:
    """Replaces the ``time`` module inside blockmap: ``monotonic()`` is whatever we say."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)


@contextmanager
def fake_clock(now: float = T0) -> Iterator[FakeClock]:
    clock = FakeClock(now)
    with mock.patch.object(blockmap, "time", clock):
        yield clock


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with fake_clock() as c:
        yield c


def total(intervals: Iterable[Interval]) -> int:
    return sum(b - a for a, b in intervals)


def overlaps(a: int, b: int, intervals: Iterable[Interval]) -> bool:
    return any(x < b and a < y for x, y in intervals)


def segs(bmap: BlockMap) -> list[Any]:
    """The private segments, in file order (white box: only for invariants)."""
    return sorted(bmap._segments, key=lambda s: s.start)


def claimable(bmap: BlockMap, now: float) -> bool:
    return any(s.owner is None and s.done < s.end and s.not_before <= now for s in bmap._segments)


def check_intervals(intervals: Sequence[Interval], size: int) -> None:
    """Sorted, non-empty, inside [0, size), and merged (no two touch or overlap)."""
    for a, b in intervals:
        assert 0 <= a < b <= size
    for (_, b1), (a2, _) in pairwise(intervals):
        assert b1 < a2


def check_map(bmap: BlockMap) -> MapSnapshot:
    """Every invariant that must hold between any two calls."""
    pos = 0
    for s in segs(bmap):
        assert s.start == pos, "segments must tile the file with no gap or overlap"
        assert s.start <= s.done <= s.end
        pos = s.end
    assert pos == bmap.size
    snap = bmap.snapshot()
    done_bytes = sum(s.done - s.start for s in bmap._segments)
    assert bmap.completed == snap.completed == done_bytes == total(snap.done_intervals)
    check_intervals(snap.done_intervals, bmap.size)
    assert snap.done_intervals == merge_intervals((s.start, s.done) for s in bmap._segments)
    owned = sorted((s.done, s.end) for s in bmap._segments if s.owner is not None and s.remaining)
    assert sorted(snap.active) == owned
    pending = [s for s in bmap._segments if s.remaining > 0]
    assert bmap.pending_segments() == len(pending)
    assert bmap.is_complete == (not pending) == (bmap.completed == bmap.size)
    return snap


@st.composite
def size_and_block(draw: st.DrawFn, max_blocks: int = 40, min_blocks: int = 0) -> tuple[int, int]:
    block = draw(st.sampled_from([1, 3, 16, 100, 1024]))
    size = draw(st.integers(min_blocks, max_blocks)) * block + draw(st.integers(0, block - 1))
    return size, block


@st.composite
def raw_done(draw: st.DrawFn, size: int) -> list[Interval]:
    """Done intervals as a caller might pass them: unsorted, overlapping, out of range."""
    point = st.integers(-3, size + 3)
    return draw(st.lists(st.tuples(point, point), max_size=6))


def clamp_merge(size: int, done: Iterable[Interval]) -> tuple[Interval, ...]:
    return merge_intervals((max(0, a), min(size, b)) for a, b in done)


def run_for(
    bmap: BlockMap, clock: FakeClock, segments: dict[int, int], speeds: dict[int, int], ticks: int
) -> None:
    """Advance each segment by speeds[segment] bytes per second in 0.25 s steps."""
    for _ in range(ticks):
        clock.tick(0.25)
        for seg, speed in speeds.items():
            if speed:
                bmap.advance(segments[seg], speed // 4)


# -- interval helpers --------------------------------------------------------------------


def test_merge_intervals_examples() -> None:
    assert merge_intervals([]) == ()
    assert merge_intervals([(5, 5), (7, 3)]) == ()
    assert merge_intervals([(10, 20), (0, 5), (5, 7), (15, 30), (40, 41)]) == (
        (0, 7),
        (10, 30),
        (40, 41),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=10))
def test_merge_intervals_covers_the_same_bytes(intervals: list[Interval]) -> None:
    merged = merge_intervals(intervals)
    check_intervals(merged, 60)
    expected = {x for a, b in intervals for x in range(a, b)}
    assert {x for a, b in merged for x in range(a, b)} == expected
    assert merge_intervals(merged) == merged


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60))))
def test_gaps_are_the_complement(size: int, intervals: list[Interval]) -> None:
    done = clamp_merge(size, intervals)
    holes = gaps(size, done)
    check_intervals(holes, size)
    assert not any(overlaps(a, b, done) for a, b in holes)
    assert total(holes) + total(done) == size
    assert merge_intervals([*holes, *done]) == (((0, size),) if size else ())


# -- construction and edge cases ---------------------------------------------------------


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        BlockMap(-1, 16)
    with pytest.raises(ValueError):
        BlockMap(100, 0)


def test_new_map_is_one_pending_segment() -> None:
    bmap = BlockMap(1000, 64)
    check_map(bmap)
    assert bmap.completed == 0 and not bmap.is_complete
    assert bmap.pending_segments() == 1
    assert bmap.claim(0, now=T0) == Claim(0, 0, 1000)
    assert bmap.snapshot().active == ((0, 1000),)


def test_size_zero() -> None:
    bmap = BlockMap.fresh(0, 64, 8)
    snap = check_map(bmap)
    assert bmap.is_complete and bmap.completed == 0
    assert bmap.pending_segments() == 0
    assert bmap.claim(0, now=T0) is None
    assert bmap.earliest_retry() is None
    assert snap == MapSnapshot(0, (), (), 0)
    assert snap.buckets(4) == ((1.0, 1.0, 1.0, 1.0), (False, False, False, False))
    rebuilt = BlockMap(0, 64, snap.done_intervals)
    assert rebuilt.is_complete


def test_size_smaller_than_one_block(clock: FakeClock) -> None:
    bmap = BlockMap.fresh(10, 64, 8)
    assert bmap.pending_segments() == 1, "a range under two blocks is never split"
    claim = bmap.claim(0, now=clock.now)
    assert claim == Claim(0, 0, 10)
    assert bmap.claim(1, now=clock.now) is None
    clock.tick(1)
    assert bmap.advance(claim.segment, 100) == 10, "an overrun is clamped to the end"
    assert bmap.completed == 10 and bmap.is_complete
    assert check_map(bmap).done_intervals == ((0, 10),)


def test_size_not_a_multiple_of_block() -> None:
    bmap = BlockMap.fresh(1000, 64, 4)
    check_map(bmap)
    lengths = sorted(s.end - s.start for s in segs(bmap))
    assert lengths == [250, 250, 250, 250], "a fresh file is cut into equal pieces"
    assert max(s.end for s in segs(bmap)) == 1000


def test_one_connection_downloads_everything(clock: FakeClock) -> None:
    bmap = BlockMap(10_000, 1024)
    claim = bmap.claim(7, now=clock.now)
    assert claim == Claim(0, 0, 10_000)
    pos = 0
    while pos < claim.end:
        clock.tick(0.1)
        assert bmap.advance(claim.segment, 999) == 10_000
        pos = min(pos + 999, 10_000)
        assert bmap.completed == pos
        assert bmap.claim(7, now=clock.now) is None, "a lone connection cannot steal from itself"
        bmap.note_request(claim.segment, 10_000)
    bmap.release(claim.segment)
    snap = check_map(bmap)
    assert bmap.is_complete and snap.done_intervals == ((0, 10_000),) and snap.active == ()
    assert bmap.earliest_retry() is None


def test_done_intervals_are_clamped_and_merged() -> None:
    bmap = BlockMap(100, 10, [(-5, 10), (5, 20), (20, 30), (90, 200), (50, 40), (150, 160)])
    snap = check_map(bmap)
    assert snap.done_intervals == ((0, 30), (90, 100))
    assert bmap.completed == 40
    claim = bmap.claim(0, now=T0)
    assert claim is not None and (claim.start, claim.end) == (30, 90)
    assert bmap.claim(1, now=T0) is None


def test_snapshot_is_a_copy(clock: FakeClock) -> None:
    bmap = BlockMap(1000, 10)
    claim = bmap.claim(0, now=clock.now)
    assert claim is not None
    bmap.advance(claim.segment, 100)
    snap = bmap.snapshot()
    bmap.advance(claim.segment, 100)
    assert snap.done_intervals == ((0, 100),) and snap.completed == 100
    assert snap.active == ((100, 1000),)
    assert bmap.snapshot().done_intervals == ((0, 200),)


def test_advance_ignores_negative_and_zero() -> None:
    bmap = BlockMap(100, 10)
    claim = bmap.claim(0, now=T0)
    assert claim is not None
    assert bmap.advance(claim.segment, 0) == 100
    assert bmap.advance(claim.segment, -5) == 100
    assert bmap.completed == 0
    check_map(bmap)


# -- partition -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(size_and_block(max_blocks=200), st.integers(1, 40))
def test_partition_fresh_map(sb: tuple[int, int], parts: int) -> None:
    size, block = sb
    bmap = BlockMap.fresh(size, block, parts)
    check_map(bmap)
    pending = [s for s in segs(bmap) if s.remaining]
    assert len(pending) <= max(parts, 0) or size == 0
    if len(pending) < parts:
        assert all(s.remaining < 2 * block for s in pending), "stopped while it could split"
    lengths = [s.remaining for s in pending]
    if lengths:
        assert max(lengths) - min(lengths) <= 1, "equal pieces, so equal connections end together"
    assert all(s.remaining >= block for s in pending) or len(pending) == 1
    assert bmap.completed == 0
    assert not any(s.owner is not None for s in segs(bmap))


def test_partition_counts_existing_gaps() -> None:
    bmap = BlockMap(100, 10, [(10, 20), (30, 40), (50, 60)])
    assert bmap.pending_segments() == 4
    bmap.partition(3)
    assert bmap.pending_segments() == 4, "already enough pending segments"
    bmap.partition(6)
    assert bmap.pending_segments() == 6
    check_map(bmap)
    assert bmap.completed == 30


def test_partition_cuts_an_owned_segment_after_its_open_request() -> None:
    bmap = BlockMap(100_000, 1000)
    claim = bmap.claim(0, now=T0)
    assert claim is not None
    bmap.note_request(claim.segment, 70_500)
    bmap.partition(2)
    check_map(bmap)
    assert [(s.start, s.end, s.owner) for s in segs(bmap)] == [
        (0, 71_000, 0),
        (71_000, 100_000, None),
    ]
    assert bmap.advance(claim.segment, 0) == 71_000
    assert bmap.claim(1, now=T0) == Claim(1, 71_000, 100_000)


# -- serialise round trip ------------------------------------------------------------------


@st.composite
def used_map(draw: st.DrawFn) -> BlockMap:
    """A map after a random partition, some claims and some progress."""
    size, block = draw(size_and_block())
    bmap = BlockMap(size, block, draw(raw_done(size)))
    bmap.partition(draw(st.integers(1, 8)))
    for wid in range(draw(st.integers(0, 5))):
        claim = bmap.claim(wid, now=T0)
        if claim is None:
            break
        bmap.advance(claim.segment, draw(st.integers(0, claim.end - claim.start + 5)))
        if draw(st.booleans()):
            bmap.release(claim.segment)
    return bmap


@settings(max_examples=150, deadline=None)
@given(used_map())
def test_round_trip_through_done_intervals(bmap: BlockMap) -> None:
    snap = check_map(bmap)
    rebuilt = BlockMap(bmap.size, bmap.block_size, snap.done_intervals)
    again = check_map(rebuilt)
    assert again.completed == snap.completed
    assert again.done_intervals == snap.done_intervals
    assert again.active == ()
    holes = gaps(bmap.size, snap.done_intervals)
    assert [(s.done, s.end) for s in segs(rebuilt) if s.remaining] == holes
    claims = []
    for wid in range(len(holes) + 2):
        claim = rebuilt.claim(wid, now=T0)
        if claim is not None:
            claims.append((claim.start, claim.end))
    assert claims == holes, "a resumed map hands out exactly the gaps, in file order"


# -- claims, advance and steals ------------------------------------------------------------


def test_claims_hand_out_distinct_pending_segments(clock: FakeClock) -> None:
    bmap = BlockMap(400_000, 1000, [(0, 50_000)])
    bmap.partition(4)
    claims = [bmap.claim(w, now=clock.now) for w in range(4)]
    assert all(c is not None for c in claims)
    ranges = sorted((c.start, c.end) for c in claims if c is not None)
    assert ranges[0][0] == 50_000 and ranges[-1][1] == 400_000
    for (_, b1), (a2, _) in pairwise(ranges):
        assert b1 == a2
    assert bmap.claim(4, now=clock.now) is None, "nobody has a measured rate yet"
    check_map(bmap)


def test_steal_shrinks_victim_and_thief_starts_at_the_new_end(clock: FakeClock) -> None:
    block = 1000
    bmap = BlockMap(100 * block, block)
    victim = bmap.claim(0, now=clock.now)
    assert victim is not None
    clock.tick(1.0)
    assert bmap.advance(victim.segment, 10 * block) == 100 * block
    thief = bmap.claim(1, now=clock.now)
    assert thief is not None and thief.segment != victim.segment
    # Alone, the victim's rate is the typical rate: it keeps half of the 90 blocks left.
    assert thief == Claim(thief.segment, 55 * block, 100 * block)
    assert bmap.limit(victim.segment) == 55 * block
    assert bmap.advance(victim.segment, 0) == thief.start
    check_map(bmap)
    assert sorted(bmap.snapshot().active) == [(10 * block, 55 * block), (55 * block, 100 * block)]


def test_overrun_past_a_shrunk_end_is_clamped_and_counted_once(clock: FakeClock) -> None:
    block = 1000
    bmap = BlockMap(100 * block, block)
    victim = bmap.claim(0, now=clock.now)
    assert victim is not None
    clock.tick(1.0)
    bmap.advance(victim.segment, 10 * block)
    thief = bmap.claim(1, now=clock.now)
    assert thief is not None
    # The victim's in-flight read covered 50 blocks, past the new end at 55 blocks.
    assert bmap.advance(victim.segment, 50 * block) == thief.start
    assert bmap.completed == thief.start
    assert bmap.advance(victim.segment, 5) == thief.start
    assert bmap.completed == thief.start
    clock.tick(1.0)
    assert bmap.advance(thief.segment, thief.end - thief.start + 123) == thief.end
    assert bmap.completed == 100 * block and bmap.is_complete
    assert check_map(bmap).done_intervals == ((0, 100 * block),)


def test_no_steal_from_a_segment_too_small_to_cut(clock: FakeClock) -> None:
    bmap = BlockMap(10_000, 1000)
    claim = bmap.claim(0, now=clock.now)
    assert claim is not None
    clock.tick(10.0)
    bmap.advance(claim.segment, 8_500)  # 1.5 blocks left at 850 B/s: slow, but too small
    assert bmap.claim(1, now=clock.now) is None
    assert bmap.limit(claim.segment) == 10_000
    check_map(bmap)


def test_steal_cuts_after_the_victims_open_request_when_close(clock: FakeClock) -> None:
    block = 1000
    for requested, expected in [(60_500, 61_000), (95_000, 55_000)]:
        bmap = BlockMap(100 * block, block)
        victim = bmap.claim(0, now=clock.now)
        assert victim is not None
        clock.tick(1.0)
        bmap.advance(victim.segment, 10 * block)
        bmap.note_request(victim.segment, requested)
        thief = bmap.claim(1, now=clock.now)
        assert thief is not None
        assert thief.start == expected == bmap.limit(victim.segment)
        check_map(bmap)


def _four_connections(
    clock: FakeClock, *phases: tuple[int, dict[int, int]]
) -> tuple[BlockMap, dict[int, int]]:
    """Four 100-block segments of 1000 bytes, one per worker; then ``(ticks, speeds)`` phases."""
    bmap = BlockMap.fresh(400_000, 1000, 4)
    segment_of = {}
    for wid in range(4):
        claim = bmap.claim(wid, now=clock.now)
        assert claim is not None
        segment_of[wid] = claim.segment
    assert sorted((s.start, s.end) for s in segs(bmap)) == [
        (k * 100_000, (k + 1) * 100_000) for k in range(4)
    ]
    assert bmap.claim(4, now=clock.now) is None, "no rates yet: nothing to steal"
    for ticks, speeds in phases:
        run_for(bmap, clock, segment_of, speeds, ticks)
    return bmap, segment_of


FAST = {1: 10_000, 2: 10_000, 3: 10_000}


def test_steal_targets_the_straggler_in_proportion_to_rates(clock: FakeClock) -> None:
    """Slower, but not so slow that it is raced: it keeps its share of the rest."""
    bmap, segment_of = _four_connections(clock, (8, {0: 4000, **FAST}))
    slow = segment_of[0]
    victim = bmap._segments[slow]
    done, end = victim.done, victim.end
    assert (done, end) == (8000, 100_000)
    ends = {w: bmap.limit(s) for w, s in segment_of.items()}
    thief = bmap.claim(4, now=clock.now)
    assert thief is not None
    assert bmap.limit(slow) == thief.start, "the slow segment is the victim"
    assert thief.end == end
    assert {w: bmap.limit(s) for w, s in segment_of.items() if w} == {
        w: e for w, e in ends.items() if w
    }
    typical = (4000 + 3 * 10_000) / 4
    expected_keep = (end - done) * 4000 / (4000 + typical)
    kept = thief.start - done
    assert abs(kept - expected_keep) <= bmap.block_size
    assert thief.start % bmap.block_size == 0
    assert bmap.advance(slow, 0) == thief.start
    check_map(bmap)


def test_a_crawling_connection_is_robbed_of_almost_everything(clock: FakeClock) -> None:
    bmap, seg = _four_connections(clock, (4, {0: 40_000, **FAST}), (8, {0: 4, **FAST}))
    crawler = bmap._segments[seg[0]]
    assert crawler.remaining < 70_000, "less left than each fast connection has"
    thief = bmap.claim(4, now=clock.now)
    assert thief is not None
    assert thief.end == 100_000 and bmap.limit(seg[0]) == thief.start
    assert thief.start - crawler.done <= 2 * bmap.block_size
    check_map(bmap)


def test_a_stalled_connection_is_the_victim(clock: FakeClock) -> None:
    """Same as above, but connection 0 stops sending entirely instead of crawling.

    A stalled owner makes no ``advance`` calls, so it should look slower than a crawling
    one, not like a connection of typical speed.
    """
    bmap, seg = _four_connections(clock, (4, {0: 40_000, **FAST}), (8, {0: 0, **FAST}))
    stalled = bmap._segments[seg[0]]
    assert (stalled.done, stalled.end) == (40_000, 100_000)
    assert all(bmap._segments[seg[w]].remaining == 70_000 for w in FAST)
    thief = bmap.claim(4, now=clock.now)
    assert thief is not None
    assert bmap.limit(seg[0]) == thief.start, "the stalled segment must be the victim"
    assert thief.end == 100_000
    assert thief.start - stalled.done <= 2 * bmap.block_size, "a stalled owner keeps ~nothing"


def test_a_tiny_straggler_is_raced_then_others_are_shared(clock: FakeClock) -> None:
    """The slowest owner has under two blocks left, too little to cut in two, but at its
    rate they are the download's tail: the first idle connection races it for all of
    them; the next one shares the large segment."""
    block = 1000
    bmap = BlockMap(200 * block, block, [(0, 98_500), (100_000, 120_000)])
    seg = {w: bmap.claim(w, now=clock.now).segment for w in range(2)}  # type: ignore[union-attr]
    assert [bmap.limit(seg[w]) for w in range(2)] == [100_000, 200_000]
    run_for(bmap, clock, seg, {0: 100, 1: 10_000}, ticks=8)
    # Connection 0: 1 300 bytes left at 100 B/s (13 s). Connection 1: 60 blocks at 10 blocks/s
    # (6 s): worth sharing with an idle connection.
    assert bmap._segments[seg[0]].remaining == 1300
    assert bmap._segments[seg[1]].remaining == 60 * block
    racer = bmap.claim(2, now=clock.now)
    assert racer is not None and (racer.start, racer.end) == (98_700, 100_000)
    assert bmap.advance(seg[0], 500) == 98_700, "the slow owner counts nothing more"
    thief = bmap.claim(3, now=clock.now)
    assert thief is not None, "a connection idles while a large segment could be shared"
    assert bmap.limit(seg[1]) == thief.start
    assert thief.end == 200_000
    check_map(bmap)


@pytest.mark.parametrize(
    ("speed", "stolen"), [(40_000, False), (30_000, False), (20_000, True), (10_000, True)]
)
def test_no_steal_from_a_segment_about_to_finish(
    clock: FakeClock, speed: int, stolen: bool
) -> None:
    """Two 20-block segments at the same speed; after 0.25 s, is half a second of work
    left (below that, a new request is not worth it)?"""
    bmap = BlockMap.fresh(40_000, 1000, 2)
    seg = {w: bmap.claim(w, now=clock.now).segment for w in range(2)}  # type: ignore[union-attr]
    run_for(bmap, clock, seg, {0: speed, 1: speed}, ticks=1)
    eta = (20_000 - speed // 4) / speed
    assert (eta >= WORTH_STEALING_SECONDS) == stolen
    ends = [s.end for s in segs(bmap)]
    thief = bmap.claim(2, now=clock.now)
    assert (thief is not None) == stolen
    if not stolen:
        assert [s.end for s in segs(bmap)] == ends
    check_map(bmap)


# -- release, failures, backoff ------------------------------------------------------------


def test_failed_release_backs_off_and_failures_reset_after_progress(clock: FakeClock) -> None:
    bmap = BlockMap(10_000, 1000)
    claim = bmap.claim(0, now=clock.now)
    assert claim is not None
    bmap.advance(claim.segment, 500)
    assert bmap.failures(claim.segment) == 0
    assert bmap.release(claim.segment, failed=True, backoff=5.0) == 1
    assert bmap.failures(claim.segment) == 1
    assert bmap.earliest_retry() == pytest.approx(clock.now + 5.0)
    assert bmap.claim(1, now=clock.now) is None
    assert bmap.claim(1, now=clock.now + 4.9) is None
    again = bmap.claim(1, now=clock.now + 5.0)
    assert again == Claim(claim.segment, 500, 10_000)
    assert bmap.earliest_retry() is None, "nothing is waiting while it is owned"
    clock.tick(5.0)
    assert bmap.release(again.segment, failed=True, backoff=1.0) == 2
    assert bmap.claim(2, now=clock.now + 0.5) is None
    clock.tick(1.0)
    third = bmap.claim(2, now=clock.now)
    assert third is not None
    bmap.advance(third.segment, 0)
    assert bmap.failures(third.segment) == 2, "no progress, no reset"
    bmap.advance(third.segment, 1)
    assert bmap.failures(third.segment) == 2, "a trickle does not forgive failures"
    check_map(bmap)


def test_failures_are_forgotten_after_a_mebibyte_of_progress(clock: FakeClock) -> None:
    """A link that drops now and then finishes; one that trickles and stalls runs out."""
    bmap = BlockMap(8 * FORGIVING_PROGRESS, FORGIVING_PROGRESS)
    claim = bmap.claim(0, now=clock.now)
    assert claim is not None
    for _ in range(3):
        bmap.advance(claim.segment, 1000)
        bmap.release(claim.segment, failed=True)
        again = bmap.claim(0, now=clock.now + 60)
        assert again is not None and again.segment == claim.segment
    assert bmap.failures(claim.segment) == 3, "1000 bytes per try forgive nothing"
    bmap.advance(claim.segment, FORGIVING_PROGRESS - 1)
    assert bmap.failures(claim.segment) == 3
    bmap.advance(claim.segment, 1)
    assert bmap.failures(claim.segment) == 0
    bmap.release(claim.segment, failed=True)
    assert bmap.failures(claim.segment) == 1, "a failure starts the count again"
    check_map(bmap)


def test_plain_release_is_claimable_at_once_and_keeps_the_count(clock: FakeClock) -> None:
    bmap = BlockMap(10_000, 1000)
    claim = bmap.claim(0, now=clock.now)
    assert claim is not None
    assert bmap.release(claim.segment, failed=True, backoff=0.0) == 1
    again = bmap.claim(0, now=clock.now)
    assert again is not None
    assert bmap.release(again.segment) == 1
    assert bmap.claim(1, now=clock.now) == Claim(claim.segment, 0, 10_000)


def test_backed_off_segment_waits_while_others_are_claimed(clock: FakeClock) -> None:
    bmap = BlockMap.fresh(4000, 1000, 2)
    first = bmap.claim(0, now=clock.now)
    assert first is not None and first.start == 0
    bmap.release(first.segment, failed=True, backoff=2.0)
    second = bmap.claim(0, now=clock.now)
    assert second is not None and second.start == 2000, "the backed-off segment is skipped"
    assert bmap.earliest_retry() == pytest.approx(clock.now + 2.0)
    assert bmap.claim(1, now=clock.now + 2.0) == Claim(first.segment, 0, 2000)


# -- heatmap buckets -----------------------------------------------------------------------


def test_buckets_examples() -> None:
    assert bucket_fractions(100, ((0, 50),), 4) == (1.0, 1.0, 0.0, 0.0)
    assert bucket_fractions(100, ((10, 20),), 2) == (0.2, 0.0)
    assert bucket_fractions(100, (), 0) == ()
    assert bucket_flags(100, ((30, 60),), 4) == (False, True, True, False)
    assert bucket_flags(100, ((30, 30),), 4) == (False,) * 4
    assert bucket_flags(100, (), 0) == ()
    assert bucket_fractions(0, (), 3) == (1.0, 1.0, 1.0)
    assert bucket_flags(0, (), 3) == (False, False, False)
    snap = MapSnapshot(100, ((0, 50),), ((50, 60),), 50)
    assert snap.buckets(4) == ((1.0, 1.0, 0.0, 0.0), (False, False, True, False))


def test_buckets_with_more_cells_than_bytes() -> None:
    assert bucket_fractions(2, ((0, 2),), 4) == (1.0, 1.0, 1.0, 1.0)
    assert bucket_fractions(2, ((0, 1),), 4) == (1.0, 1.0, 0.0, 0.0)
    assert bucket_flags(2, ((0, 1),), 4) == (True, True, False, False)
    assert bucket_flags(2, ((1, 2),), 4) == (False, False, True, True)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 300))
def test_fully_done_map_is_all_ones(size: int, cells: int) -> None:
    """Exactly 1.0 (a renderer may test ``== 1.0`` for the "done" shade), any cell count."""
    bmap = BlockMap(size, 64, [(0, size)])
    fractions, flags = bmap.snapshot().buckets(cells)
    assert fractions == (1.0,) * cells
    assert flags == (False,) * cells


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 300))
def test_fully_done_map_is_all_ones_with_fewer_cells_than_bytes(size: int, cells: int) -> None:
    cells = min(cells, size)
    assert bucket_fractions(size, ((0, size),), cells) == (1.0,) * cells


@st.composite
def size_intervals_cells(draw: st.DrawFn) -> tuple[int, tuple[Interval, ...], int]:
    size = draw(st.integers(0, 500))
    done = clamp_merge(size, draw(raw_done(size)))
    return size, done, draw(st.integers(0, 700))


@settings(max_examples=300, deadline=None)
@given(size_intervals_cells())
def test_bucket_fractions_add_up(args: tuple[int, tuple[Interval, ...], int]) -> None:
    size, done, cells = args
    fractions = bucket_fractions(size, done, cells)
    assert len(fractions) == cells
    assert all(0.0 <= f <= 1.0 for f in fractions)
    if size and cells:
        assert sum(fractions) * size / cells == pytest.approx(total(done), abs=1e-6 * size)
        for cell, f in enumerate(fractions):
            lo, hi = cell * size, (cell + 1) * size  # the cell's range, scaled by ``cells``
            cover = sum(max(0, min(b * cells, hi) - max(a * cells, lo)) for a, b in done)
            assert f == pytest.approx(cover / size, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(size_intervals_cells())
def test_bucket_flags_mark_exactly_the_overlapping_cells(
    args: tuple[int, tuple[Interval, ...], int],
) -> None:
    size, ranges, cells = args
    flags = bucket_flags(size, ranges, cells)
    assert len(flags) == cells
    if size == 0:
        assert not any(flags)
        return
    for cell, flag in enumerate(flags):
        lo, hi = cell * size, (cell + 1) * size
        assert flag == any(a * cells < hi and b * cells > lo for a, b in ranges), cell


# -- simulated downloads -------------------------------------------------------------------


class Sim:
    """Connections that claim and advance; every byte the map counts is recorded once."""

    def __init__(
        self, bmap: BlockMap, clock: FakeClock, vouched: dict[int, float] | None = None
    ) -> None:
        self.bmap, self.clock = bmap, clock
        self.vouched = vouched or {}
        """Workers that claim as a mirror's probation does, on its samples' speed."""
        self.busy: dict[int, list[int]] = {}  # worker -> [segment, position, known end]
        self.written: list[Interval] = list(bmap.snapshot().done_intervals)
        self.reserved: dict[int, tuple[int, int]] = {}  # worker -> (bytes read, may write)
        self.steals = 0
        self.races = 0

    def write(self, a: int, b: int) -> None:
        if b > a:
            assert not overlaps(a, b, self.written), "a byte was counted twice"
            self.written.append((a, b))

    def claim(self, wid: int) -> Claim | None:
        assert wid not in self.busy
        bmap, now = self.bmap, self.clock.now
        could_claim = claimable(bmap, now)
        count = len(bmap._segments)
        free = {s: bmap._segments[s].first_free for s, _, _ in self.busy.values()}
        claim = bmap.claim(wid, now=now, vouched=self.vouched.get(wid))
        if claim is None:
            assert not could_claim, "an unowned segment was ready"
            return None
        seg = bmap._segments[claim.segment]
        assert seg.owner == wid and (claim.start, claim.end) == (seg.done, seg.end)
        assert claim.start < claim.end
        assert not overlaps(claim.start, claim.end, self.written), "handed out done bytes"
        others = [(pos, bmap.limit(s)) for s, pos, _ in self.busy.values()]
        assert not overlaps(claim.start, claim.end, others), "handed out another's bytes"
        if len(bmap._segments) > count:
            self.steals += 1
            assert not could_claim
            assert claim.start in {end for _, end in others}, "thief starts at victim's end"
            victim = next(s for s in free if bmap.limit(s) == claim.start)
            assert claim.start >= free[victim], "a cut fell inside bytes being written"
            if bmap._segments[victim].remaining == 0:
                assert claim.start == free[victim], "a race takes all from the write position"
                self.races += 1
        self.busy[wid] = [claim.segment, claim.start, claim.end]
        return claim

    def reserve(self, wid: int, nbytes: int) -> int:
        """A read of ``nbytes`` arrived: how many may be written (the rest was taken)."""
        seg, pos, _ = self.busy[wid]
        allowed = self.bmap.reserve(seg, nbytes)
        assert 0 <= allowed <= max(0, nbytes) and pos + allowed <= self.bmap.limit(seg)
        self.reserved[wid] = (nbytes, allowed)
        return allowed

    def advance(self, wid: int, nbytes: int) -> None:
        seg, pos, _ = self.busy[wid]
        pinned = self.reserved.pop(wid, None)
        before = self.bmap.completed
        end = self.bmap.advance(seg, nbytes)
        assert end >= pos, "a cut never falls below the owner's position"
        counted = max(0, min(nbytes, end - pos))
        if pinned is not None and pinned[0] == nbytes:
            assert counted == pinned[1], "reserved bytes were cut, or more were counted"
        assert self.bmap.completed - before == counted
        self.write(pos, pos + counted)
        pos += counted
        self.busy[wid] = [seg, pos, end]
        if pos >= end:
            self.bmap.release(seg)
            del self.busy[wid]

    def fail(self, wid: int, backoff: float) -> None:
        seg = self.busy.pop(wid)[0]
        self.reserved.pop(wid, None)
        failures = self.bmap.failures(seg)
        assert self.bmap.release(seg, failed=True, backoff=backoff) == failures + 1
        assert self.bmap.failures(seg) == failures + 1

    def step(self, rnd: random.Random, weights: Sequence[float]) -> None:
        wid = rnd.choices(range(len(weights)), weights)[0]
        if wid not in self.busy:
            self.claim(wid)
        else:
            seg, pos, known_end = self.busy[wid]
            roll = rnd.random()
            block = self.bmap.block_size
            if roll < 0.03:
                self.fail(wid, rnd.choice([0.0, 0.1, 1.0]))
            elif roll < 0.1:
                self.bmap.note_request(seg, rnd.randint(pos, known_end))
            elif roll < 0.15 and wid not in self.reserved:
                self.reserve(wid, rnd.randint(0, 2 * block))  # advanced on a later step
            elif wid in self.reserved:
                self.advance(wid, self.reserved[wid][0])
            elif roll < 0.2:
                self.advance(wid, rnd.randint(0, 3 * block))  # may overrun
            else:
                self.advance(wid, min(rnd.randint(1, 3 * block), known_end - pos))
        self.clock.tick(rnd.choice([0.0, 0.01, 0.05, 0.25]))

    def finish(self, rnd: random.Random, weights: Sequence[float], max_steps: int) -> None:
        for _ in range(max_steps):
            if self.bmap.is_complete:
                break
            self.step(rnd, weights)
        for wid in sorted(self.busy):  # owners raced to the end learn of it on their next call
            assert self.bmap._segments[self.busy[wid][0]].remaining == 0
            self.advance(wid, self.reserved.get(wid, (0, 0))[0])
        size = self.bmap.size
        assert self.bmap.is_complete, "the download never finished"
        assert not self.busy
        assert merge_intervals(self.written) == (((0, size),) if size else ())
        assert total(self.written) == size, "every byte written exactly once"
        snap = check_map(self.bmap)
        assert snap.completed == size and snap.active == ()
        assert self.bmap.claim(99, now=self.clock.now) is None
        assert self.bmap.earliest_retry() is None


@settings(max_examples=100, deadline=None)
@given(
    size_and_block(max_blocks=40),
    st.integers(1, 8),
    st.lists(st.floats(0.05, 1.0), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
    st.booleans(),
    st.none() | st.floats(0.0, 1e7),
)
def test_simulated_download_writes_every_byte_once(
    sb: tuple[int, int],
    parts: int,
    weights: list[float],
    rnd: random.Random,
    resumed: bool,
    vouched: float | None,
) -> None:
    """``vouched``: worker 0 claims as a mirror's measuring connection, whose ranges may
    be cut under a block (never inside bytes being written)."""
    size, block = sb
    done = [(size // 3, size // 2)] if resumed else []
    with fake_clock() as clock:
        bmap = BlockMap(size, block, done)
        bmap.partition(parts)
        probation = {} if vouched is None else {0: vouched}
        Sim(bmap, clock, probation).finish(rnd, weights, max_steps=20_000)


def test_simulated_downloads_do_steal() -> None:
    steals = 0
    for seed in range(5):
        rnd = random.Random(seed)
        with fake_clock() as clock:
            sim = Sim(BlockMap.fresh(200 * 1000, 1000, 2), clock)
            sim.finish(rnd, [1.0, 0.1, 0.5, 1.0], max_steps=20_000)
            steals += sim.steals
    assert steals > 0, "the simulation never exercised stealing"


def test_simulated_downloads_do_race_a_crawling_owner() -> None:
    races = 0
    for seed in range(5):
        rnd = random.Random(seed)
        with fake_clock() as clock:
            sim = Sim(BlockMap.fresh(200 * 1000, 1000, 4), clock)
            sim.finish(rnd, [1.0, 0.02, 1.0, 1.0, 1.0], max_steps=20_000)
            races += sim.races
    assert races > 0, "the simulation never raced a tail"


def test_threads_download_every_byte_once() -> None:
    size, block = 256 * 1024, 4096
    bmap = BlockMap.fresh(size, block, 4)
    records: list[list[Interval]] = [[] for _ in range(6)]
    errors: list[BaseException] = []

    def work(wid: int) -> None:
        rnd = random.Random(wid)
        deadline = real_time.monotonic() + 10
        try:
            while real_time.monotonic() < deadline:
                claim = bmap.claim(wid)
                if claim is None:
                    if bmap.is_complete:
                        return
                    real_time.sleep(0.001)
                    continue
                pos, end = claim.start, claim.end
                while pos < end:
                    n = min(rnd.randint(1, 8192), end - pos)
                    end = bmap.advance(claim.segment, n)
                    counted = max(0, min(n, end - pos))
                    records[wid].append((pos, pos + counted))
                    pos += counted
                bmap.release(claim.segment)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors
    written = sorted(iv for r in records for iv in r if iv[1] > iv[0])
    for (_, b1), (a2, _) in pairwise(written):
        assert b1 <= a2, "two threads counted the same bytes"
    assert total(written) == size and merge_intervals(written) == ((0, size),)
    assert bmap.is_complete and check_map(bmap).completed == size


# -- stateful ------------------------------------------------------------------------------


class BlockMapMachine(RuleBasedStateMachine):
    """Random claims, advances, releases, steals, partitions and clock ticks."""

    WORKERS = 6

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self._patch = mock.patch.object(blockmap, "time", self.clock)
        self._patch.start()
        self.sim: Sim | None = None

    def teardown(self) -> None:
        self._patch.stop()

    @property
    def s(self) -> Sim:
        assert self.sim is not None
        return self.sim

    @initialize(
        sb=size_and_block(max_blocks=80, min_blocks=1), parts=st.integers(1, 4), data=st.data()
    )
    def setup(self, sb: tuple[int, int], parts: int, data: st.DataObject) -> None:
        size, block = sb
        done = data.draw(raw_done(size))
        bmap = BlockMap(size, block, done)
        assert bmap.snapshot().done_intervals == clamp_merge(size, done)
        bmap.partition(parts)
        self.sim = Sim(bmap, self.clock)

    def idle(self) -> list[int]:
        return [w for w in range(self.WORKERS) if w not in self.s.busy]

    @precondition(lambda self: self.sim is not None and len(self.sim.busy) < self.WORKERS)
    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        self.s.claim(data.draw(st.sampled_from(self.idle())))

    @precondition(lambda self: self.sim is not None and self.sim.busy)
    @rule(data=st.data(), blocks=st.floats(0, 3))
    def advance(self, data: st.DataObject, blocks: float) -> None:
        wid = data.draw(st.sampled_from(sorted(self.s.busy)))
        read = int(blocks * self.s.bmap.block_size)
        self.s.advance(wid, self.s.reserved[wid][0] if wid in self.s.reserved else read)

    @precondition(lambda self: self.sim is not None and self.sim.busy)
    @rule(data=st.data(), failed=st.booleans(), backoff=st.sampled_from([0.0, 0.5, 3.0]))
    def release(self, data: st.DataObject, failed: bool, backoff: float) -> None:
        wid = data.draw(st.sampled_from(sorted(self.s.busy)))
        if failed:
            self.s.fail(wid, backoff)
        else:
            seg = self.s.busy.pop(wid)[0]
            self.s.reserved.pop(wid, None)
            failures = self.s.bmap.failures(seg)
            assert self.s.bmap.release(seg) == failures

    @precondition(lambda self: self.sim is not None and self.sim.busy)
    @rule(data=st.data(), share=st.floats(0, 1))
    def note_request(self, data: st.DataObject, share: float) -> None:
        wid = data.draw(st.sampled_from(sorted(self.s.busy)))
        seg, pos, end = self.s.busy[wid]
        self.s.bmap.note_request(seg, pos + int(share * (end - pos)))

    @precondition(lambda self: self.sim is not None and 0 < len(self.sim.busy) < self.WORKERS)
    @rule(data=st.data(), seconds=st.sampled_from([0.25, 0.5, 1.0]))
    def everyone_works_then_one_asks(self, data: st.DataObject, seconds: float) -> None:
        """All owners receive data for a while (rates get measured); then an idle one claims."""
        self.clock.tick(seconds)
        for wid in sorted(self.s.busy):
            read = data.draw(st.integers(1, self.s.bmap.block_size))
            self.s.advance(wid, self.s.reserved[wid][0] if wid in self.s.reserved else read)
        if len(self.s.busy) < self.WORKERS:
            self.s.claim(data.draw(st.sampled_from(self.idle())))

    @precondition(lambda self: self.sim is not None and 0 < len(self.sim.busy) < self.WORKERS)
    @rule(data=st.data(), inflight=st.floats(0, 2))
    def duplicate_tail(self, data: st.DataObject, inflight: float) -> None:
        """One owner crawls with a read in flight while the others stream; an idle one
        asks. When it races the crawler's tail, the read lands only up to the cut."""
        s, block = self.s, self.s.bmap.block_size
        victim = data.draw(st.sampled_from(sorted(s.busy)))
        for _ in range(4):
            self.clock.tick(0.25)
            for wid in sorted(s.busy):
                if wid not in s.reserved:
                    s.advance(wid, 1 if wid == victim else 4 * block)
        if victim not in s.busy or victim in s.reserved or len(s.busy) == self.WORKERS:
            return
        read = int(inflight * block)
        s.reserve(victim, read)
        # Sim.claim checks any race: the thief starts at the raced owner's write
        # position and the owner keeps nothing past it. The raced owner need not be the
        # crawler: another owner measured slower still is raced first.
        s.claim(data.draw(st.sampled_from(self.idle())))
        s.advance(victim, read)

    @precondition(lambda self: self.sim is not None and self.sim.reserved)
    @rule(data=st.data())
    def write_lands(self, data: st.DataObject) -> None:
        wid = data.draw(st.sampled_from(sorted(self.s.reserved)))
        self.s.advance(wid, self.s.reserved[wid][0])

    @precondition(lambda self: self.sim is not None and self.sim.busy)
    @rule(data=st.data(), blocks=st.floats(0, 2))
    def read_arrives(self, data: st.DataObject, blocks: float) -> None:
        idle = sorted(w for w in self.s.busy if w not in self.s.reserved)
        if idle:
            self.s.reserve(data.draw(st.sampled_from(idle)), int(blocks * self.s.bmap.block_size))

    @precondition(lambda self: self.sim is not None)
    @rule(seconds=st.sampled_from([0.0, 0.05, 0.25, 1.0, 4.0]))
    def tick(self, seconds: float) -> None:
        self.clock.tick(seconds)

    @precondition(lambda self: self.sim is not None)
    @rule(parts=st.integers(1, 8))
    def partition(self, parts: int) -> None:
        bmap = self.s.bmap
        before = bmap.pending_segments()
        bmap.partition(parts)
        after = bmap.pending_segments()
        assert after >= before
        if after < parts:  # only because no segment has two blocks left to cut
            assert all(s.end - s.first_free < 2 * bmap.block_size for s in bmap._segments)

    @precondition(lambda self: self.sim is not None)
    @rule()
    def round_trip(self) -> None:
        bmap = self.s.bmap
        snap = bmap.snapshot()
        rebuilt = BlockMap(bmap.size, bmap.block_size, snap.done_intervals)
        again = check_map(rebuilt)
        assert (again.completed, again.done_intervals) == (snap.completed, snap.done_intervals)
        pending = [(s.done, s.end) for s in segs(rebuilt) if s.remaining]
        assert pending == gaps(bmap.size, snap.done_intervals)

    @invariant()
    def consistent(self) -> None:
        if self.sim is None:
            return
        bmap = self.s.bmap
        snap = check_map(bmap)
        assert merge_intervals(self.s.written) == snap.done_intervals
        owners = {(i, s.owner) for i, s in enumerate(bmap._segments) if s.owner is not None}
        assert owners == {(seg, wid) for wid, (seg, _, _) in self.s.busy.items()}
        for seg, pos, _ in self.s.busy.values():
            assert bmap._segments[seg].done == pos


BlockMapMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
TestBlockMapMachine = BlockMapMachine.TestCase
