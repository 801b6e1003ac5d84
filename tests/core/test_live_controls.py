"""Limits and queue order changed while the engine runs: SetLimit and Move.

Bounds are loose on purpose (a factor of several between limited and not), so a
loaded machine cannot fail them; what they catch is a limit that is not applied at
all, or not lifted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rangetui.core.engine import Engine
from rangetui.core.jobs import JobList
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

KiB = 1024
MiB = 1024 * KiB
TWO = Options(connections=2, block_size=256 * KiB, buffer_size=64 * KiB)


@pytest.fixture
def engine(state_dir: Path) -> Iterator[Engine]:
    eng = Engine(Store(state_dir), max_jobs=3)
    eng.start()
    yield eng
    eng.shutdown()


def _fetched_in(engine: Engine, job_id: str, seconds: float) -> int:
    """Bytes written by the client (the server's count includes socket buffers)."""

    def done() -> int:
        snap = engine.snapshot().find(job_id)
        assert snap is not None
        return snap.completed

    before = done()
    time.sleep(seconds)
    return done() - before


@pytest.mark.parametrize("whose", ["job", "all"])
def test_a_limit_set_while_running_slows_it_and_lifting_it_lets_it_finish(
    engine: Engine, server: FaultServer, downloads: Path, whose: str
) -> None:
    url = server.add("/big.bin", payload(24 * MiB), rate=2 * MiB)
    job = engine.add(url, downloads, options=TWO)
    wait_job(engine, job, lambda j: j.completed > 256 * KiB, what="the first bytes")
    engine.set_limit(job if whose == "job" else None, 100 * KiB)
    wait_job(engine, job, lambda j: (j.limit_rate if whose == "job" else 1) is not None)
    time.sleep(0.5)  # reads already granted drain
    assert _fetched_in(engine, job, 1.5) < 1 * MiB, "about 150 KiB at the limit"
    snap = engine.snapshot()
    assert (snap.find(job).limit_rate if whose == "job" else snap.limit_rate) == 100 * KiB  # type: ignore[union-attr]
    engine.set_limit(job if whose == "job" else None, None)
    wait_job(engine, job, lambda j: j.status is Phase.DONE, secs=30, what="the end")
    assert engine.snapshot().limit_rate is None


def test_a_jobs_own_limit_is_saved_with_it(
    state_dir: Path, engine: Engine, downloads: Path
) -> None:
    job = engine.add("http://127.0.0.1:9/x.bin", downloads, paused=True)
    engine.set_limit(job, 300 * KiB)
    wait_job(engine, job, lambda j: j.limit_rate == 300 * KiB)
    engine.shutdown()
    jobs, _ = JobList(Store(state_dir)).load()
    assert jobs[0].options.limit_rate == 300 * KiB


def test_move_reorders_the_queue_and_the_saved_queue(
    state_dir: Path, engine: Engine, downloads: Path
) -> None:
    ids = [engine.add(f"http://127.0.0.1:9/{n}.bin", downloads, paused=True) for n in range(3)]

    def order() -> list[str]:
        return [j.id for j in engine.snapshot().jobs]

    deadline = time.monotonic() + 5
    while len(order()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    engine.move(ids[2], -1)
    engine.move(ids[2], -5)  # clamped at the front
    engine.move(ids[0], 1)
    expected = [ids[2], ids[1], ids[0]]
    while order() != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert order() == expected
    engine.shutdown()
    assert [j.id for j in JobList(Store(state_dir)).load()[0]] == expected


def test_a_bad_limit_from_a_socket_lifts_the_limit_rather_than_stopping_the_engine(
    engine: Engine, downloads: Path
) -> None:
    job = engine.add("http://127.0.0.1:9/x.bin", downloads, paused=True)
    engine.set_limit(None, -5)
    engine.set_limit(job, 0)
    wait_job(engine, job, lambda j: j.limit_rate is None)
    assert engine.snapshot().limit_rate is None


def test_a_limiter_without_a_rate_grants_at_once_and_obeys_its_parent() -> None:
    import threading

    stop = threading.Event()
    parent = RateLimiter(20 * KiB)
    child = RateLimiter(None, parent=parent)
    assert RateLimiter(None).take(MiB, stop) == MiB
    start = time.monotonic()
    got = sum(child.take(64 * KiB, stop) for _ in range(40))
    assert got <= 40 * KiB  # grants are a twentieth of a second's worth
    assert time.monotonic() - start > 0.5
    child.set_rate(None)
    parent.set_rate(None)
    assert child.take(MiB, stop) == MiB
