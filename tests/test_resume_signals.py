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
    ("signum", "trigger"),
    [(signal.SIGINT, 8 * MiB), (signal.SIGTERM, 8 * MiB), (signal.SIGKILL, 11 * MiB)],
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_interrupt_then_resume(
    server: FaultServer, downloads: Path, signum: signal.Signals, trigger: int
) -> None:
    data = payload(SIZE, seed=int(signum))
    url = server.add("/resume.bin", data, rate=RATE)
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

    proc = start_get(*args)
    try:
        wait_for(lambda: server.bytes_sent("/slowlink.bin") >= 2 * MiB, 15, "2 MiB to be sent")
    finally:
        proc.send_signal(signal.SIGINT)
    first = finish(proc, 10)
    assert first.code != 0, first.describe()
    sent_before = server.bytes_sent("/slowlink.bin")

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
    data = payload(SIZE, seed=5)
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
    """Without -o the rerun must find the running download's name, not make `name (1)`.

    The second run starts after the first has checkpointed (about every second), so
    the running download's progress is on record and its name is known to be taken.
    """
    data = payload(SIZE, seed=6)
    url = server.add("/twice-d.bin", data, rate=RATE)
    args = (url, "-d", downloads, "-t", str(CONNS))

    started = time.monotonic()
    first = start_get(*args)
    try:
        wait_for(lambda: len(range_gets(server, "/twice-d.bin")) >= CONNS, 10, "the first run")
        time.sleep(1.5)
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

    proc = start_get(*args)
    try:
        wait_for(lambda: server.bytes_sent("/named.bin") >= 6 * MiB, 10, "6 MiB to be sent")
    finally:
        proc.send_signal(signal.SIGINT)
    first = finish(proc, 10)
    assert first.code != 0, first.describe()
    sent_before = server.bytes_sent("/named.bin")

    server.resource("/named.bin").rate = None
    server.reset_counters()
    second = run_get(*args)
    assert second.code == 0, second.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["named.bin"]
    assert_saved(downloads / "named.bin", data)
    assert server.bytes_sent("/named.bin") <= SIZE - sent_before + IN_FLIGHT_SLACK
