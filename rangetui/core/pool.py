"""The workers of one parallel attempt: kept at the wanted count, watched, stopped promptly.

The pool owns the worker threads and nothing of the download's policy: the tuner says
how many connections, the block map says what is left, and the caller's tick does the
rest (speed, checkpoints) between two looks at the workers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType

from rangetui.core.blockmap import BlockMap
from rangetui.core.budget import HostBudget, host_key
from rangetui.core.errors import Cancelled
from rangetui.core.http.connection import Connection
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.sources import PROBATION_WID, SourceSet
from rangetui.core.tuning import ConnectionTuner
from rangetui.core.types import ConnectionView, Options
from rangetui.core.worker import Worker, WorkerShared

TICK_SECONDS = 0.1
STOP_SECONDS = 2.0
"""How long a stop waits for the workers; they are daemons, so one stuck in the kernel
never holds the process."""


class WorkerPool:
    """Workers fetching one block map into one .part; use as a context manager, so that
    however the attempt ends, no worker outlives it."""

    def __init__(
        self,
        *,
        fd: int,
        sources: SourceSet,
        bmap: BlockMap,
        options: Options,
        tuner: ConnectionTuner,
        on_event: Callable[[str], None],
        spare: list[Connection],
        limiter: RateLimiter | None = None,
        budget: HostBudget | None = None,
        prepaid: bool = False,
    ) -> None:
        self.tuner = tuner
        self._budget = budget
        self._prepaid = host_key(sources.all[0].remote.url) if prepaid else None
        """The host of the slot of the budget that came with the probe's connection (and
        its open first range): the first worker to start on that host uses it."""
        self._held: dict[int, str] = {}
        """Workers holding one of their server's host's slots, and that host."""
        self.shared = WorkerShared(
            fd=fd,
            sources=sources,
            bmap=bmap,
            buffer_size=options.buffer_size,
            retries=options.retries,
            stop=threading.Event(),
            on_event=on_event,
            tuner=tuner,
            limiter=limiter or (RateLimiter(options.limit_rate) if options.limit_rate else None),
            idle=budget.idle if budget is not None else None,
        )
        self.shared.spare.extend(spare)
        self._inline = (
            bmap.size <= bmap.block_size and len(sources.all) == 1 and not options.lowest_speed
        )
        """One block from one server never has a second connection: its one worker runs
        in the caller's thread (a thread per small file is most of its cost in a long
        list), ticking from its reads; a --lowest-speed-limit needs the loop's ticks."""
        self._workers: dict[int, Worker] = {}
        self._parts = 0
        """The connection count the map was last cut for."""

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def supervise(self, cancel: threading.Event, on_tick: Callable[[int], None]) -> None:
        """Until the map is complete: keep the workers, pass on the first worker's error,
        and call ``on_tick`` with the bytes done. A worker that ends wakes the loop at
        once, so a failure or a free slot is seen without waiting for the tick."""
        s = self.shared
        if self._inline and not s.bmap.is_complete:
            self._fetch_inline(cancel, on_tick)
        while not s.bmap.is_complete:
            if cancel.is_set():
                raise Cancelled("interrupted")
            if s.errors:
                raise s.errors[0]
            self.tuner.observe(s.bmap.completed, self._streaming())
            self._keep_workers()
            on_tick(s.bmap.completed)
            s.wake.wait(TICK_SECONDS)
            s.wake.clear()

    def _fetch_inline(self, cancel: threading.Event, on_tick: Callable[[int], None]) -> None:
        """Worker 0 in this thread; what it leaves undone (an error, a stop) is left to
        the loop, as a thread's would be. :meth:`interrupt` stops it."""
        s = self.shared
        source = s.sources.assigned(0)
        if cancel.is_set() or not self._take(0, host_key(source.remote.url)):
            return
        s.on_read = lambda: on_tick(s.bmap.completed)
        try:
            Worker(s, 0, source).run()
        finally:
            s.on_read = None
            self._release(0)

    def interrupt(self) -> None:
        """Any thread: signal the workers and wake their blocked reads."""
        s = self.shared
        s.stop.set()
        for slot in list(s.slots.values()):
            stream = slot.stream
            if stream is not None:
                stream.abort()

    def stop(self) -> None:
        """Prompt stop: signal, wake blocked reads by shutting their sockets, then wait."""
        self.interrupt()
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self._workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        for wid in list(self._held):
            self._release(wid)
        if self._prepaid is not None and self._budget is not None:  # no worker used it
            self._budget.give_back(self._prepaid)
            self._prepaid = None

    def views(self) -> tuple[ConnectionView, ...]:
        """Any thread: each working connection's range and speed. The speed is the block
        map's smoothed rate of the segment it owns: cheap (one pass under the map's lock),
        and it falls towards zero when the connection stalls."""
        s = self.shared
        rates = s.bmap.owner_rates()
        return tuple(
            ConnectionView(wid, slot.start, slot.pos, slot.end, rates.get(wid, 0.0))
            for wid, slot in sorted(s.slots.items())
            if slot.active
        )

    def _streaming(self) -> int:
        """Connections with a response open: what a new count has reached so far."""
        return sum(1 for slot in list(self.shared.slots.values()) if slot.active)

    def _keep_workers(self) -> None:
        """As many workers as there are ranges to fetch, up to the wanted connections; a
        new count first cuts the map so that new workers find ranges of their own."""
        s = self.shared
        wanted = self.tuner.wanted
        if self._parts != wanted:
            self._parts = wanted
            s.bmap.partition(wanted)
        for wid, ended in list(self._workers.items()):
            if wid in self._held and not ended.is_alive():
                self._release(wid)
        self._balance_sources(wanted)
        count = min(wanted, max(1, s.bmap.pending_segments()))
        probation = s.sources.probation()
        for wid in [*range(count), *probation]:
            current = self._workers.get(wid)
            if current is None or not current.is_alive():
                source = probation.get(wid) or s.sources.assigned(wid)
                if not self._take(wid, host_key(source.remote.url)):
                    if wid >= PROBATION_WID:
                        s.sources.no_probation(source)
                    continue  # that host has all the connections it may: wait for a slot
                worker = Worker(s, wid, source)
                self._workers[wid] = worker
                worker.start()

    def _balance_sources(self, wanted: int) -> None:
        """Measure each server's speed per connection and move workers between servers
        (a worker on a server it no longer has ends after its read; it is replaced here)."""
        sources = self.shared.sources
        if len(sources.all) == 1:
            return
        busy = Counter(
            w.source.index for w in self._workers.values() if w.is_alive() and w.slot.active
        )
        sources.sample(dict(busy))
        sources.rebalance(wanted)

    def _take(self, wid: int, host: str) -> bool:
        if self._budget is None:
            return True
        if host == self._prepaid:
            self._prepaid = None
        elif not self._budget.try_take(host):
            return False
        self._held[wid] = host
        return True

    def _release(self, wid: int) -> None:
        host = self._held.pop(wid, None)
        if self._budget is not None and host is not None:
            self._budget.give_back(host)


__all__ = ["TICK_SECONDS", "WorkerPool"]
