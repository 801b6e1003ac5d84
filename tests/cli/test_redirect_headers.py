"""Headers the user gave, across redirects; and what a failure after a redirect says.

Issue 10 point 8 and SECURITY-NOTES L1, L2, L6, L7: a custom ``--header`` (an API key)
goes only to the host of the URL the user gave, as curl does without
``--location-trusted``; a ``--header 'Cookie: …'`` survives a redirect on the same
host; a refused connection after a redirect names the host that refused; an oversized
header block is one final error, not a retried "cannot connect".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import (
    MiB,
    assert_clean_failure,
    assert_saved,
    closed_port,
    run_get,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

API_KEY = "X-Api-Key"
KEY = "k-3f9a1c0e77"
COOKIE = "session=c00k1e-9d2"
USER_HEADERS = ("--header", f"{API_KEY}: {KEY}", "--header", f"Cookie: {COOKIE}")

TARGETS = {
    "ranged": {},
    "head-without-ranges": {"head_headers": {"Accept-Ranges": "none"}},
    "no-ranges": {"accept_ranges": False},
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_user_headers_never_reach_another_host(
    server: FaultServer, downloads: Path, target: str
) -> None:
    """127.0.0.1 redirects to localhost: the same server, another host for HTTP.
    "head-without-ranges" sends the probe's ranged GET straight to the HEAD's final URL;
    "no-ranges" fetches the body with one whole GET."""
    data = payload(2 * MiB, seed=70)
    server.add("/there.bin", data, **TARGETS[target])
    server.add_redirect("/here.bin", server.url("/there.bin", host="localhost"))
    result = run_get(server.url("/here.bin"), "-o", downloads / "there.bin", *USER_HEADERS)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "there.bin", data)
    first = [r for r in server.requests if r.route == "/here.bin"]
    assert first and all(r.header(API_KEY) == KEY for r in first)
    moved = [r for r in server.requests if r.route == "/there.bin"]
    assert moved and all((r.header("Host") or "").startswith("localhost") for r in moved)
    leaked = [
        f"{r.method} {r.range or ''}: {name}"
        for r in moved
        for name in (API_KEY, "Cookie", "Authorization")
        if r.header(name) is not None
    ]
    assert not leaked, f"user headers went to another host: {leaked}"


def test_user_headers_and_cookie_survive_a_same_host_redirect(
    server: FaultServer, downloads: Path
) -> None:
    """L1: requests replaced a --header Cookie with its (empty) jar on every redirect."""
    data = payload(2 * MiB, seed=71)
    server.add("/real.bin", data)
    server.add_redirect("/alias.bin", "/real.bin")
    result = run_get(
        server.url("/alias.bin"), "-o", downloads / "real.bin", "-t", "4", *USER_HEADERS
    )
    assert result.code == 0, result.describe()
    assert_saved(downloads / "real.bin", data)
    real = [r for r in server.requests if r.route == "/real.bin"]
    assert real
    missing = [
        f"{r.method} {r.range or ''}"
        for r in real
        if COOKIE not in (r.header("Cookie") or "") or r.header(API_KEY) != KEY
    ]
    assert not missing, f"the user's headers were dropped in: {missing}"


def test_a_refused_connection_after_a_redirect_names_the_target(
    server: FaultServer, downloads: Path
) -> None:
    """L6: it named the origin, which answered fine."""
    port = closed_port()
    server.add_redirect("/gone.bin", f"http://127.0.0.1:{port}/gone.bin")
    result = run_get(
        server.url("/gone.bin"), "-o", downloads / "gone.bin", "--retries", "1", timeout=30
    )
    assert_clean_failure(result)
    said = result.lines[-1].partition("cannot connect to ")[2]
    assert said.startswith(f"127.0.0.1:{port}"), result.describe()


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"X-Huge": "h" * MiB}, "longer than"),
        ({f"X-H{i}": "v" * 10 for i in range(150)}, "more than 100"),
    ],
    ids=["one-1mib-header", "150-headers"],
)
def test_an_oversized_header_block_is_one_final_error(
    server: FaultServer, downloads: Path, headers: dict[str, str], said: str
) -> None:
    """L7: it read "cannot connect to …: ('Connection aborted.', LineTooLong(…))" and was
    retried as if the network had failed."""
    url = server.add("/big-headers.bin", payload(MiB, seed=72), extra_headers=headers)
    result = run_get(url, "-o", downloads / "big.bin", "--retries", "3", timeout=60)
    assert_clean_failure(result, max_lines=1)
    assert said in result.stderr and "cannot connect" not in result.stderr, result.describe()
    assert "retrying" not in result.stderr, result.describe()
    assert len(server.requests) == 1, [(r.method, r.status) for r in server.requests]
