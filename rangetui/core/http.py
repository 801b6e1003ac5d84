"""The one module that owns ``requests``: a probe and a range stream, nothing else.

Every response is checked here (status, Content-Range, validators) so that the rest of
the core only ever sees bytes that belong where it will write them, or an exception
from :mod:`rangetui.core.errors`.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import fcntl
import http.client
import os
import re
import select
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters

from rangetui import __version__
from rangetui.core.errors import (
    FatalError,
    RangeNotSupported,
    Refused,
    RemoteChanged,
    RetriableError,
)

MAX_REDIRECTS = 10
FILL_SECONDS = 0.25
SPLICE_MIN = 64 * 1024
SPLICE_PIPE = 1024 * 1024
F_SETPIPE_SZ = 1031
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE_RE = re.compile(
    r"^\s*bytes\s+(?:(\d{1,20})-(\d{1,20})|\*)/(\d{1,20}|\*)\s*$", re.IGNORECASE | re.ASCII
)


@dataclass(frozen=True)
class Remote:
    """What the probe learnt; the validators decide whether saved bytes still belong."""

    url: str
    size: int | None
    etag: str | None
    last_modified: str | None
    accept_ranges: bool
    content_disposition: str | None = None
    cross_host: bool = False
    """The probe was redirected to another host: credentials must not follow."""

    def same_file_as(self, other: Remote) -> bool:
        if self.size != other.size:
            return False
        if self.etag and other.etag:
            return self.etag == other.etag
        if self.last_modified and other.last_modified:
            return self.last_modified == other.last_modified
        return self.etag == other.etag and self.last_modified == other.last_modified

    def if_range(self) -> str | None:
        """Strong ETag, else Last-Modified (RFC 9110 forbids weak ETags in If-Range)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified


@dataclass(frozen=True)
class HttpOptions:
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 15.0
    verify: bool | str = True


def redact(url: str) -> str:
    """The URL without userinfo, for messages and logs; never raises, even on a bad URL."""
    head, sep, rest = url.partition("//")
    if not sep:
        return url
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends, default=len(rest))
    netloc = rest[:end]
    if "@" not in netloc:
        return url
    return head + sep + netloc.rpartition("@")[2] + rest[end:]


def check_url(url: str) -> None:
    """Reject what is not an http(s) URL before any network traffic."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise FatalError(f"not a valid URL: {redact(url)}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FatalError(f"not an http or https URL: {redact(url)}")


class _Session(requests.Session):
    """requests drops Authorization when a redirect leaves the host; do the same for Cookie."""

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        original = response.request.url or ""
        if self.should_strip_auth(original, prepared_request.url or ""):  # type: ignore[no-untyped-call]
            prepared_request.headers.pop("Cookie", None)

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Any,
        stream: Any,
        verify: Any,
        cert: Any,
    ) -> Any:
        """The environment's proxies and CA bundle, read once per origin, not per request.

        requests scans every environment variable for proxy settings on each request
        (0.17 ms of a 0.6 ms HEAD here); the environment does not change while we run,
        so one answer per scheme and host serves every later request.
        """
        parts = urlsplit(url if isinstance(url, str) else (url or b"").decode("latin-1"))
        key = (
            parts.scheme,
            parts.netloc,
            _frozen(proxies),
            _frozen(self.proxies),
            stream,
            verify,
            cert,
            self.trust_env,
        )
        cached: Any = _ENV_SETTINGS.get(key)
        if cached is None:
            cached = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(_ENV_SETTINGS) >= _ENV_SETTINGS_MAX:
                _ENV_SETTINGS.clear()
            _ENV_SETTINGS[key] = cached
        return {**cached, "proxies": dict(cached["proxies"])}


_ENV_SETTINGS: dict[tuple[Any, ...], Any] = {}
_ENV_SETTINGS_MAX = 256


def _frozen(mapping: Any) -> tuple[tuple[Any, Any], ...]:
    return tuple(sorted(mapping.items())) if mapping else ()


def new_session(options: HttpOptions) -> requests.Session:
    """One session per connection: its own socket, no pool contention between threads."""
    session = _Session()
    session.max_redirects = MAX_REDIRECTS
    session.verify = options.verify
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {"User-Agent": f"rangetui/{__version__}", "Accept-Encoding": "identity", "Accept": "*/*"}
    )
    session.headers.update(dict(options.headers))
    return session


def _timeouts(options: HttpOptions) -> tuple[float, float]:
    return (min(10.0, options.timeout), options.timeout)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    number = _number(value)
    if number is not None:
        return float(number)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _success(resp: requests.Response) -> bool:
    """2xx only: a 3xx that was not followed (no Location) is not the file."""
    return 200 <= resp.status_code < 300


def printable(text: str, limit: int = 200) -> str:
    """Server-supplied text without control characters: it goes to a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _status_error(resp: requests.Response) -> Exception:
    status = resp.status_code
    reason = printable(resp.reason or http.client.responses.get(status, ""))
    text = f"the server answered {status} {reason}".rstrip()
    if 300 <= status < 400:
        return FatalError(text + " without a usable redirect")
    if status in RETRIABLE_STATUSES or status >= 500:
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        return RetriableError(text, retry_after, status)
    hint = {
        401: " (authentication required: pass credentials with --header)",
        403: " (access denied)",
        404: " (no such file on the server)",
        410: " (the file is gone)",
    }.get(status)
    if hint is not None:
        return Refused(text + hint, status)
    return FatalError(text)


def _request(
    session: requests.Session, method: str, url: str, options: HttpOptions, **kw: Any
) -> requests.Response:
    """One request with every transport failure mapped to our exceptions."""
    try:
        return session.request(
            method, url, timeout=_timeouts(options), stream=True, verify=options.verify, **kw
        )
    except requests.exceptions.TooManyRedirects:
        raise FatalError(f"more than {MAX_REDIRECTS} redirects for {redact(url)}") from None
    except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
        raise FatalError(
            f"a redirect or URL leads to an unsupported scheme: {redact(url)}"
        ) from None
    except requests.exceptions.InvalidURL:
        raise FatalError(f"invalid URL: {redact(url)}") from None
    except (requests.exceptions.InvalidHeader, ValueError) as e:
        raise FatalError(f"invalid URL or header: {_first_line(e)}") from None
    except requests.exceptions.SSLError as e:
        raise FatalError(f"TLS error for {redact(url)}: {_first_line(e)}") from None
    except requests.exceptions.ConnectTimeout:
        raise RetriableError(f"timed out connecting to {_host(url)}") from None
    except requests.exceptions.ReadTimeout:
        raise RetriableError(f"no answer from {_host(url)} (timed out)") from None
    except requests.exceptions.ConnectionError as e:
        if _no_such_host(e):  # a typo in the host name does not fix itself
            raise FatalError(f"cannot connect to {_host(url)}: host not found") from None
        raise RetriableError(f"cannot connect to {_host(url)}: {_cause(e)}") from None
    except requests.exceptions.RequestException as e:
        raise RetriableError(f"request failed: {_first_line(e)}") from None


def _host(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2] or url


def _first_line(e: BaseException) -> str:
    return printable(str(e).splitlines()[0]) if str(e) else type(e).__name__


def _no_such_host(e: BaseException) -> bool:
    """NXDOMAIN is final; "temporary failure in name resolution" is worth a retry."""
    text = str(e)
    return "Name or service not known" in text or "nodename nor servname" in text


def _cause(e: BaseException) -> str:
    text = str(e)
    for needle, said in (
        ("Name or service not known", "host not found"),
        ("nodename nor servname", "host not found"),
        ("Temporary failure in name resolution", "host not found"),
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("timed out", "timed out"),
    ):
        if needle in text:
            return said
    return _first_line(e)


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes a-b/total`` → (a, b inclusive, total); None where absent or ``*``."""
    match = _CONTENT_RANGE_RE.match(value or "")
    if not match:
        return (None, None, None)
    a, b, total = match.groups()
    return (
        int(a) if a is not None else None,
        int(b) if b is not None else None,
        int(total) if total and total != "*" else None,
    )


def _number(value: str | None) -> int | None:
    """A header's decimal number; None for anything else (hostile digits included)."""
    value = (value or "").strip()
    if not value or len(value) > 20 or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def _length(resp: requests.Response) -> int | None:
    return _number(resp.headers.get("Content-Length"))


def _remote_from(resp: requests.Response, size: int | None, ranges: bool) -> Remote:
    first = resp.history[0].request.url if resp.history else resp.url
    cross = bool(resp.history) and _Session().should_strip_auth(first or "", resp.url)  # type: ignore[no-untyped-call]
    return Remote(
        cross_host=cross,
        url=resp.url,
        size=size,
        etag=resp.headers.get("ETag"),
        last_modified=resp.headers.get("Last-Modified"),
        accept_ranges=ranges and size is not None,
        content_disposition=resp.headers.get("Content-Disposition"),
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
        head = _request(session, "HEAD", url, options, allow_redirects=True)
        _finish_small(head)
        size = _length(head)
        if _success(head) and head.headers.get("Accept-Ranges", "").lower() == "bytes" and size:
            return _remote_from(head, size, ranges=True)
        start_url = head.url if _success(head) else url
    resp = _request(
        session, "GET", start_url, options, allow_redirects=True, headers={"Range": "bytes=0-0"}
    )
    try:
        return _remote_from_probe(resp)
    finally:
        _finish_small(resp)


def _remote_from_probe(resp: requests.Response) -> Remote:
    if resp.status_code == 206:
        _, _, total = parse_content_range(resp.headers.get("Content-Range"))
        return _remote_from(resp, total, ranges=total is not None)
    if resp.status_code == 416:
        _, _, total = parse_content_range(resp.headers.get("Content-Range"))
        if total == 0:
            return _remote_from(resp, 0, ranges=False)
    if not _success(resp):
        raise _status_error(resp)
    return _remote_from(resp, _length(resp), ranges=False)


def _finish_small(resp: requests.Response) -> None:
    """Keep the connection for the next request when the body is tiny (HEAD, 1 byte)."""
    length = _length(resp)
    with contextlib.suppress(Exception):
        if resp.request.method == "HEAD" or (length is not None and length <= 1024):
            resp.raw.read(1025, decode_content=False)
            resp.raw.release_conn()
            return
    resp.close()


class RangeStream:
    """The body of one checked response, read into caller-owned buffers."""

    def __init__(self, resp: requests.Response, length: int | None) -> None:
        self._resp = resp
        self._left = length
        fp = getattr(resp.raw, "_fp", None)
        # Reading through http.client's socket file fills our buffer straight from the
        # socket: no copy and no fresh bytes object per read, as urllib3's read() makes.
        plain = isinstance(fp, http.client.HTTPResponse) and not fp.chunked
        self._body: http.client.HTTPResponse | None = fp if plain else None
        self._error: RetriableError | None = None
        self._splice: Splice | None = None
        self._copy_only = False

    def _socket(self) -> Any:
        conn = getattr(self._resp.raw, "_connection", None) or getattr(
            self._resp.raw, "connection", None
        )
        return getattr(conn, "sock", None)

    def splice_into(self, fd: int, offset: int, want: int) -> int | None:
        """Move up to ``want`` body bytes from the socket into ``fd`` at ``offset`` inside
        the kernel (splice through a pipe): no copy through Python, about a third less
        CPU on a fast link. None when this stream cannot (TLS, chunked, a short body);
        the caller then uses :meth:`readinto` for the whole stream.

        The choice is made once per stream: after the first spliced byte, http.client's
        buffer is empty and must stay so, or bytes would be skipped."""
        if self._splice is None:
            if not self._start_splice():
                return None
            return self._drain_buffered(fd, offset)
        if self._left == 0:
            return 0
        try:
            n = self._splice.move(fd, offset, min(want, self._left or 0))
        except TimeoutError:
            raise RetriableError("the connection stalled (no data before the timeout)") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                raise  # the file's fault: the caller reports a disk error
            raise RetriableError(f"the connection dropped: {_first_line(e)}") from None
        if n == 0:
            raise RetriableError("the server closed the connection early")
        self._account(n)
        return n

    def _start_splice(self) -> bool:
        if self._copy_only:
            return False
        sock = self._socket()
        body_left = self._left or 0
        if self._body is None or type(sock) is not socket.socket or body_left < 2 * SPLICE_MIN:
            self._copy_only = True
            return False
        self._splice = Splice(sock)
        return True

    def _drain_buffered(self, fd: int, offset: int) -> int:
        """One read of SPLICE_MIN through http.client: it returns what it had buffered and
        reads the rest straight from the socket, leaving its buffer empty."""
        buf = memoryview(bytearray(SPLICE_MIN))
        n = self._read_some(buf)
        if n == 0:
            raise RetriableError("the server closed the connection early")
        done = 0
        while done < n:
            done += os.pwrite(fd, buf[done:n], offset + done)
        if self._left is not None:
            self._left -= n
        return n

    def _account(self, n: int) -> None:
        body = self._body
        assert body is not None and self._left is not None
        self._left -= n
        if body.length is not None:
            body.length -= n
            if body.length == 0:
                body._close_conn()  # type: ignore[attr-defined]  # as http.client does at the end

    def readinto(self, buf: memoryview) -> int:
        """Fill ``buf`` as far as the link gives within FILL_SECONDS; 0 means a clean end.

        A slow link must not hold bytes in the buffer for long (they would be lost on
        Ctrl-C and progress would jump), and a fast one should fill it (fewer writes).
        An error after some bytes arrived is raised on the next call, so they are kept.
        """
        if self._error is not None:
            raise self._error
        if self._left is not None:
            if self._left == 0:
                return 0
            buf = buf[: self._left]
        filled = 0
        deadline = time.monotonic() + FILL_SECONDS
        while filled < len(buf):
            try:
                n = self._read_some(buf[filled:])
            except RetriableError as e:
                if not filled:
                    raise
                self._error = e
                break
            if n == 0:
                break
            filled += n
            if time.monotonic() >= deadline:
                break
        if filled == 0 and self._left:
            raise RetriableError("the server closed the connection early")
        if self._left is not None:
            self._left -= filled
        return filled

    def _read_some(self, buf: memoryview) -> int:
        try:
            return self._read_once(buf) if self._body is not None else self._read_copy(buf)
        except TimeoutError:
            raise RetriableError("the connection stalled (no data before the timeout)") from None
        except (http.client.IncompleteRead, ConnectionError, OSError, ValueError) as e:
            raise RetriableError(f"the connection dropped: {_first_line(e)}") from None
        except Exception as e:  # urllib3 protocol errors when reading raw
            raise RetriableError(f"the connection failed: {_first_line(e)}") from None

    def _read_once(self, buf: memoryview) -> int:
        """One socket read into ``buf``, keeping http.client's count in step for reuse."""
        body = self._body
        assert body is not None
        if body.fp is None:
            return 0
        if body.length is not None and len(buf) > body.length:
            buf = buf[: body.length]
        n = body.fp.readinto1(buf)
        if body.length is not None:
            body.length -= n
        if n == 0 or body.length == 0:
            body._close_conn()  # type: ignore[attr-defined]  # as http.client does at the end
        return n

    def _read_copy(self, buf: memoryview) -> int:
        data = self._resp.raw.read(len(buf), decode_content=False)
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Return a fully read connection to the pool; drop one we leave mid-body."""
        if self._splice is not None:
            self._splice.close()
        with contextlib.suppress(Exception):
            if self._left == 0 and self._body is not None and self._body.isclosed():
                self._resp.raw.release_conn()
            else:
                self._resp.close()

    def abort(self) -> None:
        """Wake a read blocked in another thread (pause, quit): shut the socket down."""
        conn = getattr(self._resp.raw, "_connection", None) or getattr(
            self._resp.raw, "connection", None
        )
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Splice:
    """A pipe that carries bytes from a socket to a file without leaving the kernel."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.r, self.w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.w, F_SETPIPE_SZ, SPLICE_PIPE)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN | select.POLLPRI)
        timeout = sock.gettimeout()
        self._timeout_ms = None if timeout is None else int(timeout * 1000)

    def move(self, fd: int, offset: int, want: int) -> int:
        """Bytes moved from the socket into ``fd`` at ``offset``; 0 at the end of stream.

        The pipe is drained into the file before returning, so a failure leaves nothing
        in it that was counted; on any error the stream is closed, never reused.
        """
        while True:
            if not self._poll.poll(self._timeout_ms):
                raise TimeoutError
            try:
                n = os.splice(self.sock.fileno(), self.w, want, flags=SPLICE_FLAGS)
                break
            except BlockingIOError:
                continue
        moved = 0
        while moved < n:
            moved += os.splice(self.r, fd, n - moved, offset_dst=offset + moved)
        return n

    def close(self) -> None:
        for end in (self.r, self.w):
            with contextlib.suppress(OSError):
                os.close(end)


def _check_same_remote(resp: requests.Response, remote: Remote, total: int | None) -> None:
    etag = resp.headers.get("ETag")
    modified = resp.headers.get("Last-Modified")
    if (
        (total is not None and remote.size is not None and total != remote.size)
        or (etag and remote.etag and etag != remote.etag)
        or (modified and remote.last_modified and modified != remote.last_modified)
    ):
        raise RemoteChanged("the file on the server has changed")


def _cross_host(remote: Remote) -> dict[str, str | None]:
    """None removes a session header: no user credentials for a host they were not for."""
    return {"Authorization": None, "Cookie": None} if remote.cross_host else {}


def open_range(
    session: requests.Session, remote: Remote, start: int, end: int, options: HttpOptions
) -> RangeStream:
    """GET bytes ``[start, end)``; any answer but the exact range is an exception."""
    headers: dict[str, str | None] = {"Range": f"bytes={start}-{end - 1}", **_cross_host(remote)}
    validator = remote.if_range()
    if validator:
        headers["If-Range"] = validator
    resp = _request(session, "GET", remote.url, options, headers=headers, allow_redirects=True)
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
        length = _length(resp)
        if length is not None and length != end - start:
            raise RetriableError("the server sent a Content-Length that does not match the range")
        return RangeStream(resp, end - start)
    if resp.status_code == 200:
        _check_same_remote(resp, remote, _length(resp))
        raise RangeNotSupported("the server ignored the Range request")
    if resp.status_code == 416:
        raise RemoteChanged("the server says the range is past the end of the file")
    raise _status_error(resp)


def open_whole(session: requests.Session, remote: Remote, options: HttpOptions) -> RangeStream:
    """GET the whole body, for servers without Range support or without a length."""
    resp = _request(
        session, "GET", remote.url, options, allow_redirects=True, headers=_cross_host(remote)
    )
    if not _success(resp):
        resp.close()
        raise _status_error(resp)
    try:
        _check_same_remote(resp, remote, _length(resp))
    except BaseException:
        resp.close()
        raise
    return RangeStream(resp, _length(resp))


class Connection:
    """One HTTP connection's session, so callers need not know ``requests`` exists."""

    def __init__(self, options: HttpOptions) -> None:
        self.options = options
        self._session = new_session(options)

    def probe(self, url: str, trust_head: bool = True) -> Remote:
        return probe(self._session, url, self.options, trust_head)

    def open_range(self, remote: Remote, start: int, end: int) -> RangeStream:
        return open_range(self._session, remote, start, end, self.options)

    def open_whole(self, remote: Remote) -> RangeStream:
        return open_whole(self._session, remote, self.options)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
