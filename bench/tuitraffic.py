"""Bytes per second the TUI writes to its terminal in steady state, at one terminal size.

Three files from nginx's ``/slow/`` location (a fixed low rate per connection, so the
downloads run for minutes) through ``rangetui URL URL URL -d DIR -t 4`` in a pty we
own, attached to its background engine. Once all three are running, four windows:
the queue, the details screen (⏎), the queue again with everything paused (``P``),
and the same with the pointer moving over the table (SGR motion reports, 50 a second).
Then ``q`` and ``rangetui stop``. The downloads never finish: nothing is verified.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from cases import Env
from measure import Sample, failed, sample_from
from tuirun import PtyReader, TuiCase

WARMUP_SECONDS = 4.0
WINDOW_SECONDS = 8.0
START_TIMEOUT = 60.0
LOCATION = "slow"


@dataclass
class TuiTraffic:
    """The ``label`` row's term figure is the queue's KB/s; the others are in ``extra``."""

    label: str
    slug: str
    names: tuple[str, ...]
    size: tuple[int, int]
    nbytes: int = 0

    def run(self, env: Env) -> Sample:
        out = env.fresh_dir("out", self.slug)
        state = env.fresh_dir("state", self.slug)
        urls = [env.url(LOCATION, name) for name in self.names]
        argv = [*env.rangetui, *urls, "-d", str(out), "-t", "4"]
        columns, rows = self.size
        tenv = {**env.rangetui_env(state), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        tenv.update(COLUMNS=str(columns), LINES=str(rows))
        try:
            return self._measure(argv, tenv, out, env)
        except OSError as e:
            return failed(f"could not run the TUI: {e}")
        finally:
            stop = [*env.rangetui, "stop"]
            subprocess.run(stop, env=tenv, capture_output=True, timeout=60, check=False)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(state, ignore_errors=True)

    def _measure(self, argv: list[str], tenv: dict[str, str], out: Path, env: Env) -> Sample:
        columns, rows = self.size
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        reader = PtyReader(master)
        reader.start()
        try:
            env.spawner.launch(
                argv,
                env=tenv,
                cwd=out,
                stderr_path=None,
                timeout=env.timeout,
                tty=os.ttyname(slave),
            )
            figures = self._windows(master, reader, out)
            os.write(master, b"q")
            done = env.spawner.result(30) or TuiCase._terminate(env.spawner)
        finally:
            os.close(slave)
            reader.join(5)
            os.close(master)
        sample = sample_from(done)
        if figures is None:
            sample.ok, sample.error = False, f"the downloads did not start: {reader.last_text()}"
            return sample
        sample.ok, sample.error = True, ""  # the exit status of a `q` does not matter here
        sample.extra.update(figures)
        return sample

    def _windows(self, master: int, reader: PtyReader, out: Path) -> dict[str, float] | None:
        deadline = time.monotonic() + START_TIMEOUT
        while sum(1 for p in out.iterdir() if p.name.endswith(".part")) < len(self.names):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        time.sleep(WARMUP_SECONDS)
        figures = {"term_kbps": _rate(reader, WINDOW_SECONDS)}
        os.write(master, b"\r")
        time.sleep(1.0)
        figures["details_kbps"] = _rate(reader, WINDOW_SECONDS)
        os.write(master, b"\x1b")  # alone: ESC P would be read as one sequence (DCS)
        time.sleep(0.5)
        os.write(master, b"P")
        time.sleep(3.0)
        figures["idle_kbps"] = _rate(reader, WINDOW_SECONDS / 2)
        before, start = reader.nbytes, time.monotonic()
        step = 0
        while time.monotonic() - start < WINDOW_SECONDS / 2:
            x, y = 2 + step % 60, 3 + (step // 60) % 3
            os.write(master, f"\x1b[<35;{x};{y}M".encode())
            step += 1
            time.sleep(0.02)
        figures["mouse_kbps"] = (reader.nbytes - before) / 1000 / (time.monotonic() - start)
        return figures


def _rate(reader: PtyReader, seconds: float) -> float:
    before = reader.nbytes
    time.sleep(seconds)
    return (reader.nbytes - before) / 1000 / seconds
