"""A URL from the command line or ``-i FILE`` is echoed terminal-safe in every error line
(SECURITY-NOTES L11): control characters in it once reached the terminal raw, so a
pasted or scripted URL could retitle the window or clear the screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import assert_clean_failure, closed_port, run_get
from tests.daemon_helpers import rangetui

HOSTILE = [
    "ftp://\x1b]0;PWNED\x07/x",
    "http://exa mple.com/\x1b[2J",
    "http://127.0.0.1:{port}/a\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07b",
    "http://127.0.0.1:{port}/\u202eexe.txt",
]
CONTROLS = ("\x1b", "\x07", "\x9b", "\x9d", "\u202e")


def _assert_safe(text: str) -> None:
    assert not any(c in text for c in CONTROLS), repr(text)


@pytest.mark.parametrize("url", HOSTILE, ids=range(len(HOSTILE)))
def test_get_echoes_a_hostile_url_safely(downloads: Path, url: str) -> None:
    url = url.format(port=closed_port())
    result = run_get(url, "-d", downloads, "--retries", "0", timeout=30)
    assert_clean_failure(result)
    _assert_safe(result.stderr)


def test_get_echoes_a_hostile_url_from_an_input_file_safely(
    downloads: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(u.format(port=closed_port()) for u in HOSTILE) + "\n")
    result = run_get("-i", listing, "-d", downloads, "--retries", "0", timeout=60)
    assert_clean_failure(result, max_lines=len(HOSTILE) + 2)
    _assert_safe(result.stderr)


@pytest.mark.parametrize("command", [["add"], []], ids=["add", "tui"])
def test_add_and_the_tui_echo_a_hostile_url_safely(downloads: Path, command: list[str]) -> None:
    result = rangetui(*command, HOSTILE[0], "-d", downloads)
    assert result.code == 2 and len(result.lines) == 1, result.describe()
    _assert_safe(result.stderr)
