"""`rangetui` where nothing can be drawn (issue 10 point 7): no tty, or TERM=dumb.

`ssh host rangetui URL` has no tty: the TUI once wrote screen escapes into the pipe and
never exited. Now it says why in one sentence and exits non-zero, or, given URLs,
queues them in the background engine as `rangetui add` does and says so.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_saved, cli_env
from tests.conftest import payload
from tests.daemon_helpers import wait_status
from tests.faultserver import FaultServer
from tests.raw_pty import ALT_SCREEN_ON, RawTui

pytestmark = pytest.mark.timeout(60)
RANGETUI = [sys.executable, "-m", "rangetui"]


def run_without_tty(*args: str | Path, stdin_tty: bool = False) -> tuple[int, bytes, bytes]:
    """`rangetui ARGS` with stdout and stderr on pipes (and stdin a pty, or /dev/null)."""
    master = slave = -1
    if stdin_tty:
        master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [*RANGETUI, *map(str, args)],
            env={**cli_env(), "TERM": "xterm-256color"},
            stdin=slave if stdin_tty else subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("rangetui without a terminal did not exit within 30 s") from None
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("stdin_tty", [False, True], ids=["nothing-a-tty", "stdin-only"])
def test_no_tty_and_no_url_is_one_sentence(downloads: Path, stdin_tty: bool) -> None:
    code, out, err = run_without_tty("-d", downloads, stdin_tty=stdin_tty)
    assert code == 1, (code, out, err)
    assert out == b"" and b"\x1b" not in err, (out, err)
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "no terminal" in lines[0], lines


def test_stdout_not_a_tty_is_refused_too(downloads: Path) -> None:
    """stdin a terminal, stdout a pipe (`rangetui | less`): nothing drawn either."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [*RANGETUI, "-d", str(downloads)],
            env={**cli_env(), "TERM": "xterm-256color"},
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=30,
        )
    finally:
        os.close(slave)
    try:
        said = os.read(master, 4096)
    finally:
        os.close(master)
    assert proc.returncode == 1 and proc.stdout == b"", proc
    assert b"no terminal" in said and ALT_SCREEN_ON not in said, said


def test_no_tty_with_urls_queues_them_as_add_does(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    data = payload(2 * MiB, seed=50)
    url = server.add("/over-ssh.bin", data)
    code, out, err = run_without_tty(url, "-d", downloads)
    assert code == 0, (code, out, err)
    assert b"\x1b" not in out + err, (out, err)
    [line] = out.decode().splitlines()
    job_id, name = line.split()
    assert name == "over-ssh.bin"
    said = err.decode().splitlines()
    assert len(said) == 1 and "queued 1 download" in said[0], said
    wait_status(state_dir, job_id, "done")
    assert_saved(downloads / "over-ssh.bin", data)


def test_term_dumb_draws_nothing(downloads: Path) -> None:
    tui = RawTui.start_raw(["-d", str(downloads)], cwd=downloads, TERM="dumb")
    try:
        tui.proc.wait(30)
        time.sleep(0.2)
    finally:
        tui.close()
    assert tui.proc.returncode == 1, tui.describe()
    assert ALT_SCREEN_ON not in tui.raw and b"\x1b[" not in tui.raw, tui.raw[:300]
    assert b"TERM=dumb" in tui.raw, tui.raw


def test_term_dumb_with_a_url_queues_it(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    url = server.add("/dumb.bin", payload(MiB, seed=51))
    tui = RawTui.start_raw([url, "-d", str(downloads)], cwd=downloads, TERM="dumb")
    try:
        tui.proc.wait(30)
        time.sleep(0.2)
    finally:
        tui.close()
    assert tui.proc.returncode == 0, tui.describe()
    assert b"\x1b[" not in tui.raw and b"queued 1 download" in tui.raw, tui.raw
    job_id = tui.raw.decode().split()[0]
    wait_status(state_dir, job_id, "done")
