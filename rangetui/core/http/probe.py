"""The first request: final URL after redirects, size, validators, range support, name."""

from __future__ import annotations

import requests

from rangetui.core.checksum import from_http
from rangetui.core.http.body import RangeStream, finish_small
from rangetui.core.http.headers import parse_content_range, strong_date
from rangetui.core.http.session import (
    length,
    request,
    status_error,
    strips_auth,
    success,
)
from rangetui.core.types import HttpOptions, Remote
from rangetui.core.urls import check_url


def _remote_from(resp: requests.Response, size: int | None, ranges: bool, origin: str) -> Remote:
    """``origin`` is the URL the user gave: credentials belong to its host alone."""
    return Remote(
        cross_host=strips_auth(origin, resp.url),
        url=resp.url,
        size=size,
        etag=resp.headers.get("ETag"),
        last_modified=resp.headers.get("Last-Modified"),
        accept_ranges=ranges and size is not None,
        content_disposition=resp.headers.get("Content-Disposition"),
        digest=from_http(resp.headers.get("Repr-Digest"), resp.headers.get("Digest")),
        modified_is_strong=strong_date(resp.headers.get("Last-Modified"), resp.headers.get("Date")),
    )


def probe(
    session: requests.Session, url: str, options: HttpOptions, first_bytes: int
) -> tuple[Remote, RangeStream | None]:
    """Final URL, size, validators, range support and name, from one ranged GET.

    One GET rather than a HEAD and then a GET: HEAD is often wrong or refused (405, or
    403 on signed URLs), some servers name the file in GET answers only, and the GET's
    body is the first range a connection would ask for anyway, so its open stream is
    returned for the first worker (None when the answer cannot be used that way). A
    server without Range support answers with the whole file: that body is returned
    too, for the one connection that fetches it, rather than asked for again (a
    generated resource would be generated twice, and might differ).
    """
    check_url(url)
    headers = {"Range": f"bytes=0-{first_bytes - 1}"}
    resp = request(session, "GET", url, options, allow_redirects=True, headers=headers)
    try:
        remote = _remote_from_probe(resp, url)
        stream = _first_range(resp, remote)
    except BaseException:
        resp.close()
        raise
    if stream is None:
        finish_small(resp)
    return remote, stream


def _first_range(resp: requests.Response, remote: Remote) -> RangeStream | None:
    """The probe's body as a stream of bytes ``[0, n)``, when it is exactly that."""
    if resp.status_code == 200 and not remote.accept_ranges:
        return RangeStream(resp, length(resp), whole=True)
    if resp.status_code != 206 or not remote.accept_ranges:
        return None
    first, last, _ = parse_content_range(resp.headers.get("Content-Range"))
    sent = length(resp)
    if first != 0 or last is None or (sent is not None and sent != last + 1):
        return None
    return RangeStream(resp, last + 1)


def _remote_from_probe(resp: requests.Response, origin: str) -> Remote:
    if resp.status_code == 206:
        _, _, total = parse_content_range(resp.headers.get("Content-Range"))
        return _remote_from(resp, total, ranges=total is not None, origin=origin)
    if resp.status_code == 416:
        _, _, total = parse_content_range(resp.headers.get("Content-Range"))
        if total == 0:
            return _remote_from(resp, 0, ranges=False, origin=origin)
    if not success(resp):
        raise status_error(resp)
    return _remote_from(resp, length(resp), ranges=False, origin=origin)
