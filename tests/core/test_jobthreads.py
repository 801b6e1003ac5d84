"""Job threads are reused from one download to the next, run jobs side by side, and
end once idle."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rangetui.core.engine import Engine
from rangetui.core.jobthreads import JobThreads
from rangetui.core.store import Store
from rangetui.core.types import Phase
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer


def _wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_the_next_job_runs_on_the_thread_the_last_one_ran_on() -> None:
    threads = JobThreads()
    ran: list[threading.Thread] = []  # the objects: a dead thread's ident may come back
    for _ in range(5):
        done = threading.Event()

        def work(done: threading.Event = done) -> None:
            ran.append(threading.current_thread())
            done.set()

        threads.run(work)
        assert done.wait(10)
        assert _wait_for(lambda: threads.idle() == 1)
    assert len({id(thread) for thread in ran}) == 1


def test_jobs_that_overlap_run_in_threads_of_their_own() -> None:
    threads = JobThreads()
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with lock:
            started.append(threading.get_ident())
        release.wait(10)

    for _ in range(3):
        threads.run(work)
    assert _wait_for(lambda: len(started) == 3)
    assert len(set(started)) == 3
    assert threads.idle() == 0
    release.set()
    assert _wait_for(lambda: threads.idle() == 3)


def test_an_idle_thread_ends() -> None:
    threads = JobThreads(idle_seconds=0.05)
    ran: list[threading.Thread] = []
    done = threading.Event()

    def work() -> None:
        ran.append(threading.current_thread())
        done.set()

    threads.run(work)
    assert done.wait(10)
    assert _wait_for(lambda: threads.idle() == 0 and not ran[0].is_alive())
    again = threading.Event()
    threads.run(again.set)  # a new thread when none is idle
    assert again.wait(10)


def test_work_handed_over_as_a_thread_retires_still_runs() -> None:
    """The one moment a job could be lost: given to an idle thread just as that thread
    times out. Forced here: the hand-over happens inside the retire."""
    late = threading.Event()

    class Racing(JobThreads):
        raced = False

        def retire(self, worker: object) -> bool:
            if not self.raced:
                self.raced = True
                self.run(late.set)  # takes the retiring thread off the idle list
            return super().retire(worker)  # type: ignore[arg-type]

    threads = Racing(idle_seconds=0.01)
    first = threading.Event()
    threads.run(first.set)
    assert first.wait(10)
    assert late.wait(10)


def test_then_runs_after_the_thread_is_idle_again() -> None:
    """The engine starts the next job from ``then``: that job finds this thread idle
    rather than starting another."""
    threads = JobThreads()
    idle_when_then: list[int] = []
    done = threading.Event()

    def then() -> None:
        idle_when_then.append(threads.idle())
        done.set()

    threads.run(lambda: None, then=then)
    assert done.wait(10)
    assert idle_when_then == [1]


def test_a_forked_child_starts_threads_of_its_own() -> None:
    """Idle threads of the parent do not exist in a child: work given there must run."""
    threads = JobThreads()
    first = threading.Event()
    threads.run(first.set)
    assert first.wait(10)
    assert _wait_for(lambda: threads.idle() == 1)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the work ran
        ran = threading.Event()
        threads.run(ran.set)
        os._exit(0 if ran.wait(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_job_with_no_thread_to_run_in_fails_and_the_engine_goes_on(
    state_dir: Path, server: FaultServer, downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of threads (ulimit -u): that job fails with the reason, it holds no slot,
    and the next one runs."""
    real_run = JobThreads.run
    calls: list[int] = []

    def first_fails(self: JobThreads, work: Callable[[], None], then: object = None) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("can't start new thread")
        real_run(self, work, then)  # type: ignore[arg-type]

    monkeypatch.setattr(JobThreads, "run", first_fails)
    engine = Engine(Store(state_dir), max_jobs=1)
    engine.start()
    try:
        first = engine.add(server.add("/one.bin", payload(1000)), downloads)
        failed = wait_job(engine, first, lambda j: j.status is Phase.FAILED)
        assert "can't start new thread" in (failed.error or "")
        second = engine.add(server.add("/two.bin", payload(1000)), downloads)
        wait_job(engine, second, lambda j: j.status is Phase.DONE)
    finally:
        engine.shutdown()
