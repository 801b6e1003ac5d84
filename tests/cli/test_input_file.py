"""`-i FILE` as aria2 reads it: indented lines after a URL are that URL's own options."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.cli_helpers import MiB, assert_clean_failure, assert_saved, closed_port, run_get
from tests.conftest import payload
from tests.daemon_helpers import add, wait_status
from tests.faultserver import FaultServer


def test_each_url_takes_its_own_dir_out_and_checksum(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    one, two = payload(MiB, seed=1), payload(MiB, seed=2)
    a, b = server.add("/a.bin", one), server.add("/b.bin", two)
    sub = downloads / "sub"
    sub.mkdir()
    listing = tmp_path / "urls.txt"
    listing.write_text(
        f"# two files\n{a}\n  dir={sub}\n  out=first.bin\n"
        f"{b}\thttp://127.0.0.1:{closed_port()}/b.bin\n\tchecksum=sha-256={hashlib.sha256(two).hexdigest()}\n"
    )
    result = run_get("-i", listing, "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(sub / "first.bin", one)
    assert_saved(downloads / "b.bin", two)


def test_a_wrong_per_url_checksum_fails_that_url(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    url = server.add("/c.bin", payload(MiB, seed=3))
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{url}\n  checksum=md5={'0' * 32}\n")
    result = run_get("-i", listing, "-d", downloads)
    assert_clean_failure(result, max_lines=1)
    assert "md5 checksum does not match" in result.stderr
    assert not (downloads / "c.bin").exists()


def test_a_bad_option_line_names_the_file_and_line(downloads: Path, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("http://127.0.0.1:9/x\n  speed=fast\n")
    result = run_get("-i", listing, "-d", downloads)
    assert result.code == 2 and len(result.lines) == 1, result.describe()
    assert f"{listing} line 2" in result.stderr and "dir=, out=, checksum=" in result.stderr


def test_add_takes_the_same_options(
    server: FaultServer, downloads: Path, tmp_path: Path, state_dir: Path
) -> None:
    data = payload(MiB, seed=4)
    url = server.add("/d.bin", data)
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{url}\n  out=named.bin\n")
    [job_id] = add("-i", listing, "-d", downloads)
    wait_status(state_dir, job_id, "done")
    assert_saved(downloads / "named.bin", data)
