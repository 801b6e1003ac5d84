"""Threads that run one download after another, so that starting a job starts no thread.

``Thread.start`` waits until the new thread has run: with eight downloads busy, that
is a wait for the GIL of up to a switch interval (5 ms), in the engine's scheduler,
once per job. A queue of many small files paid it for every file, and the slot stood
empty meanwhile. An idle thread takes the next job from its own queue at once; one
that stays idle for ``IDLE_SECONDS`` ends, so an engine at rest holds no threads.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable

IDLE_SECONDS = 30.0

Work = Callable[[], None]


class _JobThread:
    def __init__(self, pool: JobThreads) -> None:
        self._pool = pool
        self.inbox: queue.SimpleQueue[tuple[Work, Work | None]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="rangetui-job", daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                work, then = self.inbox.get(timeout=self._pool.idle_seconds)
            except queue.Empty:
                if self._pool.retire(self):
                    return
                continue  # handed work as it timed out: it is in the inbox
            work()  # never raises: the caller's function records its own outcome
            del work  # an idle thread holds on to no finished download
            self._pool.rest(self)
            if then is not None:
                then()  # after rest: the next job it brings about finds this thread idle
            del then


class JobThreads:
    """Runs each piece of work in a thread of its own while it runs; reuses threads."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._idle: list[_JobThread] = []
        self._lock = threading.Lock()
        _pools.add(self)

    def run(self, work: Work, then: Work | None = None) -> None:
        """``work``, then ``then`` once the thread can take more work. Both must catch
        their own exceptions: one that escapes ends its thread. RuntimeError when no
        thread can be started (and none is idle)."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _JobThread(self)
            worker.thread.start()
        worker.inbox.put((work, then))

    def rest(self, worker: _JobThread) -> None:
        with self._lock:
            self._idle.append(worker)

    def retire(self, worker: _JobThread) -> bool:
        """True when ``worker`` may end: it was idle and nobody gave it work meanwhile."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _forget(self) -> None:
        """In a forked child: the idle threads were the parent's and do not run here."""
        self._idle = []
        self._lock = threading.Lock()


_pools: weakref.WeakSet[JobThreads] = weakref.WeakSet()


def _after_fork() -> None:
    for pool in list(_pools):
        pool._forget()


os.register_at_fork(after_in_child=_after_fork)
