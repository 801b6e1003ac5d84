"""Where each connection fetches from: the servers of one file, how fast each is, and
which are still used.

A mirror that has just joined is measured on a connection of its own, on top of the
count (its probation), so that a slow one costs the URL none of its connections for the
second it takes to be judged; once measured it gets its share like any server.

The URL and its mirrors hold the same bytes (``mirrors.py`` checks that before a mirror
is trusted). Connections are spread by measured speed per connection, at least one on
each live server while there are enough, so that every server keeps being measured. A
server that keeps failing, or that is far slower than the best, is retired and its
connections move to the others; the last live server is never retired, so a download
that has only one behaves exactly as before. A slow server is only benched: when every
server still in use fails, it comes back rather than the download failing on a fast
server that drops every request (its speed counts only while its requests complete).
Plain numbers under one lock: the pool samples and rebalances on its tick, each worker
reads its own assignment.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rangetui.core.errors import DownloadError, RetriableError
from rangetui.core.spread import assign, shares
from rangetui.core.text import terminal_safe
from rangetui.core.types import PROBATION_WID, HttpOptions, Remote, SourceView
from rangetui.core.units import format_size
from rangetui.core.urls import redact

SLOW_FACTOR = 8.0
"""A server this many times slower per connection than the best one is retired."""
MEASURE_SECONDS = 1.0
"""A server is judged slow only after sending for this long."""
RATE_SECONDS = 3.0
"""Time constant of the per-connection speed: recent seconds count most."""
STRIKES = 3
"""Failures in a row (no request completed in between) that retire a server."""
FORGIVING_BYTES = 256 * 1024
"""A request at least this long that arrives whole forgives a server's failures (the
smallest request a connection makes, save a range's tail)."""
STRIKE_SPACING = 0.5
"""Seconds: retriable failures closer together are one strike. All of a server's
connections reset at once (a network blip) is one event, not three failures."""
REBALANCE_SECONDS = 1.0

Clock = Callable[[], float]


@dataclass(eq=False)
class Source:
    """One server of the file, with its own validators (``remote``: ETags differ between
    servers) and its own request options (no user headers for another host)."""

    index: int
    url: str
    """As the user gave it: a refused redirect target sends us back here."""
    remote: Remote
    http: HttpOptions
    live: bool = True
    received: int = 0
    strikes: int = 0
    first_byte: float | None = None
    on_trial: bool = True
    """A mirror's probation is still possible; off when its host had no slot for it."""
    sampled: float | None = None
    """Bytes/s its check's samples came at: what its probation may claim ranges on."""
    benched: bool = False
    """Retired for being slow, not for failing: it comes back if the others fail."""
    returned: bool = False
    """Brought back once: the server that made it come back is unreliable, so it is
    never benched again (no back and forth); shares by speed still keep it small."""
    last_strike: float = -math.inf
    _bytes_w: float = field(default=0.0, repr=False)
    _conn_w: float = field(default=0.0, repr=False)
    _seen: int = field(default=0, repr=False)

    @property
    def name(self) -> str:
        role = "the URL" if self.index == 0 else "mirror"
        return f"{role} {terminal_safe(redact(self.url), 120)}"

    @property
    def rate(self) -> float | None:
        """Bytes per second per busy connection; None until it has been measured."""
        return self._bytes_w / self._conn_w if self._conn_w > 0 else None


class SourceSet:
    """The servers of one download and which worker fetches from which."""

    def __init__(
        self,
        sources: Sequence[Source],
        on_event: Callable[[str], None] = lambda _msg: None,
        clock: Clock = time.monotonic,
    ) -> None:
        assert sources, "a download has at least its own URL"
        self.all = tuple(sources)
        self._say = on_event
        self._clock = clock
        self._lock = threading.Lock()
        self._assigned: dict[int, Source] = {}
        self._last_sample = clock()
        self._last_rebalance = -math.inf
        self._last_probation: list[Source] = []
        self.closed = threading.Event()
        """Set when the attempt ends: a mirror still being checked is not added or reported."""

    def add(
        self, url: str, remote: Remote, http: HttpOptions, sampled: float | None = None
    ) -> None:
        """A mirror that agrees with the URL: workers move to it at the next tick."""
        with self._lock:
            if self.closed.is_set():
                return
            source = Source(len(self.all), url, remote, http, sampled=sampled)
            self.all = (*self.all, source)
        self._last_rebalance = -math.inf
        self._say(f"{source.name} agrees with the URL; fetching from it too")

    def say(self, message: str) -> None:
        if not self.closed.is_set():
            self._say(message)

    def close(self) -> None:
        self.closed.set()

    # -- what workers ask ---------------------------------------------------------------

    def live(self) -> list[Source]:
        return [s for s in self.all if s.live]

    @property
    def several(self) -> bool:
        """More than one live server: a server's own trouble need not stop the download."""
        return sum(1 for s in self.all if s.live) > 1

    def assigned(self, wid: int) -> Source:
        with self._lock:
            source = self._assigned.get(wid)
        return source if source is not None and source.live else self.live()[0]

    def keeps(self, wid: int, source: Source) -> bool:
        """Whether worker ``wid`` should go on with ``source``: it may have been retired,
        or the worker moved to another server, or its probation is over."""
        if not source.live:
            return False
        if wid >= PROBATION_WID:
            return source in self._on_probation(self._clock())
        with self._lock:
            return self._assigned.get(wid, source) is source

    def probation(self) -> dict[int, Source]:
        """The probation workers there should be now, by worker id."""
        return {PROBATION_WID + s.index: s for s in self._on_probation(self._clock())}

    def no_probation(self, source: Source) -> None:
        """Its host has no slot for a connection on top of the count (``--max-per-host``):
        the mirror is measured on one of the count's instead, as a regular server."""
        source.on_trial = False

    def received(self, source: Source, nbytes: int) -> None:
        with self._lock:
            source.received += nbytes
            if source.first_byte is None and nbytes:
                source.first_byte = self._clock()

    def completed(self, source: Source, nbytes: int) -> None:
        """A whole request arrived: the server's failures in a row are forgiven, unless
        it was short. A server that drops every answer past a few hundred KB (a proxy's
        limit) still completes a tail's short requests; they prove nothing."""
        if nbytes >= FORGIVING_BYTES:
            source.strikes = 0

    def strike(self, source: Source, error: DownloadError) -> bool:
        """A request to ``source`` failed. True: the other servers go on (it was retired,
        or it may try again without counting against the bytes); False: it is the last
        server, so the caller handles the error as for a single one. The last server's
        second failure in a row, or any that is not worth a retry, brings back the servers
        benched for being slow."""
        now = self._clock()
        retriable = isinstance(error, RetriableError)
        with self._lock:
            if not source.live:
                return True
            if not retriable or now - source.last_strike >= STRIKE_SPACING:
                source.strikes, source.last_strike = source.strikes + 1, now
            back: list[Source] = []
            if not self._several_locked() and (source.strikes >= 2 or not retriable):
                back = self._unbench_locked()
            if not self._several_locked():
                return False
            again = retriable and source.strikes < STRIKES
        for s in back:
            self.say(f"{s.name}: back in use, as {source.name} keeps failing")
        if not again:
            why = f"{STRIKES} failures" if retriable else f"{error}"
            self.retire(source, f"{why}; fetching from the others")
        return True

    # -- what the pool does on its tick ---------------------------------------------------

    def sample(self, busy: dict[int, int]) -> None:
        """Fold the bytes since the last tick into each server's speed per connection;
        ``busy`` counts the connections in a request, by server index."""
        now = self._clock()
        with self._lock:
            dt, self._last_sample = now - self._last_sample, now
            if dt <= 0:
                return
            keep = math.exp(-dt / RATE_SECONDS)
            for s in self.all:
                delta, s._seen = s.received - s._seen, s.received
                conns = busy.get(s.index, 0)
                if conns or delta:
                    s._bytes_w = s._bytes_w * keep + delta
                    s._conn_w = s._conn_w * keep + dt * max(1, conns)
        self._retire_slow(now)

    def rebalance(self, wanted: int, force: bool = False) -> None:
        """Reassign workers ``0..wanted-1`` when the shares have moved by a connection or
        more on some server (or ``force``); a worker keeps its server when it can."""
        now = self._clock()
        probation = self._on_probation(now)
        if probation != self._last_probation:  # a mirror measured: its share, at once
            self._last_probation, force = probation, True
        if not force and now - self._last_rebalance < REBALANCE_SECONDS:
            return
        self._last_rebalance = now
        live = [s for s in self.live() if s not in probation]  # the servers sharing the count
        wanted_counts = shares(wanted, [_estimate(s) for s in live])
        targets = dict(zip((s.index for s in live), wanted_counts, strict=True))
        with self._lock:
            kept = {w: s for w, s in self._assigned.items() if w < wanted and s.live}
            counts = {i: sum(1 for s in kept.values() if s.index == i) for i in targets}
            unbalanced = any(
                abs(counts[i] - t) >= 2 or (t and not counts[i]) for i, t in targets.items()
            )
            if len(kept) == wanted and not unbalanced and not force:
                return
            self._assigned = assign(wanted, kept, targets, {s.index: s for s in live})

    def retire(self, source: Source, why: str, benched: bool = False) -> None:
        with self._lock:
            if not source.live or not self._several_locked():
                return
            source.live, source.benched = False, benched
        self._last_rebalance = -math.inf  # its workers move at the next tick
        self.say(f"{source.name}: {why}")

    def views(self) -> tuple[SourceView, ...]:
        """Each server, for snapshots; none when the URL is the only one."""
        if len(self.all) == 1:
            return ()
        with self._lock:
            conns = Counter(s.index for s in self._assigned.values() if s.live)
        return tuple(
            SourceView(redact(s.url), s.live, s.received, s.rate or 0.0, conns[s.index])
            for s in self.all
        )

    # -- internals --------------------------------------------------------------------

    def _on_probation(self, now: float) -> list[Source]:
        """Live mirrors not yet measured for long enough to be judged, while some other
        live server has been (the URL counts as measured: it was there first)."""
        fresh = [
            s
            for s in self.all
            if s.index > 0
            and s.live
            and s.on_trial
            and (s.first_byte is None or now - s.first_byte < MEASURE_SECONDS)
        ]
        return fresh if len(fresh) < len(self.live()) else []

    def _several_locked(self) -> bool:
        return sum(1 for s in self.all if s.live) > 1

    def _unbench_locked(self) -> list[Source]:
        """The last server in use fails: the benched slow ones are used again."""
        back = [s for s in self.all if s.benched]
        for s in back:
            s.live, s.benched, s.strikes, s.returned = True, False, 0, True
            # Measured afresh: its old speed is from before it was benched.
            s._bytes_w, s._conn_w, s.first_byte = 0.0, 0.0, None
        if back:
            self._last_rebalance = -math.inf
        return back

    def _retire_slow(self, now: float) -> None:
        measured = [s for s in self.live() if s.rate is not None and s.first_byte is not None]
        # A server failing since its last whole request may be fast at sending the start
        # of answers it drops: it is no measure of what the others should do.
        best = max((s.rate or 0.0 for s in measured if not s.strikes), default=0.0)
        for s in measured:
            rate = s.rate or 0.0
            if s.returned:
                continue
            if now - (s.first_byte or now) >= MEASURE_SECONDS and rate * SLOW_FACTOR < best:
                self.retire(
                    s,
                    f"far slower than the fastest server ({format_size(int(rate))}/s per"
                    f" connection against {format_size(int(best))}/s); fetching from the others",
                    benched=True,
                )


def _estimate(source: Source) -> float | None:
    """A mirror earns its share by being measured: on its probation, or when it had
    none, on the one connection an unmeasured mirror gets; an unmeasured URL counts as
    the average."""
    rate = source.rate
    if rate is None and source.index > 0:
        return 0.0
    return rate


__all__ = [
    "FORGIVING_BYTES",
    "PROBATION_WID",
    "SLOW_FACTOR",
    "STRIKES",
    "STRIKE_SPACING",
    "Source",
    "SourceSet",
]
