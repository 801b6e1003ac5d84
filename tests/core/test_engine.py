"""The engine driven directly, as a front end would: commands in, snapshots out."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rangetui.core.engine import Engine
from rangetui.core.errors import FatalError
from rangetui.core.statelock import EngineLocked
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

MiB = 1024 * 1024


@pytest.fixture
def engine(state_dir: Path) -> Iterator[Engine]:
    eng = Engine(Store(state_dir), max_jobs=2)
    eng.start()
    yield eng
    eng.shutdown()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_add_runs_to_done(engine: Engine, server: FaultServer, downloads: Path) -> None:
    data = payload(3 * MiB)
    job = engine.add(server.add("/a.bin", data), downloads)
    snap = wait_job(engine, job, lambda j: j.status is Phase.DONE)
    assert sha((downloads / "a.bin").read_bytes()) == sha(data)
    assert snap.blocks is None, "block maps travel only when asked for"
    snap = engine.snapshot(frozenset({job})).find(job)
    assert snap is not None
    assert snap.fraction == 1.0 and snap.blocks is not None and snap.blocks.completed == len(data)


def test_the_ended_event_is_set_only_once_an_outcome_is_recorded(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    """What `get` waits on between two looks at the queue: once set, the snapshot
    already shows the job's outcome."""
    engine.ended.clear()
    job = engine.add(server.add("/e.bin", payload(MiB), rate=MiB), downloads)
    assert not engine.ended.wait(0.3), "set while the job still runs"
    assert engine.ended.wait(20), "never set"
    snap = engine.snapshot().find(job)
    assert snap is not None and snap.status is Phase.DONE


def test_bad_url_rejected_at_once(engine: Engine, downloads: Path) -> None:
    with pytest.raises(FatalError, match="not an http"):
        engine.add("ftp://example.invalid/x", downloads)


def test_max_jobs_respected(engine: Engine, server: FaultServer, downloads: Path) -> None:
    ids = [
        engine.add(server.add(f"/{i}.bin", payload(2 * MiB, i), rate=MiB), downloads)
        for i in range(3)
    ]
    time.sleep(0.8)
    snap = engine.snapshot()
    running = [j for j in snap.jobs if j.status in (Phase.PROBING, Phase.DOWNLOADING)]
    assert len(running) == 2
    assert snap.find(ids[2]).status is Phase.QUEUED  # type: ignore[union-attr]


def test_pause_stops_traffic_and_resume_finishes(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    data = payload(8 * MiB)
    job = engine.add(
        server.add("/p.bin", data, rate=MiB), downloads, options=Options(connections=2)
    )
    wait_job(engine, job, lambda j: j.completed > MiB)
    engine.pause(job)
    wait_job(engine, job, lambda j: j.status is Phase.PAUSED and not j.running)
    assert server.wait_idle("/p.bin"), "the server still serves the paused download"
    sent = server.bytes_sent("/p.bin")
    time.sleep(0.6)
    assert server.bytes_sent("/p.bin") == sent
    server.resource("/p.bin").rate = None
    engine.resume(job)
    wait_job(engine, job, lambda j: j.status is Phase.DONE)
    assert sha((downloads / "p.bin").read_bytes()) == sha(data)


def test_restart_resumes_running_and_keeps_paused(
    state_dir: Path, server: FaultServer, downloads: Path
) -> None:
    data = payload(8 * MiB)
    first = Engine(Store(state_dir))
    first.start()
    two = Options(connections=2)
    run = first.add(server.add("/r.bin", data, rate=MiB), downloads, options=two)
    held = first.add(server.add("/h.bin", data), downloads, paused=True)
    wait_job(first, run, lambda j: j.completed > 2 * MiB)
    first.shutdown()
    server.resource("/r.bin").rate = None
    server.reset_counters()
    second = Engine(Store(state_dir))
    second.start()
    try:
        wait_job(second, run, lambda j: j.status is Phase.DONE)
        assert second.snapshot().find(held).status is Phase.PAUSED  # type: ignore[union-attr]
        assert server.bytes_sent("/r.bin") < len(data) - 2 * MiB + MiB
        assert sha((downloads / "r.bin").read_bytes()) == sha(data)
    finally:
        second.shutdown()


@pytest.mark.parametrize("delete", [False, True])
def test_remove_keeps_or_deletes_partial(
    engine: Engine, server: FaultServer, downloads: Path, delete: bool
) -> None:
    job = engine.add(
        server.add("/x.bin", payload(8 * MiB), rate=MiB), downloads, options=Options(connections=2)
    )
    wait_job(engine, job, lambda j: j.completed > 0)
    engine.remove(job, delete_partial=delete)
    deadline = time.monotonic() + 10
    while engine.snapshot().find(job) is not None or engine.active_downloads:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (downloads / "x.bin.part").exists() is not delete
    assert not (downloads / "x.bin").exists()


def test_failed_job_keeps_reason_and_can_be_retried(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/later.bin", payload(MiB), status=404)
    job = engine.add(url, downloads)
    snap = wait_job(engine, job, lambda j: j.status is Phase.FAILED)
    assert "404" in (snap.error or "")
    server.resource("/later.bin").status = None
    engine.resume(job)
    wait_job(engine, job, lambda j: j.status is Phase.DONE)


def test_connections_can_change_while_running(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    job = engine.add(
        server.add("/c.bin", payload(16 * MiB), rate=MiB), downloads, options=Options(connections=2)
    )
    wait_job(engine, job, lambda j: j.connections == 2)
    engine.set_connections(job, 4)
    wait_job(engine, job, lambda j: j.connections == 4)
    engine.set_connections(job, 1)
    wait_job(engine, job, lambda j: j.connections == 1)
    engine.pause(job)


def test_second_engine_on_same_state_dir_is_refused(engine: Engine, state_dir: Path) -> None:
    with pytest.raises(EngineLocked, match="already running"):
        Engine(Store(state_dir)).start()


def test_adding_an_unfinished_url_again_returns_the_same_job(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/twice.bin", payload(4 * MiB), rate=MiB)
    first = engine.add(url, downloads, options=Options(connections=2))
    assert engine.add(url, downloads) == first
    wait_job(engine, first, lambda j: j.completed > 0)
    assert engine.add(url, downloads) == first
    assert [j.id for j in engine.snapshot().jobs] == [first]
    engine.pause(first)


def test_a_finished_url_added_again_is_a_new_job_that_finds_the_file_complete(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    """Once this made `again (1).bin`; a file finished here is now recognised (as wget -c
    and aria2c -c do): the new job is done at once, with no second copy."""
    url = server.add("/again.bin", payload(MiB))
    first = engine.add(url, downloads)
    wait_job(engine, first, lambda j: j.status is Phase.DONE)
    second = engine.add(url, downloads)
    assert second != first
    done = wait_job(engine, second, lambda j: j.status is Phase.DONE)
    assert done.target == str(downloads / "again.bin")
    assert not (downloads / "again (1).bin").exists()


def test_a_job_that_does_not_run_is_not_rebuilt_on_every_snapshot(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    """A long queue costs a front end's tick only its running jobs: the snapshot of a
    job that did not change is the same object, and a change is seen at once."""
    url = server.add("/still.bin", payload(MiB, seed=40))
    held = engine.add(url, downloads, paused=True)
    other = engine.add(server.add("/other.bin", payload(MiB, seed=41)), downloads, paused=True)
    wait_job(engine, other, lambda j: j.status is Phase.PAUSED)
    first = engine.snapshot()
    engine.set_max_jobs(3)  # a change of the engine's, not of the jobs
    deadline = time.monotonic() + 10
    while (second := engine.snapshot()).max_jobs != 3:
        assert time.monotonic() < deadline, "the engine never applied max_jobs"
        time.sleep(0.01)
    assert second is not first
    assert second.find(held) is first.find(held)
    engine.resume(other)
    wait_job(engine, other, lambda j: j.status is Phase.DONE)
    third = engine.snapshot()
    assert third.find(held) is first.find(held)
    assert third.find(other).status is Phase.DONE  # type: ignore[union-attr]
    assert first.find(other).status is Phase.PAUSED  # type: ignore[union-attr]


def test_a_queue_that_cannot_be_saved_is_said_once(
    state_dir: Path, server: FaultServer, downloads: Path
) -> None:
    """L9: a full state disk said "cannot save the queue" ten times a second."""
    engine = Engine(Store(state_dir))
    engine.start()
    try:
        (state_dir / "queue.json").unlink(missing_ok=True)
        (state_dir / "queue.json").mkdir()  # every save now fails, as on a full disk
        url = server.add("/unsaved.bin", payload(4 * MiB, seed=42), rate=2 * MiB)
        job = engine.add(url, downloads)
        wait_job(engine, job, lambda j: j.status is Phase.DONE)
        time.sleep(1.5)  # more than one save period after the end: it would have said it again
        said = [line.text for line in engine.snapshot().log if "cannot save the queue" in line.text]
        assert len(said) == 1, said
        (state_dir / "queue.json").rmdir()
        engine.add(url, downloads / "again", paused=True)  # a change to save
        deadline = time.monotonic() + 10
        while not any("saved again" in line.text for line in engine.snapshot().log):
            assert time.monotonic() < deadline, "never said the queue is saved again"
            time.sleep(0.05)
    finally:
        engine.shutdown()
