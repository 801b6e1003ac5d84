"""Interrupt a real `rangetui get` with signals, rerun it, and check it resumed.

Contract: after SIGINT, SIGTERM or SIGKILL, OUT does not exist, OUT.part does, and
running the same command again finishes the file while fetching only the bytes
that were not already saved (the block map is checkpointed about every second).
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.cli_helpers import (
    MiB,
    assert_clean_failure,
    assert_saved,
    finish,
    part_of,
    range_gets,
    run_get,
    start_get,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

pytestmark = pytest.mark.timeout(60)

SIZE = 16 * MiB
CONNS = 4
RATE = 1 * MiB
"""Per connection, set by the server: 4 connections fetch 16 MiB in about 4 s."""
BUFFER = "128K"
"""The main tests pass ``-b 128K`` so that what one read holds (lost on a stop) is small."""
IN_FLIGHT_SLACK = 1 * MiB + CONNS * 128 * 1024
"""Bytes sent but not on disk when a run stops (socket buffers, one read per connection)."""
CHECKPOINT_LOSS = int(1.25 * CONNS * RATE)
"""After SIGKILL: what arrived since the last checkpoint (about every second) is lost."""


@pytest.mark.parametrize(
    ("signum", "trigger", "rate"),
    [
        (signal.SIGINT, 8 * MiB, 2 * RATE),
        (signal.SIGTERM, 8 * MiB, 2 * RATE),
        (signal.SIGKILL, 11 * MiB, RATE),
    ],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_interrupt_then_resume(
    server: FaultServer, downloads: Path, signum: signal.Signals, trigger: int, rate: int
) -> None:
    data = payload(SIZE, seed=int(signum))
    url = server.add("/resume.bin", data, rate=rate)
    out = downloads / "resume.bin"
    args = (url, "-o", out, "-t", str(CONNS), "-b", BUFFER)

    proc = start_get(*args)
    try:
        wait_for(lambda: server.bytes_sent("/resume.bin") >= trigger, 15, f"{trigger} bytes")
    finally:
        proc.send_signal(signum)
    signalled = time.monotonic()
    first = finish(proc, 10, signalled)
    sent_before = server.bytes_sent("/resume.bin")

    assert first.code != 0, first.describe()
    assert first.seconds < 5, f"took {first.seconds:.1f} s to stop after {signum.name}"
    if signum != signal.SIGKILL:
        assert "resume" in first.stderr.lower(), first.describe()
    assert not out.exists(), "OUT must only appear when complete"
    assert part_of(out).exists(), "OUT.part must be kept for the resume"
    assert sent_before < SIZE - 2 * MiB, f"{sent_before} bytes were sent before the stop"

    server.resource("/resume.bin").rate = None
    server.reset_counters()
    second = run_get(*args)
    sent_after = server.bytes_sent("/resume.bin")

    assert second.code == 0, second.describe()
    assert_saved(out, data)
    if signum != signal.SIGKILL:
        assert re.search(r"resum", second.stderr, re.I), second.describe()
    lost = CHECKPOINT_LOSS if signum == signal.SIGKILL else 0
    assert sent_after <= SIZE - sent_before + IN_FLIGHT_SLACK + lost, (
        f"the rerun fetched {sent_after} bytes; the first run had already got {sent_before}"
    )
    assert sent_after < 0.75 * SIZE, f"the rerun fetched {sent_after} of {SIZE} bytes"


def test_ctrl_c_on_a_slow_link_keeps_what_arrived(server: FaultServer, downloads: Path) -> None:
    """Default flags, slow connections: bytes received before Ctrl-C must not be fetched again.

    At 256 KiB/s per connection, a connection that has received half a megabyte has
    real data worth keeping; throwing away every partly filled read buffer means a
    slow download interrupted after minutes starts again from nothing.
    """
    size = 4 * MiB
    data = payload(size, seed=8)
    url = server.add("/slowlink.bin", data, rate=256 * 1024)
    out = downloads / "slowlink.bin"
    args = (url, "-o", out, "-t", str(CONNS))

    sent_before = _interrupt_at(server, "/slowlink.bin", args, MiB)

    server.resource("/slowlink.bin").rate = None
    server.reset_counters()
    second = run_get(*args)
    sent_after = server.bytes_sent("/slowlink.bin")
    assert second.code == 0, second.describe()
    assert_saved(out, data)
    allowed = size - sent_before + sent_before // 4 + 256 * 1024
    assert sent_after <= allowed, (
        f"the rerun fetched {sent_after} of {size} bytes although {sent_before} had "
        "already arrived before Ctrl-C"
    )


def test_second_get_of_the_same_output_is_refused(server: FaultServer, downloads: Path) -> None:
    data = payload(8 * MiB, seed=5)
    url = server.add("/twice.bin", data, rate=2 * RATE)
    out = downloads / "twice.bin"
    args = (url, "-o", out, "-t", str(CONNS))

    started = time.monotonic()
    first = start_get(*args)
    try:
        wait_for(lambda: len(range_gets(server, "/twice.bin")) >= CONNS, 10, "the first run")
        second = run_get("-q", *args, timeout=20)
        still_running = first.poll() is None
    except BaseException:
        first.kill()
        raise
    result = finish(first, 30, started)

    assert still_running, "the first run should still be going while the second is refused"
    assert_clean_failure(second)
    assert "already" in second.stderr.lower(), second.describe()
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_second_get_into_the_same_dir_is_refused(server: FaultServer, downloads: Path) -> None:
    """Without -o the rerun must find the running download's name, not make `name (1)`."""
    data = payload(8 * MiB, seed=6)
    url = server.add("/twice-d.bin", data, rate=2 * RATE)
    args = (url, "-d", downloads, "-t", str(CONNS))

    started = time.monotonic()
    first = start_get(*args)
    try:
        wait_for(lambda: len(range_gets(server, "/twice-d.bin")) >= CONNS, 10, "the first run")
        time.sleep(0.1)
        second = run_get("-q", *args, timeout=20)
        still_running = first.poll() is None
    except BaseException:
        first.kill()
        raise
    result = finish(first, 30, started)

    assert still_running, "the first run should still be going while the second is refused"
    assert result.code == 0, result.describe()
    assert_clean_failure(second)
    assert "already" in second.stderr.lower(), second.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["twice-d.bin"]
    assert_saved(downloads / "twice-d.bin", data)


def test_early_sigkill_then_rerun_in_dir_reuses_the_name(
    server: FaultServer, downloads: Path
) -> None:
    """Killed before its first periodic checkpoint, a `-d DIR` download must still be
    found by the rerun: no `name (1).ext` beside an orphaned `name.ext.part`."""
    data = payload(4 * MiB, seed=9)
    url = server.add("/early.bin", data, rate=RATE)
    args = (url, "-d", downloads, "-t", str(CONNS))

    proc = start_get(*args)
    try:
        wait_for(lambda: len(range_gets(server, "/early.bin")) >= 1, 10, "the first range GET")
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
    finish(proc, 10)
    assert (downloads / "early.bin.part").exists()

    server.resource("/early.bin").rate = None
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["early.bin"]
    assert_saved(downloads / "early.bin", data)


def test_interrupted_dir_download_resumes_under_the_same_name(
    server: FaultServer, downloads: Path
) -> None:
    """`-d DIR` rerun: the .part is ours (same URL), so no `name (1).ext` and no refetch."""
    data = payload(SIZE, seed=7)
    url = server.add("/named.bin", data, rate=2 * RATE)
    args = (url, "-d", downloads, "-t", str(CONNS), "-b", BUFFER)

    sent_before = _interrupt_at(server, "/named.bin", args, 6 * MiB)

    server.resource("/named.bin").rate = None
    server.reset_counters()
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["named.bin"]
    assert_saved(downloads / "named.bin", data)
    assert server.bytes_sent("/named.bin") <= SIZE - sent_before + IN_FLIGHT_SLACK


# --------------------------------------------------------------------------- #
# Resuming when something changed between the runs
# --------------------------------------------------------------------------- #

SMALL = 8 * MiB
FAST = 2 * MiB
"""Per connection: 4 connections fetch SMALL in about a second."""


def _interrupt_at(server: FaultServer, route: str, args: tuple[object, ...], trigger: int) -> int:
    """Run ``args`` until the server has sent ``trigger`` bytes, SIGINT it; bytes sent."""
    proc = start_get(*map(str, args))
    try:
        wait_for(lambda: server.bytes_sent(route) >= trigger, 15, f"{trigger} bytes")
    finally:
        proc.send_signal(signal.SIGINT)
    first = finish(proc, 10)
    assert first.code != 0, first.describe()
    return server.bytes_sent(route)


def test_resume_with_fewer_connections(server: FaultServer, downloads: Path) -> None:
    data = payload(SMALL, seed=21)
    url = server.add("/fewer.bin", data, rate=FAST)
    out = downloads / "fewer.bin"
    before = _interrupt_at(server, "/fewer.bin", (url, "-o", out, "-t", "4", "-b", BUFFER), 4 * MiB)
    server.resource("/fewer.bin").rate = None
    server.reset_counters()
    second = run_get(url, "-o", out, "-t", "2", "-b", BUFFER)
    assert second.code == 0, second.describe()
    assert_saved(out, data)
    assert server.bytes_sent("/fewer.bin") <= SMALL - before + IN_FLIGHT_SLACK


def test_resume_after_the_part_file_was_deleted(server: FaultServer, downloads: Path) -> None:
    """The saved map must never be trusted without its .part: start over, finish right."""
    data = payload(SMALL, seed=22)
    url = server.add("/deleted.bin", data, rate=FAST)
    out = downloads / "deleted.bin"
    args = (url, "-o", out, "-t", "4")
    _interrupt_at(server, "/deleted.bin", args, 4 * MiB)
    part_of(out).unlink()
    server.resource("/deleted.bin").rate = None
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert_saved(out, data)


def test_resume_after_the_part_file_was_truncated(server: FaultServer, downloads: Path) -> None:
    data = payload(SMALL, seed=23)
    url = server.add("/truncated.bin", data, rate=FAST)
    out = downloads / "truncated.bin"
    args = (url, "-o", out, "-t", "4")
    _interrupt_at(server, "/truncated.bin", args, 4 * MiB)
    with part_of(out).open("r+b") as f:
        f.truncate(1 * MiB)
    server.resource("/truncated.bin").rate = None
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert_saved(out, data)


def test_resume_when_the_server_stopped_supporting_ranges(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(SMALL, seed=24)
    url = server.add("/noranges-now.bin", data, rate=FAST)
    out = downloads / "noranges-now.bin"
    args = (url, "-o", out, "-t", "4")
    _interrupt_at(server, "/noranges-now.bin", args, 4 * MiB)
    res = server.resource("/noranges-now.bin")
    res.rate = None
    res.accept_ranges = False
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert_saved(out, data)


def test_another_url_to_the_same_output_is_never_spliced(
    server: FaultServer, downloads: Path
) -> None:
    a, b = payload(SMALL, seed=25), payload(SMALL, seed=26)
    url_a = server.add("/version-a.bin", a, rate=FAST)
    url_b = server.add("/version-b.bin", b)
    out = downloads / "same-out.bin"
    _interrupt_at(server, "/version-a.bin", (url_a, "-o", out, "-t", "4"), 4 * MiB)
    second = run_get(url_b, "-o", out, "-t", "4")
    assert second.code == 0, second.describe()
    assert_saved(out, b)


def test_ctrl_c_while_every_connection_is_stalled(server: FaultServer, downloads: Path) -> None:
    """Reads blocked on a silent server must not delay the stop (no waiting for --timeout)."""
    data = payload(SMALL, seed=27)
    url = server.add("/stuck.bin", data, stall_after=200_000, stall_seconds=30)
    out = downloads / "stuck.bin"
    args = (url, "-o", out, "-t", "4", "--timeout", "20")
    proc = start_get(*args)
    try:
        wait_for(lambda: server.bytes_sent("/stuck.bin") >= 4 * 200_000, 10, "all to stall")
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
    first = finish(proc, 10)
    assert first.code != 0, first.describe()
    assert first.seconds < 3, f"took {first.seconds:.1f} s to stop"
    assert "resume" in first.stderr.lower(), first.describe()
    assert part_of(out).exists() and not out.exists()

    res = server.resource("/stuck.bin")
    res.stall_after = None
    server.reset_counters()
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert_saved(out, data)
    assert server.bytes_sent("/stuck.bin") <= SMALL - 4 * 200_000 + IN_FLIGHT_SLACK
