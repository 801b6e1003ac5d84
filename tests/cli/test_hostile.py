"""Hostile or broken servers, and hostile names, against the real `rangetui get`.

Every case must end in a correct file or a clear error (non-zero exit, a short line on
stderr, no traceback), within a bounded time and with bounded memory; a failed run
leaves no OUT and never writes a byte where it does not belong in OUT.part.
Memory is the child's peak RSS as the kernel reports it (``wait4``, in tests/peak_rss.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rangetui.core.http.connection import Connection
from rangetui.core.naming import NAME_BUDGET_BYTES
from rangetui.core.placement import place
from rangetui.core.store import Store
from rangetui.core.types import HttpOptions
from tests.cli_helpers import (
    GET,
    MiB,
    Result,
    assert_saved,
    cli_env,
    part_of,
    run_get,
    sha256,
    sha256_file,
)
from tests.conftest import payload
from tests.faultserver import FaultServer, make_etag

pytestmark = pytest.mark.timeout(120)

MAX_RSS = 250 * MiB
"""Peak RSS allowed for one `rangetui get` (an idle one is about 45 MiB)."""
MAX_SECONDS = 45.0
FAST_FAIL = ("--retries", "2", "--timeout", "5")
"""Few retries and a short stall timeout, so that a clear failure is also a quick one."""


# --------------------------------------------------------------------------- #
# Running the CLI with a time and memory bound
# --------------------------------------------------------------------------- #


PEAK_RSS = Path(__file__).parent.parent / "peak_rss.py"


@dataclass
class Measured:
    """A `rangetui get` started through tests/peak_rss.py, so its peak RSS is its own."""

    proc: subprocess.Popen[bytes]
    report: Path

    @classmethod
    def start(cls, args: list[str], report: Path, **popen: Any) -> Measured:
        argv = [sys.executable, "-S", "-I", str(PEAK_RSS), str(report), *GET, *args]
        proc = subprocess.Popen(
            argv, env=cli_env(), stdin=subprocess.DEVNULL, start_new_session=True, **popen
        )
        return cls(proc, report)

    def signal(self, signum: int) -> None:
        """Signal the command (peak_rss.py passes it on)."""
        self.proc.send_signal(signum)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self) -> tuple[int, int]:
        """The command's exit code and peak RSS in bytes (asserts that it was not killed)."""
        self.proc.wait()
        assert self.report.exists(), "killed before it finished"
        maxrss, status = map(int, self.report.read_text().split())
        return os.waitstatus_to_exitcode(status), maxrss * 1024


def run_bounded(*args: str | Path, timeout: float = MAX_SECONDS) -> tuple[Result, int]:
    """Run `rangetui get ARGS…`; returns the result and the child's peak RSS in bytes.

    Fails the test if the run outlives ``timeout`` (it is killed) or prints a traceback.
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        start = time.monotonic()
        run = Measured.start([str(a) for a in args], Path(tmp, "rss"), stdout=out, stderr=err)
        timer = threading.Timer(timeout, run.kill)
        timer.start()
        try:
            run.proc.wait()
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        assert seconds < timeout, f"not done within {timeout} s (killed)\n{stderr}"
        code, rss = run.wait()
    result = Result(code, stdout, stderr, seconds)
    assert "Traceback" not in result.stderr, result.describe()
    return result, rss


def misplaced_bytes(part: Path, good: list[bytes]) -> int:
    """Bytes of ``part`` that are neither unwritten (zero) nor right in some version."""
    if not part.exists():
        return 0
    got = part.read_bytes()
    bad = 0
    block = 64 * 1024
    for i in range(0, len(got), block):
        mine = got[i : i + block]
        if not mine.strip(b"\0") or any(mine == g[i : i + block] for g in good):
            continue
        for j, byte in enumerate(mine):
            if byte and all(i + j >= len(g) or g[i + j] != byte for g in good):
                bad += 1
    return bad


def judge(
    result: Result, rss: int, out: Path, good: list[bytes], outcome: str, final: bytes | None
) -> None:
    """The common verdict: a correct file or a clean failure, and bounded memory."""
    assert rss < MAX_RSS, f"peak RSS {rss / MiB:.0f} MiB\n{result.describe()}"
    if outcome == "ok":
        assert result.code == 0, result.describe()
    elif outcome == "error":
        assert result.code != 0, result.describe()
    if result.code == 0:
        assert out.is_file(), result.describe()
        if final is not None:
            assert_saved(out, final)
        else:
            digest = sha256_file(out)
            assert any(digest == sha256(g) for g in good), "OUT is not any version of the file"
            assert not part_of(out).exists()
    else:
        assert_failed_clearly(result)
        assert not out.exists(), "OUT must not appear after a failure"
        assert misplaced_bytes(part_of(out), good) == 0, "wrong bytes were written to OUT.part"


def assert_failed_clearly(result: Result) -> None:
    """Non-zero, no traceback, and the last line says what went wrong in one short line.

    Retry notices may come before it; their number is bounded by the retry budget.
    """
    assert result.code != 0, result.describe()
    lines = result.lines
    assert lines, result.describe()
    assert lines[-1].startswith("rangetui: error:"), result.describe()
    assert len(lines) <= 40, result.describe()
    assert all(len(line) < 400 for line in lines), result.describe()


# --------------------------------------------------------------------------- #
# The fault server's hostile knobs do what the tests below rely on
# --------------------------------------------------------------------------- #


def test_peak_rss_is_the_commands_own_not_pytests(server: FaultServer, downloads: Path) -> None:
    """A big test process must not show up as the command's memory (see peak_rss.py)."""
    ballast = bytearray(MAX_RSS + 50 * MiB)
    ballast[::4096] = b"\1" * len(ballast[::4096])  # touch every page: it is resident
    data = payload(MiB)
    result, rss = run_bounded(server.add("/small.bin", data), "-d", downloads)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "small.bin", data)
    assert rss < MAX_RSS / 2, f"peak RSS {rss / MiB:.0f} MiB with {len(ballast) // MiB} MiB here"


def test_knob_endless_body_keeps_sending(server: FaultServer) -> None:
    url = server.add("/e", b"abc", endless=True, send_length=False, rate=1 * MiB)
    with requests.get(url, stream=True, timeout=5) as r:
        got = r.raw.read(300_000)
    assert got[:3] == b"abc" and len(got) == 300_000


def test_knob_chunked_tiny_chunks(server: FaultServer) -> None:
    data = payload(10_000, seed=1)
    url = server.add("/c", data, chunked=True, chunk_size=1)
    r = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["Transfer-Encoding"] == "chunked"
    assert requests.get(url, timeout=10).content == data


def test_knob_overlong_206(server: FaultServer) -> None:
    data = payload(1000, seed=2)
    url = server.add("/o", data, overlong_206=7)
    r = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=5)
    assert r.headers["Content-Range"] == "bytes 0-9/1000"
    assert r.content == data[:10] + b"!" * 7


def test_knob_versions_change_every_n_gets(server: FaultServer) -> None:
    v0, v1, v2 = b"zero", b"first!", b"second"
    url = server.add("/v", v0, versions=[v1, v2], change_every=2)
    got = [requests.get(url, timeout=5) for _ in range(6)]
    assert [r.content for r in got] == [v0, v0, v1, v1, v2, v2]
    assert got[2].headers["ETag"] == make_etag(v1)
    fixed = server.add("/w", v0, etag='"same"', versions=[v1], change_every=1)
    assert [requests.get(fixed, timeout=5).headers["ETag"] for _ in range(2)] == ['"same"'] * 2


def test_knob_endless_headers(server: FaultServer) -> None:
    url = server.add("/h", b"x", endless_headers=True)
    with pytest.raises(requests.exceptions.ConnectionError, match="100 headers"):
        requests.get(url, timeout=5)


# --------------------------------------------------------------------------- #
# Broken or hostile responses to Range requests
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Case:
    id: str
    options: dict[str, Any] = field(default_factory=dict)
    outcome: str = "either"
    """ok: must save the file; error: must fail cleanly; either: one of the two."""
    size: int = 2 * MiB
    flags: tuple[str, ...] = ()


CASES = [
    Case("content-range-for-other-bytes", {"wrong_content_range": True}, "error"),
    Case(
        "content-range-other-total",
        {"extra_headers": {"Content-Range": "bytes 0-0/999"}},
        "error",
    ),
    Case("206-overlong-in-content-length", {"overlong_206": 4096}),
    Case("206-extra-bytes-after-length", {"extra_bytes": 1 * MiB}, "ok"),
    Case("206-endless-after-length", {"endless": True, "rate": 8 * MiB}, "ok"),
    Case(
        "206-endless-no-length",
        {"endless": True, "send_length": False, "rate": 8 * MiB},
        "ok",
    ),
    Case("206-chunked-overlong", {"chunked": True, "overlong_206": 100_000}, "ok"),
    Case(
        "200-endless-after-length",
        {"accept_ranges": False, "endless": True, "rate": 8 * MiB},
        "ok",
    ),
    Case("content-length-larger-than-body", {"short_body": 100_000}),
    Case(
        "content-length-larger-no-ranges",
        {"short_body": 100_000, "accept_ranges": False},
        "error",
    ),
    Case("content-length-larger-twice", {"short_body": 300_000, "drop_times": 2}, "ok"),
    Case(  # L13: once taken for "no length", so a body cut short was saved with exit 0
        "content-length-of-21-digits",
        {
            "accept_ranges": False,
            "send_length": False,
            "extra_headers": {"Content-Length": "9" * 21},
        },
        "error",
    ),
    Case("ten-thousand-chunks-ranged", {"chunked": True, "chunk_size": 100}, "ok", 1_000_000),
    Case(
        "ten-thousand-chunks-whole",
        {"chunked": True, "chunk_size": 100, "accept_ranges": False, "send_length": False},
        "ok",
        1_000_000,
    ),
    Case("ten-thousand-one-byte-writes", {"write_size": 1}, "ok", 10_000),
    Case("one-60k-header", {"extra_headers": {"X-Big": "b" * 60_000}}, "ok"),
    Case("one-1mib-header", {"extra_headers": {"X-Huge": "h" * MiB}}, "error"),
    Case("1000-headers", {"extra_headers": {f"X-H{i}": "v" * 10 for i in range(1000)}}),
    Case("endless-header-block", {"endless_headers": True}, "error"),
    Case(
        "endless-header-block-slow",
        {"endless_headers": True, "rate": 64 * 1024},
        "error",
        flags=("--timeout", "3"),
    ),
    Case(
        "huge-content-disposition",
        {"content_disposition": 'attachment; filename="' + "n" * 50_000 + '.bin"'},
        "ok",
    ),
    Case("301-without-location", {"status": 301}, "error"),
    Case("300-multiple-choices", {"status": 300}, "error"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_response(server: FaultServer, downloads: Path, case: Case) -> None:
    data = payload(case.size, seed=len(case.id))
    url = server.add("/hostile.bin", data, **case.options)
    out = downloads / "hostile.bin"
    result, rss = run_bounded(url, "-o", out, "-t", "4", "-s", "256K", *FAST_FAIL, *case.flags)
    judge(result, rss, out, [data], case.outcome, data)


def test_endless_body_of_unknown_length_is_bounded(server: FaultServer, downloads: Path) -> None:
    """No length, no ranges, never ends: memory stays flat and Ctrl-C stops it at once.

    Nothing tells a client where such a body ends, so finishing is not expected; what is
    expected is no OUT, a prompt stop and the same small memory as any download.
    """
    url = server.add(
        "/endless", b"", accept_ranges=False, send_length=False, endless=True, rate=16 * MiB
    )
    out = downloads / "endless.bin"
    run = Measured.start(
        [url, "-o", str(out)],
        downloads.parent / "rss",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while server.bytes_sent("/endless") < 40 * MiB:
            assert time.monotonic() < deadline, "the endless body is not being read"
            time.sleep(0.05)
    finally:
        run.signal(signal.SIGINT)
    stopped = time.monotonic()
    try:
        code, rss = run.wait()
    finally:
        run.kill()
    err = run.proc.stderr.read().decode() if run.proc.stderr else ""
    assert time.monotonic() - stopped < 5, "Ctrl-C took too long"
    assert code != 0
    assert "Traceback" not in err
    assert rss < MAX_RSS, f"peak RSS {rss / MiB:.0f} MiB"
    assert not out.exists()


# --------------------------------------------------------------------------- #
# Sizes and validators that change under the download
# --------------------------------------------------------------------------- #


def test_size_changes_on_every_request(server: FaultServer, downloads: Path) -> None:
    """Same ETag, another size every time: never a file made of several versions."""
    size = 1 * MiB
    versions = [payload(size + 4096 * i, seed=100 + i) for i in range(60)]
    url = server.add("/grow.bin", versions[0], etag='"liar"', versions=versions[1:], change_every=1)
    out = downloads / "grow.bin"
    result, rss = run_bounded(url, "-o", out, "-t", "4", "-s", "64K", *FAST_FAIL)
    judge(result, rss, out, versions, "either", None)


def test_size_changes_once_then_settles(server: FaultServer, downloads: Path) -> None:
    old = payload(2 * MiB, seed=110)
    new = payload(2 * MiB + 12345, seed=111)
    url = server.add("/resize.bin", old, etag=None, versions=[new], change_every=3)
    out = downloads / "resize.bin"
    result, rss = run_bounded(url, "-o", out, "-t", "4", "-s", "128K", *FAST_FAIL)
    judge(result, rss, out, [old, new], "ok", new)
    assert re.search(r"changed|start(ing)? over", result.stderr, re.I), result.describe()


@pytest.mark.parametrize("honour_if_range", [True, False], ids=["if-range", "no-if-range"])
def test_etag_changes_mid_download_restarts(
    server: FaultServer, downloads: Path, honour_if_range: bool
) -> None:
    """After the change every answer is the new version: restart, never splice."""
    old = payload(4 * MiB, seed=120)
    new = payload(4 * MiB, seed=121)
    url = server.add("/etag.bin", old, versions=[new], change_every=2)
    if not honour_if_range:  # a server that answers 206 for the old validator anyway
        _ignore_if_range(server, "/etag.bin")
    out = downloads / "etag.bin"
    result, rss = run_bounded(url, "-o", out, "-t", "4", "-s", "256K", *FAST_FAIL)
    judge(result, rss, out, [old, new], "ok", new)
    assert re.search(r"changed|start(ing)? over", result.stderr, re.I), result.describe()


def _ignore_if_range(server: FaultServer, route: str) -> None:
    """Make the server drop If-Range for ``route`` (as some CDNs do)."""
    import tests.faultserver as fs

    original = fs._Handler._wanted_range

    def wanted(self: Any, res: Any, size: int, etag: str | None) -> Any:
        if self.path.split("?")[0] == route and "If-Range" in self.headers:
            del self.headers["If-Range"]
        return original(self, res, size, etag)

    fs._Handler._wanted_range = wanted  # type: ignore[method-assign]
    _RESTORE.append(lambda: setattr(fs._Handler, "_wanted_range", original))


_RESTORE: list[Any] = []


@pytest.fixture(autouse=True)
def _restore_patches() -> Iterator[None]:
    yield
    while _RESTORE:
        _RESTORE.pop()()


def test_etag_changes_on_every_request(server: FaultServer, downloads: Path) -> None:
    size = 1 * MiB
    versions = [payload(size, seed=130 + i) for i in range(60)]
    url = server.add("/flip.bin", versions[0], versions=versions[1:], change_every=1)
    out = downloads / "flip.bin"
    result, rss = run_bounded(url, "-o", out, "-t", "4", "-s", "64K", *FAST_FAIL)
    judge(result, rss, out, versions, "either", None)


# --------------------------------------------------------------------------- #
# Redirects: bounded, http and https only
# --------------------------------------------------------------------------- #


def _loop(server: FaultServer) -> str:
    server.add_redirect("/loop-a", "/loop-b", status=301)
    server.add_redirect("/loop-b", server.url("/loop-a"), status=307)
    return "/loop-a"


def _self_loop(server: FaultServer) -> str:
    server.add_redirect("/me", "/me", status=302)
    return "/me"


def _long_chain(server: FaultServer) -> str:
    server.add("/end.bin", payload(1000, seed=5))
    for i in range(30):
        server.add_redirect(f"/hop{i}", f"/hop{i + 1}" if i < 29 else "/end.bin", status=302)
    return "/hop0"


def _scheme(location: str) -> Any:
    def make(server: FaultServer) -> str:
        server.add_redirect("/to-scheme", location, status=302)
        return "/to-scheme"

    return make


REDIRECTS = {
    "loop": _loop,
    "self-loop": _self_loop,
    "30-hops": _long_chain,
    "to-ftp": _scheme("ftp://127.0.0.1/file.bin"),
    "to-file": _scheme("file:///etc/passwd"),
    "to-data": _scheme("data:text/plain;base64,aGVsbG8="),
    "to-javascript": _scheme("javascript:alert(1)"),
    "to-gopher": _scheme("gopher://127.0.0.1:70/1"),
    "to-no-host": _scheme("http:///etc/passwd"),
}


@pytest.mark.parametrize("make", REDIRECTS.values(), ids=REDIRECTS.keys())
def test_bad_redirect_fails_cleanly(server: FaultServer, downloads: Path, make: Any) -> None:
    start = make(server)
    result, rss = run_bounded(server.url(start), "-d", downloads, *FAST_FAIL)
    assert_failed_clearly(result)
    assert rss < MAX_RSS
    assert result.seconds < 20, result.describe()
    assert list(downloads.iterdir()) == [], "nothing may be saved"


def test_redirect_from_a_range_request_to_another_scheme(
    server: FaultServer, downloads: Path
) -> None:
    """The probe is fine; later range requests are redirected to file://: clean failure."""
    data = payload(2 * MiB, seed=140)
    url = server.add("/later.bin", data)

    def turn() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if server.get_count("/later.bin") >= 1:
                server.add_redirect("/later.bin", "file:///etc/passwd")
                return
            time.sleep(0.002)

    server.resource("/later.bin").rate = 512 * 1024
    turner = threading.Thread(target=turn, daemon=True)
    turner.start()
    out = downloads / "later.bin"
    result, rss = run_bounded(url, "-o", out, "-t", "4", "-s", "256K", *FAST_FAIL)
    turner.join()
    judge(result, rss, out, [data], "either", data)


# --------------------------------------------------------------------------- #
# Names from Content-Disposition and URLs (property tests through the real server)
# --------------------------------------------------------------------------- #

RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{d}{n}" for d in ("COM", "LPT") for n in "0123456789¹²³"
}


def assert_safe_name(directory: Path, target: Path) -> None:
    name = target.name
    assert target.parent == directory, target
    assert target.resolve().parent == directory.resolve(), target
    assert name not in ("", ".", ".."), name
    assert not name.startswith("."), name
    assert not name.endswith((".", " ")), name
    assert all(c not in name for c in "/\\\0"), name
    assert all(unicodedata.category(c) not in ("Cc", "Cs") for c in name), repr(name)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in name)
    assert len(name.encode()) <= NAME_BUDGET_BYTES, len(name.encode())
    assert unicodedata.normalize("NFC", name) == name
    assert name.split(".", 1)[0].rstrip(" ").upper() not in RESERVED, name


def quoted_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


HOSTILE_NAMES = [
    "../../etc/passwd",
    "..\\..\\windows\\system32\\evil.dll",
    "/etc/shadow",
    "C:\\Windows\\evil.exe",
    "a\0b.txt",
    "\x1b[2J\x1b[31mred.txt",
    "tab\there\x7f.bin",
    "CON",
    "nul.txt",
    "COM1.tar.gz",
    "lpt9",
    ".",
    "..",
    "....",
    ". . .",
    "x" * 1000,
    "é" * 1000 + ".iso",
    "\u202egnp.exe",
    "\uff0e\uff0e\uff0fescape",
    "..\u2215..\u2215escape",
    "e\u0301t\u00e9.txt",
    "\ufeff.hidden",
    " ",
    "",
]


def name_headers() -> st.SearchStrategy[tuple[str, str | None]]:
    """(URL path, Content-Disposition) pairs carrying arbitrary hostile names."""
    text = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
    latin = st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=300)
    ext = st.builds(lambda n: f"attachment; filename*=UTF-8''{quote(n, safe='')}", text)
    plain = st.builds(lambda n: f"attachment; filename={quoted_string(n)}", latin)
    bare = st.builds(lambda n: f"inline; filename={n}", latin.filter(lambda n: ";" not in n))
    both = st.builds(
        lambda a, b: f"attachment; filename={quoted_string(a)}; filename*=utf-8''{quote(b)}",
        latin,
        text,
    )
    # A path segment "." or ".." is resolved by the client before it is sent; any other
    # name reaches the server as it is.
    segment = text.filter(lambda n: n not in (".", ".."))
    path = st.builds(lambda n: "/u/" + quote(n, safe=""), segment)
    return st.tuples(path, st.one_of(st.none(), ext, plain, bare, both, st.sampled_from(CDS)))


CDS = [f"attachment; filename*=UTF-8''{quote(n, safe='')}" for n in HOSTILE_NAMES] + [
    f"attachment; filename={quoted_string(n)}"
    for n in HOSTILE_NAMES
    if all(ord(c) < 256 and c not in "\r\n" for c in n)
]


@pytest.fixture(scope="module")
def name_server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


_COUNTER = iter(range(10**9))


def serve_name(srv: FaultServer, path: str, cd: str | None, data: bytes) -> str:
    """Serve ``data`` at ``path`` (made unique) with the Content-Disposition ``cd``.

    The route is the path as the client will send it (requests unquotes unreserved
    characters such as ``%2E``), so that the server finds it.
    """
    url = srv.url(f"/{next(_COUNTER)}{path}")
    route = requests.Request("GET", url).prepare().path_url
    srv.add(route, data, content_disposition=cd)
    return url


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name_headers())
@example(("/u/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", None))
@example(("/u/..%5C..%5Cboot.ini", None))
@example(("/u/%00%01%02", "attachment; filename*=UTF-8''%2E%2E"))
@example(("/u/" + "a" * 1000, "attachment; filename*=UTF-8''" + "%C3%A9" * 1000))
def test_server_names_always_land_inside(
    name_server: FaultServer, tmp_path: Path, case: tuple[str, str | None]
) -> None:
    """Probe the real server, then place: always directly inside DIR, always a safe name."""
    path, cd = case
    url = serve_name(name_server, path, cd, b"x")
    with Connection(HttpOptions(timeout=5)) as conn:
        remote = conn.probe(url)
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        directory = Path(tmp) / "dl"
        directory.mkdir()
        placement = place(url, remote, None, directory, Store(Path(tmp) / "state"))
        assert_safe_name(directory, placement.target)
        fd = os.open(placement.part, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        assert os.listdir(directory) == [placement.part.name]


@pytest.mark.timeout(300)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name_headers())
@example(("/u/x", 'attachment; filename="../../evil.sh"'))
@example(("/u/x", "attachment; filename*=UTF-8''%2Fetc%2Fevil%00.sh"))
@example(("/u/x", "attachment; filename*=UTF-8''" + "%E2%80%AE" + "x" * 999))
@example(("/u/x", 'attachment; filename=".."'))
@example(("/u/%2E%2E%2E", None))
@example(("/u/x", "attachment; filename*=UTF-8''CON.txt"))
def test_cli_saves_hostile_names_inside_dir(
    name_server: FaultServer, tmp_path: Path, case: tuple[str, str | None]
) -> None:
    """The same through the real command: exactly one file, inside DIR, safe, complete."""
    path, cd = case
    data = payload(3000, seed=7)
    url = serve_name(name_server, path, cd, data)
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        directory = Path(tmp) / "dl"
        directory.mkdir()
        result = run_get(url, "-d", directory, "-q", cwd=directory)
        assert result.code == 0, result.describe()
        (saved,) = list(directory.iterdir())
        assert_safe_name(directory, saved)
        assert_saved(saved, data)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["dl"]
