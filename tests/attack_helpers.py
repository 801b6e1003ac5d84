"""An unprivileged attacker for the tests: scripts run as ``nobody`` beside a root rangetui.

The attacker is real: a separate process under uid/gid 65534 (``setpriv``), running the
system Python in isolated mode, in a shared directory of mode 0777 or 1777 under /tmp
(pytest's own tmp dirs are private to root, so nobody could not reach into them). The
victims it aims at are root-owned files in a private directory, as /root/.ssh would be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
SYSTEM_PYTHON = "/usr/bin/python3"
VICTIM_TEXT = b"ssh-ed25519 AAAA precious root key\n"

needs_root = pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which("setpriv") or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root, setpriv and /usr/bin/python3 to act as another user",
)


def as_nobody(script: str, *args: str | Path, timeout: float = 30) -> str:
    """Run ``script`` as nobody to completion; returns its stdout, fails on an error."""
    proc = subprocess.run(
        [*AS_NOBODY, SYSTEM_PYTHON, "-I", "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    assert proc.returncode == 0, f"the attacker script failed: {proc.stderr}"
    return proc.stdout


def start_as_nobody(script: str, *args: str | Path) -> subprocess.Popen[str]:
    """Start ``script`` as nobody in the background (it should end by itself)."""
    return subprocess.Popen(
        [*AS_NOBODY, SYSTEM_PYTHON, "-I", "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )


def stop(proc: subprocess.Popen[str], timeout: float = 10) -> tuple[str, str]:
    """Wait for an attacker started with :func:`start_as_nobody` (kill it if it lingers)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def shared_dir(mode: int) -> Iterator[Path]:
    """A fresh world-writable directory under /tmp (0777, or sticky 1777), removed after."""
    path = Path(tempfile.mkdtemp(prefix="rangetui-shared-", dir="/tmp"))
    try:
        os.chmod(path, mode)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def victim_file(private: Path) -> Path:
    """A root-owned 0600 file in a private dir: what a planted link would aim at."""
    path = private / "authorized_keys"
    path.write_bytes(VICTIM_TEXT)
    os.chmod(path, 0o600)
    return path


def assert_victim_intact(victim: Path) -> None:
    info = victim.lstat()
    assert victim.read_bytes() == VICTIM_TEXT, "root wrote through the attacker's link"
    assert info.st_uid == 0 and info.st_mode & 0o777 == 0o600, "the victim was changed"


def assert_root_owned_file(path: Path, data: bytes) -> None:
    """OUT is a plain file that root owns, holds ``data`` and nobody else may write."""
    info = path.lstat()
    assert not path.is_symlink(), f"{path} is a symbolic link"
    assert info.st_uid == 0, f"{path} belongs to uid {info.st_uid}"
    assert info.st_nlink == 1, f"{path} has {info.st_nlink} links"
    assert info.st_mode & 0o022 == 0, f"{path} has mode {info.st_mode & 0o777:o}"
    assert path.read_bytes() == data, f"{path} has the wrong content"
