"""How big each ranged GET is after the probe: the probe's answer, already buffered when
a worker reads it, may at most double the next request (a burst is not a speed), and a
resume's one-byte probe does not shrink it.
"""

from __future__ import annotations

from pathlib import Path

from rangetui.core.tuning import FIRST_REQUEST_BYTES
from tests.cli_helpers import MiB, assert_saved, range_gets, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer


def _ranges(server: FaultServer, route: str) -> list[tuple[int, int]]:
    """Each GET's ``[start, end)``, in order (from the project's ``range_gets``)."""
    pairs = (header.removeprefix("bytes=").split("-") for header in range_gets(server, route))
    return [(int(a), int(b) + 1) for a, b in pairs]


def test_the_request_after_the_probe_at_most_doubles(server: FaultServer, downloads: Path) -> None:
    data = payload(24 * MiB, seed=51)
    url = server.add("/sized.bin", data)
    result = run_get(url, "-d", downloads, "-t", "1", "--fixed")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "sized.bin", data)
    ranges = _ranges(server, "/sized.bin")
    assert ranges[0] == (0, MiB), "the probe asks for the first block"
    assert ranges[1] == (MiB, MiB + 2 * FIRST_REQUEST_BYTES), ranges


def test_a_rerun_of_a_finished_small_file_asks_twice_not_four_times(
    server: FaultServer, downloads: Path
) -> None:
    """A rerun into a cleaned directory finds the finished record, so it probes with one
    byte; the rest of the file is then one request of the first size."""
    data = payload(MiB, seed=52)
    url = server.add("/again.bin", data)
    assert run_get(url, "-d", downloads).code == 0
    (downloads / "again.bin").unlink()
    server.reset_counters()
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "again.bin", data)
    assert _ranges(server, "/again.bin") == [(0, 1), (1, MiB)]
