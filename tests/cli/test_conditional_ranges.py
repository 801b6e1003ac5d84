"""RFC 9110 13.1.5 on the wire: what goes into If-Range, and a 200 to a conditional
range request that is not the end of parallel downloading (Apache on a fresh file)."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

from tests.cli_helpers import MiB, assert_saved, run_get
from tests.conftest import payload
from tests.faultserver import FaultServer

SIZE = 8 * MiB


def range_gets(server: FaultServer, route: str) -> list[tuple[str | None, int]]:
    """(If-Range, status) of each ranged GET after the probe (the first GET, which has
    no validator to send yet)."""
    gets = [r for r in list(server.requests) if r.method == "GET" and r.route == route]
    assert gets and gets[0].header("If-Range") is None, "the probe knows no validator"
    return [(r.header("If-Range"), r.status) for r in gets[1:] if r.range]


def fetch(
    server: FaultServer, route: str, downloads: Path, **resource: object
) -> list[tuple[str | None, int]]:
    data = payload(SIZE, seed=len(route))
    url = server.add(route, data, **resource)
    out = downloads / Path(route).name
    result = run_get(url, "-o", out, "-t", "4", "-s", "256K")
    assert result.code == 0, result.describe()
    assert "ignores Range" not in result.stderr, result.describe()
    assert_saved(out, data)
    assert server.bytes_sent(route) <= 1.05 * SIZE, "bytes served beyond the file"
    gets = range_gets(server, route)
    assert len(gets) >= 4 and all(status == 206 for _, status in gets), gets
    return gets


def fresh_http_date() -> str:
    """A Last-Modified that is not a strong validator whenever the request comes: later
    than the server's Date (a file written this very second, or a clock a little ahead),
    so the test does not depend on how fast a loaded machine gets to its requests."""
    return email.utils.formatdate(time.time() + 3600, usegmt=True)


def test_a_weak_etag_and_a_fresh_date_are_never_sent_in_if_range(
    server: FaultServer, downloads: Path
) -> None:
    """As Apache serves a file changed in the last second: weak ETag, fresh date."""
    gets = fetch(server, "/fresh.bin", downloads, etag='W/"5f-6a"', last_modified=fresh_http_date())
    assert all(if_range is None for if_range, _ in gets), gets


def test_a_fresh_date_without_an_etag_is_not_a_validator_to_send(
    server: FaultServer, downloads: Path
) -> None:
    gets = fetch(server, "/fresh-date.bin", downloads, etag=None, last_modified=fresh_http_date())
    assert all(if_range is None for if_range, _ in gets), gets


def test_an_old_date_without_an_etag_is_sent(server: FaultServer, downloads: Path) -> None:
    old = "Wed, 21 Oct 2015 07:28:00 GMT"
    gets = fetch(server, "/old-date.bin", downloads, etag=None, last_modified=old)
    assert all(if_range == old for if_range, _ in gets), gets


def test_a_strong_etag_is_sent(server: FaultServer, downloads: Path) -> None:
    gets = fetch(server, "/strong.bin", downloads, etag='"abc-1"')
    assert all(if_range == '"abc-1"' for if_range, _ in gets), gets


def test_a_200_to_a_conditional_request_is_asked_again_without_the_condition(
    server: FaultServer, downloads: Path
) -> None:
    """A server that answers every If-Range with the whole file still serves ranges."""
    data = payload(SIZE, seed=77)
    url = server.add("/cond200.bin", data, etag='"v1"', if_range_200=True)
    out = downloads / "cond200.bin"
    result = run_get(url, "-o", out, "-t", "4", "-s", "256K")
    assert result.code == 0, result.describe()
    assert "ignores Range" not in result.stderr, result.describe()
    assert_saved(out, data)
    statuses = [status for _, status in range_gets(server, "/cond200.bin")]
    assert statuses.count(206) >= 4, statuses
