"""Disk full and write errors: a clear message, valid saved progress, and a resume that
completes once space is back.

A full disk is a small tmpfs mounted by the test (root is needed; where mounting is
not permitted those tests are skipped and say why). Write errors come from
``RLIMIT_FSIZE`` set in the child (`preexec_fn`), which works for any user: Python
ignores SIGXFSZ, so a write past the limit fails with EFBIG.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import (
    GET,
    MiB,
    Result,
    assert_saved,
    cli_env,
    part_of,
    run_get,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer
from tests.system.test_torture import assert_claims_match, map_file, saved_done, total

pytestmark = pytest.mark.timeout(120)

IN_FLIGHT_SLACK = 2 * MiB
"""Bytes a resume may fetch beyond what the saved map says is missing."""


# --------------------------------------------------------------------------- #
# A small file system, filled on demand
# --------------------------------------------------------------------------- #


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``make(bytes)`` mounts a tmpfs of that size and returns its mount point."""
    mounted: list[Path] = []

    def make(size: int) -> Path:
        point = tmp_path / f"small-{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the file system is full; returns it (delete to free)."""
    path = directory / f"filler-{uuid.uuid4().hex[:8]}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 * MiB, 4096, 1):
            block = b"\xff" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError as e:
                    if e.errno in (errno.ENOSPC, errno.EDQUOT):
                        break
                    raise
    finally:
        os.close(fd)
    return path


def start(*args: str | Path, preexec: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*GET, *map(str, args)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=preexec,
    )


def wait_result(proc: subprocess.Popen[str], timeout: float) -> Result:
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running {timeout} s after the disk filled\n{err}") from None
    result = Result(proc.returncode, out, err, time.monotonic() - t0)
    assert "Traceback" not in err, result.describe()
    return result


def assert_clear_error(result: Result, *words: str) -> None:
    """Failed, and the last line is one clear error naming the problem."""
    assert result.code != 0, result.describe()
    last = result.lines[-1] if result.lines else ""
    assert last.startswith("rangetui: error:"), result.describe()
    assert "internal error" not in result.stderr, result.describe()
    assert len(last) < 400, result.describe()
    for word in words:
        assert re.search(word, last, re.I), f"{word!r} not in the error\n{result.describe()}"


def assert_progress_valid(state: Path, out: Path, data: bytes) -> int:
    """The saved map is whole and every byte it claims is right; returns how many."""
    done = saved_done(state)
    assert_claims_match(part_of(out), data, done)
    assert not list((state / "maps").glob(".*.tmp")), "a temp file was left in the state dir"
    return total(done)


def resume_and_check(
    server: FaultServer, route: str, args: tuple[str | Path, ...], out: Path, data: bytes, kept: int
) -> None:
    server.resource(route).rate = None
    server.reset_counters()
    result = run_get(*args)
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    fetched = server.bytes_sent(route)
    assert fetched <= len(data) - kept + IN_FLIGHT_SLACK, (
        f"the resume fetched {fetched} bytes though {kept} of {len(data)} were saved"
    )


# --------------------------------------------------------------------------- #
# Data disk fills up mid-download
# --------------------------------------------------------------------------- #


def test_data_disk_fills_mid_download_then_resume(
    server: FaultServer, small_fs: Callable[[int], Path], state_dir: Path
) -> None:
    size = 16 * MiB
    data = payload(size, seed=61)
    disk = small_fs(24 * MiB)
    url = server.add("/full.bin", data, rate=1 * MiB)
    out = disk / "full.bin"
    args = (url, "-o", out, "-t", "4", "-b", "128K")
    proc = start(*args)
    try:
        wait_for(lambda: server.bytes_sent("/full.bin") >= 5 * MiB, 20, "5 MiB")
        time.sleep(1.2)  # at least one checkpoint with progress
        filler = fill(disk)
    except BaseException:
        proc.kill()
        raise
    result = wait_result(proc, 30)
    assert_clear_error(result, "disk|space", "full|space")
    assert re.search(r"free|resume|same command", result.stderr, re.I), result.describe()
    assert not out.exists()
    assert part_of(out).exists(), "the partial file must be kept for the resume"
    kept = assert_progress_valid(state_dir, out, data)
    assert kept > 0, "the progress made before the disk filled was not saved"

    filler.unlink()
    resume_and_check(server, "/full.bin", args, out, data, kept)


def test_data_disk_fills_without_ranges_says_it_starts_over(
    server: FaultServer, small_fs: Callable[[int], Path]
) -> None:
    """L5: "run the same command to resume" was said of a server without Range support,
    which a rerun fetches from byte 0."""
    disk = small_fs(16 * MiB)
    url = server.add("/whole.bin", payload(8 * MiB, seed=63), rate=MiB, accept_ranges=False)
    proc = start(url, "-o", disk / "whole.bin")
    try:
        wait_for(lambda: server.bytes_sent("/whole.bin") >= 2 * MiB, 20, "2 MiB")
        fill(disk)
    except BaseException:
        proc.kill()
        raise
    result = wait_result(proc, 30)
    assert_clear_error(result, "disk|space", "starts over")


def test_not_enough_space_is_refused_up_front(
    server: FaultServer, small_fs: Callable[[int], Path]
) -> None:
    disk = small_fs(4 * MiB)
    url = server.add("/big.bin", payload(8 * MiB, seed=62))
    out = disk / "big.bin"
    result = run_get(url, "-o", out, timeout=30)
    assert_clear_error(result, "space|full")
    assert result.seconds < 10
    assert not out.exists()


# --------------------------------------------------------------------------- #
# The state dir's disk is full
# --------------------------------------------------------------------------- #


def test_state_disk_fills_mid_download_then_resume(
    server: FaultServer,
    small_fs: Callable[[int], Path],
    downloads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A checkpoint cannot be written: fail (or pause) clearly; the last map stays valid."""
    disk = small_fs(1 * MiB)
    state = disk / "state"
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(state))
    size = 16 * MiB
    data = payload(size, seed=63)
    url = server.add("/statefull.bin", data, rate=1 * MiB)
    out = downloads / "statefull.bin"
    args = (url, "-o", out, "-t", "4", "-b", "128K")
    proc = start(*args)
    try:
        wait_for(lambda: total(_done_or_empty(state)) > 0, 20, "a checkpoint with progress")
        filler = fill(disk)
    except BaseException:
        proc.kill()
        raise
    result = wait_result(proc, 30)
    assert_clear_error(result, "progress|state|save", "space|full")
    assert not out.exists()
    kept = assert_progress_valid(state, out, data)

    filler.unlink()
    resume_and_check(server, "/statefull.bin", args, out, data, kept)


def _done_or_empty(state: Path) -> list[tuple[int, int]]:
    with contextlib.suppress(AssertionError, FileNotFoundError):
        if map_file(state) is not None:
            return saved_done(state)
    return []


def test_state_disk_full_before_the_start(
    server: FaultServer,
    small_fs: Callable[[int], Path],
    downloads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk = small_fs(256 * 1024)
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(disk / "state"))
    (disk / "state").mkdir(mode=0o700)
    filler = fill(disk)
    data = payload(2 * MiB, seed=64)
    url = server.add("/nostate.bin", data)
    out = downloads / "nostate.bin"
    result = run_get(url, "-o", out, timeout=30)
    assert_clear_error(result, "space|full")
    assert not out.exists()

    filler.unlink()
    result = run_get(url, "-o", out)
    assert result.code == 0, result.describe()
    assert_saved(out, data)


# --------------------------------------------------------------------------- #
# Write errors from a file size limit (works without root)
# --------------------------------------------------------------------------- #


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_file_size_limit_is_a_clear_error(server: FaultServer, downloads: Path) -> None:
    data = payload(8 * MiB, seed=65)
    url = server.add("/limited.bin", data)
    out = downloads / "limited.bin"
    result = wait_result(start(url, "-o", out, preexec=_limit_file_size(2 * MiB)), 30)
    assert_clear_error(result, "too large|limit")
    assert not out.exists()

    result = run_get(url, "-o", out)
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_write_errors_mid_download_keep_valid_progress(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    """A resumed run under a 6 MiB file size limit: writes past 6 MiB fail with EFBIG
    while those below succeed; the failure is clear and the progress saved is right."""
    size = 16 * MiB
    data = payload(size, seed=66)
    url = server.add("/efbig.bin", data, rate=1 * MiB)
    out = downloads / "efbig.bin"
    args = (url, "-o", out, "-t", "4", "-b", "128K")

    first = start(*args)  # a normal run, stopped early: OUT.part now has its full size
    try:
        wait_for(lambda: total(_done_or_empty(state_dir)) > 0, 20, "a checkpoint")
    finally:
        first.kill()
        first.wait(10)
    before = total(saved_done(state_dir))
    assert part_of(out).stat().st_size == size

    result = wait_result(start(*args, preexec=_limit_file_size(6 * MiB)), 60)
    assert_clear_error(result, "too large|limit|write")
    assert not out.exists()
    kept = assert_progress_valid(state_dir, out, data)
    assert kept >= before, "progress from before the write errors was lost"

    resume_and_check(server, "/efbig.bin", args, out, data, kept)
