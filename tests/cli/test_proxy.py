"""The proxy environment (http_proxy, no_proxy) is honoured, as by curl and wget.

rangetui reads it once per origin rather than on every request (see
``_Session.merge_environment_settings``); these tests check that the answer is still
the environment's. The "proxy" is a second FaultServer: it answers absolute-form
requests from its own resources, so a file that arrives through it came via the proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import MiB, assert_saved, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer


@pytest.fixture
def proxy() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def proxy_env(proxy: FaultServer, monkeypatch: pytest.MonkeyPatch) -> FaultServer:
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.url("/").rstrip("/"))
    return proxy


def test_http_proxy_from_the_environment_is_used(
    server: FaultServer, proxy_env: FaultServer, downloads: Path
) -> None:
    data = payload(4 * MiB)
    url = server.add("/via.bin", data)
    proxy_env.add("/via.bin", data)
    result = run_get(url, "-d", downloads, "-t", "4", "-s", "256K")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "via.bin", data)
    assert server.get_count("/via.bin") == 0, "the origin was reached directly"
    assert proxy_env.get_count("/via.bin") >= 4, "not every connection used the proxy"


def test_no_proxy_sends_that_host_direct(
    server: FaultServer,
    proxy_env: FaultServer,
    downloads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    data = payload(2 * MiB)
    url = server.add("/direct.bin", data)
    proxy_env.add("/direct.bin", payload(2 * MiB, seed=9))  # a different file: must not be used
    result = run_get(url, "-d", downloads, "-t", "4", "-s", "256K")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "direct.bin", data)
    assert proxy_env.get_count("/direct.bin") == 0
    assert server.get_count("/direct.bin") >= 1


def test_the_proxy_flag_is_used_without_any_environment(
    server: FaultServer, proxy: FaultServer, downloads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    data = payload(2 * MiB, seed=3)
    url = server.add("/flag.bin", data)
    proxy.add("/flag.bin", data)
    result = run_get(url, "-d", downloads, "-t", "4", "--proxy", proxy.url("/").rstrip("/"))
    assert result.code == 0, result.describe()
    assert_saved(downloads / "flag.bin", data)
    assert server.get_count("/flag.bin") == 0 and proxy.get_count("/flag.bin") >= 1


def test_the_no_proxy_flag_beats_the_environments_proxy(
    server: FaultServer, proxy_env: FaultServer, downloads: Path
) -> None:
    data = payload(MiB, seed=4)
    url = server.add("/skip.bin", data)
    proxy_env.add("/skip.bin", payload(MiB, seed=5))
    result = run_get(url, "-d", downloads, "--no-proxy", "127.0.0.1")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "skip.bin", data)
    assert proxy_env.get_count("/skip.bin") == 0
