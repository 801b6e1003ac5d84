"""A rerun of a finished download fetches no body (as `wget -c` and `aria2c -c`), and a
new version on the server replaces the old file only once it is complete."""

from __future__ import annotations

from pathlib import Path

from rangetui.core.engine import Engine
from rangetui.core.types import Phase
from tests.cli_helpers import MiB, assert_saved, run_get
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

SIZE = 4 * MiB
PROBE_SLACK = 1024
"""What one probe may cost in body bytes (a 1-byte ranged GET)."""


def test_the_same_o_command_twice_fetches_nothing_the_second_time(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(SIZE, seed=1)
    url, out = server.add("/twice.bin", data), downloads / "twice.bin"
    assert run_get(url, "-o", out).code == 0
    sent = server.bytes_sent("/twice.bin")
    again = run_get(url, "-o", out)
    assert again.code == 0, again.describe()
    assert "already complete" in again.stderr, again.describe()
    assert server.bytes_sent("/twice.bin") - sent <= PROBE_SLACK
    assert_saved(out, data)


def test_the_same_d_command_twice_makes_no_second_copy(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(SIZE, seed=2)
    url = server.add("/copy.bin", data)
    assert run_get(url, "-d", downloads).code == 0
    sent = server.bytes_sent("/copy.bin")
    again = run_get(url, "-d", downloads)
    assert again.code == 0 and "already complete" in again.stderr, again.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["copy.bin"]
    assert server.bytes_sent("/copy.bin") - sent <= PROBE_SLACK


def test_a_new_version_on_the_server_replaces_the_file_and_says_so(
    server: FaultServer, downloads: Path
) -> None:
    url = server.add("/ver.bin", payload(SIZE, seed=3))
    assert run_get(url, "-d", downloads).code == 0
    newer = payload(SIZE + 1000, seed=4)
    server.resource("/ver.bin").replace_data(newer)
    again = run_get(url, "-d", downloads)
    assert again.code == 0, again.describe()
    assert "fetching the new version" in again.stderr, again.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["ver.bin"]
    assert_saved(downloads / "ver.bin", newer)


def test_a_file_edited_here_is_never_taken_for_the_finished_one(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(SIZE, seed=5)
    url = server.add("/edited.bin", data)
    assert run_get(url, "-d", downloads).code == 0
    with open(downloads / "edited.bin", "r+b") as f:
        f.write(b"mine")  # same size, other bytes: the user's file now
    again = run_get(url, "-d", downloads)
    assert again.code == 0, again.describe()
    assert "already complete" not in again.stderr, again.describe()
    assert (downloads / "edited.bin").read_bytes()[:4] == b"mine", "the user's edit was lost"
    assert_saved(downloads / "edited (1).bin", data)


def test_adding_a_url_whose_file_is_complete_here_marks_it_done(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/queued.bin", payload(SIZE, seed=6))
    first = engine.add(url, downloads)
    wait_job(engine, first, lambda j: j.status is Phase.DONE)
    sent = server.bytes_sent("/queued.bin")
    second = engine.add(url, downloads)
    assert second != first
    done = wait_job(engine, second, lambda j: j.status is Phase.DONE)
    assert done.target == str(downloads / "queued.bin")
    assert server.bytes_sent("/queued.bin") - sent <= PROBE_SLACK
