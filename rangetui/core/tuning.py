"""How many connections, how much each request asks for, and when one is a straggler.

The numbers that tune a download's connections live here, in one place, so that each
rule can be tested with a fake clock, away from sockets and threads. Plain numbers in
and out: the block map measures rates, the workers move bytes, the tuner only decides.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence

from rangetui.core.adaptive import ConnectionCount
from rangetui.core.types import ConnectionReason, Options

MIN_CONNECTIONS = 1
MAX_CONNECTIONS = 64
FIRST_REQUEST_BYTES = 4 * 1024 * 1024
MIN_REQUEST_BYTES = 256 * 1024
MAX_REQUEST_BYTES = 16 * 1024 * 1024
REQUEST_SECONDS = 1.0
"""Each request asks for about this long a stream: short, so that another connection can
take over the tail at a request boundary; long enough that a round trip costs little."""
RECONNECT_SECONDS = 3.0
"""At most one reconnect per connection this often: a new route needs time to show."""
STRAGGLER_SECONDS = 1.0
"""A connection younger than this has not been measured long enough to be judged. A
second holds one of nginx's per-request bursts and the wait for the next, so a route
ten times slower shows as one; its peers' rates and STRAGGLER_FACTOR keep a server slow
for everyone (connections served in turns) from looking like one."""
STRAGGLER_FACTOR = 4.0
"""A straggler is this many times slower than its typical peer."""
TAIL_SECONDS = 2.0
"""A connection that will finish its range sooner than this is not worth replacing."""

Clock = Callable[[], float]


class ConnectionTuner:
    """One download's connection policy; thread-safe, as every worker consults it."""

    def __init__(
        self,
        connections: int,
        *,
        fixed: bool = False,
        clock: Clock = time.monotonic,
        on_event: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.clock = clock
        self._on_event = on_event
        self._lock = threading.Lock()
        self._count = ConnectionCount(_clamp(connections), fixed, clock())

    @classmethod
    def of(cls, options: Options, on_event: Callable[[str], None]) -> ConnectionTuner:
        """A download's tuner: -t, and whether --fixed holds it there."""
        return cls(options.connections, fixed=options.fixed, on_event=on_event)

    # -- how many ---------------------------------------------------------------------

    @property
    def wanted(self) -> int:
        """The one count every part of a download goes by: the adaptive count, below
        the user's (or exactly the user's, with --fixed)."""
        with self._lock:
            return self._count.wanted

    @property
    def ceiling(self) -> int:
        """The user's count (-t, or the last one set from a front end)."""
        with self._lock:
            return self._count.ceiling

    @property
    def reason(self) -> ConnectionReason:
        """Why ``wanted`` is what it is, for the snapshot."""
        with self._lock:
            return self._count.reason

    def keeps(self, wid: int) -> bool:
        """Workers are numbered from 0, so those at or past the count are the extra ones."""
        return wid < self.wanted

    def set_connections(self, count: int) -> int:
        """The user's new count, clamped to what a front end may ask for; used at once,
        and the most the adaptive count may reach from then on. Returns it."""
        with self._lock:
            self._count.set_ceiling(self.clock(), _clamp(count))
            return self._count.wanted

    def observe(self, done: int, streaming: int) -> None:
        """The pool's tick: bytes done so far, connections streaming now. Growth is
        decided here, from the throughput these add up to."""
        with self._lock:
            said = self._count.observe(self.clock(), done, streaming)
        self._say(said)

    def server_busy(self, retry_after: float | None = None) -> None:
        """A 429/503 while other connections work: the server most likely caps connections
        per client, so use half as many for now, but never none."""
        with self._lock:
            said = self._count.refused(self.clock(), retry_after)
        self._say(said)

    def connection_lost(self) -> None:
        """A connection dropped without an HTTP answer: several close together are
        taken as a refusal (a server shedding load by resetting connections)."""
        with self._lock:
            said = self._count.lost(self.clock())
        self._say(said)

    def _say(self, said: str | None) -> None:
        if said is not None:  # told outside the lock: the listener may take its own
            self._on_event(said)

    # -- how much per request ---------------------------------------------------------

    def pace(self) -> ConnectionPace:
        """A new connection's own memory of its requests and reconnects."""
        return ConnectionPace(self)

    @staticmethod
    def next_request_bytes(nbytes: int, seconds: float, current: int) -> int:
        """About REQUEST_SECONDS at the rate the last request achieved, within bounds,
        and at most twice the last size: a body that was already buffered (the probe's)
        or came in one burst measured no rate worth a leap to the largest request, which
        a server that throttles each request after a burst (nginx's limit_rate) serves
        slowest. A request that measured nothing leaves the size as it was, and so does
        one shorter than the smallest request that came quickly (a resume's one-byte
        probe: its rate is no rate)."""
        if nbytes <= 0 or seconds <= 0:
            return current
        if nbytes < MIN_REQUEST_BYTES and seconds < REQUEST_SECONDS:
            return current
        wanted = min(int(nbytes / seconds * REQUEST_SECONDS), 2 * max(current, nbytes))
        return max(MIN_REQUEST_BYTES, min(MAX_REQUEST_BYTES, wanted))

    # -- stragglers -------------------------------------------------------------------

    @staticmethod
    def straggling(
        own: float | None, others: Sequence[float], claim_age: float, remaining: int | None = None
    ) -> bool:
        """Much slower than its typical peer while the peers are healthy, measured over a
        while, with enough of its range left that a new connection could help.

        ``own`` is None while too early to tell; ``others`` are the measured rates of the
        other working connections (0.0 for a stalled one); ``claim_age`` is how long this
        one has held its range. Two peers at least, so that one fast peer is no verdict.
        When several peers are as slow, the server is slow for everyone (a single-threaded
        server serves connections in turns): a reconnect would only throw bytes away."""
        if own is None or claim_age < STRAGGLER_SECONDS or len(others) < 2:
            return False
        typical = statistics.median(others)
        if own * STRAGGLER_FACTOR >= typical:
            return False
        if remaining is not None and own > 0 and remaining / own < TAIL_SECONDS:
            return False
        slow_peers = sum(1 for rate in others if rate * STRAGGLER_FACTOR < typical)
        return slow_peers <= len(others) // 4


class ConnectionPace:
    """One connection's request size and last reconnect; its own worker's alone."""

    def __init__(self, tuner: ConnectionTuner) -> None:
        self._tuner = tuner
        self.request_bytes = FIRST_REQUEST_BYTES
        self._started = tuner.clock()
        # The first verdict is possible after STRAGGLER_SECONDS: let it act then, not a
        # full spacing later (a slow route found at the start then costs 1 s, not 3).
        self._reconnected = self._started - RECONNECT_SECONDS + STRAGGLER_SECONDS

    def request_started(self) -> None:
        self._started = self._tuner.clock()

    def request_done(self, nbytes: int) -> None:
        """Size the next request by how fast this one went."""
        seconds = self._tuner.clock() - self._started
        self.request_bytes = self._tuner.next_request_bytes(nbytes, seconds, self.request_bytes)

    def may_reconnect(self) -> bool:
        """Spaced by RECONNECT_SECONDS, so that a connection does not churn."""
        return self._tuner.clock() - self._reconnected >= RECONNECT_SECONDS

    def reconnected(self) -> None:
        self._reconnected = self._tuner.clock()


def _clamp(count: int) -> int:
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, count))


__all__ = ["ConnectionPace", "ConnectionTuner"]
