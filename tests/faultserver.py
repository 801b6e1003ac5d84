"""A fault-injecting HTTP/1.1 Range server for tests, bound to 127.0.0.1.

Stdlib only. Each path serves a :class:`Resource` whose options inject the
faults a download manager must survive: no Range support, no length, wrong
``Content-Range``, short bodies, dropped or stalled connections, error
statuses with ``Retry-After``, rate limits and redirects; and hostile ones:
endless bodies or header blocks, overlong 206 bodies, chunked bodies of tiny
chunks, tiny socket writes, and a representation that changes every N GETs.
``FaultServer(ssl_context=...)`` serves HTTPS.

Misbehaviour of real servers and CDNs: a HEAD that disagrees with GET
(``head_headers``), a lone 200 to a Range request (``ignore_range_times``), a
per-client connection limit (``max_concurrent``), a hostile reason phrase
(``reason``) and short-lived signed redirect targets (``add_redirect(signed=True)``
with ``sig_ttl`` on the target).

``fail_statuses`` and ``drop_times`` are consumed in place: each failing GET
pops one status, each fired drop/short/stall fault decrements ``drop_times``.
Setting them again on :meth:`FaultServer.resource` re-arms the fault.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import random
import re
import socket
import socketserver
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import parse_qs, unquote, urlsplit

AUTO_ETAG: Final = "<auto>"
"""Default of :attr:`Resource.etag`: replaced by a strong ETag derived from the data."""

SLICE: Final = 256 * 1024
"""Largest single socket write of a body."""

RangeResult = tuple[int, int] | Literal["ignore", "unsatisfiable"]

_BYTE_RANGE: Final = re.compile(r"^\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*$", re.I | re.A)


def make_etag(data: bytes) -> str:
    """The automatic strong ETag of ``data``."""
    return '"' + hashlib.sha1(data).hexdigest()[:16] + '"'


@dataclass
class Resource:
    """One file served by :class:`FaultServer` and the faults to inject."""

    data: bytes
    etag: str | None = AUTO_ETAG
    last_modified: str | None = "Wed, 21 Oct 2015 07:28:00 GMT"
    accept_ranges: bool = True
    send_length: bool = True
    head_status: int | None = None
    content_disposition: str | None = None
    head_omits_disposition: bool = False
    """As moto's S3 on a presigned URL: the name only in GET answers, never in HEAD's."""
    content_encoding: str | None = None
    content_type: str = "application/octet-stream"
    wrong_content_range: bool = False
    extra_bytes: int = 0
    short_body: int | None = None
    drop_after: int | None = None
    drop_times: int = 1_000_000
    stall_after: int | None = None
    stall_seconds: float = 30.0
    fail_statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    rate: int | None = None
    status: int | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    endless: bool = False
    """After the body, keep sending filler bytes until the client goes away."""
    endless_headers: bool = False
    """Answer with a status line and header lines forever, never ending the header block."""
    chunked: bool = False
    """``Transfer-Encoding: chunked`` (no ``Content-Length``), chunks of ``chunk_size``."""
    chunk_size: int = SLICE
    write_size: int | None = None
    """Largest single socket write of a body (tiny writes when small)."""
    overlong_206: int = 0
    """Bytes a 206 sends past the asked range, counted in its ``Content-Length``."""
    versions: list[bytes] = field(default_factory=list)
    """Next representations, consumed one every ``change_every`` GETs."""
    change_every: int | None = None
    head_headers: dict[str, str] = field(default_factory=dict)
    """Merged onto HEAD answers only, after ``extra_headers``: a HEAD that disagrees with GET."""
    require_header: tuple[str, str] | None = None
    """Answer 401 unless this header contains this text (cookies, basic auth)."""
    if_range_200: bool = False
    """Answer any conditional range request (If-Range) with 200 and the whole body."""
    ignore_range_times: int = 0
    """The next N ranged GETs are answered 200 with the whole body; consumed in place."""
    max_concurrent: int | None = None
    """GETs beyond this many in flight at once get 503 with ``Retry-After: 1``."""
    head_gate: threading.Barrier | None = None
    """HEADs wait (up to 2 s) at this barrier, so that several clients' probes end together."""
    reason: str | None = None
    """The reason phrase of every status line for this resource, sent verbatim."""
    sig_ttl: float | None = None
    """Only requests whose ``sig`` query a signed redirect issued in the last
    ``sig_ttl`` seconds are served; the others get 403 (an expired signed URL)."""
    slow_connections: int = 0
    """The first N connections that GET this resource are paced at ``slow_rate`` for as
    long as they stay open (a bad route); later connections get ``rate``."""
    slow_rate: int = 100 * 1024
    bursty: bool = False
    """Every connection alternates between sending and stalling for random spells (about
    a second each), as a server that is slow for everyone serves connections in
    turns: each is as fast as the others over time, none is steady."""
    auto_etag: bool = field(init=False, default=False)
    gets: int = field(init=False, default=0)
    """GETs that reached the body stage (ranged or not), for ``change_every``."""
    inflight: int = field(init=False, default=0)
    """GETs being answered right now, for ``max_concurrent``."""
    slow_bytes: int = field(init=False, default=0)
    """Body bytes written on ``slow_connections``."""

    def __post_init__(self) -> None:
        if self.etag == AUTO_ETAG:
            self.auto_etag = True
            self.etag = make_etag(self.data)

    def replace_data(self, data: bytes, etag: str | None = AUTO_ETAG) -> None:
        """Serve new bytes; the ETag is recomputed unless given."""
        self.data = data
        self.etag = make_etag(data) if etag == AUTO_ETAG else etag


@dataclass(frozen=True)
class Redirect:
    """A path answering a redirect to ``location`` (sent verbatim)."""

    location: str
    status: int = 302
    signed: bool = False
    """Append a fresh ``sig=N`` query to ``location`` on every answer."""


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it and the status it answered."""

    method: str
    path: str
    """The request target as sent, query string included."""
    route: str
    """The path the request was matched on (no query string)."""
    headers: dict[str, str]
    range: str | None
    status: int
    client_port: int

    @property
    def range_header(self) -> str | None:
        return self.range

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


def parse_range(value: str, size: int) -> RangeResult:
    """``(start, end_exclusive)`` for one byte range, or why there is none."""
    match = _BYTE_RANGE.match(value)
    if match is None:
        return "ignore"
    first, last = match.groups()
    if not first and not last:
        return "ignore"
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return "ignore"
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1) + 1


def if_range_matches(value: str, etag: str | None, last_modified: str | None) -> bool:
    """Whether ``If-Range: value`` names the current representation (strong compare).

    As Apache does (RFC 9110 13.1.5): a date matches only when Last-Modified is a strong
    validator, at least a second older than now.
    """
    value = value.strip()
    if etag is not None and not etag.startswith("W/") and value == etag:
        return True
    if last_modified is None or value != last_modified:
        return False
    try:
        age = time.time() - email.utils.parsedate_to_datetime(last_modified).timestamp()
    except (TypeError, ValueError):
        return False
    return age >= 1


class _Stopped(Exception):
    """The server is stopping: abandon the response."""


class _Pacer:
    """Sleep-paces writes to ``rate`` bytes/second; wakes when the server stops."""

    def __init__(
        self,
        rate: int | None,
        stop: threading.Event,
        step: int | None = None,
        slow_of: Resource | None = None,
        bursty: bool = False,
    ) -> None:
        self.rate = rate if rate is not None and rate > 0 else None
        self._spells: random.Random | None = random.Random() if bursty else None
        self._spell_ends = time.monotonic()
        self.step = SLICE if self.rate is None else max(1, min(SLICE, self.rate // 20))
        if step is not None:
            self.step = max(1, min(self.step, step))
        self._stop = stop
        self._start = time.monotonic()
        self._sent = 0
        self.slow_of = slow_of  # whose slow_bytes these writes count toward, if any

    def sent(self, count: int) -> None:
        self._sent += count
        self._stall_spell()
        if self.rate is None:
            return
        delay = self._start + self._sent / self.rate - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            raise _Stopped

    def _stall_spell(self) -> None:
        """Bursty: at the end of each sending spell, stall for a spell, then send again."""
        rng = self._spells
        if rng is None or time.monotonic() < self._spell_ends:
            return
        stall = _spell(rng)
        if self._stop.wait(stall):
            raise _Stopped
        self._start += stall  # a stall is not made up for by a burst afterwards
        self._spell_ends = time.monotonic() + _spell(rng)


def _spell(rng: random.Random) -> float:
    return min(3.0, rng.expovariate(1 / 1.0))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake happens here, in the connection's own thread."""
        context = self.owner.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        try:
            tls = context.wrap_socket(request, server_side=True)
        except OSError:  # includes ssl.SSLError: the client refused our certificate
            return
        try:
            tls.settimeout(None)
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn); skip that.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects are expected; anything else is a bug worth printing.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultserver/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = None
    _chunked = False
    _slow: bool | None = None  # this connection is one of a resource's slow_connections

    @property
    def owner(self) -> FaultServer:
        server = self.server
        assert isinstance(server, _Server)
        return server.owner

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.owner._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._unregister(self.connection)

    def do_GET(self) -> None:
        self._guarded(head=False)

    def do_HEAD(self) -> None:
        self._guarded(head=True)

    def _has(self, wanted: tuple[str, str]) -> bool:
        """The request carries header ``wanted[0]`` containing ``wanted[1]``."""
        return wanted[1] in (self.headers.get(wanted[0]) or "")

    def _guarded(self, head: bool) -> None:
        try:
            self._serve(head)
        except (OSError, _Stopped):
            self.close_connection = True

    def _serve(self, head: bool) -> None:
        route, entry = self.owner._match(self.path)
        if entry is None:
            self._answer_plain(route, 404, head)
        elif isinstance(entry, Resource) and entry.endless_headers:
            self._flood_headers(route, entry)
        elif isinstance(entry, Redirect):
            location = self.owner._sign(entry.location) if entry.signed else entry.location
            headers = [("Location", location), ("Content-Length", "0")]
            self._start(route, entry.status, headers)
        elif entry.sig_ttl is not None and not self.owner._signature_ok(self.path, entry.sig_ttl):
            self._answer_plain(route, 403, head, entry)
        elif entry.require_header is not None and not self._has(entry.require_header):
            self._answer_plain(route, 401, head, entry)
        elif entry.status is not None:
            self._answer_plain(route, entry.status, head, entry)
        elif head:
            if entry.head_gate is not None:
                with contextlib.suppress(threading.BrokenBarrierError):
                    entry.head_gate.wait(2.0)
            self._serve_head(route, entry)
        else:
            failed = self.owner._take_fail_status(entry)
            if failed is not None:
                self._answer_plain(route, failed, head, entry)
            elif not self.owner._enter(entry):
                self._answer_plain(route, 503, head, entry, retry_after="1")
            else:
                try:
                    self._serve_get(route, entry)
                finally:
                    self.owner._leave(entry)

    def _answer_plain(
        self,
        route: str,
        status: int,
        head: bool,
        res: Resource | None = None,
        retry_after: str | None = None,
    ) -> None:
        phrase = self.responses.get(status, ("",))[0]
        body = f"{status} {phrase}\n".encode()
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        reason = None
        if res is not None:
            retry_after = retry_after or res.retry_after
            if retry_after is not None:
                headers.append(("Retry-After", retry_after))
            headers = _merge(headers, res.extra_headers)
            reason = res.reason
        self._start(route, status, headers, reason)
        if not head:
            self.wfile.write(body)

    def _serve_head(self, route: str, res: Resource) -> None:
        if res.head_status is not None:
            headers = _merge([("Content-Length", "0")], res.extra_headers)
            self._start(route, res.head_status, _merge(headers, res.head_headers), res.reason)
            return
        headers = _entity_headers(res)
        if res.head_omits_disposition:
            headers = [(k, v) for k, v in headers if k != "Content-Disposition"]
        if res.send_length:
            headers.append(("Content-Length", str(len(res.data))))
        headers = _merge(_merge(headers, res.extra_headers), res.head_headers)
        self._start(route, 200, headers, res.reason)

    def _serve_get(self, route: str, res: Resource) -> None:
        data, etag = self.owner._current_version(res)
        size = len(data)
        wanted = self._wanted_range(res, size, etag)
        headers = _entity_headers(res, etag)
        if wanted == "unsatisfiable":
            headers += [("Content-Range", f"bytes */{size}"), ("Content-Length", "0")]
            self._start(route, 416, _merge(headers, res.extra_headers), res.reason)
            return
        start, end = (0, size) if wanted == "ignore" else wanted
        status = 200 if wanted == "ignore" else 206
        body = memoryview(data)[start:end]
        if status == 206:
            shift = 1 if res.wrong_content_range else 0
            first, last = start + shift, end - 1 + shift
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            if res.overlong_206 > 0:
                body = memoryview(bytes(body) + b"!" * res.overlong_206)
        self._chunked = res.chunked
        if res.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif res.send_length:
            headers.append(("Content-Length", str(len(body))))
        else:
            self.close_connection = True
        self._start(route, status, _merge(headers, res.extra_headers), res.reason)
        complete = self._send_body(route, res, body)
        if complete and res.endless:
            self.close_connection = True
            self._send_endless(route, res)
        if status == 206 and res.extra_bytes > 0 and complete:
            self._write(route, memoryview(b"!" * res.extra_bytes), _Pacer(None, self.owner._stop))
            self.close_connection = True
        if complete and res.chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _send_endless(self, route: str, res: Resource) -> None:
        """Filler after the body until the client hangs up or the server stops."""
        pacer = self._pacer(res)
        filler = memoryview(b"\xee" * pacer.step)
        while not self.owner._stop.is_set():
            self._write(route, filler, pacer)

    def _flood_headers(self, route: str, res: Resource) -> None:
        """A status line, then header lines forever (paced by ``rate`` if set)."""
        self.owner._record(self, route, 200)
        self.close_connection = True
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        pacer = _Pacer(res.rate, self.owner._stop)
        line = 0
        while not self.owner._stop.is_set():
            text = f"X-Flood-{line}: {'v' * 48}\r\n".encode()
            self.wfile.write(text)
            pacer.sent(len(text))
            line += 1

    def _wanted_range(self, res: Resource, size: int, etag: str | None) -> RangeResult:
        value = self.headers.get("Range")
        if value is None or not res.accept_ranges or self.owner._take_ignore_range(res):
            return "ignore"
        if_range = self.headers.get("If-Range")
        if if_range is not None and (
            res.if_range_200 or not if_range_matches(if_range, etag, res.last_modified)
        ):
            return "ignore"
        return parse_range(value, size)

    def _start(
        self, route: str, status: int, headers: list[tuple[str, str]], reason: str | None = None
    ) -> None:
        """Record the request, then send the status line and headers."""
        self.owner._record(self, route, status)
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _pacer(self, res: Resource) -> _Pacer:
        step = res.write_size
        if res.chunked:
            step = min(step or res.chunk_size, res.chunk_size)
        if self._slow is None and res.slow_connections:
            self._slow = self.owner._take_slow(res)
        if self._slow:
            return _Pacer(res.slow_rate, self.owner._stop, step, slow_of=res)
        return _Pacer(res.rate, self.owner._stop, step, bursty=res.bursty)

    def _send_body(self, route: str, res: Resource, body: memoryview) -> bool:
        """Write ``body`` unless a fault fires; returns whether it was all sent."""
        pacer = self._pacer(res)
        fault = _fault_point(res, len(body))
        if fault is None:
            self._write(route, body, pacer)
            return True
        kind, offset = fault
        self._write(route, body[:offset], pacer)
        if not self.owner._take_fault(res):
            self._write(route, body[offset:], pacer)
            return True
        self.close_connection = True
        if kind == "drop":
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif kind == "stall":
            self.owner._stop.wait(res.stall_seconds)
        return False

    def _write(self, route: str, chunk: memoryview, pacer: _Pacer) -> None:
        pos, total = 0, len(chunk)
        while pos < total:
            piece = chunk[pos : pos + pacer.step]
            # Count first, so a client that has read the body always sees it counted.
            self.owner._count(route, len(piece), pacer.slow_of)
            try:
                if self._chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
            except OSError:
                self.owner._count(route, -len(piece), pacer.slow_of)
                raise
            pos += len(piece)
            pacer.sent(len(piece))


def _entity_headers(res: Resource, etag: str | None = AUTO_ETAG) -> list[tuple[str, str]]:
    headers = [("Content-Type", res.content_type)]
    optional = [
        ("ETag", res.etag if etag == AUTO_ETAG else etag),
        ("Last-Modified", res.last_modified),
        ("Content-Disposition", res.content_disposition),
        ("Content-Encoding", res.content_encoding),
    ]
    headers += [(name, value) for name, value in optional if value is not None]
    if res.accept_ranges:
        headers.append(("Accept-Ranges", "bytes"))
    return headers


def _merge(headers: list[tuple[str, str]], extra: dict[str, str]) -> list[tuple[str, str]]:
    """``headers`` with ``extra`` added, replacing same-named ones (case-insensitive)."""
    names = {name.lower() for name in extra}
    kept = [(name, value) for name, value in headers if name.lower() not in names]
    return kept + list(extra.items())


def _fault_point(res: Resource, length: int) -> tuple[str, int] | None:
    """The first body-affecting fault that would fire within ``length`` bytes."""
    candidates = [
        (offset, order, kind)
        for order, (kind, offset) in enumerate(
            [("short", res.short_body), ("drop", res.drop_after), ("stall", res.stall_after)]
        )
        if offset is not None and 0 <= offset < length
    ]
    if not candidates or res.drop_times <= 0:
        return None
    offset, _, kind = min(candidates)
    return kind, offset


class FaultServer:
    """An in-process HTTP server on 127.0.0.1 serving :class:`Resource` objects."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.peak_inflight = 0
        """The most GETs (of any path) this server answered at once."""
        self._inflight_all = 0
        self.ssl_context = ssl_context
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._routes: dict[str, Resource | Redirect] = {}
        self._sigs: dict[str, float] = {}
        self._sent: dict[str, int] = {}
        self._conns: dict[socket.socket, threading.Thread] = {}
        self.requests: list[RequestRecord] = []
        self._httpd = _Server(self)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.port: int = self._httpd.server_port
        self.scheme = "https" if ssl_context is not None else "http"
        self.base_url: str = f"{self.scheme}://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self._closed:
            raise RuntimeError("FaultServer can be started once")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"faultserver:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and wake stalled handlers."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._stop.set()
            conns = list(self._conns.items())
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for _, thread in conns:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- content -----------------------------------------------------------

    def url(self, path: str, host: str | None = None) -> str:
        """The URL of ``path``; ``host`` (e.g. ``localhost``) names this server another way."""
        if host is None:
            return self.base_url + path
        return f"{self.scheme}://{host}:{self.port}{path}"

    def add(self, path: str, data: bytes, **options: Any) -> str:
        """Serve ``Resource(data, **options)`` at ``path``; returns its URL."""
        self._routes[_check_path(path)] = Resource(data, **options)
        return self.url(path)

    def resource(self, path: str) -> Resource:
        entry = self._routes[path]
        if not isinstance(entry, Resource):
            raise KeyError(f"{path} is a redirect")
        return entry

    def add_redirect(
        self, path: str, location: str, status: int = 302, signed: bool = False
    ) -> str:
        """Answer ``status`` with ``Location: location`` at ``path``; returns its URL.

        ``signed``: every answer appends a fresh ``sig=N`` query, as short-lived signed
        URLs do; a target with ``sig_ttl`` set serves only recent signatures.
        """
        self._routes[_check_path(path)] = Redirect(location, status, signed)
        return self.url(path)

    def signatures_issued(self) -> int:
        """How many signed redirects have been answered."""
        with self._lock:
            return len(self._sigs)

    # -- counters ----------------------------------------------------------

    def bytes_sent(self, path: str | None = None) -> int:
        """Body bytes written for GETs of ``path`` (query ignored), or of all paths.

        A slice is counted just before it is written (and uncounted if the write
        fails), so once a client has read bytes they are always counted.
        """
        with self._lock:
            if path is None:
                return sum(self._sent.values())
            return self._sent.get(_strip_query(path), 0)

    def serving(self, path: str) -> bool:
        """Whether a GET of ``path`` is being answered right now."""
        res = self.resource(path)
        with self._lock:
            return res.inflight > 0

    def wait_idle(self, path: str, timeout: float = 5.0) -> bool:
        """Wait until no GET of ``path`` is being served; False on timeout.

        A client that closes its socket is noticed only at the handler's next
        write, and the write before that lands in the kernel buffer and is
        counted; tests that compare :meth:`bytes_sent` across a pause wait here
        first so that slice does not look like traffic after the pause.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.serving(path):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def get_count(self, path: str) -> int:
        """Number of GET requests matched on ``path`` (query ignored)."""
        route = _strip_query(path)
        with self._lock:
            return sum(1 for r in self.requests if r.method == "GET" and r.route == route)

    def reset_counters(self) -> None:
        """Zero :meth:`bytes_sent` and clear :attr:`requests` (hence :meth:`get_count`)."""
        with self._lock:
            self._sent.clear()
            self.requests.clear()

    # -- used by the handler -----------------------------------------------

    def _match(self, target: str) -> tuple[str, Resource | Redirect | None]:
        route = _strip_query(target)
        entry = self._routes.get(route)
        if entry is None:
            decoded = unquote(route)
            entry = self._routes.get(decoded)
            if entry is not None:
                route = decoded
        return route, entry

    def _register(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns[sock] = threading.current_thread()
            stopping = self._stop.is_set()
        if stopping:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _unregister(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.pop(sock, None)

    def _record(self, handler: BaseHTTPRequestHandler, route: str, status: int) -> None:
        record = RequestRecord(
            method=handler.command,
            path=handler.path,
            route=route,
            headers=dict(handler.headers.items()),
            range=handler.headers.get("Range"),
            status=status,
            client_port=int(handler.client_address[1]),
        )
        with self._lock:
            self.requests.append(record)

    def _count(self, route: str, count: int, slow: Resource | None = None) -> None:
        with self._lock:
            self._sent[route] = self._sent.get(route, 0) + count
            if slow is not None:
                slow.slow_bytes += count

    def _current_version(self, res: Resource) -> tuple[bytes, str | None]:
        """Count one GET, switch to the next version when due; data and ETag as one."""
        with self._lock:
            n = res.gets
            res.gets += 1
            if res.change_every and n and n % res.change_every == 0 and res.versions:
                res.replace_data(res.versions.pop(0), AUTO_ETAG if res.auto_etag else res.etag)
            return res.data, res.etag

    def _take_fail_status(self, res: Resource) -> int | None:
        with self._lock:
            return res.fail_statuses.pop(0) if res.fail_statuses else None

    def _take_ignore_range(self, res: Resource) -> bool:
        with self._lock:
            if res.ignore_range_times <= 0:
                return False
            res.ignore_range_times -= 1
            return True

    def _enter(self, res: Resource) -> bool:
        """Count one GET in flight; False (not counted) when ``max_concurrent`` are."""
        with self._lock:
            if res.max_concurrent is not None and res.inflight >= res.max_concurrent:
                return False
            res.inflight += 1
            self._inflight_all += 1
            self.peak_inflight = max(self.peak_inflight, self._inflight_all)
            return True

    def _leave(self, res: Resource) -> None:
        with self._lock:
            res.inflight -= 1
            self._inflight_all -= 1

    def _sign(self, location: str) -> str:
        with self._lock:
            sig = str(len(self._sigs) + 1)
            self._sigs[sig] = time.monotonic()
        return f"{location}{'&' if '?' in location else '?'}sig={sig}"

    def _signature_ok(self, target: str, ttl: float) -> bool:
        sig = parse_qs(urlsplit(target).query).get("sig", [""])[0]
        with self._lock:
            issued = self._sigs.get(sig)
        return issued is not None and time.monotonic() - issued <= ttl

    def _take_slow(self, res: Resource) -> bool:
        with self._lock:
            if res.slow_connections <= 0:
                return False
            res.slow_connections -= 1
            return True

    def _take_fault(self, res: Resource) -> bool:
        with self._lock:
            if res.drop_times <= 0:
                return False
            res.drop_times -= 1
            return True


def _strip_query(target: str) -> str:
    """The route of a request target; an absolute-form target (what a client sends to a
    forward proxy) counts as its path, so a FaultServer can stand in for a proxy."""
    if target.startswith(("http://", "https://")):
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0].split("#", 1)[0]


def _check_path(path: str) -> str:
    if not path.startswith("/") or "?" in path:
        raise ValueError(f"path must start with '/' and have no query: {path!r}")
    return path
