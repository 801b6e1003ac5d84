"""Driving the background engine from a test as a user would: real commands, real pids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rangetui.daemon.client import process_alive
from tests.cli_helpers import Result, cli_env
from tests.conftest import is_engine

RANGETUI = [sys.executable, "-m", "rangetui"]


def rangetui(*args: str | Path, timeout: float = 30) -> Result:
    """Run `python -m rangetui ARGS…` to its end; a traceback is always a failure."""
    started = time.monotonic()
    proc = subprocess.run(
        [*RANGETUI, *map(str, args)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    assert "Traceback" not in result.stderr, result.describe()
    return result


def ls(state: Path) -> list[dict[str, Any]]:
    result = rangetui("ls", "--json")
    assert result.code == 0, result.describe()
    jobs = json.loads(result.stdout)
    assert isinstance(jobs, list)
    return jobs


def job_in(state: Path, job_id: str) -> dict[str, Any]:
    found = [j for j in ls(state) if j["id"] == job_id]
    assert len(found) == 1, f"job {job_id} not in the queue: {ls(state)}"
    return found[0]


def wait_status(state: Path, job_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
    """Poll `ls --json` (a real client each time) until the job is in one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        job = job_in(state, job_id)
        if job["status"] in statuses:
            return job
        assert job["status"] != "failed", f"the job failed: {job['error']}"
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s"
        time.sleep(0.1)


def engine_pid(state: Path) -> int:
    pid = int((state / "engine.pid").read_text().strip())
    assert is_engine(pid), f"pid {pid} is not a rangetui engine"
    return pid


def gone(pid: int) -> bool:
    return not process_alive(pid)


def add(*args: str | Path) -> list[str]:
    """`rangetui add …`; the ids it printed, one line per job."""
    result = rangetui("add", *args)
    assert result.code == 0, result.describe()
    lines = result.stdout.splitlines()
    return [line.split()[0] for line in lines]


def kill_engine(state: Path) -> int:
    pid = engine_pid(state)
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while not gone(pid):
        assert time.monotonic() < deadline, "the engine outlived kill -9"
        time.sleep(0.02)
    return pid
