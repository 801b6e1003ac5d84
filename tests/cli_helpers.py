"""Run the real `rangetui get` command in a subprocess and judge what it did.

The tests using these helpers are black-box: they only see the exit code, stdout,
stderr, the files on disk and what the fault server saw on the wire.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.faultserver import FaultServer

MiB = 1024 * 1024
GET = [sys.executable, "-m", "rangetui", "get"]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        """The non-blank lines of stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        return (
            f"exit {self.code} after {self.seconds:.1f} s\n"
            f"stdout: {self.stdout}\nstderr: {self.stderr}"
        )


def cli_env() -> dict[str, str]:
    """The test's environment: RANGETUI_STATE_DIR is set by the autouse fixture."""
    env = dict(os.environ)
    assert env.get("RANGETUI_STATE_DIR"), "the state_dir fixture must be active"
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_get(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 60,
    stdin: str | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Result:
    """Run `python -m rangetui get ARGS…` to completion (``stdin`` text is fed to it)."""
    start = time.monotonic()
    proc = subprocess.run(
        [*GET, *map(str, args)],
        env=cli_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        preexec_fn=preexec_fn,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    assert "Traceback" not in result.stderr, result.describe()
    return result


def start_get(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start `python -m rangetui get ARGS…` in the background (stdout/stderr piped)."""
    return subprocess.Popen(
        [*GET, *map(str, args)],
        env=cli_env(),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float, started: float | None = None) -> Result:
    """Wait for a background run; kills it (and fails) if it outlives ``timeout``."""
    t0 = time.monotonic() if started is None else started
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"rangetui get did not exit within {timeout} s\nstderr: {err}"
        ) from None
    result = Result(proc.returncode, out, err, time.monotonic() - t0)
    assert "Traceback" not in result.stderr, result.describe()
    return result


def wait_for(
    predicate: Callable[[], object], timeout: float, what: str, step: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def range_gets(server: FaultServer, route: str) -> list[str]:
    """The Range headers of the GETs the server answered on ``route``."""
    return [
        r.range for r in list(server.requests) if r.method == "GET" and r.route == route and r.range
    ]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def assert_saved(path: Path, data: bytes) -> None:
    """OUT holds exactly ``data`` and no work file is left beside it."""
    assert path.is_file(), f"{path} was not created"
    assert path.stat().st_size == len(data), f"{path} has {path.stat().st_size} bytes"
    assert sha256_file(path) == sha256(data), f"{path} has the wrong content"
    assert not part_of(path).exists(), f"{part_of(path)} was left behind"


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def assert_clean_failure(result: Result, max_lines: int = 3) -> None:
    """Non-zero exit, a short message on stderr, never a traceback."""
    assert result.code != 0, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert 1 <= len(result.lines) <= max_lines, result.describe()
    assert all(len(line) < 400 for line in result.lines), result.describe()


def closed_port() -> int:
    """A 127.0.0.1 port that nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
