"""The tail race (rangetui.core.segments): an idle connection takes all of a far slower
owner's remaining range from its write position, and a read the owner had in flight is
written only up to the cut. A fake clock drives every rate; nothing here sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rangetui.core.blockmap import BlockMap
from rangetui.core.segments import RACE_GAIN_SECONDS, Segment, races
from tests.core.test_blockmap import (
    FAST,
    FakeClock,
    _four_connections,
    check_map,
    fake_clock,
    run_for,
)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with fake_clock() as c:
        yield c


@pytest.mark.parametrize(
    ("own", "remaining", "fast", "expected"),
    [
        (1000.0, 100_000, 10_000.0, True),  # 100 s against 10 s
        (0.0, 1, 10_000.0, True),  # stalled: any tail is worth a race
        (3000.0, 100_000, 10_000.0, False),  # slower, but not four times: shared, not raced
        (1000.0, 1_000, 10_000.0, False),  # 1 s against 0.1 s: not worth a new request
        (1000.0, 2_000, 10_000.0, True),  # 2 s against 0.2 s
        (1000.0, 0, 10_000.0, False),
        (1000.0, 100_000, 0.0, False),  # nobody known to be fast
    ],
)
def test_races(own: float, remaining: int, fast: float, expected: bool) -> None:
    assert races(own, remaining, fast) == expected
    assert RACE_GAIN_SECONDS == 1.0  # the 1 000-byte row sits just under it


def test_a_far_slower_owner_loses_everything_from_its_write_position(clock: FakeClock) -> None:
    bmap, seg = _four_connections(clock, (8, {0: 1000, **FAST}))
    crawler = bmap._segments[seg[0]]
    assert (crawler.done, crawler.end) == (2000, 100_000)
    bmap.note_request(seg[0], 60_000)  # its open request: a steal would cut after it
    racer = bmap.claim(4, now=clock.now)
    assert racer is not None and (racer.start, racer.end) == (2000, 100_000)
    assert bmap.limit(seg[0]) == 2000
    before = bmap.completed
    assert bmap.advance(seg[0], 700) == 2000, "the owner stops at once"
    assert bmap.completed == before, "its late bytes are not counted"
    assert bmap.snapshot().active.count((2000, 100_000)) == 1
    check_map(bmap)


def test_a_read_in_flight_is_written_up_to_the_cut_and_no_further(clock: FakeClock) -> None:
    bmap, seg = _four_connections(clock, (8, {0: 1000, **FAST}))
    assert bmap.reserve(seg[0], 1500) == 1500, "1 500 bytes arrived: all may be written"
    racer = bmap.claim(4, now=clock.now)
    assert racer is not None and racer.start == 3500, "no cut inside bytes being written"
    assert bmap.advance(seg[0], 1500) == 3500
    assert bmap.reserve(seg[0], 900) == 0, "the next read belongs to the racer"
    assert bmap.advance(seg[0], 900) == 3500
    bmap.release(seg[0])
    assert bmap.reserve(racer.segment, 200_000) == 100_000 - 3500
    assert bmap.advance(racer.segment, 200_000) == 100_000
    check_map(bmap)


def test_an_owner_slower_than_the_thief_but_not_its_peers_is_shared(clock: FakeClock) -> None:
    """A thief's own rate may come from a burst (nginx sends the first second of a request
    at once): an owner is raced only when it is far slower than its peers as well."""
    bmap, seg = _four_connections(clock, (8, {0: 4000, **FAST}))
    bmap._worker_rates[4] = 1e9
    thief = bmap.claim(4, now=clock.now)
    assert thief is not None and bmap.limit(seg[0]) == thief.start
    kept = thief.start - bmap._segments[seg[0]].done
    expected = (100_000 - 8000) * 4000 / (4000 + 10_000)  # a thief no faster than the fastest
    assert abs(kept - expected) <= bmap.block_size, "shared, not raced"
    check_map(bmap)


def test_a_slow_connection_takes_nothing_in_the_tail(clock: FakeClock) -> None:
    """Raced and idle, the slow connection would only make a new tail: it waits."""
    bmap, seg = _four_connections(clock, (8, {0: 1000, **FAST}))
    racer = bmap.claim(4, now=clock.now)
    assert racer is not None
    bmap.advance(seg[0], 0)
    bmap.release(seg[0])
    assert bmap._worker_rates[0] == pytest.approx(1000, rel=0.1)
    assert bmap.claim(0, now=clock.now) is None
    fast = bmap.claim(5, now=clock.now)
    assert fast is not None, "a connection of unknown speed still shares a range"
    check_map(bmap)


def test_a_lone_crawler_is_raced_by_a_connection_that_was_fast(clock: FakeClock) -> None:
    """At the very end no peer is left to compare with: the idle connection's own rate
    on its last range is the measure."""
    block = 1000
    bmap = BlockMap.fresh(100 * block, block, 2)
    seg = {w: bmap.claim(w, now=clock.now).segment for w in range(2)}  # type: ignore[union-attr]
    run_for(bmap, clock, seg, {0: 400, 1: 50_000}, ticks=4)
    assert bmap._segments[seg[1]].remaining == 0
    bmap.release(seg[1])
    crawler = bmap._segments[seg[0]]
    racer = bmap.claim(1, now=clock.now)
    assert racer is not None and (racer.start, racer.end) == (crawler.done, 50 * block)
    assert crawler.remaining == 0
    check_map(bmap)


def test_a_resumed_map_keeps_exactly_what_the_raced_owner_wrote(clock: FakeClock) -> None:
    bmap, _ = _four_connections(clock, (8, {0: 1000, **FAST}))
    racer = bmap.claim(4, now=clock.now)
    assert racer is not None
    bmap.advance(racer.segment, 5000)
    snap = check_map(bmap)
    assert snap.done_intervals[0] == (0, 7000), "the owner's 2 000 bytes, then the racer's 5 000"
    rebuilt = BlockMap(bmap.size, bmap.block_size, snap.done_intervals)
    assert check_map(rebuilt).done_intervals == snap.done_intervals


def test_an_owner_that_keeps_up_on_average_is_not_raced_in_a_stall(clock: FakeClock) -> None:
    """A server that serves connections in turns: connection 0 was as fast as the others
    for 2 s, then stalls for a second. Its rate now is nothing, its average is not: it
    is not raced from its write position, and a steal cuts after its open request (what
    the server is about to send), as it would for a connection that keeps up."""
    bmap, seg = _four_connections(clock, (8, {0: 10_000, **FAST}), (4, {0: 0, **FAST}))
    owner = bmap._segments[seg[0]]
    assert owner.rate_at(clock.now) == 0.0 and owner.done == 20_000
    bmap.note_request(seg[0], 25_000)  # under a second of its average (6.7 kB/s) ahead
    claim = bmap.claim(4, now=clock.now)
    assert claim is not None and claim.start == 25_000, claim
    assert bmap.limit(seg[0]) == 25_000
    check_map(bmap)


def _segments_under_two_blocks(clock: FakeClock) -> BlockMap:
    """Four owners of 100 000 bytes in 60 000-byte blocks, 2 s at 1 000 B/s each: no
    range can be cut and leave each side a block."""
    bmap = BlockMap(400_000, 60_000)
    # White box: a count of four cut the file so, before blocks of 60 000 were asked for.
    bmap._segments[:] = [Segment(k * 100_000, k * 100_000, (k + 1) * 100_000) for k in range(4)]
    seg: dict[int, int] = {}
    for wid in range(4):
        claim = bmap.claim(wid, now=clock.now)
        assert claim is not None
        seg[wid] = claim.segment
    run_for(bmap, clock, seg, {0: 1000, 1: 1000, 2: 1000, 3: 1000}, ticks=8)
    return bmap


@pytest.mark.parametrize(("vouched", "taken"), [(3000.0, 73_500), (10_000.0, 98_000)])
def test_a_mirrors_probation_takes_a_range_under_a_block(
    clock: FakeClock, vouched: float, taken: int
) -> None:
    """Its samples at 3x the owners' speed: three quarters of one's rest; at 10x (far
    faster: a race), all of it."""
    bmap = _segments_under_two_blocks(clock)
    assert bmap.claim(4, now=clock.now) is None, "nothing can be cut for a plain worker"
    probation = bmap.claim(100, now=clock.now, vouched=vouched)
    assert probation is not None and probation.end - probation.start == taken
    assert probation.end % 100_000 == 0, "the far end of an owner's range"
    check_map(bmap)


def test_no_range_for_a_probation_when_every_owner_is_about_to_finish(clock: FakeClock) -> None:
    bmap = _segments_under_two_blocks(clock)
    run_for(bmap, clock, {w: w for w in range(4)}, {w: 390_000 for w in range(4)}, ticks=1)
    assert bmap.claim(100, now=clock.now, vouched=10_000.0) is None, "500 bytes each left"
    check_map(bmap)


def test_a_probation_whose_last_range_stalled_claims_on_its_samples(clock: FakeClock) -> None:
    """Its own last rate is 0 (a stall) and so are the owners': no division by zero,
    the samples' speed decides, and a stalled owner is raced for all of its rest."""
    bmap = _segments_under_two_blocks(clock)
    clock.tick(5.0)  # every owner stalls
    bmap._worker_rates[100] = 0.0  # white box: the probation's released range had stalled
    probation = bmap.claim(100, now=clock.now, vouched=3000.0)
    assert probation is not None and probation.end - probation.start == 98_000
    check_map(bmap)


def test_a_probation_cuts_after_the_owners_open_request_when_close(clock: FakeClock) -> None:
    """At 3x, the owner would keep a quarter (24 500 bytes); its open request ends 500
    bytes later, half a second of its work: the cut falls there, so nothing is lost."""
    bmap = _segments_under_two_blocks(clock)
    for segment in range(4):
        bmap.note_request(segment, segment * 100_000 + 2_000 + 25_000)
    probation = bmap.claim(100, now=clock.now, vouched=3000.0)
    assert probation is not None and probation.start % 100_000 == 27_000
    check_map(bmap)
