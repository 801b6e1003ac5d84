"""The first request: final URL after redirects, size, validators, range support, name."""

from __future__ import annotations

import contextlib
from urllib.parse import unquote, urlsplit

import requests

from rangetui.core.checksum import from_http
from rangetui.core.http.headers import parse_content_range, strong_date
from rangetui.core.http.session import (
    length,
    request,
    status_error,
    strips_auth,
    success,
    withheld,
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
    session: requests.Session, url: str, options: HttpOptions, trust_head: bool = True
) -> Remote:
    """Final URL, size, validators, range support and name, with HEAD or a 1-byte GET.

    HEAD is cheap but often wrong or refused (405, or 403 on signed URLs), so anything
    short of a clear ``Accept-Ranges: bytes`` with a non-zero length is confirmed by a
    ranged GET, and so is everything once a HEAD has been caught lying.
    """
    check_url(url)
    start_url = url
    if trust_head:
        head = request(session, "HEAD", url, options, allow_redirects=True)
        finish_small(head)
        size = length(head)
        ranged = head.headers.get("Accept-Ranges", "").lower() == "bytes"
        if success(head) and ranged and size and not _name_only_from_get(head, url):
            return _remote_from(head, size, ranges=True, origin=url)
        start_url = head.url if success(head) else url
    headers: dict[str, str | None] = {"Range": "bytes=0-0"}
    if strips_auth(url, start_url):  # straight to where the HEAD was sent: another host
        headers.update(withheld(options))
    resp = request(session, "GET", start_url, options, allow_redirects=True, headers=headers)
    try:
        return _remote_from_probe(resp, url)
    finally:
        finish_small(resp)


def _name_only_from_get(head: requests.Response, url: str) -> bool:
    """A presigned object-store URL that overrides the name (S3's, and the release
    downloads of code forges that redirect to it) may carry the name in GET answers only:
    then the name must come from a GET."""
    if head.headers.get("Content-Disposition"):
        return False
    return "content-disposition" in unquote(urlsplit(head.url or url).query).lower()


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


def finish_small(resp: requests.Response) -> None:
    """Keep the connection for the next request when the body is tiny (HEAD, 1 byte)."""
    size = length(resp)
    with contextlib.suppress(Exception):
        if resp.request.method == "HEAD" or (size is not None and size <= 1024):
            resp.raw.read(1025, decode_content=False)
            resp.raw.release_conn()
            return
    resp.close()
