"""What is at OUT and OUT.part, and what is left there: modes, litter, odd files, names.

The smaller findings of the file-handling review (SECURITY-NOTES L3, L4, L8) and the
issue's two downloads that swapped files: a server naming its file ``victim.part`` while
another download in the same dir saves ``victim``.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.test_diskfull import small_fs  # noqa: F401  (a fixture, used by name)
from tests.cli_helpers import (
    MiB,
    assert_clean_failure,
    assert_saved,
    part_of,
    run_get,
)
from tests.conftest import payload
from tests.faultserver import FaultServer


def test_output_over_a_0600_file_stays_0600(server: FaultServer, downloads: Path) -> None:
    """L3: a file the user kept private stays private when it is downloaded again."""
    data = payload(MiB, seed=21)
    url = server.add("/private.bin", data)
    out = downloads / "private.bin"
    out.write_bytes(b"old secret")
    out.chmod(0o600)
    result = run_get(url, "-o", out, "-t", "2")
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_output_over_a_link_takes_no_mode_from_its_target(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    data = payload(MiB, seed=22)
    url = server.add("/linked.bin", data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not to be touched")
    elsewhere.chmod(0o666)
    out = downloads / "linked.bin"
    out.symlink_to(elsewhere)
    result = run_get(url, "-o", out)
    assert result.code == 0, result.describe()
    assert not out.is_symlink() and out.read_bytes() == data
    assert stat.S_IMODE(out.stat().st_mode) & 0o022 == 0
    assert elsewhere.read_bytes() == b"not to be touched"


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_refused_download_leaves_no_part_file(server: FaultServer, downloads: Path) -> None:
    """L4: refused before a byte arrived (the file cannot have its size): nothing left,
    so the next `-d` run does not pick `NAME (1)`."""
    data = payload(4 * MiB, seed=23)
    url = server.add("/refused.bin", data)
    result = run_get(url, "-d", downloads, preexec_fn=_limit_file_size(MiB), timeout=30)
    assert_clean_failure(result, max_lines=1)
    assert list(downloads.iterdir()) == [], "the refused download left a file"
    again = run_get(url, "-d", downloads)
    assert again.code == 0, again.describe()
    assert_saved(downloads / "refused.bin", data)


def test_not_enough_space_leaves_no_part_file(
    server: FaultServer,
    small_fs: Callable[[int], Path],  # noqa: F811
) -> None:
    disk = small_fs(2 * MiB)
    url = server.add("/toobig.bin", payload(4 * MiB, seed=24))
    result = run_get(url, "-o", disk / "toobig.bin", timeout=30)
    assert_clean_failure(result, max_lines=1)
    assert "space" in result.stderr, result.describe()
    assert list(disk.iterdir()) == [], "the refused download left a file"


def test_a_part_file_from_an_earlier_run_is_kept_when_refused(
    server: FaultServer, downloads: Path
) -> None:
    """Only a .part this run created is removed: an earlier run's bytes are not ours to drop."""
    url = server.add("/earlier.bin", payload(4 * MiB, seed=25))
    out = downloads / "earlier.bin"
    part_of(out).write_bytes(b"bytes from an earlier run")
    result = run_get(url, "-o", out, preexec_fn=_limit_file_size(MiB), timeout=30)
    assert_clean_failure(result, max_lines=2)
    assert part_of(out).exists()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _device(path: Path) -> None:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("cannot make a device node here")


def _link_to_null(path: Path) -> None:
    path.symlink_to("/dev/null")


@pytest.mark.parametrize(
    ("make", "said"),
    [(_fifo, "not a regular file"), (_device, "not a regular file"), (_link_to_null, "link")],
    ids=["fifo", "device", "link-to-dev-null"],
)
@pytest.mark.parametrize("ranges", [True, False], ids=["ranged", "unranged"])
def test_something_odd_at_the_part_name_is_one_clear_sentence(
    server: FaultServer,
    downloads: Path,
    make: Callable[[Path], None],
    said: str,
    ranges: bool,
) -> None:
    """L8: a FIFO or a device at OUT.part (an unranged server once reached a raw
    ftruncate and said "internal error: OSError")."""
    url = server.add("/odd.bin", payload(MiB, seed=26), accept_ranges=ranges)
    out = downloads / "odd.bin"
    make(part_of(out))
    result = run_get(url, "-o", out, timeout=30)
    assert_clean_failure(result, max_lines=1)
    assert said in result.stderr and "internal error" not in result.stderr, result.describe()
    assert not out.exists()


def test_output_named_like_a_part_file_is_refused(server: FaultServer, downloads: Path) -> None:
    url = server.add("/x.bin", payload(1000))
    result = run_get(url, "-o", downloads / "other.part", timeout=30)
    assert_clean_failure(result, max_lines=1)
    assert ".part" in result.stderr, result.describe()
    assert list(downloads.iterdir()) == []


def test_a_server_cannot_name_its_file_like_another_downloads_part(
    server: FaultServer, downloads: Path
) -> None:
    """Issue point 5: ``victim.part`` from one server while another download saves
    ``victim`` in the same dir. Once both exited 0 and ``victim`` held the wrong bytes."""
    mine, theirs = payload(3 * MiB, seed=27), payload(MiB, seed=28)
    evil = server.add(
        "/evil", theirs, rate=768 * 1024, content_disposition='attachment; filename="victim.part"'
    )
    good = server.add("/good", mine, rate=MiB, content_disposition='attachment; filename="victim"')
    result = run_get(evil, good, "-d", downloads, "-j", "2", "-t", "1")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "victim", mine)
    assert_saved(downloads / "victim_part", theirs)
    assert sorted(p.name for p in downloads.iterdir()) == ["victim", "victim_part"]
