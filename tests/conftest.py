"""Shared fixtures: a real fault-injecting HTTP server on 127.0.0.1 and private state dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultserver import FaultServer


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the machine running the tests out of them: state never goes under ~."""
    path = tmp_path / "state"
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(path))
    return path


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
