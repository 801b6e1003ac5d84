"""Reach the state dir's engine, starting one in the background when none runs.

The engine is started as ``rangetui engine --detach``: that process forks the engine
into its own session (no terminal, output to ``engine.log`` in the state dir) and
exits once it serves, or with the sentence that says why it could not. So the caller
never waits on a child that outlives it, and a failed start is one clear line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rangetui.core.privatedir import ensure_private_dir
from rangetui.daemon.client import RemoteEngine
from rangetui.daemon.protocol import LOG_NAME, EngineError, EngineNotRunning, check_private

START_SECONDS = 20.0


def attach(root: Path, engine_args: tuple[str, ...] = (), start: bool = True) -> RemoteEngine:
    """The running engine, or a new one (``engine_args`` are only for a new one)."""
    try:
        return RemoteEngine(root)
    except EngineNotRunning:
        if not start:
            raise
    ensure_private_dir(root)
    check_private(root)
    problem = _start(root, engine_args)
    try:
        return RemoteEngine(root)  # ours, or one that another shell started first
    except EngineNotRunning:
        raise EngineError(problem or f"the engine did not start; see {root / LOG_NAME}") from None


def _start(root: Path, engine_args: tuple[str, ...]) -> str | None:
    """Start a detached engine; None once it serves, else why it did not."""
    argv = [sys.executable, "-m", "rangetui", "engine", "--detach", *engine_args]
    env = {**os.environ, "RANGETUI_STATE_DIR": str(root)}
    try:
        proc = subprocess.run(
            argv,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return f"the engine did not start within {START_SECONDS:.0f} s; see {root / LOG_NAME}"
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return lines[-1].removeprefix("rangetui: ").removeprefix("error: ") if lines else None
