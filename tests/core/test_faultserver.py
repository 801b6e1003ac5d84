"""Tests of the fault-injecting server itself, over real loopback sockets."""

from __future__ import annotations

import hashlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.faultserver import FaultServer, parse_range

DATA = bytes(range(256)) * 400  # 102 400 bytes, every offset distinguishable enough
SIZE = len(DATA)


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def raw_get(srv: FaultServer, path: str, extra: str = "", timeout: float = 2.0) -> bytes:
    """Send one GET with ``Connection: close`` and return everything until EOF."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
        sock.sendall(request.encode())
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


# -- plain serving -----------------------------------------------------------


def test_full_get_matches_sha256(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA)
    r = requests.get(url, timeout=5)
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(DATA).hexdigest()
    assert r.headers["Content-Length"] == str(SIZE)
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"] == '"' + hashlib.sha1(DATA).hexdigest()[:16] + '"'
    assert r.headers["Last-Modified"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert r.headers["Content-Type"] == "application/octet-stream"


def test_large_body_is_fast(srv: FaultServer) -> None:
    big = b"\x5a" * (64 * 1024 * 1024)
    srv.add("/big.bin", big)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    start = time.monotonic()
    conn.request("GET", "/big.bin")
    resp = conn.getresponse()
    buf = bytearray(1024 * 1024)
    total = 0
    while n := resp.readinto(buf):
        total += n
    conn.close()
    assert total == len(big)
    assert time.monotonic() - start < 1.5
    assert srv.bytes_sent("/big.bin") == len(big)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=10-19", 10, 20),
        ("bytes=0-0", 0, 1),
        ("bytes=100-", 100, SIZE),
        ("bytes=-7", SIZE - 7, SIZE),
        ("bytes=-999999", 0, SIZE),
        ("bytes=50000-999999", 50000, SIZE),
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE),
    ],
)
def test_range_forms(srv: FaultServer, header: str, start: int, end: int) -> None:
    url = srv.add("/f.bin", DATA)
    r = requests.get(url, headers={"Range": header}, timeout=5)
    assert r.status_code == 206
    assert r.content == DATA[start:end]
    assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert r.headers["Content-Length"] == str(end - start)
    assert srv.requests[-1].range == header


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 9}", "bytes=-0"])
def test_unsatisfiable_range_is_416(srv: FaultServer, header: str) -> None:
    url = srv.add("/f.bin", DATA)
    r = requests.get(url, headers={"Range": header}, timeout=5)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{SIZE}"
    assert r.content == b""


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-9", "bytes=9-5", "items=0-5", "garbage", "bytes=-"]
)
def test_multi_or_garbage_range_is_ignored(srv: FaultServer, header: str) -> None:
    url = srv.add("/f.bin", DATA)
    r = requests.get(url, headers={"Range": header}, timeout=5)
    assert r.status_code == 200
    assert r.content == DATA
    assert "Content-Range" not in r.headers


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-", 0) == "unsatisfiable"
    assert parse_range("BYTES = 2 - 3", 10) == (2, 4)
    assert parse_range("bytes=١-٢", 10) == "ignore"  # non-ASCII digits


def test_if_range(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA)
    res = srv.resource("/f.bin")
    assert res.etag is not None and res.last_modified is not None
    rng = {"Range": "bytes=10-19"}
    stale = requests.get(url, headers={**rng, "If-Range": '"old"'}, timeout=5)
    assert stale.status_code == 200
    assert stale.content == DATA
    by_etag = requests.get(url, headers={**rng, "If-Range": res.etag}, timeout=5)
    assert by_etag.status_code == 206
    assert by_etag.content == DATA[10:20]
    by_date = requests.get(url, headers={**rng, "If-Range": res.last_modified}, timeout=5)
    assert by_date.status_code == 206
    weak = requests.get(url, headers={**rng, "If-Range": "W/" + res.etag}, timeout=5)
    assert weak.status_code == 200


def test_if_range_after_content_change(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA)
    res = srv.resource("/f.bin")
    old_etag = res.etag
    assert old_etag is not None
    new = DATA[::-1]
    res.replace_data(new)
    assert res.etag not in (None, old_etag)
    r = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": old_etag}, timeout=5)
    assert r.status_code == 200
    assert r.content == new


def test_no_etag(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, etag=None, last_modified=None)
    r = requests.head(url, timeout=5)
    assert "ETag" not in r.headers
    assert "Last-Modified" not in r.headers


def test_head_same_headers_no_body(srv: FaultServer) -> None:
    url = srv.add(
        "/f.bin",
        DATA,
        content_disposition='attachment; filename="a b.bin"',
        extra_headers={"X-Test": "1"},
    )
    head = requests.head(url, headers={"Range": "bytes=0-9"}, timeout=5)
    get = requests.get(url, timeout=5)
    assert head.status_code == 200
    assert head.content == b""
    for name in (
        "Content-Length",
        "ETag",
        "Last-Modified",
        "Accept-Ranges",
        "Content-Type",
        "Content-Disposition",
        "X-Test",
    ):
        assert head.headers[name] == get.headers[name]
    assert srv.bytes_sent() == SIZE  # HEAD counted nothing


def test_head_status_405(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, head_status=405)
    head = requests.head(url, timeout=5)
    assert head.status_code == 405
    assert head.content == b""
    r = requests.get(url, timeout=5)
    assert r.status_code == 200
    assert r.content == DATA


def test_accept_ranges_false(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, accept_ranges=False)
    r = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert r.status_code == 200
    assert r.content == DATA
    assert "Accept-Ranges" not in r.headers
    assert "Accept-Ranges" not in requests.head(url, timeout=5).headers


def test_send_length_false_body_until_close(srv: FaultServer) -> None:
    srv.add("/f.bin", DATA, send_length=False)
    status, headers, body = split_response(raw_get(srv, "/f.bin"))
    assert status == "HTTP/1.1 200 OK"
    assert "content-length" not in headers
    assert headers["connection"] == "close"
    assert body == DATA
    # A keep-alive client also gets the whole body, delimited by the close.
    r = requests.get(srv.url("/f.bin"), timeout=5)
    assert r.content == DATA


def test_content_encoding_is_header_only(srv: FaultServer) -> None:
    srv.add("/f.gz", DATA, content_encoding="gzip")
    _, headers, body = split_response(raw_get(srv, "/f.gz", "Accept-Encoding: gzip\r\n"))
    assert headers["content-encoding"] == "gzip"
    assert body == DATA


def test_status_and_unknown_path(srv: FaultServer) -> None:
    url = srv.add("/secret", DATA, status=401, extra_headers={"WWW-Authenticate": "Basic"})
    r = requests.get(url, timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Basic"
    assert requests.head(url, timeout=5).status_code == 401
    assert requests.get(srv.url("/nope"), timeout=5).status_code == 404
    assert srv.bytes_sent() == 0


# -- faults ------------------------------------------------------------------


def test_short_body(srv: FaultServer) -> None:
    srv.add("/f.bin", DATA, short_body=1000, drop_times=1)
    _, headers, body = split_response(raw_get(srv, "/f.bin"))
    assert headers["content-length"] == str(SIZE)
    assert body == DATA[:1000]
    assert requests.get(srv.url("/f.bin"), timeout=5).content == DATA  # drop_times used up


def test_short_body_counts_and_rearms(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, short_body=1000, drop_times=2)
    for _ in range(2):
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(url, timeout=5)
    assert requests.get(url, timeout=5).content == DATA
    srv.resource("/f.bin").drop_times = 1
    _, _, body = split_response(raw_get(srv, "/f.bin"))
    assert body == DATA[:1000]


def test_short_body_on_range(srv: FaultServer) -> None:
    srv.add("/f.bin", DATA, short_body=10)
    _, headers, body = split_response(raw_get(srv, "/f.bin", "Range: bytes=100-199\r\n"))
    assert headers["content-length"] == "100"
    assert body == DATA[100:110]


def test_drop_after(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, drop_after=4096, drop_times=1)
    _, headers, body = split_response(raw_get(srv, "/f.bin"))
    assert headers["content-length"] == str(SIZE)
    assert body == DATA[:4096]
    assert srv.resource("/f.bin").drop_times == 0
    r = requests.get(url, timeout=5)
    assert r.content == DATA
    assert srv.bytes_sent("/f.bin") == 4096 + SIZE


def test_drop_after_beyond_range_does_not_fire(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, drop_after=5000, drop_times=1)
    r = requests.get(url, headers={"Range": "bytes=0-999"}, timeout=5)
    assert r.content == DATA[:1000]
    assert srv.resource("/f.bin").drop_times == 1


def test_stall_read_timeout(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, stall_after=1000, stall_seconds=1.0)
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=(2, 0.3))
    assert time.monotonic() - start < 1.0


def test_stop_wakes_stalled_handler() -> None:
    s = FaultServer()
    s.start()
    s.add("/f.bin", DATA, stall_after=10, stall_seconds=30)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    sock.sendall(b"GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536)
    start = time.monotonic()
    s.stop()
    assert time.monotonic() - start < 1.0
    rest = b""
    while chunk := sock.recv(65536):
        rest += chunk
    sock.close()
    assert len(rest) < SIZE


def test_fail_statuses_with_retry_after(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, fail_statuses=[503, 429], retry_after="1")
    first = requests.get(url, timeout=5)
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "1"
    second = requests.get(url, timeout=5)
    assert second.status_code == 429
    assert requests.head(url, timeout=5).status_code == 200  # HEAD never fails
    third = requests.get(url, timeout=5)
    assert third.status_code == 200
    assert third.content == DATA
    assert "Retry-After" not in third.headers
    assert [r.status for r in srv.requests] == [503, 429, 200, 200]
    assert srv.get_count("/f.bin") == 3


def test_wrong_content_range(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA, wrong_content_range=True)
    r = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 11-20/{SIZE}"
    assert r.content == DATA[10:20]


def test_extra_bytes(srv: FaultServer) -> None:
    srv.add("/f.bin", DATA, extra_bytes=50)
    _, headers, body = split_response(raw_get(srv, "/f.bin", "Range: bytes=0-99\r\n"))
    assert headers["content-length"] == "100"
    assert body[:100] == DATA[:100]
    assert len(body) == 150


def test_rate_limit(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA[:20_000], rate=50_000)
    start = time.monotonic()
    r = requests.get(url, timeout=5)
    elapsed = time.monotonic() - start
    assert r.content == DATA[:20_000]
    assert 0.3 < elapsed < 1.5


# -- routing, counters, connections --------------------------------------------


def test_redirects(srv: FaultServer) -> None:
    target = srv.add("/real.bin", DATA)
    relative = srv.add_redirect("/rel", "/real.bin")
    absolute = srv.add_redirect("/abs", target, status=301)
    chained = srv.add_redirect("/chain", "/abs", status=307)
    for url in (relative, absolute, chained):
        r = requests.get(url, timeout=5)
        assert r.status_code == 200
        assert r.url == target
        assert r.content == DATA
    first = requests.get(relative, allow_redirects=False, timeout=5)
    assert first.status_code == 302
    assert first.headers["Location"] == "/real.bin"
    assert srv.get_count("/real.bin") == 3
    assert srv.get_count("/chain") == 1


def test_bytes_sent_and_query(srv: FaultServer) -> None:
    a = srv.add("/a.bin", DATA)
    srv.add("/b.bin", DATA[:100])
    requests.get(a + "?x=1", headers={"Range": "bytes=0-999"}, timeout=5)
    requests.get(srv.url("/b.bin"), timeout=5)
    assert srv.bytes_sent("/a.bin") == 1000
    assert srv.bytes_sent("/b.bin") == 100
    assert srv.bytes_sent() == 1100
    assert srv.get_count("/a.bin") == 1
    record = srv.requests[0]
    assert record.path == "/a.bin?x=1"
    assert record.route == "/a.bin"
    assert record.header("range") == "bytes=0-999"
    assert record.headers["Range"] == "bytes=0-999"
    assert record.status == 206
    srv.reset_counters()
    assert srv.bytes_sent() == 0
    assert srv.get_count("/a.bin") == 0
    assert srv.requests == []


def test_bytes_sent_thread_safe(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA)

    def fetch(i: int) -> None:
        with requests.Session() as session:
            for _ in range(5):
                rng = f"bytes={i * 1000}-{i * 1000 + 999}"
                assert session.get(url, headers={"Range": rng}, timeout=5).status_code == 206

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert srv.bytes_sent("/f.bin") == 8 * 5 * 1000
    assert srv.get_count("/f.bin") == 40


def test_keep_alive_session(srv: FaultServer) -> None:
    url = srv.add("/f.bin", DATA)
    with requests.Session() as session:
        first = session.get(url, headers={"Range": "bytes=0-9"}, timeout=5)
        second = session.get(url, timeout=5)
    assert first.content == DATA[:10]
    assert second.content == DATA
    assert "close" not in first.headers.get("Connection", "")
    assert srv.requests[0].client_port == srv.requests[1].client_port


def test_keep_alive_http_client_then_connection_close(srv: FaultServer) -> None:
    srv.add("/f.bin", DATA)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/f.bin", headers={"Range": "bytes=-5"})
    assert conn.getresponse().read() == DATA[-5:]
    conn.request("HEAD", "/f.bin")
    assert conn.getresponse().read() == b""
    conn.request("GET", "/f.bin", headers={"Connection": "close"})
    resp = conn.getresponse()
    assert resp.getheader("Connection") == "close"
    assert resp.read() == DATA
    conn.close()
    assert len({r.client_port for r in srv.requests}) == 1


def test_client_connection_close_ends_connection(srv: FaultServer) -> None:
    srv.add("/f.bin", DATA)
    status, headers, body = split_response(raw_get(srv, "/f.bin"))  # raw_get waits for EOF
    assert status == "HTTP/1.1 200 OK"
    assert headers["connection"] == "close"
    assert body == DATA


def test_unknown_option_rejected(srv: FaultServer) -> None:
    with pytest.raises(TypeError):
        srv.add("/f.bin", DATA, no_such_option=True)
    with pytest.raises(KeyError):
        srv.resource("/missing")
