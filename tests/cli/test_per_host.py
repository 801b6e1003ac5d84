"""A per-host connection budget across every running download (`--max-per-host`):
a queue of files on one server never opens more connections to it than that, and two
servers each get their own budget."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.engine import Engine
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from tests.cli_helpers import MiB, assert_saved, run_get
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

SIZE = 2 * MiB
RATE = 256 * 1024


def test_get_j_keeps_to_the_budget_of_one_host(server: FaultServer, downloads: Path) -> None:
    files = {f"/h{i}.bin": payload(SIZE, seed=i) for i in range(4)}
    urls = [server.add(route, data, rate=RATE) for route, data in files.items()]
    result = run_get(*urls, "-d", downloads, "-j", "4", "-t", "8", "--max-per-host", "5")
    assert result.code == 0, result.describe()
    for route, data in files.items():
        assert_saved(downloads / route.lstrip("/"), data)
    assert 2 <= server.peak_inflight <= 5, server.peak_inflight


def test_each_host_has_its_own_budget(downloads: Path) -> None:
    with FaultServer() as first, FaultServer() as second:
        a = first.add("/a.bin", payload(SIZE, seed=10), rate=RATE)
        b = second.add("/b.bin", payload(SIZE, seed=11), rate=RATE)
        result = run_get(a, b, "-d", downloads, "-j", "2", "-t", "6", "--max-per-host", "3")
        assert result.code == 0, result.describe()
        assert 2 <= first.peak_inflight <= 3 and 2 <= second.peak_inflight <= 3, (
            first.peak_inflight,
            second.peak_inflight,
        )
    assert_saved(downloads / "a.bin", payload(SIZE, seed=10))


def test_the_engine_shares_one_budget_between_its_jobs(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    engine = Engine(Store(state_dir), max_jobs=3, max_per_host=4)
    engine.start()
    try:
        options = Options(connections=4)
        urls = [server.add(f"/e{i}.bin", payload(SIZE, seed=20 + i), rate=RATE) for i in range(3)]
        ids = [engine.add(url, downloads, options=options) for url in urls]
        for job_id in ids:
            wait_job(engine, job_id, lambda j: j.status is Phase.DONE, 60)
    finally:
        engine.shutdown()
    assert 2 <= server.peak_inflight <= 4, server.peak_inflight
