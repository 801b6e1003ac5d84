"""One HTTP connection: probe, ranged GET or whole GET, each answer checked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import requests

from rangetui.core.errors import (
    Cancelled,
    FatalError,
    Garbled,
    RangeNotSupported,
    RemoteChanged,
    RetriableError,
    Unreachable,
)
from rangetui.core.http.body import RangeStream
from rangetui.core.http.headers import parse_content_range
from rangetui.core.http.probe import probe
from rangetui.core.http.session import (
    length,
    new_session,
    request,
    status_error,
    success,
    withheld,
)
from rangetui.core.retry import backoff_delay
from rangetui.core.types import HttpOptions, Remote, same_etag

T = TypeVar("T")
FIRST_BYTES = 1024 * 1024
"""What a probe asks for unless told: a block. Its body is the first request of the
connection that made it, and no segment is shorter than a block, so that connection
reads it to the end and keeps the connection."""


def _check_same_remote(resp: requests.Response, remote: Remote, total: int | None) -> None:
    etag = resp.headers.get("ETag")
    modified = resp.headers.get("Last-Modified")
    if (
        (total is not None and remote.size is not None and total != remote.size)
        or (etag and remote.etag and not same_etag(etag, remote.etag))
        or (modified and remote.last_modified and modified != remote.last_modified)
    ):
        raise RemoteChanged("the file on the server has changed")


def _cross_host(remote: Remote, options: HttpOptions) -> dict[str, str | None]:
    """None removes a session header: no credentials, and no header the user gave
    (an X-Api-Key, a PRIVATE-TOKEN), for a host they were not for."""
    return withheld(options) if remote.cross_host else {}


def open_range(
    session: requests.Session, remote: Remote, start: int, end: int, options: HttpOptions
) -> RangeStream:
    """GET bytes ``[start, end)``; any answer but the exact range is an exception.

    A 200 to a conditional range request may mean the condition failed rather than that
    ranges are unsupported (Apache, on a file changed within the last second): when its
    validators still match ours, ask once more without If-Range; the 206 that comes back
    is checked against the validators like any other.
    """
    headers: dict[str, str | None] = {
        "Range": f"bytes={start}-{end - 1}",
        **_cross_host(remote, options),
    }
    validator = remote.if_range()
    if validator:
        try:
            return _get_range(
                session, remote, start, end, options, {**headers, "If-Range": validator}
            )
        except RangeNotSupported:
            pass
    return _get_range(session, remote, start, end, options, headers)


def _get_range(
    session: requests.Session,
    remote: Remote,
    start: int,
    end: int,
    options: HttpOptions,
    headers: dict[str, str | None],
) -> RangeStream:
    resp = request(session, "GET", remote.url, options, headers=headers, allow_redirects=True)
    try:
        return _checked_range(resp, remote, start, end)
    except BaseException:
        resp.close()
        raise


def _checked_range(resp: requests.Response, remote: Remote, start: int, end: int) -> RangeStream:
    if resp.status_code == 206:
        first, last, total = parse_content_range(resp.headers.get("Content-Range"))
        _check_same_remote(resp, remote, total)
        if (first, last) != (start, end - 1):
            raise RetriableError(
                f"the server sent bytes {first}-{last} when asked for {start}-{end - 1}"
            )
        sent = length(resp)
        if sent is not None and sent != end - start:
            raise RetriableError("the server sent a Content-Length that does not match the range")
        return RangeStream(resp, end - start)
    if resp.status_code == 200:
        _check_same_remote(resp, remote, length(resp))
        raise RangeNotSupported("the server ignored the Range request")
    if resp.status_code == 416:
        raise RemoteChanged("the server says the range is past the end of the file")
    raise status_error(resp)


def open_whole(session: requests.Session, remote: Remote, options: HttpOptions) -> RangeStream:
    """GET the whole body, for servers without Range support or without a length."""
    resp = request(
        session,
        "GET",
        remote.url,
        options,
        allow_redirects=True,
        headers=_cross_host(remote, options),
    )
    if not success(resp):
        resp.close()
        raise status_error(resp)
    try:
        _check_same_remote(resp, remote, length(resp))
    except BaseException:
        resp.close()
        raise
    return RangeStream(resp, length(resp))


class Connection:
    """One HTTP connection's session, so callers need not know ``requests`` exists."""

    def __init__(self, options: HttpOptions) -> None:
        self.options = options
        self._session = new_session(options)
        self._opened: RangeStream | None = None
        """The last probe's body, bytes ``[0, n)``, kept open for the first range."""
        self._answered = False
        """A request of this session has been answered: its socket may be kept alive."""

    def _send(self, send: Callable[[requests.Session], T]) -> T:
        """A kept-alive socket may have been closed by the server while idle, or may
        still hold the tail of a hostile last answer: a failure before any answer is
        sent again, once, on a fresh connection (as browsers do)."""
        self.discard_opened()
        try:
            result = send(self._session)
        except (Unreachable, Garbled):
            if not self._answered:
                raise
            self._session.close()
            self._session = new_session(self.options)
            self._answered = False
            result = send(self._session)
        self._answered = True
        return result

    def probe(self, url: str, first_bytes: int = FIRST_BYTES) -> Remote:
        remote, self._opened = self._send(
            lambda session: probe(session, url, self.options, first_bytes)
        )
        return remote

    def take_opened(self, start: int) -> tuple[RangeStream, int] | None:
        """The probe's open body and where it ends, if it starts at ``start``; else it
        is closed, so that this connection can send again."""
        opened, self._opened = self._opened, None
        if opened is None:
            return None
        if start == 0 and opened.expected and not opened.whole:
            return opened, opened.expected
        opened.put_away()
        return None

    def take_whole(self) -> RangeStream | None:
        """The probe's open body if it is the whole file (a 200); else it is closed."""
        opened, self._opened = self._opened, None
        if opened is not None and opened.whole:
            return opened
        if opened is not None:
            opened.put_away()
        return None

    def discard_opened(self) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            opened.put_away()

    def probe_with_retries(
        self,
        url: str,
        retries: int,
        cancel: threading.Event,
        on_retry: Callable[[str], None],
        first_bytes: int = FIRST_BYTES,
    ) -> Remote:
        """A server that is briefly down (5xx, a reset) gets ``retries`` more tries,
        with backoff; ``cancel`` ends the wait at once."""
        failures = 0
        while True:
            try:
                return self.probe(url, first_bytes)
            except RetriableError as e:
                failures += 1
                if failures > retries:
                    raise FatalError(str(e)) from None
                delay = backoff_delay(failures, e.retry_after)
                on_retry(f"{e}; retrying in {delay:.1f} s")
                if cancel.wait(delay):
                    raise Cancelled("interrupted") from None

    def read_range(self, remote: Remote, start: int, end: int) -> bytes:
        """A few bytes, whole, into memory (a sample to compare, never file data)."""
        stream = self.open_range(remote, start, end)
        try:
            buf = bytearray(end - start)
            view, got = memoryview(buf), 0
            while got < len(buf) and (n := stream.readinto(view[got:])):
                got += n
            return bytes(buf[:got])
        finally:
            stream.close()

    def open_range(self, remote: Remote, start: int, end: int) -> RangeStream:
        return self._send(lambda session: open_range(session, remote, start, end, self.options))

    def open_whole(self, remote: Remote) -> RangeStream:
        return self._send(lambda session: open_whole(session, remote, self.options))

    def reusable(self) -> bool:
        """Not holding a response open: the next request can go out at once."""
        return self._opened is None

    def close(self) -> None:
        self.discard_opened()
        self._session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
