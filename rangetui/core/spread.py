"""How a download's connections are spread over its servers (the URL and its mirrors):
pure arithmetic on measured speeds, kept apart from the bookkeeping in ``sources.py``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Indexed(Protocol):
    @property
    def index(self) -> int: ...


S = TypeVar("S", bound=Indexed)


def shares(wanted: int, rates: Sequence[float | None]) -> list[int]:
    """Connections per server: one each while there are enough, the rest in proportion
    to speed per connection (an unmeasured server counts as the average). With fewer
    connections than servers, the fastest get one each (ties: the earlier)."""
    if not rates:
        return []
    measured = [r for r in rates if r]
    average = sum(measured) / len(measured) if measured else 1.0
    est = [average if r is None else r for r in rates]
    order = sorted(range(len(rates)), key=lambda i: (-est[i], i))
    counts = [0] * len(rates)
    for i in order[:wanted]:
        counts[i] = 1
    extra = max(0, wanted - len(rates))
    total = sum(est)
    if not extra:
        return counts
    quotas = [extra * e / total if total > 0 else extra / len(rates) for e in est]
    for i, q in enumerate(quotas):
        counts[i] += math.floor(q)
    left = wanted - sum(counts)
    for i in sorted(order, key=lambda i: -(quotas[i] - math.floor(quotas[i])))[:left]:
        counts[i] += 1
    return counts


def assign(
    wanted: int, kept: dict[int, S], targets: dict[int, int], by_index: dict[int, S]
) -> dict[int, S]:
    """Each server keeps its lowest workers up to its share; every other worker goes to
    the server furthest below its share, so that new workers alternate between servers."""
    result: dict[int, S] = {}
    counts = dict.fromkeys(targets, 0)
    for wid in sorted(kept):
        i = kept[wid].index
        if counts[i] < targets[i]:
            result[wid] = kept[wid]
            counts[i] += 1
    for wid in range(wanted):
        if wid not in result:
            i = max(targets, key=lambda k: (targets[k] - counts[k], -k))
            result[wid] = by_index[i]
            counts[i] += 1
    return result


__all__ = ["assign", "shares"]
