"""Downloads that outlive the terminal: TUIs in real pseudo-terminals on one engine.

A dropped SSH session sends SIGHUP to the TUI; the engine, in its own session, never
sees it and goes on. A new TUI attaches and shows where things are; two TUIs at once
show the same queue, including what a third shell adds.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.cli_helpers import MiB
from tests.conftest import payload
from tests.daemon_helpers import add, engine_pid, job_in, rangetui
from tests.faultserver import FaultServer
from tests.pty_helpers import Tui, poll_until

SHOW_TIMEOUT = 30.0


def plain(tui: Tui) -> str:
    return tui.drain.text(200)


def quit_with_q(tui: Tui) -> None:
    tui.type(b"q")
    deadline = time.monotonic() + 20
    while tui.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not tui.alive, f"q did not quit\n{tui.describe()}"
    assert tui.proc.returncode == 0, tui.describe()
    assert "Traceback" not in plain(tui), tui.describe()


def test_sighup_to_the_tui_leaves_the_download_running_and_a_new_tui_shows_it(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    url = server.add("/hup.bin", payload(16 * MiB, seed=3), rate=256 * 1024)
    first = Tui.start([url, "-d", str(downloads), "-t", "2"], cwd=downloads)
    try:
        poll_until(lambda: server.bytes_sent("/hup.bin") > 0, SHOW_TIMEOUT, "bytes", first)
        os.killpg(first.proc.pid, signal.SIGHUP)  # what a dropped SSH session does
        first.proc.wait(10)
    finally:
        first.close()
    engine = engine_pid(state_dir)
    sent = server.bytes_sent("/hup.bin")
    deadline = time.monotonic() + 20
    while server.bytes_sent("/hup.bin") < sent + 512 * 1024:
        assert time.monotonic() < deadline, "the download stopped with the TUI"
        time.sleep(0.05)
    second = Tui.start(["-d", str(downloads)], cwd=downloads)
    try:
        poll_until(lambda: "hup.bin" in plain(second), SHOW_TIMEOUT, "the job on screen", second)
        poll_until(lambda: "downloading" in plain(second), SHOW_TIMEOUT, "its status", second)
        quit_with_q(second)
    finally:
        second.close()
    assert engine_pid(state_dir) == engine, "attaching started another engine"
    [job] = [j for j in rangetui_ls() if j["name"] == "hup.bin"]
    assert job["status"] == "downloading" and job["completed"] > 0, job


def rangetui_ls() -> list[dict[str, object]]:
    result = rangetui("ls", "--json")
    assert result.code == 0, result.describe()
    jobs: list[dict[str, object]] = json.loads(result.stdout)
    return jobs


def test_two_tuis_show_what_another_shell_adds(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    tuis = [Tui.start(["-d", str(downloads)], cwd=downloads) for _ in range(2)]
    try:
        for tui in tuis:
            poll_until(lambda t=tui: "queue is empty" in plain(t), SHOW_TIMEOUT, "a screen", tui)
        url = server.add("/shared-by-two.bin", payload(MiB), rate=64 * 1024)
        [job_id] = add(url, "-d", downloads, "--paused")
        for tui in tuis:
            poll_until(
                lambda t=tui: "shared-by-two.bin" in plain(t), 10, "the added job on screen", tui
            )
        assert job_in(state_dir, job_id)["status"] == "paused"
        for tui in tuis:
            quit_with_q(tui)
    finally:
        for tui in tuis:
            tui.close()
    assert rangetui("ls").code == 0, "the engine went away with its TUIs"
