"""`rangetui engine --detach`: fork the engine into its own session and report its start.

The parent waits on a pipe until the engine serves (or says why it cannot), then exits
with that verdict; the engine goes on with no terminal, its output in the state dir's
log. A dropped SSH session or a closed terminal never reaches it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rangetui.core.privatedir import ensure_private_dir
from rangetui.daemon.protocol import LOG_NAME
from rangetui.daemon.server import run_engine

LOG_LIMIT = 1024 * 1024


def serve_detached(root: Path, max_jobs: int, max_per_host: int) -> int:
    ensure_private_dir(root)
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        said = _read_all(read_end).strip()
        if said == "ok":
            return 0
        reason = said or f"the engine exited before serving; see {root / LOG_NAME}"
        print(f"rangetui: error: {reason}", file=sys.stderr)
        return 1
    os.close(read_end)
    os._exit(_engine_child(root, (max_jobs, max_per_host), write_end))


def _engine_child(root: Path, limits: tuple[int, int], report: int) -> int:
    os.setsid()
    log = open_log(root)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)

    def ready(problem: str | None) -> None:
        os.write(report, (problem or "ok").encode())
        os.close(report)

    try:
        return run_engine(root, limits[0], ready, limits[1])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def open_log(root: Path) -> int:
    """The engine's log file, rotated once it passes LOG_LIMIT (one old copy is kept)."""
    path = root / LOG_NAME
    try:
        if path.stat().st_size > LOG_LIMIT:
            os.replace(path, path.with_name(LOG_NAME + ".1"))
    except OSError:
        pass
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")
