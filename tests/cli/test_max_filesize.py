"""--max-filesize (L12): a file over the cap is refused before a byte is written, and a
body of unknown length that never ends stops at the cap instead of filling the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_clean_failure, assert_saved, part_of, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer

pytestmark = pytest.mark.timeout(60)


def test_a_stated_length_over_the_cap_is_refused_before_a_byte(
    server: FaultServer, downloads: Path
) -> None:
    url = server.add("/big.bin", payload(8 * MiB))
    out = downloads / "big.bin"
    result = run_get(url, "-o", out, "--max-filesize", "4M")
    assert_clean_failure(result, max_lines=1)
    assert "larger than --max-filesize 4.0 MiB" in result.stderr, result.describe()
    assert "8.0 MiB" in result.stderr, result.describe()
    assert not out.exists() and not part_of(out).exists()
    gets = [r for r in server.requests if r.route == "/big.bin"]
    assert len(gets) == 1, "only the probe asked: no connection fetched a range"


def test_a_file_within_the_cap_downloads(server: FaultServer, downloads: Path) -> None:
    data = payload(4 * MiB, seed=3)
    url = server.add("/fits.bin", data)
    out = downloads / "fits.bin"
    result = run_get(url, "-o", out, "--max-filesize", "4M")
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_an_endless_body_of_unknown_length_stops_at_the_cap(
    server: FaultServer, downloads: Path
) -> None:
    url = server.add(
        "/endless", b"", accept_ranges=False, send_length=False, endless=True, rate=32 * MiB
    )
    out = downloads / "endless.bin"
    result = run_get(url, "-o", out, "--max-filesize", "3M", timeout=30)
    assert_clean_failure(result)
    assert "more than --max-filesize 3.0 MiB" in result.stderr, result.describe()
    assert not out.exists(), "a cut-off body is not a finished file"
    kept = part_of(out).stat().st_size
    assert 3 * MiB < kept <= 4 * MiB + MiB, f"{kept} bytes kept"
    assert server.bytes_sent("/endless") < 16 * MiB, "it read on after the cap"


def test_a_known_length_in_a_no_range_answer_is_checked_too(
    server: FaultServer, downloads: Path
) -> None:
    url = server.add("/whole.bin", payload(6 * MiB), accept_ranges=False)
    out = downloads / "whole.bin"
    result = run_get(url, "-o", out, "--max-filesize", "1M")
    assert_clean_failure(result, max_lines=1)
    assert "larger than --max-filesize" in result.stderr, result.describe()
    assert not part_of(out).exists()
