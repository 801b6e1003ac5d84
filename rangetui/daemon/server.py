"""The background engine: one Engine behind a unix socket in its state dir.

One thread per client connection answers its requests in order; the Engine itself
is thread-safe. The process stops on SIGTERM, SIGINT or SIGHUP, or when a client
asks: the socket goes first (no new commands), then the engine saves and stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socketserver
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rangetui import __version__
from rangetui.core.api import command_from_json
from rangetui.core.budget import DEFAULT_PER_HOST
from rangetui.core.engine import Engine
from rangetui.core.errors import DownloadError
from rangetui.core.privatedir import atomic_write_text
from rangetui.core.snapshots import CodecError, EngineSnapshot, snapshot_to_json
from rangetui.core.statelock import EngineLocked
from rangetui.core.store import Store
from rangetui.daemon.protocol import (
    MAX_LINE,
    PID_NAME,
    PROTOCOL_VERSION,
    decode,
    encode,
    failure,
    peer_uid,
    read_pid,
    short_path,
    socket_path,
)
from rangetui.logfile import open_log

REFUSE_SECONDS = 2.0


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, address: str, engine: Engine, stop: threading.Event) -> None:
        self.engine = engine
        self.stop = stop
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a closed TUI, a timed-out `ls`) is not an error."""
        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(socketserver.StreamRequestHandler):
    """One client: requests in, answers out, until it hangs up."""

    server: _Server

    def handle(self) -> None:
        if peer_uid(self.connection) != os.getuid():
            # Its request first (briefly): closing on a client still sending would cut it
            # off with EPIPE before it could read why.
            self.connection.settimeout(REFUSE_SECONDS)
            with contextlib.suppress(OSError):
                self.rfile.readline(4096)
            self.wfile.write(encode(failure("this engine serves only the user who runs it")))
            return
        last: EngineSnapshot | None = None
        while True:
            line = self.rfile.readline(MAX_LINE)
            if not line:
                return
            try:
                message = decode(line)
            except ValueError as e:
                self.wfile.write(encode(failure(f"not a request: {e}")))
                return
            reply, last = self._answer(message, last)
            self.wfile.write(encode(reply))
            if message.get("op") == "stop":
                self.server.stop.set()
                return

    def _answer(
        self, message: dict[str, Any], last: EngineSnapshot | None
    ) -> tuple[dict[str, Any], EngineSnapshot | None]:
        op = message.get("op")
        if op in ("hello", "stop"):  # any version may ask who we are, or stop us
            return {
                "ok": True,
                "v": PROTOCOL_VERSION,
                "pid": os.getpid(),
                "release": __version__,
            }, last
        if message.get("v") != PROTOCOL_VERSION:
            return failure(f"this engine speaks protocol {PROTOCOL_VERSION}"), last
        if op == "execute":
            return self._execute(message), last
        if op == "snapshot":
            return self._snapshot(message, last)
        return failure(f"unknown request {op!r}"), last

    def _execute(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            job_id = self.server.engine.execute(command_from_json(message.get("command")))
        except (CodecError, DownloadError) as e:
            return failure(str(e))
        return {"ok": True, "job_id": job_id}

    def _snapshot(
        self, message: dict[str, Any], last: EngineSnapshot | None
    ) -> tuple[dict[str, Any], EngineSnapshot]:
        """The very same snapshot object means nothing ran and nothing changed: say so in
        a few bytes instead of the whole queue (an idle TUI polls four times a second)."""
        detail = frozenset(str(d) for d in message.get("detail", ()) if isinstance(d, str))
        log_after = message.get("log_after", 0)
        snap = self.server.engine.snapshot(detail)
        if snap is last:
            return {"ok": True, "unchanged": True}, snap
        data = snapshot_to_json(snap)
        if isinstance(log_after, int):
            data["log"] = [line for line in data["log"] if line[0] > log_after]
        return {"ok": True, "snapshot": data}, snap


class EngineServer:
    """The socket side of a started Engine; ``close`` takes it down again."""

    def __init__(self, engine: Engine, root: Path, stop: threading.Event) -> None:
        self.engine = engine
        self.root = root
        self.stop = stop
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Bind (replacing a stale socket: we hold the state dir's lock, so it is dead)."""
        path = socket_path(self.root)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        old = os.umask(0o077)
        try:
            with short_path(path) as address:
                self._server = _Server(address, self.engine, self.stop)
                os.chmod(address, 0o600)
        finally:
            os.umask(old)
        atomic_write_text(self.root / PID_NAME, f"{os.getpid()}\n")
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name="rangetui-socket", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if read_pid(self.root) == os.getpid():
            with contextlib.suppress(OSError):
                socket_path(self.root).unlink()
            with contextlib.suppress(OSError):
                (self.root / PID_NAME).unlink()


def run_engine(
    root: Path,
    max_jobs: int,
    ready: Callable[[str | None], None],
    max_per_host: int = DEFAULT_PER_HOST,
) -> int:
    """Serve until a signal or a client's stop; ``ready`` hears None once serving, or
    the one sentence that says why the engine could not start."""
    open_log(root)
    engine = Engine(Store(root), max_jobs=max_jobs, max_per_host=max_per_host)
    try:
        engine.start()
    except EngineLocked:
        pid = read_pid(root)
        ready(f"an engine is already running for {root}" + (f" (pid {pid})" if pid else ""))
        return 1
    except (DownloadError, OSError) as e:
        ready(f"cannot use the state dir {root}: {getattr(e, 'strerror', None) or e}")
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    server = EngineServer(engine, root, stop)
    try:
        server.open()
        ready(None)
        print(f"rangetui engine {os.getpid()} serving {root}", flush=True)
        while not stop.wait(1.0):
            pass
        print("rangetui engine stopping: saving the queue", flush=True)
    finally:
        server.close()
        engine.shutdown()
    return 0
