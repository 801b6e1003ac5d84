"""The connection policy on its own, driven by a fake clock: no sockets, no threads."""

from __future__ import annotations

import pytest

from rangetui.core.tuning import (
    FIRST_REQUEST_BYTES,
    MAX_REQUEST_BYTES,
    MIN_REQUEST_BYTES,
    RECONNECT_SECONDS,
    STRAGGLER_FACTOR,
    STRAGGLER_SECONDS,
    ConnectionTuner,
)
from tests.fake_clock import FakeClock

MiB = 1024 * 1024


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


# -- request sizing -------------------------------------------------------------------


def test_a_connection_starts_with_the_first_request_size(clock: FakeClock) -> None:
    assert ConnectionTuner(4, clock=clock).pace().request_bytes == FIRST_REQUEST_BYTES


def test_the_next_request_is_about_a_second_at_the_last_rate(clock: FakeClock) -> None:
    pace = ConnectionTuner(4, clock=clock).pace()
    pace.request_started()
    clock.advance(2.0)
    pace.request_done(6 * MiB)
    assert pace.request_bytes == 3 * MiB


@pytest.mark.parametrize(
    ("nbytes", "seconds", "expected"),
    [
        (1024, 1.0, MIN_REQUEST_BYTES),  # a crawl still asks for a useful amount
        (1000 * MiB, 1.0, MAX_REQUEST_BYTES),  # a fast link never asks for the whole file
        (MIN_REQUEST_BYTES, 1.0, MIN_REQUEST_BYTES),
        (MAX_REQUEST_BYTES, 1.0, MAX_REQUEST_BYTES),
    ],
)
def test_request_sizes_stay_within_bounds(nbytes: int, seconds: float, expected: int) -> None:
    assert ConnectionTuner.next_request_bytes(nbytes, seconds, FIRST_REQUEST_BYTES) == expected


def test_a_burst_at_most_doubles_the_request() -> None:
    """The probe's megabyte, already buffered, "measured" a gigabyte a second: the next
    request is twice the first size, not the largest (nginx throttles each request after
    its first second's burst, so a long request there is the slowest kind)."""
    assert ConnectionTuner.next_request_bytes(MiB, 0.001, FIRST_REQUEST_BYTES) == 2 * (
        FIRST_REQUEST_BYTES
    )
    assert ConnectionTuner.next_request_bytes(8 * MiB, 0.01, 8 * MiB) == MAX_REQUEST_BYTES
    assert ConnectionTuner.next_request_bytes(MiB, 0.01, MIN_REQUEST_BYTES) == 2 * MiB


def test_a_short_quick_answer_keeps_the_size() -> None:
    """A resume's probe asks for one byte: read in no time, it is no rate, and the next
    request stays the first size rather than the smallest (a 1 MiB file resumed took
    four GETs)."""
    assert ConnectionTuner.next_request_bytes(1, 0.0005, FIRST_REQUEST_BYTES) == (
        FIRST_REQUEST_BYTES
    )
    assert ConnectionTuner.next_request_bytes(1024, 1.0, FIRST_REQUEST_BYTES) == (
        MIN_REQUEST_BYTES
    ), "a crawl still shrinks it"


@pytest.mark.parametrize(("nbytes", "seconds"), [(0, 1.0), (MiB, 0.0), (-1, 1.0)])
def test_a_request_that_measured_nothing_keeps_the_size(nbytes: int, seconds: float) -> None:
    assert ConnectionTuner.next_request_bytes(nbytes, seconds, 5 * MiB) == 5 * MiB


def test_an_instant_request_keeps_the_size(clock: FakeClock) -> None:
    pace = ConnectionTuner(4, clock=clock).pace()
    pace.request_started()
    pace.request_done(MiB)  # no time has passed on the clock
    assert pace.request_bytes == FIRST_REQUEST_BYTES


# -- straggler verdict ----------------------------------------------------------------

OLD = STRAGGLER_SECONDS + 1.0
FAST = 4.0 * MiB
SLOW = FAST / STRAGGLER_FACTOR / 2


@pytest.mark.parametrize(
    ("own", "others", "claim_age", "verdict"),
    [
        pytest.param(SLOW, [FAST, FAST], OLD, True, id="slow"),
        pytest.param(0.0, [FAST, FAST], OLD, True, id="stalled"),
        pytest.param(SLOW, [FAST, FAST], STRAGGLER_SECONDS - 0.1, False, id="too-early"),
        pytest.param(None, [FAST, FAST], OLD, False, id="not-measured-yet"),
        pytest.param(SLOW, [FAST], OLD, False, id="too-few-peers"),
        pytest.param(SLOW, [], OLD, False, id="no-peers"),
        pytest.param(FAST / STRAGGLER_FACTOR, [FAST, FAST], OLD, False, id="not-slow-enough"),
        pytest.param(FAST / 2, [FAST, FAST, FAST], OLD, False, id="merely-slower"),
        pytest.param(SLOW, [FAST / 2, FAST / 4], OLD, False, id="peers-slow-too"),
        pytest.param(0.0, [FAST] * 6 + [0.0], OLD, True, id="one-other-stalled-of-seven"),
        pytest.param(0.0, [FAST] * 5 + [0.0, 0.0], OLD, False, id="slow-for-everyone"),
        pytest.param(SLOW, [FAST] * 4 + [SLOW, SLOW], OLD, False, id="a-third-slow"),
    ],
)
def test_straggler_verdict(
    own: float | None, others: list[float], claim_age: float, verdict: bool
) -> None:
    assert ConnectionTuner.straggling(own, others, claim_age) is verdict


def test_no_straggler_in_the_tail() -> None:
    """A connection that will be done in a moment is left to finish (no false alarms
    in the last second of a download)."""
    assert ConnectionTuner.straggling(SLOW, [FAST, FAST], OLD, remaining=int(SLOW * 10))
    assert not ConnectionTuner.straggling(SLOW, [FAST, FAST], OLD, remaining=int(SLOW))


def test_reconnects_are_spaced(clock: FakeClock) -> None:
    pace = ConnectionTuner(4, clock=clock).pace()
    assert not pace.may_reconnect(), "a new connection is not replaced at once"
    clock.advance(STRAGGLER_SECONDS - 0.01)
    assert not pace.may_reconnect()
    clock.advance(0.01)
    assert pace.may_reconnect(), "but as soon as it can be judged"
    pace.reconnected()
    clock.advance(RECONNECT_SECONDS - 0.01)
    assert not pace.may_reconnect()
    clock.advance(0.01)
    assert pace.may_reconnect()


# -- how many connections -------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "expected"), [(0, 1), (-5, 1), (1, 1), (8, 8), (64, 64), (65, 64), (1000, 64)]
)
def test_set_connections_clamps(asked: int, expected: int) -> None:
    tuner = ConnectionTuner(8, fixed=True)
    assert tuner.set_connections(asked) == expected
    assert tuner.wanted == expected


def test_extra_workers_are_the_highest_numbered() -> None:
    tuner = ConnectionTuner(3, fixed=True)
    assert [tuner.keeps(w) for w in range(4)] == [True, True, True, False]
    tuner.set_connections(1)
    assert [tuner.keeps(w) for w in range(2)] == [True, False]
