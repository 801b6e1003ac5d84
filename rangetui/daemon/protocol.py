"""What crosses the engine's socket: one JSON object per line, each way, versioned.

A request is ``{"v": N, "op": ..., ...}``; the answer is ``{"ok": true, ...}`` or
``{"ok": false, "error": "one sentence"}``. The socket is ``engine.sock`` in the state
dir, which only its owner may use: the dir is 0700, the socket 0600, the server checks
the peer's uid and the client checks who owns the dir and the socket before it trusts
them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rangetui.core import privatedir
from rangetui.core.api import EngineUnavailable

PROTOCOL_VERSION = 1
SOCKET_NAME = "engine.sock"
PID_NAME = "engine.pid"
LOG_NAME = "engine.log"
MAX_LINE = 16 * 1024 * 1024
"""A snapshot of a long queue is big, but never this big: anything longer is garbage."""
UNIX_PATH_MAX = 100


class EngineError(EngineUnavailable):
    """The engine cannot be reached or used; ``str()`` is one sentence for the user."""


class EngineNotRunning(EngineError):
    """No engine serves this state dir (no socket, or a stale one)."""


class EngineUnsafe(EngineError):
    """The state dir or socket is not ours alone: never talk to it."""


def socket_path(root: Path) -> Path:
    return root / SOCKET_NAME


@contextlib.contextmanager
def short_path(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits a unix socket address (108 bytes): long state dirs
    are reached through ``/proc/self/fd`` of an open handle on the directory."""
    if len(os.fsencode(path)) <= UNIX_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def check_private(root: Path) -> None:
    """Refuse a state dir or socket that another user owns or may write: whoever can
    plant a socket there could answer as our engine and be handed our URLs and tokens.
    The check itself is the state dir's (core.privatedir), so there is one of it."""
    try:
        privatedir.check_private(root, "state dir")
        privatedir.check_private(socket_path(root), "engine socket", kind="socket")
    except privatedir.StateUnsafe as e:
        raise EngineUnsafe(str(e)) from None
    except privatedir.StateUnusable as e:
        raise EngineError(str(e)) from None


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end (Linux SO_PEERCRED: pid, uid, gid)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], "little", signed=True)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """One message; ValueError for anything that is not a JSON object on one line."""
    if not line.endswith(b"\n"):
        raise ValueError("a message must end with a newline")
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("a message must be a JSON object")
    return data


def request(op: str, **fields: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "op": op, **fields}


def failure(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def read_pid(root: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((root / PID_NAME).read_text().strip())
    return None
