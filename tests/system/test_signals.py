"""SIGTERM and SIGHUP to `rangetui get` and to the TUI, as a shutdown or a closed terminal
sends them (issue 10 point 6).

`get` saves progress and exits 128 + the signal (143, 129; Ctrl-C stays 130) with one
line saying how to resume, even when stderr has gone away. The TUI detaches: the
terminal is restored (checked in the raw pty output: the alternate screen is left,
mouse reporting is off, the cursor is shown) and the download goes on in the engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_helpers import (
    GET,
    MiB,
    assert_saved,
    cli_env,
    finish,
    part_of,
    run_get,
    start_get,
    wait_for,
)
from tests.conftest import payload
from tests.daemon_helpers import engine_pid, ls
from tests.faultserver import FaultServer
from tests.pty_helpers import poll_until
from tests.raw_pty import ALT_SCREEN_OFF, RawTui, assert_terminal_restored

pytestmark = pytest.mark.timeout(90)

SIZE = 8 * MiB


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "hung up"),
    ],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_get_saves_and_exits_128_plus_the_signal_with_one_line(
    server: FaultServer, downloads: Path, signum: signal.Signals, code: int, said: str
) -> None:
    data = payload(SIZE, seed=int(signum))
    url = server.add("/sig.bin", data, rate=MiB)
    out = downloads / "sig.bin"
    args = (url, "-o", out, "-t", "2", "-b", "128K")
    proc = start_get("-q", *args)
    try:
        wait_for(lambda: server.bytes_sent("/sig.bin") >= 2 * MiB, 20, "2 MiB")
        time.sleep(1.2)  # a checkpoint
    finally:
        proc.send_signal(signum)
    first = finish(proc, 10)
    assert first.code == code, first.describe()
    assert len(first.lines) == 1 and said in first.lines[0], first.describe()
    assert "resume" in first.lines[0], first.describe()
    assert part_of(out).exists() and not out.exists()

    server.resource("/sig.bin").rate = None
    server.reset_counters()
    second = run_get(*args)
    assert second.code == 0 and "resum" in second.stderr, second.describe()
    assert_saved(out, data)
    assert server.bytes_sent("/sig.bin") < SIZE - MiB, "the rerun fetched it all again"


def test_an_interrupted_download_without_ranges_says_it_starts_over(
    server: FaultServer, downloads: Path
) -> None:
    """L5: "resume with the same command" was said of a server without Range support,
    which a rerun fetches from byte 0."""
    data = payload(SIZE, seed=41)
    url = server.add("/whole.bin", data, rate=MiB, accept_ranges=False)
    proc = start_get("-q", url, "-o", downloads / "whole.bin")
    try:
        wait_for(lambda: server.bytes_sent("/whole.bin") >= MiB, 20, "1 MiB")
    finally:
        proc.send_signal(signal.SIGINT)
    result = finish(proc, 10)
    assert result.code == 130, result.describe()
    assert "whole.bin: no Range support, so it starts over" in result.lines[-1], result.describe()


def test_an_interrupt_before_the_ranges_start_never_says_no_range_support(
    server: FaultServer, downloads: Path
) -> None:
    """A resumed download, stopped while the saved bytes were still being compared with
    the server's (no strong ETag: a sample is read before any worker starts), was listed
    as "no Range support, so it starts over": it resumes like any other."""
    data = payload(SIZE, seed=42)
    url = server.add("/ranged.bin", data, etag=None, rate=MiB)
    args = (url, "-o", downloads / "ranged.bin", "-t", "2")
    first = start_get("-q", *args)
    try:
        wait_for(lambda: server.bytes_sent("/ranged.bin") >= 2 * MiB, 20, "2 MiB")
        time.sleep(1.2)  # a checkpoint
    finally:
        first.send_signal(signal.SIGINT)
    assert finish(first, 10).code == 130
    resource = server.resource("/ranged.bin")
    resource.rate, resource.stall_after = None, 1  # the 1-byte probe passes, a sample stalls
    server.reset_counters()
    proc = start_get("-q", *args)
    try:
        wait_for(lambda: server.get_count("/ranged.bin") >= 2, 20, "the probe and a sample")
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
    result = finish(proc, 20)
    assert result.code == 130, result.describe()
    assert "no Range support" not in result.stderr, result.describe()
    assert "resume with the same command" in result.lines[-1], result.describe()


def test_sighup_with_stderr_gone_still_saves_and_exits_129(
    server: FaultServer, downloads: Path
) -> None:
    """The terminal is gone (here: the pipe behind stderr is closed), and Python's own
    stderr buffering is on: the last line cannot be written, and must not cost the exit
    status (Python turns a failed flush at exit into 120) or the progress."""
    data = payload(SIZE, seed=40)
    url = server.add("/hup.bin", data, rate=MiB)
    out = downloads / "hup.bin"
    env = cli_env()
    env.pop("PYTHONUNBUFFERED", None)
    proc = subprocess.Popen(
        [*GET, url, "-o", str(out), "-t", "2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: server.bytes_sent("/hup.bin") >= 2 * MiB, 20, "2 MiB")
        assert proc.stderr is not None
        proc.stderr.close()
        time.sleep(1.2)
    finally:
        proc.send_signal(signal.SIGHUP)
    assert proc.wait(15) == 129
    server.resource("/hup.bin").rate = None
    second = run_get(url, "-o", out, "-t", "2")
    assert second.code == 0 and "resum" in second.stderr, second.describe()
    assert_saved(out, data)


def _tui_downloading(server: FaultServer, route: str, downloads: Path) -> RawTui:
    """The TUI in a pty, started on a slow download of 16 MiB, once it shows it."""
    url = server.add(route, payload(16 * MiB, seed=41), rate=256 * 1024)
    tui = RawTui.start_raw([url, "-d", str(downloads), "-t", "2"], cwd=downloads)
    try:
        poll_until(lambda: server.bytes_sent(route) > 0, 30, "bytes", tui)
        poll_until(lambda: route.lstrip("/") in tui.drain.text(200), 30, "the job", tui)
    except BaseException:
        tui.close()
        raise
    return tui


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"]
)
def test_the_tui_detaches_and_restores_the_terminal(
    server: FaultServer, downloads: Path, state_dir: Path, signum: signal.Signals, code: int
) -> None:
    tui = _tui_downloading(server, "/tui-sig.bin", downloads)
    try:
        os.kill(tui.proc.pid, signum)
        tui.proc.wait(15)
    finally:
        tui.close()
    assert_terminal_restored(tui.raw)
    assert tui.proc.returncode == code, tui.describe()
    assert b"Traceback" not in tui.raw, tui.describe()
    engine = engine_pid(state_dir)
    sent = server.bytes_sent("/tui-sig.bin")
    wait_for(lambda: server.bytes_sent("/tui-sig.bin") > sent + 256 * 1024, 20, "more bytes")
    [job] = ls(state_dir)
    assert job["status"] == "downloading", job
    assert engine_pid(state_dir) == engine


def test_q_says_what_goes_on_in_the_background(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    """UX note 24: `q` left without a word while downloads carried on."""
    tui = _tui_downloading(server, "/q-bg.bin", downloads)
    try:
        tui.type(b"q")
        tui.proc.wait(15)
    finally:
        tui.close()
    assert tui.proc.returncode == 0, tui.describe()
    after = tui.raw[tui.raw.rfind(ALT_SCREEN_OFF) :]  # what came after the screen was left
    assert b"1 download goes on in the background engine" in after, tui.describe()
    [job] = ls(state_dir)
    assert job["status"] == "downloading", job
