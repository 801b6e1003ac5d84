"""The real `rangetui` TUI in a pseudo-terminal that the test owns.

A thread drains the pty, so the app never blocks on output; the test types keys into
it and reads what it drew (escape sequences removed).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.cli_helpers import cli_env

COLUMNS, ROWS = 80, 24
POLL = 0.01
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")


class PtyDrain(threading.Thread):
    """Reads the pty master until every slave end is closed; keeps the last output."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True, name="pty-drain")
        self.master = master
        self.nbytes = 0
        self.tail = b""

    def run(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO once the TUI (and our copy of the slave) is gone
                return
            if not data:
                return
            self.received(data)

    def received(self, data: bytes) -> None:
        self.nbytes += len(data)
        self.tail = (self.tail + data)[-65536:]

    def text(self, lines: int = 12) -> str:
        """The last non-blank lines written, escape sequences removed (for failure messages)."""
        plain = ANSI.sub(b"", self.tail).decode("utf-8", "replace").replace("\r", "\n")
        kept = [s.rstrip() for s in plain.splitlines() if s.strip()]
        return "\n".join(kept[-lines:])


@dataclass
class Tui:
    proc: subprocess.Popen[bytes]
    master: int
    drain: PtyDrain

    @classmethod
    def start(
        cls,
        args: list[str],
        cwd: Path,
        size: tuple[int, int] = (COLUMNS, ROWS),
        env: dict[str, str] | None = None,
        drain_type: type[PtyDrain] | None = None,
    ) -> Tui:
        """``size`` is (columns, rows); ``env`` is added to the test's environment."""
        columns, rows = size
        full_env = cli_env()
        full_env.update(TERM="xterm-256color", COLUMNS=str(columns), LINES=str(rows))
        full_env.update(env or {})
        master, slave = pty.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            drain = (drain_type or PtyDrain)(master)
            drain.start()
            proc = subprocess.Popen(
                [sys.executable, "-m", "rangetui", *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            os.close(slave)
            os.close(master)
            raise
        os.close(slave)  # the child has its own copies: EIO on the master once it is gone
        return cls(proc, master, drain)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def kill(self) -> None:
        """SIGKILL to its whole process group, then reap it (bounded)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)

    def close(self) -> None:
        if self.alive:  # never signal a reaped pid: its number may belong to another process
            self.kill()
        self.drain.join(5)
        os.close(self.master)

    def bytes_per_second(self, seconds: float) -> float:
        """What the TUI writes to the terminal over the next ``seconds``."""
        before = self.drain.nbytes
        time.sleep(seconds)
        return (self.drain.nbytes - before) / seconds

    def move_mouse(self, seconds: float, columns: int = 60, rows: int = 4) -> None:
        """Pointer motion over the table (SGR reports, as xterm sends with any-motion)."""
        deadline = time.monotonic() + seconds
        step = 0
        while time.monotonic() < deadline:
            x, y = 2 + step % columns, 3 + (step // columns) % rows
            self.type(f"\x1b[<35;{x};{y}M".encode())
            step += 1
            time.sleep(0.02)

    def describe(self) -> str:
        code = self.proc.poll()
        state = "running" if code is None else f"exit {code}"
        return f"TUI {state}; last screen text:\n{self.drain.text()}"


def poll_until(predicate: Callable[[], object], timeout: float, what: str, tui: Tui) -> None:
    """Bounded wait; fails at once if the TUI exits while we wait for it to do something."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert tui.alive, f"the TUI exited while waiting for {what}\n{tui.describe()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s\n{tui.describe()}"
        time.sleep(POLL)
