"""A clock for the core's time-driven rules (the adaptive count, idle connections, the
speed floor, mirrors' rates): tests set and move ``now`` by hand."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
