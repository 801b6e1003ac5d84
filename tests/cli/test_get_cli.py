"""Black-box tests of the `rangetui get` command-line contract (DESIGN.md, "Contract").

Every test runs the real command in a subprocess against the real fault-injecting
server on 127.0.0.1 and judges only the exit code, the output, the files on disk
and what the server saw.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.cli_helpers import (
    GET,
    MiB,
    assert_clean_failure,
    assert_saved,
    cli_env,
    closed_port,
    finish,
    part_of,
    range_gets,
    run_get,
    sha256,
    start_get,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

pytestmark = pytest.mark.timeout(60)


def _ranges_overlap_in_time(server: FaultServer, route: str) -> int:
    """How many distinct client connections sent Range GETs for ``route``."""
    return len(
        {
            r.client_port
            for r in list(server.requests)
            if r.method == "GET" and r.route == route and r.range and r.status == 206
        }
    )


# --------------------------------------------------------------------------- #
# The happy path: parallel connections, an atomic OUT
# --------------------------------------------------------------------------- #


def test_eight_connections_on_20_mib(server: FaultServer, downloads: Path) -> None:
    """Eight connections share the file. Each is throttled by the server (5 s for one
    alone): unthrottled, loopback serves 20 MiB before a loaded machine starts the last
    workers, and fewer distinct connections proved nothing wrong."""
    data = payload(20 * MiB, seed=11)
    url = server.add("/big.bin", data, rate=4 * MiB)
    out = downloads / "big.bin"
    result = run_get(url, "-o", out, "-t", "8", "--fixed")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    ranges = range_gets(server, "/big.bin")
    assert len(ranges) >= 8, ranges
    assert _ranges_overlap_in_time(server, "/big.bin") >= 6
    # Not one of those requests asked for the whole file from 0.
    assert f"bytes=0-{len(data) - 1}" not in ranges


def test_connections_really_run_at_once(server: FaultServer, downloads: Path) -> None:
    """With each connection throttled by the server, 4 connections must overlap in time."""
    data = payload(4 * MiB, seed=12)
    url = server.add("/slow4.bin", data, rate=2 * MiB)
    out = downloads / "slow4.bin"
    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert _ranges_overlap_in_time(server, "/slow4.bin") >= 4
    # One connection at 2 MiB/s would need 2 s; four in parallel need about 0.5 s.
    assert result.seconds < 1.8, result.describe()


def test_quiet_prints_nothing_on_success(server: FaultServer, downloads: Path) -> None:
    data = payload(1 * MiB, seed=13)
    url = server.add("/q.bin", data)
    out = downloads / "q.bin"
    result = run_get("-q", url, "-o", out)
    assert result.code == 0, result.describe()
    assert result.stdout == ""
    assert result.stderr == ""
    assert_saved(out, data)


# --------------------------------------------------------------------------- #
# Where the file lands: -o, -d, names from the server or URL
# --------------------------------------------------------------------------- #


def test_output_relative_to_dir(server: FaultServer, downloads: Path, tmp_path: Path) -> None:
    data = payload(300_000, seed=21)
    url = server.add("/x.bin", data)
    result = run_get(url, "-d", downloads, "-o", "renamed.dat", cwd=tmp_path)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "renamed.dat", data)
    assert not (tmp_path / "renamed.dat").exists()


def test_a_missing_dir_is_made_with_its_parents(server: FaultServer, downloads: Path) -> None:
    """As aria2c -d and wget -P do: a list into a new directory is not 200 errors."""
    urls = [server.add(f"/m{i}.bin", payload(100_000, seed=40 + i)) for i in range(3)]
    where = downloads / "new" / "deeper"
    result = run_get(*urls, "-d", where, "-j", "2")
    assert result.code == 0, result.describe()
    for i in range(3):
        assert_saved(where / f"m{i}.bin", payload(100_000, seed=40 + i))


def test_a_dir_that_cannot_be_made_is_one_error_before_any_request(
    server: FaultServer, downloads: Path
) -> None:
    urls = [server.add(f"/n{i}.bin", payload(1000, seed=i)) for i in range(3)]
    (downloads / "plain").write_bytes(b"a file, not a directory")
    result = run_get(*urls, "-d", downloads / "plain" / "sub")
    assert result.code != 0, result.describe()
    assert result.lines == [
        f"rangetui: error: cannot create the directory {downloads}/plain/sub: Not a directory"
    ], result.describe()
    assert server.requests == [], "nothing is asked for before the directory exists"


def test_output_relative_to_cwd_without_dir(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    data = payload(300_000, seed=22)
    url = server.add("/y.bin", data)
    result = run_get(url, "-o", "here.dat", cwd=downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "here.dat", data)


def test_name_from_url_path_percent_decoded(server: FaultServer, downloads: Path) -> None:
    data = payload(200_000, seed=23)
    server.add("/files/my report.pdf", data)
    url = server.url("/files/my%20report.pdf?token=abc")
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["my report.pdf"]
    assert_saved(downloads / "my report.pdf", data)


def test_name_from_content_disposition(server: FaultServer, downloads: Path) -> None:
    data = payload(200_000, seed=24)
    url = server.add("/dl", data, content_disposition='attachment; filename="report-2024.csv"')
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "report-2024.csv", data)


def test_filename_star_wins_over_filename(server: FaultServer, downloads: Path) -> None:
    data = payload(200_000, seed=25)
    header = "attachment; filename=\"plain.bin\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.bin"
    url = server.add("/cd", data, content_disposition=header)
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["résumé final.bin"]
    assert_saved(downloads / "résumé final.bin", data)


def test_filename_star_first_even_when_listed_second_in_other_order(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(100_000, seed=26)
    header = "attachment; filename*=UTF-8''%E2%82%AC-rates.txt; filename=\"EUR-rates.txt\""
    url = server.add("/cd2", data, content_disposition=header)
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "€-rates.txt", data)


@pytest.mark.parametrize(
    "header",
    [
        'attachment; filename="../../evil.sh"',
        "attachment; filename*=UTF-8''..%2F..%2Fevil.sh",
    ],
)
def test_hostile_name_stays_inside_dir(server: FaultServer, tmp_path: Path, header: str) -> None:
    data = payload(100_000, seed=27)
    base = tmp_path / "a" / "b"
    target_dir = base / "dl"
    target_dir.mkdir(parents=True)
    url = server.add("/hostile", data, content_disposition=header)
    before = {p for p in tmp_path.rglob("*") if "state" not in p.parts}
    result = run_get(url, "-d", target_dir, cwd=target_dir)
    assert result.code == 0, result.describe()
    created = {p for p in tmp_path.rglob("*") if "state" not in p.parts} - before
    assert created, "nothing was saved"
    assert all(p.parent == target_dir for p in created), created
    assert not Path("/etc/evil.sh").exists()
    (saved,) = created
    assert saved.name.endswith("evil.sh") and not saved.name.startswith(".")
    assert_saved(saved, data)


def test_existing_file_is_not_overwritten(server: FaultServer, downloads: Path) -> None:
    data = payload(150_000, seed=28)
    url = server.add("/data.tar.gz", data)
    (downloads / "data.tar.gz").write_bytes(b"precious")
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert (downloads / "data.tar.gz").read_bytes() == b"precious"
    new = [p.name for p in downloads.iterdir() if p.name != "data.tar.gz"]
    assert len(new) == 1, new
    assert re.fullmatch(r"data(\.tar)? \(1\)(\.tar)?\.gz", new[0]), new
    assert_saved(downloads / new[0], data)
    # And a second time: (2).
    again = run_get(url, "-d", downloads)
    assert again.code == 0, again.describe()
    assert len(list(downloads.iterdir())) == 3
    assert (downloads / "data.tar.gz").read_bytes() == b"precious"


def test_existing_simple_name_gets_suffix_one(server: FaultServer, downloads: Path) -> None:
    data = payload(150_000, seed=29)
    url = server.add("/report.pdf", data)
    (downloads / "report.pdf").write_bytes(b"old")
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert (downloads / "report.pdf").read_bytes() == b"old"
    assert_saved(downloads / "report (1).pdf", data)


# --------------------------------------------------------------------------- #
# Several URLs, -i FILE
# --------------------------------------------------------------------------- #


def test_several_urls_in_one_command(server: FaultServer, downloads: Path) -> None:
    files = {f"/multi{i}.bin": payload(200_000 + i * 1000, seed=30 + i) for i in range(3)}
    urls = [server.add(path, data) for path, data in files.items()]
    result = run_get(*urls, "-d", downloads)
    assert result.code == 0, result.describe()
    for path, data in files.items():
        assert_saved(downloads / path.lstrip("/"), data)


def test_input_file_with_comments_and_blank_lines(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    a, b = payload(120_000, seed=41), payload(130_000, seed=42)
    url_a, url_b = server.add("/in-a.bin", a), server.add("/in-b.bin", b)
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# my downloads\n\n{url_a}\n   \n  # {url_b}x\n{url_b}\n\n")
    result = run_get("-i", listing, "-d", downloads)
    assert result.code == 0, result.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["in-a.bin", "in-b.bin"]
    assert_saved(downloads / "in-a.bin", a)
    assert_saved(downloads / "in-b.bin", b)


def test_failing_url_among_good_ones(server: FaultServer, downloads: Path) -> None:
    a, b = payload(120_000, seed=43), payload(130_000, seed=44)
    url_a, url_b = server.add("/good-a.bin", a), server.add("/good-b.bin", b)
    missing = server.url("/missing.bin")
    result = run_get(url_a, missing, url_b, "-d", downloads)
    assert result.code != 0, result.describe()
    assert_saved(downloads / "good-a.bin", a)
    assert_saved(downloads / "good-b.bin", b)
    assert not (downloads / "missing.bin").exists()
    assert "404" in result.stderr or "missing" in result.stderr


def test_output_with_several_urls_is_refused(server: FaultServer, downloads: Path) -> None:
    url_a = server.add("/o1.bin", payload(1000))
    url_b = server.add("/o2.bin", payload(1000))
    result = run_get(url_a, url_b, "-o", downloads / "one.bin")
    assert_clean_failure(result)


# --------------------------------------------------------------------------- #
# --checksum, --header
# --------------------------------------------------------------------------- #


def test_checksum_good(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=51)
    url = server.add("/sum.bin", data)
    out = downloads / "sum.bin"
    result = run_get(url, "-o", out, "--checksum", f"sha256={sha256(data).upper()}")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert result.stderr.strip(), "a successful run without -q should report something"


def test_checksum_wrong(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=53)
    url = server.add("/badsum.bin", data)
    out = downloads / "badsum.bin"
    result = run_get("-q", url, "-o", out, "--checksum", f"sha256={sha256(b'other')}")
    assert result.code != 0, result.describe()
    assert len(result.lines) == 1, result.describe()
    assert "sha256" in result.stderr.lower() or "checksum" in result.stderr.lower()
    assert not out.exists()


def test_header_reaches_the_server(server: FaultServer, downloads: Path) -> None:
    data = payload(3 * MiB, seed=54)
    url = server.add("/hdr.bin", data)
    out = downloads / "hdr.bin"
    result = run_get(url, "-o", out, "-t", "4", "--header", "X-Token: abc", "--header", "X-B:c d")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    gets = [r for r in list(server.requests) if r.route == "/hdr.bin"]
    assert gets
    assert all(r.header("X-Token") == "abc" for r in gets), [r.headers for r in gets]
    assert all(r.header("X-B") == "c d" for r in gets)
    assert all((r.header("Accept-Encoding") or "identity") == "identity" for r in gets)


# --------------------------------------------------------------------------- #
# Faults the server injects
# --------------------------------------------------------------------------- #


def test_dropped_connections_are_retried(server: FaultServer, downloads: Path) -> None:
    data = payload(4 * MiB, seed=61)
    url = server.add("/drop.bin", data, drop_after=300_000, drop_times=3)
    out = downloads / "drop.bin"
    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert server.resource("/drop.bin").drop_times == 0, "the drops never fired"


def test_short_bodies_are_retried(server: FaultServer, downloads: Path) -> None:
    data = payload(4 * MiB, seed=62)
    url = server.add("/short.bin", data, short_body=100_000, drop_times=3)
    out = downloads / "short.bin"
    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert server.resource("/short.bin").drop_times == 0


def test_503_with_retry_after(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=63)
    url = server.add("/busy.bin", data, fail_statuses=[503, 503], retry_after="1")
    out = downloads / "busy.bin"
    result = run_get(url, "-o", out, "-t", "2")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert server.resource("/busy.bin").fail_statuses == []
    assert result.seconds >= 0.9, "Retry-After: 1 was not honoured"
    assert result.seconds < 15


def test_stalled_connection_times_out(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=64)
    url = server.add("/stall.bin", data, stall_after=100_000, stall_seconds=30, drop_times=1)
    out = downloads / "stall.bin"
    result = run_get(url, "-o", out, "-t", "2", "--timeout", "1")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert server.resource("/stall.bin").drop_times == 0, "the stall never happened"
    assert result.seconds < 12, result.describe()


@pytest.mark.parametrize("lying_head", [False, True], ids=["honest", "head-claims-ranges"])
def test_no_range_support_falls_back_to_one_connection(
    server: FaultServer, downloads: Path, lying_head: bool
) -> None:
    data = payload(3 * MiB, seed=65)
    extra = {"Accept-Ranges": "bytes"} if lying_head else {}
    url = server.add("/norange.bin", data, accept_ranges=False, extra_headers=extra)
    out = downloads / "norange.bin"
    result = run_get(url, "-o", out, "-t", "8")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    if not lying_head:
        # A probe plus one whole-body GET at most: the fallback is one connection.
        assert server.get_count("/norange.bin") <= 2, [r.range for r in server.requests]


@pytest.mark.parametrize("accept_ranges", [True, False], ids=["ranges", "no-ranges"])
def test_no_content_length(server: FaultServer, downloads: Path, accept_ranges: bool) -> None:
    data = payload(3 * MiB, seed=66)
    url = server.add("/nolen.bin", data, send_length=False, accept_ranges=accept_ranges)
    out = downloads / "nolen.bin"
    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_head_405_is_not_fatal(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=67)
    url = server.add("/nohead.bin", data, head_status=405)
    out = downloads / "nohead.bin"
    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_head_403_is_not_fatal(server: FaultServer, downloads: Path) -> None:
    data = payload(1 * MiB, seed=68)
    url = server.add("/signed.bin", data, head_status=403)
    out = downloads / "signed.bin"
    result = run_get(url, "-o", out, "-t", "2")
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def _misplaced_bytes(part: Path, data: bytes) -> int:
    """Bytes of ``part`` that are neither unwritten (zero) nor the right data."""
    if not part.exists():
        return 0
    got = part.read_bytes()
    bad = 0
    block = 4096
    for i in range(0, min(len(got), len(data)), block):
        mine, right = got[i : i + block], data[i : i + block]
        if mine != right:
            bad += sum(1 for x, y in zip(mine, right, strict=False) if x and x != y)
    return bad + sum(1 for x in got[len(data) :] if x)


def test_wrong_content_range_is_never_written(server: FaultServer, downloads: Path) -> None:
    """Every 206 lies about its range: the bytes must not land anywhere; clear failure."""
    data = payload(1 * MiB, seed=69)
    url = server.add("/shift.bin", data, wrong_content_range=True)
    out = downloads / "shift.bin"
    result = run_get(url, "-o", out, "-t", "2", "--retries", "1", timeout=30)
    assert_clean_failure(result, max_lines=6)
    assert not out.exists()
    assert _misplaced_bytes(part_of(out), data) == 0


def test_wrong_content_range_for_a_while_then_correct(server: FaultServer, downloads: Path) -> None:
    """The first ranged answers lie; once the server behaves the file must be exact."""
    data = payload(2 * MiB, seed=70)
    url = server.add("/shift2.bin", data, wrong_content_range=True)
    res = server.resource("/shift2.bin")
    out = downloads / "shift2.bin"

    def heal() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(r.status == 206 for r in list(server.requests)):
                res.wrong_content_range = False
                return
            time.sleep(0.005)

    healer = threading.Thread(target=heal, daemon=True)
    healer.start()
    result = run_get(url, "-o", out, "-t", "4")
    healer.join()
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_extra_bytes_after_a_range_are_ignored(server: FaultServer, downloads: Path) -> None:
    data = payload(3 * MiB, seed=71)
    url = server.add("/extra.bin", data, extra_bytes=1000)
    out = downloads / "extra.bin"
    result = run_get(url, "-o", out, "-t", "4", "-s", "256K")
    assert result.code == 0, result.describe()
    assert_saved(out, data)


@pytest.mark.parametrize("accept_ranges", [True, False], ids=["ranges", "no-ranges"])
def test_content_encoding_is_never_decoded(
    server: FaultServer, downloads: Path, accept_ranges: bool
) -> None:
    raw = gzip.compress(payload(3 * MiB, seed=72) + bytes(2 * MiB), compresslevel=1)
    url = server.add(
        "/archive.tar.gz",
        raw,
        content_encoding="gzip",
        content_type="application/x-tar",
        accept_ranges=accept_ranges,
    )
    result = run_get(url, "-d", downloads, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "archive.tar.gz", raw)


def test_redirect_chain(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=73)
    server.add("/real/file.iso", data)
    server.add_redirect("/r2", "/real/file.iso", status=301)
    server.add_redirect("/r1", server.url("/r2"), status=302)
    server.add_redirect("/start", "/r1", status=307)
    result = run_get(server.url("/start"), "-d", downloads, "-t", "4")
    assert result.code == 0, result.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["file.iso"]
    assert_saved(downloads / "file.iso", data)


def test_redirect_loop_fails_cleanly(server: FaultServer, downloads: Path) -> None:
    server.add_redirect("/loop-a", "/loop-b")
    server.add_redirect("/loop-b", "/loop-a")
    result = run_get(server.url("/loop-a"), "-d", downloads, timeout=30)
    assert_clean_failure(result)
    assert "redirect" in result.stderr.lower()
    assert list(downloads.iterdir()) == []
    assert result.seconds < 10


# --------------------------------------------------------------------------- #
# User errors: non-zero, short message, never a traceback
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("status", [404, 401])
def test_http_errors(server: FaultServer, downloads: Path, status: int) -> None:
    url = server.add("/err.bin", payload(1000), status=status)
    out = downloads / "err.bin"
    result = run_get(url, "-o", out, timeout=30)
    assert_clean_failure(result)
    assert str(status) in result.stderr
    assert not out.exists()
    assert result.seconds < 10, "a client error must not be retried for long"


@pytest.mark.parametrize("url", ["ftp://x", "not a url", "http://"])
def test_bad_urls(downloads: Path, url: str) -> None:
    result = run_get(url, "-d", downloads, timeout=30)
    assert_clean_failure(result)
    assert list(downloads.iterdir()) == []
    assert result.seconds < 10


def test_connection_refused(downloads: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/file.bin"
    result = run_get(url, "-d", downloads, "--retries", "1", timeout=30)
    assert_clean_failure(result)
    assert "refused" in result.stderr.lower() or "connect" in result.stderr.lower()
    assert list(downloads.iterdir()) == []


def test_unwritable_dir_under_a_file(server: FaultServer, tmp_path: Path) -> None:
    url = server.add("/w.bin", payload(1000))
    blocker = tmp_path / "plainfile"
    blocker.write_bytes(b"x")
    result = run_get(url, "-d", blocker / "sub", timeout=30)
    assert_clean_failure(result)
    assert blocker.read_bytes() == b"x"


def test_unwritable_output_under_a_file(server: FaultServer, tmp_path: Path) -> None:
    url = server.add("/w2.bin", payload(1000))
    blocker = tmp_path / "plainfile"
    blocker.write_bytes(b"x")
    result = run_get(url, "-o", blocker / "sub" / "out.bin", timeout=30)
    assert_clean_failure(result)
    assert blocker.read_bytes() == b"x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a 0500 directory")
def test_unwritable_dir_by_permissions(server: FaultServer, tmp_path: Path) -> None:
    url = server.add("/w3.bin", payload(1000))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = run_get(url, "-d", locked, timeout=30)
    finally:
        locked.chmod(0o700)
    assert_clean_failure(result)


def test_output_is_a_directory(server: FaultServer, downloads: Path) -> None:
    url = server.add("/dir.bin", payload(1000))
    (downloads / "adir").mkdir()
    result = run_get(url, "-o", downloads / "adir", timeout=30)
    assert_clean_failure(result)
    assert (downloads / "adir").is_dir()


@pytest.mark.parametrize(
    "flags",
    [
        ["-t", "0"],
        ["-s", "12Q"],
        ["--checksum", "md5=x"],
        ["--limit-rate", "fast"],
        ["--header", "NoColonHere"],
        ["--no-such-flag"],
    ],
    ids=lambda f: " ".join(f),
)
def test_bad_flag_values(server: FaultServer, downloads: Path, flags: list[str]) -> None:
    url = server.add("/flags.bin", payload(1000))
    result = run_get(url, "-d", downloads, *flags, timeout=30)
    assert_clean_failure(result)
    assert list(downloads.iterdir()) == []
    assert server.requests == [], "bad flags must be refused before any request"


def test_no_url_at_all(downloads: Path) -> None:
    result = run_get("-d", downloads, timeout=30)
    assert_clean_failure(result)


def test_missing_input_file(downloads: Path, tmp_path: Path) -> None:
    result = run_get("-i", tmp_path / "nope.txt", "-d", downloads, timeout=30)
    assert_clean_failure(result)


# --------------------------------------------------------------------------- #
# --limit-rate, sizes with suffixes
# --------------------------------------------------------------------------- #


def test_limit_rate(server: FaultServer, downloads: Path) -> None:
    data = payload(3 * MiB, seed=81)
    url = server.add("/limited.bin", data)
    out = downloads / "limited.bin"
    result = run_get(url, "-o", out, "-t", "4", "--limit-rate", "1M")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert result.seconds >= 2.0, f"3 MiB at 1M/s took only {result.seconds:.2f} s"
    assert result.seconds < 8, result.describe()


def test_size_suffixes_are_accepted(server: FaultServer, downloads: Path) -> None:
    data = payload(3 * MiB, seed=82)
    url = server.add("/sfx.bin", data)
    out = downloads / "sfx.bin"
    result = run_get(url, "-o", out, "-t", "3", "-s", "512K", "-b", "64K", "--limit-rate", "1G")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    ranges = range_gets(server, "/sfx.bin")
    assert len(ranges) >= 3, ranges


# --------------------------------------------------------------------------- #
# --help and import hygiene: `get` never loads the TUI stack
# --------------------------------------------------------------------------- #


def test_help() -> None:
    proc = subprocess.run(
        [*GET, "--help"], env=cli_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    for flag in ("-o", "-d", "-t", "-s", "-b", "--checksum", "--header", "--limit-rate"):
        assert flag in proc.stdout
    for flag in ("--retries", "--timeout", "-i"):
        assert flag in proc.stdout


def _imported_modules(importtime_stderr: str) -> set[str]:
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name)
    return names


def _tui_modules(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in ("textual", "rich")}


def test_get_help_imports_no_textual() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rangetui", "get", "--help"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = _imported_modules(proc.stderr)
    assert "rangetui.cli" in names
    assert _tui_modules(names) == set()


def test_a_real_get_imports_no_textual(server: FaultServer, downloads: Path) -> None:
    data = payload(2 * MiB, seed=83)
    url = server.add("/imp.bin", data)
    out = downloads / "imp.bin"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rangetui", "get", "-q", url, "-o", str(out)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_saved(out, data)
    names = _imported_modules(proc.stderr)
    assert "rangetui.cli.get" in names
    assert _tui_modules(names) == set()


def test_core_never_imports_textual_or_rich() -> None:
    code = """
import importlib, pkgutil, sys
import rangetui.cli, rangetui.cli.get, rangetui.core
for mod in pkgutil.walk_packages(rangetui.core.__path__, "rangetui.core."):
    importlib.import_module(mod.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
core = sorted(m for m in sys.modules if m.startswith("rangetui.core."))
print(len(core))
if bad:
    raise SystemExit("imported: " + ", ".join(bad))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert int(proc.stdout.strip()) >= 5


# --------------------------------------------------------------------------- #
# The remote file changes: start over, never splice
# --------------------------------------------------------------------------- #


def _interrupt_midway(server: FaultServer, url: str, out: Path, route: str, *extra: str) -> None:
    """Start a slow run, stop it with SIGINT once it has real progress on disk."""
    started = time.monotonic()
    proc = start_get(url, "-o", out, "-t", "4", *extra)
    try:
        wait_for(lambda: server.bytes_sent(route) >= 4 * MiB, 10, "4 MiB to be sent")
    finally:
        proc.send_signal(signal.SIGINT)
    result = finish(proc, 10, started)
    assert result.code != 0, result.describe()
    assert not out.exists(), "OUT appeared although the run was interrupted"
    assert part_of(out).exists(), "no OUT.part kept after the interruption"


@pytest.mark.parametrize("what", ["etag", "size", "last-modified"])
def test_remote_changed_between_runs(server: FaultServer, downloads: Path, what: str) -> None:
    old = payload(16 * MiB, seed=91)
    etag_opts = {} if what == "etag" else {"etag": None}
    url = server.add("/changing.bin", old, rate=2 * MiB, **etag_opts)
    out = downloads / "changing.bin"
    _interrupt_midway(server, url, out, "/changing.bin")

    res = server.resource("/changing.bin")
    if what == "etag":
        new = payload(16 * MiB, seed=92)
        res.replace_data(new)
    elif what == "size":
        new = payload(16 * MiB - 12345, seed=93)
        res.replace_data(new, etag=None)
    else:
        new = payload(16 * MiB, seed=94)
        res.replace_data(new, etag=None)
        res.last_modified = "Thu, 22 Oct 2015 07:28:00 GMT"
    res.rate = None
    server.reset_counters()

    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, new)
    assert re.search(r"start(ing|ed)? over|changed", result.stderr, re.I), result.describe()


def test_remote_changes_during_a_run_is_never_spliced(server: FaultServer, downloads: Path) -> None:
    """New requests after the change carry If-Range and get the whole new file: start over."""
    old = payload(8 * MiB, seed=95)
    new = payload(8 * MiB, seed=96)
    url = server.add("/moving.bin", old, rate=2 * MiB, drop_after=512 * 1024, drop_times=4)
    res = server.resource("/moving.bin")
    out = downloads / "moving.bin"
    started = time.monotonic()
    proc = start_get(url, "-o", out, "-t", "4")
    try:
        wait_for(lambda: len(range_gets(server, "/moving.bin")) >= 4, 10, "4 range requests")
        res.replace_data(new)
    except BaseException:
        proc.kill()
        raise
    result = finish(proc, 40, started)
    assert result.code == 0, result.describe()
    assert_saved(out, new)
    if_ranges = [r.header("If-Range") for r in list(server.requests) if r.range]
    assert any(if_ranges), "ranged requests should carry If-Range"
    assert re.search(r"start(ing|ed)? over|changed", result.stderr, re.I), result.describe()


# --------------------------------------------------------------------------- #
# Edge cases of size, validators, names and the environment
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("size", [0, 1, 100])
def test_tiny_files_with_many_connections(server: FaultServer, downloads: Path, size: int) -> None:
    data = payload(size, seed=101) if size else b""
    url = server.add("/tiny.bin", data)
    out = downloads / "tiny.bin"
    result = run_get(url, "-o", out, "-t", "8")
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_empty_file_into_dir(server: FaultServer, downloads: Path) -> None:
    url = server.add("/empty.txt", b"", accept_ranges=False)
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "empty.txt", b"")


@pytest.mark.parametrize("last_modified", [True, False], ids=["with-lm", "without-lm"])
def test_weak_etag_still_allows_parallel_ranges(
    server: FaultServer, downloads: Path, last_modified: bool
) -> None:
    """A weak ETag must never go in If-Range (the server would then ignore every Range)."""
    data = payload(4 * MiB, seed=102)
    lm = {} if last_modified else {"last_modified": None}
    url = server.add("/weak.bin", data, etag='W/"weak-1"', **lm)
    out = downloads / "weak.bin"
    result = run_get(url, "-o", out, "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    ranged = [r for r in list(server.requests) if r.method == "GET" and r.range]
    assert all(not (r.header("If-Range") or "").startswith("W/") for r in ranged)
    assert sum(1 for r in ranged if r.status == 206) >= 2, [(r.range, r.status) for r in ranged]


def test_output_existing_file_is_replaced_when_complete(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(1 * MiB, seed=103)
    url = server.add("/replace.bin", data)
    out = downloads / "replace.bin"
    out.write_bytes(b"old content")
    result = run_get(url, "-o", out)
    assert result.code == 0, result.describe()
    assert_saved(out, data)


def test_output_existing_file_is_kept_when_download_fails(
    server: FaultServer, downloads: Path
) -> None:
    out = downloads / "keep.bin"
    out.write_bytes(b"old content")
    result = run_get(server.url("/gone.bin"), "-o", out, timeout=30)
    assert_clean_failure(result)
    assert out.read_bytes() == b"old content"


def test_same_name_from_two_urls_in_one_command(server: FaultServer, downloads: Path) -> None:
    a, b = payload(100_000, seed=104), payload(110_000, seed=105)
    url_a = server.add("/mirror-a/file.bin", a)
    url_b = server.add("/mirror-b/file.bin", b)
    result = run_get(url_a, url_b, "-d", downloads)
    assert result.code == 0, result.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["file (1).bin", "file.bin"]
    assert_saved(downloads / "file.bin", a)
    assert_saved(downloads / "file (1).bin", b)


def test_several_files_at_once_with_a_failure(server: FaultServer, downloads: Path) -> None:
    files = {f"/j{i}.bin": payload(300_000, seed=106 + i) for i in range(3)}
    urls = [server.add(path, data) for path, data in files.items()]
    urls.insert(1, server.url("/j-missing.bin"))
    result = run_get(*urls, "-d", downloads, "-j", "3")
    assert result.code != 0, result.describe()
    for path, data in files.items():
        assert_saved(downloads / path.lstrip("/"), data)


def test_input_from_stdin(server: FaultServer, downloads: Path) -> None:
    a = payload(100_000, seed=109)
    url = server.add("/stdin.bin", a)
    result = run_get("-i", "-", "-d", downloads, stdin=f"# from a pipe\n{url}\n")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "stdin.bin", a)


def test_limit_rate_on_a_single_stream(server: FaultServer, downloads: Path) -> None:
    data = payload(1 * MiB, seed=110)
    url = server.add("/limited1.bin", data, accept_ranges=False)
    out = downloads / "limited1.bin"
    result = run_get(url, "-o", out, "--limit-rate", "1M")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert result.seconds >= 0.7, f"1 MiB at 1M/s took only {result.seconds:.2f} s"


def test_password_in_url_is_never_printed(server: FaultServer, downloads: Path) -> None:
    url = f"http://alice:s3cr3t-pw@127.0.0.1:{server.port}/private.bin"
    result = run_get(url, "-d", downloads, timeout=30)
    assert_clean_failure(result)
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_password_in_url_not_printed_on_success(server: FaultServer, downloads: Path) -> None:
    data = payload(100_000, seed=111)
    server.add("/private-ok.bin", data)
    url = f"http://alice:s3cr3t-pw@127.0.0.1:{server.port}/private-ok.bin"
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    assert "s3cr3t-pw" not in result.stderr + result.stdout
    assert_saved(downloads / "private-ok.bin", data)


def test_long_server_name_is_shortened(server: FaultServer, downloads: Path) -> None:
    data = payload(10_000, seed=112)
    name = "x" * 300 + ".tar.gz"
    url = server.add("/long", data, content_disposition=f'attachment; filename="{name}"')
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    (saved,) = list(downloads.iterdir())
    assert len(saved.name.encode()) + len(".part") <= 255
    assert saved.name.endswith(".gz")
    assert_saved(saved, data)


def test_url_without_a_file_name(server: FaultServer, downloads: Path) -> None:
    data = payload(10_000, seed=113)
    url = server.add("/folder/", data)
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    (saved,) = list(downloads.iterdir())
    assert saved.name not in ("", ".", "..") and not saved.name.startswith(".")
    assert_saved(saved, data)


def test_encoded_slash_in_url_name_stays_inside(server: FaultServer, downloads: Path) -> None:
    data = payload(10_000, seed=114)
    url = server.add("/a%2F..%2F..%2Fevil.bin", data)
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()
    (saved,) = list(downloads.iterdir())
    assert saved.parent == downloads
    assert_saved(saved, data)


def test_probe_by_get_retries_503(server: FaultServer, downloads: Path) -> None:
    """HEAD refused, and the first GET (the probe) gets 503: retry it, then finish."""
    data = payload(1 * MiB, seed=115)
    url = server.add("/probe503.bin", data, head_status=405, fail_statuses=[503])
    res = server.resource("/probe503.bin")
    res.retry_after = "1"
    out = downloads / "probe503.bin"
    result = run_get(url, "-o", out, "-t", "2")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert result.seconds >= 0.9


def test_persistent_500_gives_up_cleanly(server: FaultServer, downloads: Path) -> None:
    data = payload(1 * MiB, seed=116)
    url = server.add("/broken.bin", data, fail_statuses=[500] * 50)
    out = downloads / "broken.bin"
    result = run_get(url, "-o", out, "-t", "2", "--retries", "1", timeout=30)
    assert_clean_failure(result, max_lines=6)
    assert "500" in result.stderr
    assert not out.exists()
    assert result.seconds < 10


def test_directory_of_output_does_not_exist(server: FaultServer, tmp_path: Path) -> None:
    url = server.add("/nodir.bin", payload(1000))
    result = run_get(url, "-o", tmp_path / "no" / "such" / "out.bin", timeout=30)
    assert_clean_failure(result)


def _limit_file_size() -> None:
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 * MiB, 1 * MiB))


def test_write_error_is_reported_cleanly(server: FaultServer, downloads: Path) -> None:
    """The disk refuses the file (here a per-process file size limit): one clear line."""
    data = payload(4 * MiB, seed=117)
    url = server.add("/toobig.bin", data)
    out = downloads / "toobig.bin"
    result = run_get("-q", url, "-o", out, preexec_fn=_limit_file_size, timeout=30)
    assert_clean_failure(result, max_lines=1)
    assert not out.exists()


def test_write_error_on_a_single_stream_is_reported_cleanly(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(4 * MiB, seed=118)
    url = server.add("/toobig1.bin", data, accept_ranges=False, send_length=False)
    out = downloads / "toobig1.bin"
    result = run_get("-q", url, "-o", out, preexec_fn=_limit_file_size, timeout=30)
    assert_clean_failure(result, max_lines=1)
    assert not out.exists()


def test_a_presigned_name_that_only_a_get_carries_names_the_file(
    server: FaultServer, downloads: Path
) -> None:
    """moto's S3 answers a presigned URL's HEAD without the Content-Disposition that its
    GET carries; aria2c and curl -J name the file from the GET, and so must we."""
    data = payload(MiB, seed=91)
    server.add(
        "/small.bin",
        data,
        content_disposition='attachment; filename="report final.pdf"',
        head_omits_disposition=True,
    )
    query = "?response-content-disposition=attachment%3B%20filename%3D%22report%20final.pdf%22"
    result = run_get(server.url("/small.bin") + query, "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "report final.pdf", data)


def test_files_that_end_before_an_earlier_one_are_reported_as_they_end(
    server: FaultServer, downloads: Path
) -> None:
    """get follows a long list by looking past the jobs that ended; one still running
    at the front must not hide those behind it that ended, nor a failure."""
    slow = server.add("/slow.bin", payload(MiB, seed=1), rate=MiB // 2)
    fast = [server.add(f"/fast{i}.bin", payload(50_000, seed=2 + i)) for i in range(4)]
    missing = server.url("/missing.bin")
    result = run_get(slow, *fast[:2], missing, *fast[2:], "-d", downloads, "-j", "3")
    assert result.code == 1, result.describe()
    ended = [x for x in result.lines if x.startswith(("rangetui: saved", "rangetui: error"))]
    assert len(ended) == 6, result.describe()
    assert "slow.bin" in ended[-1], "the slow file, first in the list, ends last"
    assert any("missing.bin" in line and "404" in line for line in ended), result.describe()
    for i in range(4):
        assert_saved(downloads / f"fast{i}.bin", payload(50_000, seed=2 + i))
