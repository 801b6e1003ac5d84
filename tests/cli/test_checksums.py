"""Every checksum people bring: md5, sha1, sha256, sha512; a SUMS file; the server's own
RFC 9530 Repr-Digest (and the older Digest). A mismatch never leaves OUT behind."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_clean_failure, assert_saved, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer

DATA = payload(2 * MiB, seed=8)


@pytest.mark.parametrize("alg", ["md5", "sha1", "sha256", "sha512"])
def test_each_algorithm_verifies(server: FaultServer, downloads: Path, alg: str) -> None:
    url = server.add(f"/{alg}.bin", DATA)
    out = downloads / f"{alg}.bin"
    result = run_get(url, "-o", out, "--checksum", f"{alg}={hashlib.new(alg, DATA).hexdigest()}")
    assert result.code == 0, result.describe()
    assert_saved(out, DATA)


def test_a_wrong_sha512_names_the_algorithm_and_leaves_no_file(
    server: FaultServer, downloads: Path
) -> None:
    url = server.add("/bad512.bin", DATA)
    out = downloads / "bad512.bin"
    wrong = hashlib.sha512(b"other").hexdigest()
    result = run_get(url, "-o", out, "--checksum", f"sha512={wrong}")
    assert_clean_failure(result, max_lines=1)
    assert "the sha512 checksum does not match" in result.stderr, result.describe()
    assert not out.exists()


def sums(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "SHA256SUMS"
    path.write_text(text)
    return path


def test_a_sums_file_gives_the_line_for_the_name_the_file_gets(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    url = server.add("/release.iso", DATA)
    digest = hashlib.sha256(DATA).hexdigest()
    path = sums(tmp_path, f"{'0' * 64}  other.iso\n{digest} *release.iso\n")
    result = run_get(url, "-d", downloads, "--checksum-file", path)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "release.iso", DATA)


def test_a_bsd_style_sums_line_with_a_wrong_digest_fails(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    url = server.add("/bsd.iso", DATA)
    path = sums(tmp_path, f"SHA512 (bsd.iso) = {hashlib.sha512(b'x').hexdigest()}\n")
    result = run_get(url, "-d", downloads, "--checksum-file", path)
    assert_clean_failure(result, max_lines=1)
    assert "SHA256SUMS's sha512 checksum does not match" in result.stderr, result.describe()
    assert not (downloads / "bsd.iso").exists()


def test_a_sums_file_without_the_name_is_one_sentence(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    url = server.add("/missing-line.iso", DATA)
    path = sums(tmp_path, f"{'0' * 64}  other.iso\n")
    result = run_get(url, "-d", downloads, "--checksum-file", path)
    assert_clean_failure(result, max_lines=1)
    assert "has no line for missing-line.iso" in result.stderr, result.describe()
    assert not (downloads / "missing-line.iso").exists()


def b64(alg: str, data: bytes) -> str:
    return base64.b64encode(hashlib.new(alg, data).digest()).decode()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Repr-Digest", f"sha-256=:{b64('sha256', DATA)}:"),
        ("Repr-Digest", f"sha-512=:{b64('sha512', DATA)}:, sha-256=:{b64('sha256', b'x')}:"),
        ("Digest", f"SHA-256={b64('sha256', DATA)}"),
    ],
)
def test_the_servers_digest_is_checked(
    server: FaultServer, downloads: Path, header: str, value: str
) -> None:
    url = server.add("/digest.bin", DATA, extra_headers={header: value})
    result = run_get(url, "-o", downloads / "digest.bin", "-t", "4")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "digest.bin", DATA)


def test_a_servers_digest_that_does_not_match_fails(server: FaultServer, downloads: Path) -> None:
    value = f"sha-256=:{b64('sha256', b'not the file')}:"
    url = server.add("/liar.bin", DATA, extra_headers={"Repr-Digest": value})
    result = run_get(url, "-o", downloads / "liar.bin", "-t", "4")
    assert_clean_failure(result, max_lines=1)
    assert "the server's sha256 checksum does not match" in result.stderr, result.describe()
    assert not (downloads / "liar.bin").exists()
