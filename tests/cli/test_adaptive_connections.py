"""The adaptive connection count against a real server: a per-client cap, --fixed, and
what `get`, `ls` and the engine's snapshot say about the count.

Counts come from the server's own record of requests, never from timings, so a loaded
machine makes these slower but not wrong.
"""

from __future__ import annotations

from pathlib import Path

from rangetui.core.engine import Engine
from rangetui.core.types import Options, Phase
from tests.cli_helpers import assert_saved, run_get, wait_for
from tests.conftest import payload
from tests.daemon_helpers import add, job_in, rangetui, wait_status
from tests.faultserver import FaultServer, RequestRecord

MiB = 1024 * 1024
FEW_REFUSALS = 5
"""The first try past the cap, and perhaps one more when the hold-off ends or a
closing connection is still counted by the server: a handful, never one per range."""


def gets(server: FaultServer, route: str) -> list[RequestRecord]:
    return [r for r in list(server.requests) if r.method == "GET" and r.route == route]


def assert_streamed_at_once(server: FaultServer, route: str, count: int) -> None:
    """``count`` requests streamed at once (the adaptive count starts at 4), and never
    more, but for one: a connection cut for a steal is counted by the server until its
    next write fails, which can be after the worker's next request arrived. Distinct
    client ports say nothing here: a cut or a retry opens a new one."""
    ranged = [q for q in gets(server, route) if q.range is not None]
    assert len({q.client_port for q in ranged}) >= count
    assert count <= server.peak_inflight <= count + 1, server.peak_inflight


def test_a_server_that_takes_three_gets_three_and_few_refusals(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(16 * MiB)
    url = server.add("/capped.bin", data, rate=2 * MiB, max_concurrent=3)
    out = downloads / "capped.bin"
    r = run_get(url, "-o", out, "-t", "8", "--timeout", "5", timeout=90)
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    refused = [q for q in gets(server, "/capped.bin") if q.status == 503]
    assert 1 <= len(refused) <= FEW_REFUSALS, f"{len(refused)} refusals"
    assert "connections: the server refused more" in r.stderr, r.describe()


def test_the_engine_keeps_the_count_at_the_cap(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    data = payload(12 * MiB)
    url = server.add("/cap.bin", data, rate=MiB, max_concurrent=3)
    job = engine.add(url, downloads, options=Options(connections=8))
    targets: list[int] = []

    def done() -> bool:
        snap = engine.snapshot().find(job)
        if snap is None:
            return False  # not in the queue yet: the scheduler appends it
        assert snap.status is not Phase.FAILED, snap.error
        if snap.running and snap.connection_target:
            targets.append(snap.connection_target)
        return snap.status is Phase.DONE

    wait_for(done, 60, "the capped download")
    assert_saved(downloads / "cap.bin", data)
    assert targets and max(targets) <= 4, "never more than the few it starts with"
    assert targets[-1] <= 3, f"ended above the server's cap: {targets[-20:]}"


def test_fixed_opens_exactly_the_count_asked_for(server: FaultServer, downloads: Path) -> None:
    data = payload(12 * MiB)
    url = server.add("/fixed.bin", data, rate=2 * MiB)
    out = downloads / "fixed.bin"
    r = run_get(url, "-o", out, "-t", "6", "--fixed", "--timeout", "5", timeout=90)
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    assert_streamed_at_once(server, "/fixed.bin", 6)


def test_fixed_is_a_config_key(server: FaultServer, downloads: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("threads = 5\nfixed = true\n", encoding="utf-8")
    data = payload(10 * MiB)
    url = server.add("/conf.bin", data, rate=2 * MiB)
    out = downloads / "conf.bin"
    r = run_get(url, "-o", out, "--config", config, "--timeout", "5", timeout=90)
    assert r.code == 0, r.describe()
    assert_streamed_at_once(server, "/conf.bin", 5)


def test_ls_says_how_many_and_why(server: FaultServer, downloads: Path, state_dir: Path) -> None:
    url = server.add("/slow.bin", payload(8 * MiB), rate=256 * 1024)
    [job_id] = add(url, "-d", downloads, "-t", "2")
    wait_status(state_dir, job_id, "downloading")
    note = "2 connections: the most asked for (-t 2)"
    wait_for(lambda: job_in(state_dir, job_id)["connection_note"] == note, 20, "the note")
    table = rangetui("ls")
    assert table.code == 0 and note in table.stdout, table.describe()
    slow2 = server.add("/slow2.bin", payload(8 * MiB), rate=256 * 1024)
    [fixed_id] = add(slow2, "-d", downloads, "-t", "3", "--fixed")
    fixed = "3 connections: fixed (--fixed)"
    wait_for(lambda: job_in(state_dir, fixed_id)["connection_note"] == fixed, 20, "--fixed")
