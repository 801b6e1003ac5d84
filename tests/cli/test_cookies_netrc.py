"""Cookies from a cookies.txt, credentials from a netrc file, a User-Agent and a Referer:
what curl, wget and aria2 users bring; each reaches the server, none goes elsewhere."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_clean_failure, assert_saved, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer

DATA = payload(MiB, seed=12)


def test_cookies_from_a_cookies_txt_reach_the_server(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    url = server.add("/cookie.bin", DATA, require_header=("Cookie", "session=abc123"))
    jar = tmp_path / "cookies.txt"
    jar.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n")
    refused = run_get(url, "-d", downloads, "--retries", "0")
    assert refused.code == 1, refused.describe()
    result = run_get(url, "-d", downloads, "-t", "4", "--load-cookies", jar)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "cookie.bin", DATA)


def test_a_file_that_is_not_a_cookies_txt_is_one_sentence(downloads: Path, tmp_path: Path) -> None:
    jar = tmp_path / "cookies.txt"
    jar.write_text("not a cookie file\n")
    result = run_get("http://127.0.0.1:9/x", "-d", downloads, "--load-cookies", jar)
    assert result.code == 2 and "cannot read the cookies file" in result.stderr, result.describe()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_from_a_netrc_file(
    server: FaultServer, downloads: Path, tmp_path: Path
) -> None:
    url = server.add("/auth.bin", DATA, require_header=("Authorization", basic("alice", "pw1")))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password pw1\n")
    netrc.chmod(0o600)
    result = run_get(url, "-d", downloads, "-t", "4", "--netrc-file", netrc)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "auth.bin", DATA)
    assert "pw1" not in result.stderr


def test_the_netrc_of_the_environment_is_read_as_curl_n_does(
    server: FaultServer, downloads: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.add("/home.bin", DATA, require_header=("Authorization", basic("bob", "pw2")))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password pw2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    result = run_get(url, "-d", downloads)
    assert result.code == 0, result.describe()


def test_user_agent_and_referer_reach_the_server(server: FaultServer, downloads: Path) -> None:
    url = server.add("/ua.bin", DATA)
    result = run_get(
        url, "-d", downloads, "--user-agent", "mirror-bot/2", "--referer", "https://ex.org/"
    )
    assert result.code == 0, result.describe()
    gets = [r for r in list(server.requests) if r.route == "/ua.bin"]
    assert gets and all(r.header("User-Agent") == "mirror-bot/2" for r in gets)
    assert all(r.header("Referer") == "https://ex.org/" for r in gets)


def test_a_bad_proxy_is_refused_before_any_request(downloads: Path) -> None:
    result = run_get("http://127.0.0.1:9/x", "-d", downloads, "--proxy", "ftp://p:1")
    assert_clean_failure(result)
    assert result.code == 2
