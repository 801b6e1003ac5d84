"""A file of one block from one server: its one connection runs in the download's own
thread, and must still show progress, save it, and stop at once when paused.

No timing decides a verdict: the stalled server would hold a read for 30 s (the
client's timeout is 15 s), so a pause that did not wake the read would leave the job
running far past the generous wait below.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rangetui.core.engine import Engine
from rangetui.core.resume import boot_id
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

KiB = 1024
ONE_BLOCK = Options(connections=8, block_size=1024 * KiB, buffer_size=16 * KiB)


def _connection_threads() -> set[int]:
    return {t.ident or 0 for t in threading.enumerate() if t.name.startswith("rangetui-conn-")}


def test_a_one_block_file_needs_no_connection_thread_and_shows_and_saves_progress(
    engine: Engine, server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(512 * KiB)
    url = server.add("/small.bin", data, rate=96 * KiB)
    before = _connection_threads()
    job = engine.add(url, downloads, options=ONE_BLOCK)
    running = wait_job(engine, job, lambda j: j.completed >= 128 * KiB, what="a quarter")
    assert _connection_threads() <= before, "a connection thread for a one-block file"
    assert running.speed > 0, "the speed is sampled from the inline connection's reads"
    light = Store(state_dir).load_latest(downloads / "small.bin", boot_id())
    assert light is not None and light.done and light.done[0][0] == 0, "no saved progress"
    wait_job(engine, job, lambda j: j.status is Phase.DONE, secs=30, what="the end")
    assert (downloads / "small.bin").read_bytes() == data
    assert server.get_count("/small.bin") == 1, "the probe's answer is the whole file"


def test_pausing_a_one_block_file_wakes_its_read_on_a_silent_server(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    data = payload(256 * KiB)
    url = server.add("/stall.bin", data, stall_after=64 * KiB, stall_seconds=30.0)
    job = engine.add(url, downloads, options=ONE_BLOCK)
    wait_job(engine, job, lambda j: j.completed >= 64 * KiB, what="the bytes before the stall")
    engine.pause(job)
    paused = wait_job(
        engine, job, lambda j: j.status is Phase.PAUSED and not j.running, secs=10, what="pause"
    )
    assert paused.completed < len(data)
    server.add("/stall.bin", data)  # the same file, no longer stalling
    engine.resume(job)
    wait_job(engine, job, lambda j: j.status is Phase.DONE, secs=30, what="the end")
    assert (downloads / "stall.bin").read_bytes() == data
