"""A server that sends no ETag and no Last-Modified (lighttpd's default, many embedded
servers): saved bytes are trusted only when a sample of them still matches the server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.cli_helpers import MiB, assert_saved, run_get, start_get, wait_for
from tests.conftest import payload
from tests.faultserver import FaultServer

SIZE = 8 * MiB


def interrupted(server: FaultServer, route: str, out: Path) -> None:
    """A run killed -9 after its first checkpoint has saved some progress."""
    proc = start_get(server.url(route), "-o", out, "-t", "4", "-q")
    wait_for(lambda: server.bytes_sent(route) >= 2 * MiB, 20, "2 MiB served")
    time.sleep(1.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)


def test_a_same_size_file_replaced_behind_no_validators_is_never_spliced(
    server: FaultServer, downloads: Path
) -> None:
    route, out = "/novalid.bin", downloads / "novalid.bin"
    server.add(route, payload(SIZE, seed=1), etag=None, last_modified=None, rate=512 * 1024)
    interrupted(server, route, out)
    newer = payload(SIZE, seed=2)
    res = server.resource(route)
    res.replace_data(newer, etag=None)
    res.rate = None
    result = run_get(server.url(route), "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert "the saved bytes differ" in result.stderr, result.describe()
    assert_saved(out, newer)


def test_an_unchanged_file_behind_no_validators_still_resumes(
    server: FaultServer, downloads: Path
) -> None:
    route, out = "/same.bin", downloads / "same.bin"
    data = payload(SIZE, seed=3)
    server.add(route, data, etag=None, last_modified=None, rate=512 * 1024)
    interrupted(server, route, out)
    before = server.bytes_sent(route)
    server.resource(route).rate = None
    result = run_get(server.url(route), "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert "resuming" in result.stderr and "differ" not in result.stderr, result.describe()
    assert_saved(out, data)
    assert server.bytes_sent(route) - before < SIZE, "the resume fetched the whole file again"


def test_a_server_without_ranges_is_said_to_restart_on_interruption(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(MiB, seed=4)
    url = server.add("/norange.bin", data, accept_ranges=False)
    result = run_get(url, "-o", downloads / "norange.bin")
    assert result.code == 0, result.describe()
    assert "an interruption starts over" in result.stderr, result.describe()
    assert_saved(downloads / "norange.bin", data)
