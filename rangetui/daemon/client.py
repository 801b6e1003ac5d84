"""The EngineAPI of a background engine: every call is one request on its socket.

Every read has a deadline, so a hung engine costs a front end two seconds and one
sentence, never a hang. Log lines travel once: each snapshot asks only for the lines
after the last one seen, and the client keeps the recent ones.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from rangetui.core.api import Command, CommandMethods, command_to_json
from rangetui.core.errors import FatalError
from rangetui.core.snapshots import (
    LOG_LINES,
    CodecError,
    EngineSnapshot,
    LogLine,
    snapshot_from_json,
)
from rangetui.daemon.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    EngineError,
    EngineNotRunning,
    check_private,
    decode,
    encode,
    read_pid,
    request,
    short_path,
    socket_path,
)

ANSWER_SECONDS = 2.0
STOP_SECONDS = 15.0


class RemoteEngine(CommandMethods):
    """A connection to the engine of ``root``; raises EngineNotRunning if none serves it."""

    def __init__(self, root: Path, check_version: bool = True) -> None:
        check_private(root)
        self.root = root
        self._lock = threading.Lock()
        self._sock = _connect(root)
        self._file = self._sock.makefile("rwb")
        self._log: deque[LogLine] = deque(maxlen=LOG_LINES)
        self._last: EngineSnapshot | None = None
        hello = self._call(request("hello"))
        self.pid = int(hello.get("pid", 0))
        if check_version and hello.get("v") != PROTOCOL_VERSION:
            self.detach()
            release = hello.get("release", "another version")
            raise EngineError(
                f"the running engine is rangetui {release}, which speaks another protocol:"
                " run `rangetui stop`, then start again"
            )

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                self._file.write(encode(message))
                self._file.flush()
                line = self._file.readline(MAX_LINE)
            except TimeoutError:
                raise EngineError(self._silent()) from None
            except OSError as e:
                raise EngineError(f"lost the connection to the engine: {e.strerror or e}") from None
        if not line:
            raise EngineError("the engine closed the connection")
        try:
            reply = decode(line)
        except ValueError:
            raise EngineError("the engine sent an answer this rangetui cannot read") from None
        if reply.get("ok") is not True and "error" not in reply:
            raise EngineError("the engine sent an answer this rangetui cannot read")
        return reply

    def _silent(self) -> str:
        pid = read_pid(self.root)
        who = f"the engine (pid {pid})" if pid else "the engine"
        return f"{who} did not answer within {ANSWER_SECONDS:.0f} s; it may be stuck"

    def execute(self, command: Command) -> str | None:
        reply = self._call(request("execute", command=command_to_json(command)))
        if reply.get("ok") is not True:
            raise FatalError(str(reply.get("error")))
        job_id = reply.get("job_id")
        return str(job_id) if job_id is not None else None

    def snapshot(self, detail: frozenset[str] = frozenset()) -> EngineSnapshot:
        seen = self._log[-1].seq if self._log else 0
        reply = self._call(request("snapshot", detail=sorted(detail), log_after=seen))
        if reply.get("unchanged") and self._last is not None and self._last.detail == detail:
            return self._last
        if reply.get("ok") is not True:
            raise EngineError(str(reply.get("error")))
        try:
            snap = snapshot_from_json(reply.get("snapshot"))
        except CodecError as e:
            raise EngineError(
                f"the engine sent a snapshot this rangetui cannot read: {e}"
            ) from None
        self._log.extend(line for line in snap.log if line.seq > seen)
        self._last = replace(snap, log=tuple(self._log))
        return self._last

    def shutdown(self) -> None:
        """Ask the engine to stop, and wait until it has saved and gone."""
        with contextlib.suppress(EngineError):
            self._call(request("stop"))
        self.detach()
        if not wait_exit(self.pid, STOP_SECONDS):
            raise EngineError(
                f"the engine (pid {self.pid}) did not stop within {STOP_SECONDS:.0f} s"
            )

    def detach(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            self._sock.close()


def _connect(root: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(ANSWER_SECONDS)
    try:
        with short_path(socket_path(root)) as address:
            sock.connect(address)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise EngineNotRunning(f"no engine is running for {root}") from None
    except TimeoutError:
        sock.close()
        raise EngineError(f"the engine for {root} did not accept a connection") from None
    except OSError as e:
        sock.close()
        raise EngineError(f"cannot reach the engine for {root}: {e.strerror or e}") from None
    return sock


def wait_exit(pid: int, seconds: float) -> bool:
    """True once the engine process has ended (saved and gone), not just its socket."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return False


def process_alive(pid: int) -> bool:
    """Running, and not a zombie that nobody reaps (an engine's parent is long gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
