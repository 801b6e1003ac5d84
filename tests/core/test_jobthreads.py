"""Job threads are reused from one download to the next, run jobs side by side, and
end once idle."""

from __future__ import annotations

import threading
import time

from rangetui.core.jobthreads import JobThreads


def _job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rangetui-job"]


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
    before = len(_job_threads())
    threads = JobThreads(idle_seconds=0.05)
    done = threading.Event()
    threads.run(done.set)
    assert done.wait(10)
    assert _wait_for(lambda: threads.idle() == 0 and len(_job_threads()) == before)
    again = threading.Event()
    threads.run(again.set)  # a new thread when none is idle
    assert again.wait(10)


def test_work_given_as_a_thread_times_out_still_runs() -> None:
    """Many short idle timeouts against a steady stream of jobs: none is lost."""
    threads = JobThreads(idle_seconds=0.001)
    count = 0
    lock = threading.Lock()
    all_done = threading.Event()

    def work() -> None:
        nonlocal count
        with lock:
            count += 1
            if count == 300:
                all_done.set()

    for _ in range(300):
        threads.run(work)
        time.sleep(0.0005)
    assert all_done.wait(20)
