"""Tests for rangetui.core.naming: hostile names must never escape or break the target folder."""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rangetui.core.naming import (
    MAX_NAME_BYTES,
    NAME_BUDGET_BYTES,
    PART_SUFFIX,
    choose_name,
    filename_from_content_disposition,
    filename_from_url,
    is_inside,
    sanitize_filename,
    unique_path,
)

RESERVED_STEMS = {"CON", "PRN", "AUX", "NUL"} | {
    f"{d}{n}" for d in ("COM", "LPT") for n in "123456789"
}


def assert_safe(result: str) -> None:
    assert result
    assert result not in (".", "..")
    assert not result.startswith(".")
    for bad in ("/", "\\", "\x00", *'<>:"|?*'):
        assert bad not in result
    assert not any(unicodedata.category(c) == "Cc" for c in result)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in result)
    assert result == result.strip()
    assert not result.endswith((".", " "))
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    assert len((result + PART_SUFFIX).encode("utf-8")) <= MAX_NAME_BYTES
    assert result.split(".", 1)[0].upper() not in RESERVED_STEMS


# --------------------------------------------------------------------------- #
# Content-Disposition
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="EXAMPLE.txt"', "EXAMPLE.txt"),
        ("attachment; filename*=UTF-8''%e2%82%ac%20rates", "€ rates"),
        (
            "attachment; filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates",
            "€ rates",
        ),
        (
            "attachment; filename*=utf-8''%e2%82%ac%20rates; filename=\"EURO rates\"",
            "€ rates",
        ),
        ('attachment; filename="\\"quoted\\".txt"', '"quoted".txt'),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates", "£ rates"),
        ("attachment; filename*=ISO-8859-1''%E9t%E9.txt", "été.txt"),
        ("attachment; filename=plain.txt", "plain.txt"),
        ("attachment; filename=my file name.txt; size=3", "my file name.txt"),
        ('ATTACHMENT; FILENAME="UP.TXT"', "UP.TXT"),
        ("attachment; FileName*=UTF-8''%C3%A4.bin", "ä.bin"),
        ('  attachment ;  filename = "spaced.txt"  ', "spaced.txt"),
        ('attachment; filename="a;b.txt"', "a;b.txt"),
        ('attachment; filename="back\\\\slash.txt"', "back\\slash.txt"),
        ('inline; filename="unterminated.txt', "unterminated.txt"),
        ('filename="no-type.txt"', "no-type.txt"),
        ('attachment; filename="first.txt"; filename="second.txt"', "first.txt"),
        # RFC 6266: %-escapes in a plain filename are literal.
        ('attachment; filename="%e2%82%ac.txt"', "%e2%82%ac.txt"),
        # An unsupported charset in filename* falls back to filename.
        ("attachment; filename*=x-klingon''abc; filename=\"ok.txt\"", "ok.txt"),
        ('attachment; filename*=broken; filename="ok.txt"', "ok.txt"),
        # Quoted extended value from a non-conforming server.
        ("attachment; filename*=\"UTF-8''q%20x.txt\"", "q x.txt"),
        ('attachment; filename="../../etc/passwd"', "../../etc/passwd"),
    ],
)
def test_content_disposition(header: str, expected: str) -> None:
    assert filename_from_content_disposition(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "attachment",
        "inline",
        ";;;",
        "=",
        'attachment; filename=""',
        "attachment; filename=",
        "attachment; filename*=UTF-8''",
        "attachment; foo=bar",
        '\x00\xff garbage ;= "',
        '"""""',
    ],
)
def test_content_disposition_absent_or_garbage(header: str | None) -> None:
    assert filename_from_content_disposition(header) is None


def test_content_disposition_invalid_utf8_does_not_raise() -> None:
    name = filename_from_content_disposition("attachment; filename*=UTF-8''%ff%fe.txt")
    assert name is not None
    assert name.endswith(".txt")


@given(st.text())
def test_content_disposition_never_raises(header: str) -> None:
    result = filename_from_content_disposition(header)
    assert result is None or isinstance(result, str)


@given(
    st.lists(
        st.sampled_from(
            [
                "attachment",
                ";",
                "=",
                '"',
                "\\",
                "'",
                "%",
                "filename",
                "filename*",
                "UTF-8",
                "%e2",
                " ",
            ]
        )
    ).map("".join)
)
def test_content_disposition_never_raises_on_near_misses(header: str) -> None:
    filename_from_content_disposition(header)


def test_content_disposition_with_surrogates_does_not_raise() -> None:
    filename_from_content_disposition("attachment; filename*=UTF-8''\udc80%41")


# --------------------------------------------------------------------------- #
# URL
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://host/dir/file.iso", "file.iso"),
        ("http://host/dir/my%20file.iso", "my file.iso"),
        ("http://host/a/b.tar.gz?token=abc&x=/y/z", "b.tar.gz"),
        ("http://host/a/b.zip#frag/ment", "b.zip"),
        ("http://host/dir/", "dir"),
        ("http://host/dir//", "dir"),
        ("http://host/%E2%82%AC.txt", "€.txt"),
        ("http://host/%ff.txt", "\ufffd.txt"),
        ("http://host/..%2F..%2Fetc%2Fpasswd", "../../etc/passwd"),
    ],
)
def test_filename_from_url(url: str, expected: str) -> None:
    assert filename_from_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://host/", "http://host", "http://host/?q=1", "", "http://[::1/x"]
)
def test_filename_from_url_none(url: str) -> None:
    assert filename_from_url(url) is None


@given(st.text())
def test_filename_from_url_never_raises(url: str) -> None:
    filename_from_url(url)


# --------------------------------------------------------------------------- #
# sanitize_filename
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("C:\\x\\y.txt", "y.txt"),
        ("C:y.txt", "C_y.txt"),
        ("a\x00b.txt", "ab.txt"),
        ("a\x01\x1f\x7f\x85\x9fb.txt", "ab.txt"),
        ("new\nline\r.txt", "newline.txt"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("...", "download"),
        (".", "download"),
        ("..", "download"),
        ("", "download"),
        ("   ", "download"),
        (".bashrc", "bashrc"),
        ("..hidden", "hidden"),
        ("trailing. . .", "trailing"),
        ("  spaced.txt  ", "spaced.txt"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Lpt9.tar.gz", "_Lpt9.tar.gz"),
        ("nul .txt", "_nul .txt"),
        ("COM10", "COM10"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("a\u2066b\u2069c", "abc"),
        ("dir/", "download"),
    ],
)
def test_sanitize_examples(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected
    assert_safe(sanitize_filename(raw))


def test_sanitize_custom_fallback() -> None:
    assert sanitize_filename("..", fallback="index.html") == "index.html"
    assert sanitize_filename("..", fallback="../x") == "x"
    assert sanitize_filename("..", fallback="..") == "download"


def test_sanitize_nfd_becomes_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "café résumé.txt")
    assert nfd != "café résumé.txt"
    assert sanitize_filename(nfd) == unicodedata.normalize("NFC", "café résumé.txt")


def test_sanitize_long_ascii_keeps_extension() -> None:
    result = sanitize_filename("a" * 1000 + ".iso")
    assert result.endswith(".iso")
    assert len(result.encode()) == NAME_BUDGET_BYTES
    assert_safe(result)


def test_sanitize_long_without_extension() -> None:
    result = sanitize_filename("b" * 1000)
    assert result == "b" * NAME_BUDGET_BYTES


def test_sanitize_long_multibyte_is_not_cut_mid_character() -> None:
    result = sanitize_filename("é" * 300 + ".txt")
    assert result.endswith(".txt")
    assert set(result[:-4]) == {"é"}
    assert len(result.encode()) <= NAME_BUDGET_BYTES
    result.encode("utf-8").decode("utf-8")
    four_byte = sanitize_filename("😀" * 300)
    assert set(four_byte) == {"😀"}
    assert len(four_byte.encode()) <= NAME_BUDGET_BYTES


def test_sanitize_long_extension_is_not_preserved() -> None:
    result = sanitize_filename("x." + "y" * 1000)
    assert len(result.encode()) <= NAME_BUDGET_BYTES
    assert result.startswith("x.yyy")


def test_sanitize_truncation_does_not_leave_trailing_dot() -> None:
    name = "a" * (NAME_BUDGET_BYTES - 1) + ".." + "b" * 40
    result = sanitize_filename(name)
    assert_safe(result)


# --------------------------------------------------------------------------- #
# choose_name
# --------------------------------------------------------------------------- #


def test_choose_name_prefers_content_disposition() -> None:
    header = "attachment; filename*=UTF-8''%e2%82%ac%20rates.csv"
    assert choose_name("http://h/x.bin", header) == "€ rates.csv"


def test_choose_name_falls_back_to_url_then_fallback() -> None:
    assert choose_name("http://h/dir/x%20y.bin?q", None) == "x y.bin"
    assert choose_name("http://h/dir/x.bin", "attachment") == "x.bin"
    assert choose_name("http://h/", None) == "download"
    assert choose_name("http://h/", None, fallback="index.html") == "index.html"


def test_choose_name_sanitizes_hostile_header() -> None:
    assert choose_name("http://h/", 'attachment; filename="../../.ssh/authorized_keys"') == (
        "authorized_keys"
    )


# --------------------------------------------------------------------------- #
# unique_path / is_inside
# --------------------------------------------------------------------------- #


def test_unique_path_free(tmp_path: Path) -> None:
    assert unique_path(tmp_path, "a.txt") == tmp_path / "a.txt"


def test_unique_path_existing_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"")
    assert unique_path(tmp_path, "a.txt") == tmp_path / "a (1).txt"
    (tmp_path / "a (1).txt").write_bytes(b"")
    assert unique_path(tmp_path, "a.txt") == tmp_path / "a (2).txt"


def test_unique_path_existing_part_file(tmp_path: Path) -> None:
    (tmp_path / ("a.txt" + PART_SUFFIX)).write_bytes(b"")
    assert unique_path(tmp_path, "a.txt") == tmp_path / "a (1).txt"


def test_unique_path_dangling_symlink_counts_as_taken(tmp_path: Path) -> None:
    (tmp_path / "a.txt").symlink_to(tmp_path / "missing")
    assert unique_path(tmp_path, "a.txt") == tmp_path / "a (1).txt"


def test_unique_path_suffix_before_last_extension(tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(b"")
    assert unique_path(tmp_path, "a.tar.gz") == tmp_path / "a.tar (1).gz"
    (tmp_path / "noext").write_bytes(b"")
    assert unique_path(tmp_path, "noext") == tmp_path / "noext (1)"


def test_unique_path_custom_taken(tmp_path: Path) -> None:
    seen = {tmp_path / "a.txt", tmp_path / "a (1).txt"}
    assert unique_path(tmp_path, "a.txt", taken=seen.__contains__) == tmp_path / "a (2).txt"


def test_unique_path_gives_up_instead_of_looping(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        unique_path(tmp_path, "a.txt", taken=lambda _p: True)


def test_unique_path_long_name_stays_within_limit(tmp_path: Path) -> None:
    name = sanitize_filename("z" * 1000 + ".mkv")
    (tmp_path / name).write_bytes(b"")
    result = unique_path(tmp_path, name)
    assert result.name.endswith(" (1).mkv")
    assert len(result.name.encode()) <= NAME_BUDGET_BYTES
    assert result.parent == tmp_path
    (Path(str(result) + PART_SUFFIX)).write_bytes(b"")


def test_unique_path_hostile_name_stays_in_directory(tmp_path: Path) -> None:
    result = unique_path(tmp_path, "../../etc/passwd")
    assert result == tmp_path / "passwd"
    assert result.parent == tmp_path


def test_is_inside(tmp_path: Path) -> None:
    assert is_inside(tmp_path, tmp_path / "a.txt")
    assert is_inside(tmp_path, tmp_path / "sub" / ".." / "a.txt")
    assert not is_inside(tmp_path, tmp_path / ".." / "a.txt")
    assert not is_inside(tmp_path / "sub", tmp_path / "subsequent")
    assert not is_inside(tmp_path, Path("/etc/passwd"))


def test_is_inside_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "link").symlink_to(tmp_path)
    assert not is_inside(tmp_path / "inside", tmp_path / "inside" / "link" / "x")


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


interesting_text = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(list('./\\ \x00\t:<>"|?*\u202e\u2066aé😀CONul1'))),
    st.text(min_size=200, max_size=400),
)


@given(name=interesting_text, fallback=interesting_text)
def test_sanitize_properties(name: str, fallback: str, scratch_dir: Path) -> None:
    result = sanitize_filename(name, fallback)
    assert_safe(result)
    assert sanitize_filename(result) == result
    target = scratch_dir / result
    assert target.parent == scratch_dir
    assert is_inside(scratch_dir, target)
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    try:
        part = Path(f"{target}{PART_SUFFIX}")
        part.write_bytes(b"")
        part.unlink()
    finally:
        target.unlink()


@given(header=st.text(), url=st.text())
def test_choose_name_properties(header: str, url: str) -> None:
    assert_safe(choose_name(url, header))


@given(name=interesting_text)
@settings(max_examples=50)
def test_unique_path_properties(name: str, scratch_dir: Path) -> None:
    first = unique_path(scratch_dir, name)
    assert first.parent == scratch_dir
    first.write_bytes(b"")
    try:
        second = unique_path(scratch_dir, name)
        assert second != first
        assert second.parent == scratch_dir
        assert len(second.name.encode()) <= NAME_BUDGET_BYTES
        assert is_inside(scratch_dir, second)
    finally:
        first.unlink()


def test_zero_width_and_bom_characters_are_removed() -> None:
    assert sanitize_filename("\ufeff.hidden") == "hidden"
    assert sanitize_filename("re\u200bport\u200d.pdf") == "report.pdf"


def test_is_inside_refuses_a_link_right_in_the_dir_that_leads_out(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "out").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "d" / "in").symlink_to(tmp_path / "d" / "x")
    assert not is_inside(tmp_path / "d", tmp_path / "d" / "out")
    assert is_inside(tmp_path / "d", tmp_path / "d" / "in")
    assert is_inside(tmp_path / "d", tmp_path / "d" / "absent")
    assert not is_inside(tmp_path / "d", tmp_path / "d" / "..")
