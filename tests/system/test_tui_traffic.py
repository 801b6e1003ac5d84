"""Bytes the real TUI writes to its terminal (a pty the test owns), attached to its
background engine, with three downloads running: the queue at 80x24 and 200x50, the
details screen, and the mouse moving over a paused queue.

The bounds are several times the targets of issue 12 (2 KB/s, 4 KB/s, 3 KB/s, nothing)
and far under what the TUI sent before (7-11, 18-20, 23-25, 15-30 KB/s), so a loaded
machine cannot fail them (it draws fewer frames, not more). bench/ measures the
figures themselves.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import payload
from tests.faultserver import FaultServer
from tests.pty_helpers import Tui, poll_until

pytestmark = pytest.mark.timeout(90)

KiB = 1024
MiB = 1024 * KiB
WINDOW = 4.0
BOUNDS = {"queue": 6000.0, "details": 9000.0, "mouse": 500.0}
"""Bytes per second, loose."""


def _serve_three(server: FaultServer) -> list[str]:
    return [
        server.add(f"/file-{i}.iso", payload(32 * MiB, i), rate=80 * KiB + i * 9000)
        for i in range(3)
    ]


def _still(server: FaultServer) -> bool:
    sent = server.bytes_sent()
    time.sleep(0.3)
    return server.bytes_sent() == sent


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_three_downloads_cost_the_terminal_a_few_hundred_bytes_a_second(
    server: FaultServer, downloads: Path, size: tuple[int, int]
) -> None:
    urls = _serve_three(server)
    tui = Tui.start([*urls, "-d", str(downloads), "-t", "4"], cwd=downloads, size=size)
    try:
        poll_until(lambda: server.bytes_sent() > 600 * KiB, 40, "three downloads", tui)
        time.sleep(1.5)  # the first paint and the jobs' first figures are not steady state
        rates = {"queue": tui.bytes_per_second(WINDOW)}
        tui.type(b"\r")
        time.sleep(1.0)
        rates["details"] = tui.bytes_per_second(WINDOW)
        tui.type(b"\x1b")
        time.sleep(0.5)
        tui.type(b"P")
        time.sleep(1.0)
        poll_until(lambda: _still(server), 15, "the downloads to stop", tui)
        time.sleep(0.5)
        before = tui.drain.nbytes
        tui.move_mouse(WINDOW)
        rates["mouse"] = (tui.drain.nbytes - before) / WINDOW
        print(f"{size}: " + ", ".join(f"{k} {v:.0f} B/s" for k, v in rates.items()))
        for what, rate in rates.items():
            assert rate < BOUNDS[what], f"{what}: {rate:.0f} B/s\n{tui.describe()}"
        tui.type(b"q")
        poll_until(lambda: not tui.alive, 20, "the TUI to quit", tui)
    finally:
        tui.close()


def test_ctrl_z_suspends_to_the_shell_and_fg_brings_the_screen_back(downloads: Path) -> None:
    """Job control needs a real interactive shell: bash in a pty runs the TUI."""
    import os
    import pty
    import subprocess
    import sys

    from tests.cli_helpers import cli_env
    from tests.pty_helpers import PtyDrain

    master, slave = pty.openpty()
    env = {**cli_env(), "TERM": "xterm-256color", "PS1": "$ "}
    shell = subprocess.Popen(
        ["bash", "--norc", "--noprofile", "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=downloads,
        start_new_session=True,
    )
    os.close(slave)
    drain = PtyDrain(master)
    drain.start()

    def wait_for(text: str, after: int, secs: float = 30) -> None:
        deadline = time.monotonic() + secs
        while text.encode() not in drain.tail[-max(1, drain.nbytes - after) :]:
            assert time.monotonic() < deadline, f"no {text!r}; last output:\n{drain.text()}"
            time.sleep(0.05)

    try:
        os.write(master, f"{sys.executable} -m rangetui -d {downloads}\n".encode())
        wait_for("empty: press a", 0)
        mark = drain.nbytes
        os.write(master, b"\x1a")
        wait_for("Stopped", mark)
        mark = drain.nbytes
        os.write(master, b"fg\n")
        wait_for("empty: press a", mark)  # the whole screen is painted again
        mark = drain.nbytes
        os.write(master, b"q")
        wait_for("$ ", mark)
        os.write(master, b"exit\n")
        shell.wait(20)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, 9)
            shell.wait(5)
        drain.join(5)
        os.close(master)
