"""The TUI in a pseudo-terminal of 80x24: CPU of its process and bytes it writes to the screen.

We own the pty (no tmux or `script` in between): the spawner starts the TUI with the pty
as its controlling terminal and ``os.wait4``s it, so CPU and peak RSS are the TUI's own,
and every byte the TUI writes to the terminal is read (and counted) by a thread here.
The download window runs from the first file appearing in the output dir (``NAME.part``)
to the finished file appearing; at both ends we sample the TUI's CPU from /proc/PID/stat.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cases import Env, verify
from measure import Sample, Spawner, failed, proc_cpu, sample_from, window_due

COLUMNS, ROWS = 80, 24
POLL_SECONDS = 0.01
EXIT_GRACE_SECONDS = 15.0  # with --exit-when-done: how long it may take to quit by itself
TERM_GRACE_SECONDS = 3.0  # after SIGTERM, before SIGKILL
EXIT_FLAG = "--exit-when-done"
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")
NOT_AVAILABLE = "TUI not available"


def help_text(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout


def engine_pid(state: Path) -> int:
    try:
        return int((state / "engine.pid").read_text().strip())
    except (OSError, ValueError):
        return 0


class PtyReader(threading.Thread):
    """Drains the pty master so the TUI never blocks on a full terminal; counts bytes."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.nbytes = 0
        self.tail = b""

    def run(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed
                return
            if not data:
                return
            self.nbytes += len(data)
            self.tail = (self.tail + data)[-4096:]

    def last_text(self) -> str:
        text = ANSI.sub(b"", self.tail).decode("utf-8", "replace")
        lines = [s.strip() for s in text.replace("\r", "\n").splitlines() if s.strip()]
        return lines[-1][:300] if lines else ""


@dataclass
class Window:
    """Time, CPU seconds and terminal bytes at the start and at the end of the download."""

    t: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    tui_cpu: list[float] = field(default_factory=list)
    nbytes: list[int] = field(default_factory=list)

    def mark(self, pid: int, reader: PtyReader, state: Path) -> None:
        """The TUI's CPU plus its background engine's: together they do what `get` does."""
        self.t.append(time.monotonic())
        tui = proc_cpu(pid) or 0.0
        self.tui_cpu.append(tui)
        self.cpu.append(tui + (proc_cpu(engine_pid(state)) or 0.0))
        self.nbytes.append(reader.nbytes)

    @property
    def complete(self) -> bool:
        return len(self.t) == 2


@dataclass
class TuiCase:
    """``rangetui URL -d DIR`` in a pty; done when DIR/NAME appears (then it must quit)."""

    label: str
    slug: str
    nbytes: int
    location: str
    name: str
    flags: tuple[str, ...]
    exit_flag: bool
    unavailable: str = ""

    def run(self, env: Env) -> Sample:
        if self.unavailable:
            return failed(self.unavailable)
        out = env.fresh_dir("out", self.slug)
        state = env.fresh_dir("state", self.slug)
        argv = [*env.rangetui, env.url(self.location, self.name), "-d", str(out), *self.flags]
        if self.exit_flag:
            argv.append(EXIT_FLAG)
        tenv = {**env.rangetui_env(state), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        tenv.update(COLUMNS=str(COLUMNS), LINES=str(ROWS))
        try:
            return self._measure(argv, tenv, out, state, env)
        except OSError as e:
            return failed(f"could not run the TUI: {e}")
        finally:
            stop = [*env.rangetui, "stop"]
            subprocess.run(stop, env=tenv, capture_output=True, timeout=60, check=False)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(state, ignore_errors=True)

    def _measure(
        self, argv: list[str], tenv: dict[str, str], out: Path, state: Path, env: Env
    ) -> Sample:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        reader = PtyReader(master)
        reader.start()
        window = Window()
        try:
            pid = env.spawner.launch(
                argv,
                env=tenv,
                cwd=out,
                stderr_path=None,
                timeout=env.timeout,
                tty=os.ttyname(slave),
            )
            done, how = self._watch(env.spawner, pid, out, state, window, reader)
        finally:
            os.close(slave)  # now the reader sees EIO once the TUI's last bytes are read
            reader.join(5)
            os.close(master)
        return self._sample(done, how, window, reader, out, env)

    def _sample(
        self, done: dict[str, Any], how: str, window: Window, reader: PtyReader, out: Path, env: Env
    ) -> Sample:
        sample = sample_from(done)
        sample.extra["term_bytes"] = reader.nbytes
        sample.extra["term_kbps_total"] = reader.nbytes / 1000 / max(sample.wall, 1e-3)
        if not window.complete:
            code = os.waitstatus_to_exitcode(done["status"])
            sample.ok = False
            if done["timed_out"]:
                sample.error = f"timed out after {env.timeout:.0f} s"
            else:
                sample.error = f"{NOT_AVAILABLE} (exit {code}): {reader.last_text()}".rstrip(": ")
            return sample
        secs = max(window.t[1] - window.t[0], 1e-3)
        sample.extra["window_s"] = secs
        sample.extra["term_kbps"] = (window.nbytes[1] - window.nbytes[0]) / 1000 / secs
        sample.extra["cpu_before"] = window.cpu[0]
        sample.extra["cpu_window"] = window.cpu[1] - window.cpu[0]
        sample.extra["tui_cpu_window"] = window.tui_cpu[1] - window.tui_cpu[0]
        # What is compared with `get`: the TUI and its background engine together, up
        # to the download's end (wait4 sees the TUI alone, which does not download).
        sample.user, sample.sys = window.cpu[1], 0.0
        # exit status does not count: without --exit-when-done we stop it with SIGTERM
        sample.ok, sample.error = True, ""
        problem = verify(out, [(Path(self.name).name, self.name)], env)
        if problem:
            sample.ok, sample.error = False, problem
        if how:
            sample.notes.append(how)
        return sample

    def _watch(
        self,
        spawner: Spawner,
        pid: int,
        out: Path,
        state: Path,
        window: Window,
        reader: PtyReader,
    ) -> tuple[dict[str, Any], str]:
        """Poll until the file is done and the TUI has gone; returns the spawner's result."""
        target = out / Path(self.name).name
        stop_at: float | None = None
        how = ""
        while (done := spawner.result(POLL_SECONDS)) is None:
            now = time.monotonic()
            marked = len(window.t)
            if window_due(out, (target, self.nbytes), marked):
                window.mark(pid, reader, state)
                if marked == 1:  # the download is whole
                    stop_at = now + EXIT_GRACE_SECONDS if self.exit_flag else now
            if stop_at is not None and now >= stop_at:
                if self.exit_flag:
                    how = f"did not exit within {EXIT_GRACE_SECONDS:.0f} s of finishing: SIGTERM"
                else:
                    how = "stopped with SIGTERM once the file was done"
                return self._terminate(spawner), how
        return done, how

    @staticmethod
    def _terminate(spawner: Spawner) -> dict[str, Any]:
        """SIGTERM, then SIGKILL to its session if it has not gone within a few seconds."""
        spawner.signal_child(signal.SIGTERM)
        done = spawner.result(TERM_GRACE_SECONDS)
        if done is None:
            spawner.signal_child(signal.SIGKILL)
            done = spawner.result()
        assert done is not None
        return done
