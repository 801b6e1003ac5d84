"""The adaptive connection count, driven by a fake clock and a model of the server.

Each test ticks the tuner as the pool does (every 0.1 s: bytes done, connections
streaming) while a model says how fast a given number of connections goes: no
sockets, no threads, no waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from rangetui.core.adaptive import (
    FIRST_HOLD_SECONDS,
    RESET_WINDOW_SECONDS,
    RESETS_AS_REFUSAL,
    START_CONNECTIONS,
)
from rangetui.core.tuning import ConnectionTuner
from rangetui.core.types import ConnectionReason
from tests.fake_clock import FakeClock

MiB = 1024 * 1024
TICK = 0.1


class Run:
    """A download in the model: ``speed(n)`` is bytes/s with n connections."""

    def __init__(self, tuner: ConnectionTuner, clock: FakeClock, speed: Callable[[int], float]):
        self.tuner, self.clock, self.speed = tuner, clock, speed
        self.done = 0.0
        self.counts: list[int] = []

    def ticks(self, seconds: float) -> Run:
        for _ in range(round(seconds / TICK)):
            wanted = self.tuner.wanted
            self.counts.append(wanted)
            self.clock.now += TICK
            self.done += self.speed(wanted) * TICK
            self.tuner.observe(int(self.done), wanted)
        return self


def per_connection(rate: float) -> Callable[[int], float]:
    """Every connection throttled alike (nginx limit_rate): more is always faster."""
    return lambda n: n * rate


def saturating(at: int) -> Callable[[int], float]:
    """The link is full at ``at`` connections: more add nothing."""
    return lambda n: min(n, at) * 4 * MiB


def make(connections: int, fixed: bool = False) -> tuple[ConnectionTuner, FakeClock, list[str]]:
    clock, events = FakeClock(1000.0), []
    tuner = ConnectionTuner(connections, fixed=fixed, clock=clock, on_event=events.append)
    return tuner, clock, events


def test_starts_with_a_few_and_doubles_up_to_the_most_asked_for() -> None:
    tuner, clock, events = make(16)
    assert tuner.wanted == START_CONNECTIONS
    assert tuner.reason is ConnectionReason.GROWING
    run = Run(tuner, clock, per_connection(4 * MiB)).ticks(5)
    assert tuner.wanted == 16
    assert sorted(set(run.counts)) == [4, 8, 16], "doubling, not one at a time"
    assert tuner.reason is ConnectionReason.CEILING
    assert events == [], "reaching -t is what is expected: nothing to say"


def test_ramps_within_a_second_or_two_on_a_fast_link() -> None:
    """Loopback: a decision every few ticks, so a short download loses little."""
    tuner, clock, _ = make(8)
    run = Run(tuner, clock, per_connection(100 * MiB)).ticks(2)
    assert run.counts.index(8) <= 6


@pytest.mark.parametrize("asked", [1, 2, 3, 4])
def test_a_few_asked_for_are_used_from_the_start(asked: int) -> None:
    tuner, clock, _ = make(asked)
    assert tuner.wanted == asked and tuner.reason is ConnectionReason.CEILING
    Run(tuner, clock, per_connection(MiB)).ticks(3)
    assert tuner.wanted == asked


def test_growth_stops_when_more_do_not_go_faster() -> None:
    tuner, clock, events = make(64)
    Run(tuner, clock, saturating(6)).ticks(10)
    assert tuner.wanted == 8, "4 -> 8 gained, 8 -> 16 did not: back to 8"
    assert tuner.reason is ConnectionReason.NO_GAIN
    assert events == ["8 connections: more did not go faster"]
    Run(tuner, clock, saturating(6)).ticks(60)
    assert tuner.wanted == 8, "held: no creeping up"


def test_a_small_gain_is_not_a_reason_to_grow() -> None:
    tuner, clock, _ = make(64)
    run = Run(tuner, clock, lambda n: 10 * MiB * (1 + 0.05 * (n > 8))).ticks(10)
    assert 16 in run.counts, "tried"
    assert tuner.wanted == 8, "and went back: 5% is not worth twice the connections"
    assert tuner.reason is ConnectionReason.NO_GAIN


def test_the_first_few_double_as_soon_as_they_stream() -> None:
    """Slow start: no window at the start count, so a throttled download loses a tick."""
    tuner, clock, _ = make(16)
    clock.now += TICK
    tuner.observe(0, START_CONNECTIONS - 1)
    assert tuner.wanted == START_CONNECTIONS, "not before every one streams"
    clock.now += TICK
    tuner.observe(MiB, START_CONNECTIONS)
    assert tuner.wanted == 2 * START_CONNECTIONS


def test_a_refusal_among_the_first_few_ends_the_slow_start() -> None:
    tuner, clock, _ = make(16)
    clock.now += TICK
    tuner.observe(0, START_CONNECTIONS - 1)
    tuner.server_busy()
    assert tuner.wanted == START_CONNECTIONS // 2
    clock.now += TICK
    tuner.observe(MiB, START_CONNECTIONS // 2)
    assert tuner.wanted == START_CONNECTIONS // 2, "measured from here, one at a time"


def test_measuring_waits_until_the_new_connections_stream() -> None:
    """A change is judged only once its connections have opened (or after a while)."""
    tuner, clock, _ = make(16)
    for _ in range(15):  # 1.5 s with nobody streaming: nothing to judge yet
        clock.now += TICK
        tuner.observe(0, 0)
    assert tuner.wanted == START_CONNECTIONS


def test_busy_halves_and_stops_at_one() -> None:
    tuner, clock, events = make(64)
    tuner.set_connections(16)
    for expected in (8, 4, 2, 1, 1):
        tuner.server_busy()
        assert tuner.wanted == expected
        clock.now += 2.0  # another burst, not the same one
    assert tuner.reason is ConnectionReason.REFUSED
    assert events[0] == "the server refused a connection (busy); using 8 for now"


def test_refusals_of_one_burst_halve_once() -> None:
    tuner, _, _ = make(16)
    tuner.set_connections(16)
    for _ in range(8):
        tuner.server_busy()
    assert tuner.wanted == 8


def test_concurrent_refusals_of_one_burst_halve_once() -> None:
    tuner, _, _ = make(64)
    tuner.set_connections(64)
    start = threading.Barrier(8)

    def refuse() -> None:
        start.wait()
        for _ in range(5):
            tuner.server_busy()

    threads = [threading.Thread(target=refuse) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tuner.wanted == 32


def capped(limit: int, tuner: ConnectionTuner) -> Callable[[int], float]:
    """A server that refuses connections past ``limit``, each throttled alike."""

    def speed(n: int) -> float:
        if n > limit:
            tuner.server_busy(1.0)
        return min(n, limit) * 4 * MiB

    return speed


def test_a_refused_count_is_kept_out_of_reach_for_a_while() -> None:
    tuner, clock, events = make(8)
    run = Run(tuner, clock, capped(3, tuner)).ticks(FIRST_HOLD_SECONDS - 5)
    assert tuner.wanted == 3, "halved to 2, then one more, then not the refused 4"
    assert tuner.reason is ConnectionReason.REFUSED
    assert run.counts.count(4) <= 1, "refused once, not again at once"
    assert "3 connections: the server refused more" in events


def test_after_the_hold_off_it_tries_once_more_and_backs_off_longer() -> None:
    tuner, clock, events = make(8)
    run = Run(tuner, clock, capped(3, tuner)).ticks(3 * FIRST_HOLD_SECONDS + 10)
    refusals = [e for e in events if e.startswith("the server refused")]
    assert 2 <= len(refusals) <= 3, refusals
    assert run.counts[-1] <= 3


def test_retry_after_is_honoured_before_growing_again() -> None:
    tuner, clock, _ = make(64)
    tuner.set_connections(8)
    tuner.server_busy(retry_after=120.0)
    assert tuner.wanted == 4
    Run(tuner, clock, per_connection(4 * MiB)).ticks(100)
    assert tuner.wanted == 4, "nothing more while the server asked us to wait"
    Run(tuner, clock, per_connection(4 * MiB)).ticks(30)
    assert tuner.wanted > 4


def test_fixed_never_changes() -> None:
    tuner, clock, events = make(6, fixed=True)
    assert tuner.wanted == 6 and tuner.reason is ConnectionReason.FIXED
    Run(tuner, clock, saturating(1)).ticks(5)
    tuner.server_busy(5.0)
    for _ in range(RESETS_AS_REFUSAL + 1):
        tuner.connection_lost()
    assert tuner.wanted == 6 and events == []
    assert tuner.set_connections(3) == 3 and tuner.wanted == 3


def test_a_user_count_is_used_at_once_and_is_the_new_ceiling() -> None:
    tuner, clock, _ = make(16)
    Run(tuner, clock, saturating(2)).ticks(5)
    assert tuner.wanted == 8 and tuner.reason is ConnectionReason.NO_GAIN
    assert tuner.set_connections(10) == 10
    assert tuner.ceiling == 10 and tuner.reason is ConnectionReason.CEILING
    Run(tuner, clock, per_connection(4 * MiB)).ticks(10)
    assert tuner.wanted == 10, "never past the user's count"
    tuner.set_connections(3)
    assert tuner.wanted == 3


def test_a_user_count_forgets_an_old_refusal() -> None:
    tuner, clock, _ = make(8)
    Run(tuner, clock, capped(3, tuner)).ticks(5)
    assert tuner.wanted == 3
    tuner.set_connections(6)
    assert tuner.wanted == 6


def test_a_lone_reset_is_a_glitch_several_together_a_refusal() -> None:
    tuner, clock, _ = make(8)
    tuner.set_connections(8)
    for _ in range(RESETS_AS_REFUSAL - 1):
        tuner.connection_lost()
    assert tuner.wanted == 8
    clock.now += RESET_WINDOW_SECONDS  # the earlier ones are forgotten
    for _ in range(RESETS_AS_REFUSAL - 1):
        tuner.connection_lost()
    assert tuner.wanted == 8
    tuner.connection_lost()
    assert tuner.wanted == 4 and tuner.reason is ConnectionReason.REFUSED
