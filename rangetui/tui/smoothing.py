"""Speeds and ETAs as a person reads them: steady figures that move when the truth moves.

The engine's speeds are honest three-second averages, so their last digits change on
every snapshot. Shown raw, every speed and ETA on screen changes four times a second:
hard to read, and most of the bytes sent to a remote terminal. Here a speed is shown
to two significant figures and kept until the measured value leaves a band around
it; an ETA is rounded to a step that grows with it (seconds near the end, minutes
for a long one) and kept while the estimate stays within a step of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SPEED_BAND = 0.06
"""The shown speed stays while the measured one is within 6 % of it."""
ETA_STEPS = ((60, 5), (600, 10), (3600, 60), (math.inf, 300))
"""(below this many seconds, round to this many)."""
DASH = "–"


def round_speed(value: float) -> float:
    """Two significant figures (three from 100 up, so 396 kB/s is not called 400)."""
    if value <= 0:
        return 0.0
    exponent = math.floor(math.log10(value))
    digits = 3 if exponent % 3 == 2 else 2
    magnitude = 10.0 ** (exponent - digits + 1)
    return round(value / magnitude) * magnitude


def format_speed(value: float) -> str:
    """Decimal units as download tools quote them, without noise digits: 396 kB/s, 3.4 MB/s."""
    for unit in ("B/s", "kB/s", "MB/s", "GB/s"):
        if value < 999.5 or unit == "GB/s":
            if unit == "B/s" or value >= 9.95:
                return f"{value:.0f} {unit}"
            return f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def eta_step(seconds: float) -> int:
    return next(step for below, step in ETA_STEPS if seconds < below)


def round_eta(seconds: float) -> int:
    """Up to the next step: an ETA that says 0:05 should not still be running at 0:09."""
    step = eta_step(seconds)
    return int(math.ceil(seconds / step) * step)


def format_eta(seconds: int | None) -> str:
    """m:ss below ten minutes, then "12 min", "2 h 05": never more than 8 cells."""
    if seconds is None:
        return DASH
    if seconds < 600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds >= 100 * 3600:
        return "> 4 days"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d}"


@dataclass
class Steady:
    """The figures shown for one job (or the total), kept between snapshots."""

    speed: float = 0.0
    eta: int | None = None

    def update_speed(self, measured: float) -> float:
        if measured <= 0:
            self.speed = 0.0
        elif self.speed <= 0 or abs(measured - self.speed) > SPEED_BAND * self.speed:
            self.speed = round_speed(measured)
        return self.speed

    def update_eta(self, remaining: int | None, measured: float) -> int | None:
        """Remaining bytes at the measured speed, held while within a step of the truth."""
        if remaining is None or measured <= 0:
            self.eta = None
            return None
        truth = remaining / measured
        if self.eta is None or abs(truth - self.eta) >= eta_step(truth):
            self.eta = round_eta(truth)
        return self.eta


class Smoother:
    """One :class:`Steady` per key (a job id, or "" for the total); forgets the gone."""

    def __init__(self) -> None:
        self._shown: dict[str, Steady] = {}

    def speed(self, key: str, measured: float) -> float:
        return self._get(key).update_speed(measured)

    def eta(self, key: str, remaining: int | None, measured: float) -> int | None:
        return self._get(key).update_eta(remaining, measured)

    def keep_only(self, keys: set[str]) -> None:
        for key in [k for k in self._shown if k not in keys]:
            del self._shown[key]

    def _get(self, key: str) -> Steady:
        steady = self._shown.get(key)
        if steady is None:
            steady = self._shown[key] = Steady()
        return steady
