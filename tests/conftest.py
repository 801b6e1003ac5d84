"""Shared fixtures: a real fault-injecting HTTP server on 127.0.0.1 and private state dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from rangetui.core.engine import Engine
from rangetui.core.store import Store
from rangetui.daemon.client import process_alive
from tests.faultserver import FaultServer

# The same examples on every run, so that a red run is the code's doing and can be
# run again; HYPOTHESIS_PROFILE=explore searches new ones (and keeps what fails).
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def mirror() -> Iterator[FaultServer]:
    """A second server, for mirrors and for budgets per host."""
    with FaultServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keep the machine running the tests out of them: state never goes under ~.

    A test that starts a background engine (the TUI, `add`, `ls`) leaves none behind.
    """
    path = tmp_path / "state"
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(path))
    yield path
    stop_engine(path)


def stop_engine(state: Path) -> None:
    """SIGTERM the state dir's engine (it saves and goes), SIGKILL if it lingers."""
    import signal
    import time

    try:
        pid = int((state / "engine.pid").read_text().strip())
    except (OSError, ValueError):
        return
    if not is_engine(pid):
        return  # a pid left by an engine killed earlier may belong to someone else now
    for signum, wait in ((signal.SIGCONT, 0.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return
            time.sleep(0.02)


def is_engine(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"rangetui" in argv and b"engine" in argv


@pytest.fixture
def engine(state_dir: Path) -> Iterator[Engine]:
    """An engine in this process on the test's state dir (a saved queue, its lock)."""
    eng = Engine(Store(state_dir), max_jobs=3)
    eng.start()
    yield eng
    eng.shutdown()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    path = tmp_path / "dl"
    path.mkdir()
    return path


def payload(size: int, seed: int = 1) -> bytes:
    """Deterministic pseudo-random bytes, fast even for tens of MiB."""
    import random

    rng = random.Random(seed)
    chunk = 1 << 20
    return b"".join(rng.randbytes(min(chunk, size - i)) for i in range(0, size, chunk))


__all__ = ["os", "payload"]
