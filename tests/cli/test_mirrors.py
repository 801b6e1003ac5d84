"""Mirrors through the real `rangetui get`: two (or three) servers on 127.0.0.1.

Pass or fail rests on bytes and log lines, never on time: the URL's server is paced so
that a download lasts long enough for a mirror's check to end before it, on any box.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from rangetui.core.mirrors import SAMPLE_BYTES
from tests.cli_helpers import (
    MiB,
    Result,
    assert_clean_failure,
    assert_saved,
    closed_port,
    finish,
    part_of,
    run_get,
    start_get,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

SIZE = 16 * MiB
SAMPLES = 2 * SAMPLE_BYTES
"""What a mirror's check reads from each server."""


@pytest.fixture(scope="module")
def data() -> bytes:
    return payload(SIZE, seed=7)


def fetch_mirrored(url: str, other: str, tmp_path: Path, data: bytes, *flags: str) -> Result:
    """`get URL --mirror OTHER`, which must succeed with exactly ``data``."""
    out = tmp_path / "f.bin"
    result = run_get(url, "--mirror", other, "-o", out, *flags)
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    return result


def test_two_agreeing_servers_both_serve_and_the_file_is_exact(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    url = server.add("/f.bin", data, rate=MiB)
    other = mirror.add("/f.bin", data, rate=MiB)
    result = fetch_mirrored(url, other, tmp_path, data, "-t", "8")
    assert "agrees with the URL" in result.stderr, result.describe()
    assert mirror.bytes_sent("/f.bin") > SAMPLES, "the mirror served no file bytes"
    assert server.bytes_sent("/f.bin") > SAMPLES


def test_a_mirror_of_another_size_is_dropped(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    url = server.add("/f.bin", data, rate=4 * MiB)
    other = mirror.add("/f.bin", data[:-1])
    result = fetch_mirrored(url, other, tmp_path, data)
    assert f"has {SIZE - 1} bytes where the URL has {SIZE}" in result.stderr, result.describe()
    assert mirror.bytes_sent("/f.bin") <= 1, "no more than its one-byte probe"


def test_a_mirror_with_other_bytes_of_the_same_size_is_dropped(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """Same size, same dates: only the sampled bytes tell the two files apart."""
    url = server.add("/f.bin", data, rate=4 * MiB, etag=None)
    other = mirror.add("/f.bin", payload(SIZE, seed=8), etag=None)
    result = fetch_mirrored(url, other, tmp_path, data)
    assert "serves other bytes than the URL" in result.stderr, result.describe()
    assert mirror.bytes_sent("/f.bin") <= SAMPLES, "a disagreeing mirror served file bytes"


@pytest.mark.parametrize("fault", ["404", "refused", "drops"])
def test_a_failing_mirror_is_retired_and_the_other_finishes(
    fault: str, server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    # A dropping mirror is measured on its probation connection alone for its first
    # second, so its third failure in a row comes later than a 404's or a refusal's:
    # the URL is paced for 8 s rather than 4 so that the download outlasts it.
    url = server.add("/f.bin", data, rate=256 * 1024 if fault == "drops" else 512 * 1024)
    if fault == "404":
        other = mirror.url("/missing.bin")
    elif fault == "refused":
        other = f"http://127.0.0.1:{closed_port()}/f.bin"
    else:  # passes the check (64 KiB samples), then drops every longer answer
        other = mirror.add("/f.bin", data, drop_after=200_000)
    result = fetch_mirrored(url, other, tmp_path, data, "-t", "8")
    said = {"404": "404", "refused": "connection refused", "drops": "fetching from the others"}
    mirror_lines = [line for line in result.lines if "mirror http://127.0.0.1" in line]
    assert any(said[fault] in line for line in mirror_lines), result.describe()


def test_a_fast_mirror_of_a_slow_url_serves_a_small_file(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """Eight 2 MiB segments of 1 MiB blocks cannot be cut, so before, the mirror's
    probation found no range and the URL (64 s at its pace) served the whole file; now
    the probation takes a range on its samples' speed, and the mirror serves most of it."""
    url = server.add("/f.bin", data, rate=32 * 1024)
    other = mirror.add("/f.bin", data, rate=512 * 1024)
    result = fetch_mirrored(url, other, tmp_path, data, "-t", "8")
    assert "far slower than the fastest server" in result.stderr, result.describe()
    assert mirror.bytes_sent("/f.bin") > SIZE // 2, result.describe()


def test_the_url_benched_for_being_slow_comes_back_when_the_mirror_fails(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """The URL is 16x slower per connection: the mirror's probation races one of its
    connections for its range (segments of 2 MiB cannot be cut in 1 MiB blocks), and
    once measured takes every connection. Then the mirror drops every new answer at
    once. Before, the URL stayed out and the download failed on the mirror; now it
    comes back and finishes the file. The mirror's answers end at 1.5 MiB from the
    start (3 s), so that no request of its can deliver a whole segment."""
    url = server.add("/f.bin", data, rate=32 * 1024)
    other = mirror.add("/f.bin", data, rate=512 * 1024, drop_after=3 * MiB // 2)
    out = tmp_path / "f.bin"
    proc = start_get(url, "--mirror", other, "-o", out, "-t", "8")

    def benched() -> bool:
        return mirror.bytes_sent("/f.bin") > SAMPLES + MiB and not server.serving("/f.bin")

    wait_for(benched, 60, "the URL to lose its connections to the mirror")
    mirror.resource("/f.bin").drop_after = 0
    server.resource("/f.bin").rate = None
    result = finish(proc, 120)
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert "far slower than the fastest server" in result.stderr, result.describe()
    back = [line for line in result.lines if "back in use" in line]
    assert back and "the URL http://127.0.0.1" in back[0], result.describe()


def test_a_slow_mirror_serves_less_than_the_fast_server(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    url = server.add("/f.bin", data, rate=MiB)
    other = mirror.add("/f.bin", data, rate=128 * 1024)
    result = fetch_mirrored(url, other, tmp_path, data, "-t", "8")
    assert "agrees with the URL" in result.stderr, result.describe()
    assert mirror.bytes_sent("/f.bin") < server.bytes_sent("/f.bin") // 4


def test_a_mirror_far_slower_in_its_samples_gets_no_connection(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """32x slower per connection: its samples (2 s against 62 ms) already say so, so it
    never holds one of the download's connections for the second a measurement takes.
    Two connections make the download (4 s) outlast the check."""
    url = server.add("/f.bin", data, rate=2 * MiB)
    other = mirror.add("/f.bin", data, rate=64 * 1024)
    result = fetch_mirrored(url, other, tmp_path, data, "-t", "2", "--fixed")
    assert "far slower than the URL" in result.stderr, result.describe()
    assert "agrees with the URL" not in result.stderr, result.describe()
    assert mirror.bytes_sent("/f.bin") <= 1 + SAMPLES, "more than its probe and samples"


def test_a_mirror_on_a_full_host_is_measured_on_one_of_the_count(
    server: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """The mirror is on the URL's own host, which `--max-per-host 4` fills with the
    count: no slot for a probation connection on top, so one of the four measures it
    (before, it was never measured and never used)."""
    url = server.add("/f.bin", data, rate=MiB)
    other = server.add("/mirror/f.bin", data, rate=MiB)
    result = fetch_mirrored(url, other, tmp_path, data, "-t", "4", "--fixed", "--max-per-host", "4")
    assert "agrees with the URL" in result.stderr, result.describe()
    assert server.bytes_sent("/mirror/f.bin") > 1 + SAMPLES, "the mirror served no file bytes"


def test_tab_separated_mirrors_on_an_input_line(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    url = server.add("/f.bin", data, rate=MiB)
    other = mirror.add("/f.bin", data, rate=MiB)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{url}\t{other}\n  out=named.bin\n", encoding="utf-8")
    result = run_get("-i", listing, "-d", tmp_path)
    assert result.code == 0, result.describe()
    assert_saved(tmp_path / "named.bin", data)
    assert mirror.bytes_sent("/f.bin") > SAMPLES, result.describe()


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["http://127.0.0.1:1/b.bin"], "give exactly one URL"),
        (["--mirror=ftp://127.0.0.1/f.bin"], "not an http or https URL"),
    ],
)
def test_mirror_usage_errors_are_one_line(
    server: FaultServer, extra: list[str], said: str, tmp_path: Path
) -> None:
    url = server.add("/f.bin", b"x" * 100)
    result = run_get(url, *extra, "--mirror", "http://127.0.0.1:1/f.bin", "-d", tmp_path)
    assert_clean_failure(result, max_lines=1)
    assert result.code == 2 and said in result.stderr, result.describe()


def test_a_resumed_download_keeps_its_mirror(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """Interrupted, then run again without --mirror: the saved map remembers it."""
    url = server.add("/f.bin", data, rate=256 * 1024)
    other = mirror.add("/f.bin", data, rate=256 * 1024)
    out = tmp_path / "f.bin"
    proc = start_get(url, "--mirror", other, "-o", out, "-t", "4")
    wait_for(lambda: mirror.bytes_sent("/f.bin") > SAMPLES + MiB, 30, "the mirror's bytes")
    proc.send_signal(signal.SIGINT)
    first = finish(proc, 30)
    assert first.code == 130, first.describe()
    assert part_of(out).exists()
    server.reset_counters()
    mirror.reset_counters()
    server.resource("/f.bin").rate = mirror.resource("/f.bin").rate = MiB
    second = run_get(url, "-o", out, "-t", "4")
    assert second.code == 0, second.describe()
    assert_saved(out, data)
    assert "resuming" in second.stderr, second.describe()
    assert mirror.bytes_sent("/f.bin") > SAMPLES, second.describe()
    fetched = server.bytes_sent("/f.bin") + mirror.bytes_sent("/f.bin")
    assert fetched < SIZE - MiB, "the rerun fetched the saved bytes again"


def test_the_samples_do_not_throw_away_the_probes_first_block(
    server: FaultServer, mirror: FaultServer, data: bytes, tmp_path: Path
) -> None:
    """The URL's samples are read on another connection than the probe's, whose open
    first block the first worker reads on: byte 0 is asked for once."""
    url = server.add("/f.bin", data, rate=4 * MiB)
    other = mirror.add("/f.bin", data, rate=4 * MiB)
    fetch_mirrored(url, other, tmp_path, data, "-t", "4")
    sample_at_zero = f"bytes=0-{SAMPLE_BYTES - 1}"  # a random sample may start there
    asked = [r.range or "" for r in server.requests]
    from_zero = [r for r in asked if r.startswith("bytes=0-") and r != sample_at_zero]
    assert from_zero == ["bytes=0-1048575"], asked
