"""Idle connections kept for the next download to the same server: which one is
taken, and for how long they are kept (a fake clock)."""

from __future__ import annotations

from rangetui.core.http.connection import Connection
from rangetui.core.http.idle import IDLE_SECONDS, MAX_IDLE, IdleConnections
from rangetui.core.types import HttpOptions
from tests.fake_clock import FakeClock

PLAIN = HttpOptions()
WITH_HEADER = HttpOptions(headers=(("X-Token", "t"),))


def test_a_connection_is_taken_by_the_same_server_and_options_only() -> None:
    idle = IdleConnections(FakeClock())
    conn = Connection(PLAIN)
    idle.give(conn, "http://Example.org:80/a.bin")
    assert idle.take(PLAIN, "https://example.org/a.bin") is None, "another scheme"
    assert idle.take(PLAIN, "http://example.org:8080/a.bin") is None, "another port"
    assert idle.take(WITH_HEADER, "http://example.org/a.bin") is None, "other headers"
    assert idle.take(PLAIN, "http://user:pw@example.org/b.bin") is conn
    assert idle.take(PLAIN, "http://example.org/b.bin") is None, "taken once"


def test_the_newest_is_taken_first_and_old_ones_expire() -> None:
    clock = FakeClock()
    idle = IdleConnections(clock)
    old, new = Connection(PLAIN), Connection(PLAIN)
    idle.give(old, "http://h/x")
    clock.now += IDLE_SECONDS / 2
    idle.give(new, "http://h/y")
    assert idle.take(PLAIN, "http://h/z") is new
    idle.give(new, "http://h/y")
    clock.now += IDLE_SECONDS / 2
    assert idle.take(PLAIN, "http://h/z") is new, "old has expired, new has not"
    assert idle.take(PLAIN, "http://h/z") is None


def test_at_most_max_idle_are_kept() -> None:
    idle = IdleConnections(FakeClock())
    conns = [Connection(PLAIN) for _ in range(MAX_IDLE + 3)]
    for conn in conns:
        idle.give(conn, "http://h/")
    taken = []
    while (conn := idle.take(PLAIN, "http://h/")) is not None:
        taken.append(conn)
    assert len(taken) == MAX_IDLE
    assert set(map(id, taken)) == set(map(id, conns[3:])), "the oldest were closed"
