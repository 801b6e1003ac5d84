"""How big each ranged GET is: the probe's own answer never sizes the next request.

The probe asks for the first block before any worker exists, and its body is often in
the socket's buffer by the time a worker reads it (or is one byte, on a resume): the
rate of that read is no rate at all. Before, the first worker's next request leapt to
the largest size, which a server that throttles each request after a burst (nginx's
limit_rate) serves slowest.
"""

from __future__ import annotations

import re
from pathlib import Path

from rangetui.core.tuning import FIRST_REQUEST_BYTES
from tests.cli_helpers import MiB, assert_saved, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer


def _ranges(server: FaultServer, route: str) -> list[tuple[int, int]]:
    found = []
    for r in list(server.requests):
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", r.range or "")
        if r.method == "GET" and r.route == route and m:
            found.append((int(m[1]), int(m[2]) + 1))
    return found


def test_the_request_after_the_probe_is_the_first_size(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(24 * MiB, seed=51)
    url = server.add("/sized.bin", data)
    result = run_get(url, "-d", downloads, "-t", "1", "--fixed")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "sized.bin", data)
    ranges = _ranges(server, "/sized.bin")
    assert ranges[0] == (0, MiB), "the probe asks for the first block"
    assert ranges[1] == (MiB, MiB + FIRST_REQUEST_BYTES), ranges
