"""The state dir is trusted only when it is ours alone, and nothing in it is a link.

Issue 10 point 4: with a state dir another user could write, a planted ``queue.json``
job made root overwrite a 0600 ``authorized_keys``, and a planted ``lock`` link made
root create a file anywhere. Every command that touches the state dir (`get`, `engine`,
`ls`, `add`) now refuses such a dir in one sentence, before reading or creating
anything in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rangetui.core.jobs import Job
from rangetui.core.store import _digest
from rangetui.core.types import Options
from tests.attack_helpers import (
    VICTIM_TEXT,
    as_nobody,
    assert_victim_intact,
    needs_root,
    shared_dir,
    victim_file,
)
from tests.cli_helpers import MiB, Result, assert_clean_failure, cli_env, run_get
from tests.conftest import payload, stop_engine
from tests.daemon_helpers import rangetui
from tests.faultserver import FaultServer

PLANT_LINK = "import os, sys; os.symlink(sys.argv[1], sys.argv[2])"
WRITE_FILE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
MAKE_OWN_DIR = "import os, sys; os.mkdir(sys.argv[1], 0o700)"


@pytest.fixture
def open_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state dir that every user may write (0777), as RANGETUI_STATE_DIR."""
    for path in shared_dir(0o777):
        monkeypatch.setenv("RANGETUI_STATE_DIR", str(path))
        try:
            yield path
        finally:
            stop_engine(path)


def engine_foreground(timeout: float, until: object = None) -> Result:
    """`rangetui engine` in the foreground: it serves until stopped, so a refusal is an
    exit within ``timeout``; otherwise it is stopped with SIGTERM once ``until()`` holds
    or the time is up."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rangetui", "engine"],
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = started + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if callable(until) and until():
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.terminate()
    out, err = proc.communicate(timeout=20)
    return Result(proc.returncode, out, err, time.monotonic() - started)


def planted_queue(url: str, output: Path) -> str:
    """A valid queue file with one job that writes ``output``."""
    job = Job.new(url, output.parent, output, Options(connections=1))
    data = {"jobs": [job.to_json()]}
    return json.dumps({"schema": 1, "sha256": _digest(data), "data": data})


@needs_root
def test_get_refuses_a_state_dir_others_may_write(
    server: FaultServer, downloads: Path, open_state: Path
) -> None:
    url = server.add("/s.bin", payload(MiB))
    result = run_get(url, "-d", downloads)
    assert_clean_failure(result, max_lines=1)
    assert "other users may write" in result.stderr, result.describe()
    assert list(open_state.iterdir()) == [] and list(downloads.iterdir()) == []


@needs_root
def test_get_refuses_a_state_dir_of_another_user(
    server: FaultServer, downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for parent in shared_dir(0o1777):
        state = parent / "state"
        as_nobody(MAKE_OWN_DIR, state)
        monkeypatch.setenv("RANGETUI_STATE_DIR", str(state))
        url = server.add("/n.bin", payload(MiB))
        result = run_get(url, "-d", downloads)
        assert_clean_failure(result, max_lines=1)
        assert "belongs to uid 65534" in result.stderr, result.describe()


@needs_root
def test_a_planted_queue_job_never_runs(
    server: FaultServer, open_state: Path, tmp_path: Path
) -> None:
    """The attacker queues a job whose -o is root's authorized_keys, then waits."""
    victim = victim_file(tmp_path)
    url = server.add("/evil-keys", b"ssh-ed25519 AAAA attacker key\n")
    as_nobody(WRITE_FILE, open_state / "queue.json", planted_queue(url, victim))
    result = engine_foreground(15, until=lambda: victim.read_bytes() != VICTIM_TEXT)
    assert_victim_intact(victim)
    assert result.code == 1 and "other users may write" in result.stderr, result.describe()
    assert "Traceback" not in result.stderr, result.describe()


@needs_root
def test_a_planted_lock_link_creates_nothing(open_state: Path, tmp_path: Path) -> None:
    aimed_at = tmp_path / "created-by-root"
    as_nobody(PLANT_LINK, aimed_at, open_state / "lock")
    result = engine_foreground(10, until=aimed_at.exists)
    assert not aimed_at.exists(), "root created a file through the planted lock link"
    assert result.code == 1 and "other users may write" in result.stderr, result.describe()


@needs_root
@pytest.mark.parametrize("command", ["ls", "add"])
def test_engine_commands_refuse_a_state_dir_others_may_write(
    server: FaultServer, downloads: Path, open_state: Path, command: str
) -> None:
    args = ["ls"] if command == "ls" else ["add", server.url("/x.bin"), "-d", str(downloads)]
    result = rangetui(*args)
    assert result.code == 1 and len(result.lines) == 1, result.describe()
    assert "other users may write" in result.stderr, result.describe()
    assert list(open_state.iterdir()) == []


# --------------------------------------------------------------------------- #
# Links inside a state dir of ours are never followed
# --------------------------------------------------------------------------- #


def test_a_lock_link_in_our_own_state_dir_is_refused(state_dir: Path, tmp_path: Path) -> None:
    state_dir.mkdir(mode=0o700)
    aimed_at = tmp_path / "elsewhere"
    (state_dir / "lock").symlink_to(aimed_at)
    result = engine_foreground(10, until=aimed_at.exists)
    assert not aimed_at.exists(), "a file was created through the lock link"
    assert result.code == 1 and "symbolic link" in result.stderr, result.describe()


def test_a_queue_file_link_is_never_read(state_dir: Path, tmp_path: Path) -> None:
    state_dir.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    (state_dir / "queue.json").symlink_to(elsewhere)
    result = engine_foreground(10)
    assert result.code == 1 and "symbolic link" in result.stderr, result.describe()
    assert elsewhere.read_text() == "{}" and (state_dir / "queue.json").is_symlink()


@pytest.mark.parametrize("command", ["get", "engine"])
def test_a_maps_dir_link_is_refused(
    server: FaultServer, downloads: Path, state_dir: Path, tmp_path: Path, command: str
) -> None:
    state_dir.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state_dir / "maps").symlink_to(elsewhere)
    url = server.add("/m.bin", payload(MiB))
    if command == "get":
        result = run_get(url, "-d", downloads)
        assert_clean_failure(result, max_lines=1)
    else:
        result = engine_foreground(10)
        assert result.code == 1, result.describe()
    assert "symbolic link" in result.stderr, result.describe()
    assert list(elsewhere.iterdir()) == []


def test_a_new_state_dir_is_owner_only_whatever_the_umask(
    server: FaultServer, downloads: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "new" / "deeper" / "state"
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(state))
    url = server.add("/u.bin", payload(MiB))
    proc = subprocess.run(
        [sys.executable, "-m", "rangetui", "get", url, "-d", str(downloads), "-q"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0),
    )
    assert proc.returncode == 0, proc.stderr
    for path in (state, state.parent, state.parent.parent):
        assert path.stat().st_mode & 0o777 == 0o700, f"{path} is {path.stat().st_mode:o}"
