"""Byte ranges as plain values: merge, gaps, heatmap buckets, and the map's frozen copy.

Pure functions of ``(start, end)`` pairs, with no lock and no clock, so that the
block map, the store, the snapshot codec and the heatmap share one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Interval = tuple[int, int]


@dataclass(frozen=True)
class MapSnapshot:
    """An immutable copy for front ends and for saving; never shares state with the map."""

    size: int
    done_intervals: tuple[Interval, ...]
    active: tuple[Interval, ...]
    completed: int

    def buckets(self, cells: int) -> tuple[tuple[float, ...], tuple[bool, ...]]:
        """Fraction done and "being fetched" for ``cells`` equal byte ranges (heatmap)."""
        return bucket_fractions(self.size, self.done_intervals, cells), bucket_flags(
            self.size, self.active, cells
        )

    @classmethod
    def complete(cls, size: int) -> MapSnapshot:
        return cls(size, ((0, size),) if size else (), (), size)


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sort and join touching or overlapping ranges; drop empty ones."""
    merged: list[list[int]] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple((a, b) for a, b in merged)


def gaps(size: int, done: Sequence[Interval]) -> list[Interval]:
    """The ranges of ``[0, size)`` not covered by the (merged) done intervals."""
    result: list[Interval] = []
    pos = 0
    for a, b in done:
        if a > pos:
            result.append((pos, a))
        pos = max(pos, b)
    if pos < size:
        result.append((pos, size))
    return result


def bucket_fractions(size: int, done: Sequence[Interval], cells: int) -> tuple[float, ...]:
    """Share of each of ``cells`` equal byte ranges covered by ``done`` (sorted, merged)."""
    if cells <= 0:
        return ()
    if size <= 0:
        return tuple(1.0 for _ in range(cells))
    covered = [0] * cells
    for a, b in done:  # scaled by ``cells``: cell k is [k * size, (k + 1) * size)
        lo, hi = a * cells, b * cells
        for cell in range(lo // size, min(cells, -(-hi // size))):
            covered[cell] += min(hi, (cell + 1) * size) - max(lo, cell * size)
    return tuple(c / size for c in covered)


def bucket_flags(size: int, ranges: Sequence[Interval], cells: int) -> tuple[bool, ...]:
    """Which cells overlap any of ``ranges`` (the bytes being fetched right now)."""
    flags = [False] * max(cells, 0)
    if size <= 0 or cells <= 0:
        return tuple(flags)
    for a, b in ranges:
        if b <= a:
            continue
        for cell in range(a * cells // size, min(cells, -(-b * cells // size))):
            flags[cell] = True
    return tuple(flags)
