"""Secrets and network hygiene: TLS verification, credentials kept out of sight and
off other hosts, owner-only state files.

The HTTPS server is the fault server with a certificate from a throwaway CA made by
``trustme``. This machine (like many corporate ones) sets ``REQUESTS_CA_BUNDLE``; the
tests pin that variable either way, since explicit flags must win over it.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import requests
import trustme

from rangetui.core.engine import Engine
from rangetui.core.jobs import Job
from rangetui.core.snapshots import snapshot_to_json
from rangetui.core.store import Store
from rangetui.core.types import HttpOptions, Options
from tests.cli_helpers import (
    GET,
    MiB,
    Result,
    assert_clean_failure,
    assert_saved,
    cli_env,
    closed_port,
    finish,
    run_get,
    start_get,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

pytestmark = pytest.mark.timeout(90)

CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

USER, PASSWORD = "alice", "S3cretPass"
TOKEN = "Bearer-S3cretTok"
COOKIE = "session=S3cretCookie"
SECRETS = (
    PASSWORD,
    "S3cretTok",
    "S3cretCookie",
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
)


def with_userinfo(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{PASSWORD}@{rest}"


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"a credential was shown: {text!r}"


# --------------------------------------------------------------------------- #
# TLS
# --------------------------------------------------------------------------- #


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "local-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def tls_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[FaultServer]:
    with FaultServer(ssl_context=tls_context(ca, "127.0.0.1", "localhost")) as srv:
        yield srv


@pytest.fixture
def no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CA variables: requests falls back to its own (certifi) bundle."""
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def system_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on this machine: REQUESTS_CA_BUNDLE points at the system bundle."""
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)
    bundle = SYSTEM_BUNDLE if os.path.exists(SYSTEM_BUNDLE) else certifi.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)


def test_tls_fault_server_serves_https(tls_server: FaultServer, ca_pem: Path) -> None:
    url = tls_server.add("/t", b"over tls")
    assert url.startswith("https://127.0.0.1:")
    assert requests.get(url, verify=str(ca_pem), timeout=5).content == b"over tls"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=certifi.where(), timeout=5)


@pytest.mark.parametrize("env", ["no_ca_env", "system_ca_env"])
def test_certificate_verified_by_default(
    tls_server: FaultServer, downloads: Path, env: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(env)
    url = tls_server.add("/v.bin", payload(100_000, seed=1))
    result = run_get(url, "-d", downloads, "--retries", "1", timeout=30)
    assert_clean_failure(result)
    assert "certificate" in result.stderr.lower() or "tls" in result.stderr.lower()
    assert list(downloads.iterdir()) == []
    assert tls_server.get_count("/v.bin") == 0, "no request may get through"


def test_wrong_host_name_is_refused(ca: trustme.CA, ca_pem: Path, downloads: Path) -> None:
    with FaultServer(ssl_context=tls_context(ca, "files.example.org")) as srv:
        url = srv.add("/h.bin", payload(1000, seed=2))
        result = run_get(url, "-d", downloads, "--ca-bundle", ca_pem, "--retries", "1")
    assert_clean_failure(result)
    assert list(downloads.iterdir()) == []
    assert "certificate is for another" in result.stderr, result.describe()


def test_an_unknown_ca_is_named_with_the_flag_that_helps(
    tls_server: FaultServer, downloads: Path, no_ca_env: None
) -> None:
    url = tls_server.add("/unknown.bin", payload(1000, seed=5))
    result = run_get(url, "-d", downloads, "--retries", "1")
    assert_clean_failure(result, max_lines=1)
    line = result.lines[0]
    assert "TLS certificate problem with 127.0.0.1" in line, line
    assert "issuer is not a trusted CA" in line and "--ca-bundle" in line, line
    assert "urllib3" not in line and "HTTPSConnectionPool" not in line, line


def test_an_expired_certificate_is_named(ca: trustme.CA, ca_pem: Path, downloads: Path) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert = ca.issue_cert("127.0.0.1", not_before=past, not_after=past + datetime.timedelta(days=1))
    cert.configure_cert(context)
    with FaultServer(ssl_context=context) as srv:
        url = srv.add("/old.bin", payload(1000, seed=6))
        result = run_get(url, "-d", downloads, "--ca-bundle", ca_pem, "--retries", "1")
    assert_clean_failure(result, max_lines=1)
    assert "the certificate has expired" in result.stderr, result.describe()


@pytest.mark.parametrize("env", ["no_ca_env", "system_ca_env"])
def test_ca_bundle_trusts_the_local_ca(
    tls_server: FaultServer,
    ca_pem: Path,
    downloads: Path,
    env: str,
    request: pytest.FixtureRequest,
) -> None:
    """--ca-bundle must win over REQUESTS_CA_BUNDLE, which requests otherwise prefers."""
    request.getfixturevalue(env)
    data = payload(3 * MiB, seed=3)
    url = tls_server.add("/ca.bin", data)
    result = run_get(url, "-o", downloads / "ca.bin", "--ca-bundle", ca_pem, "--retries", "1")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "ca.bin", data)
    assert "insecure" not in result.stderr.lower()


@pytest.mark.parametrize("env", ["no_ca_env", "system_ca_env"])
def test_insecure_works_and_warns(
    tls_server: FaultServer, downloads: Path, env: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(env)
    data = payload(3 * MiB, seed=4)
    url = tls_server.add("/insecure.bin", data)
    result = run_get(url, "-o", downloads / "insecure.bin", "--insecure", "--retries", "1")
    assert result.code == 0, result.describe()
    assert_saved(downloads / "insecure.bin", data)
    warning = [line for line in result.lines if "insecure" in line.lower()]
    assert warning and "warning" in warning[0].lower(), result.describe()


def test_insecure_with_quiet_still_warns(tls_server: FaultServer, downloads: Path) -> None:
    url = tls_server.add("/q.bin", payload(1000, seed=5))
    result = run_get(url, "-q", "-o", downloads / "q.bin", "--insecure")
    assert "insecure" in result.stderr.lower(), result.describe()


# --------------------------------------------------------------------------- #
# Credentials never shown
# --------------------------------------------------------------------------- #

CRED_FLAGS = ("--header", f"Authorization: {TOKEN}", "--header", f"Cookie: {COOKIE}")


def _run_scenario(name: str, server: FaultServer, downloads: Path) -> Result:
    """One way for a download with credentials to go (well or badly)."""
    data = payload(1 * MiB, seed=6)
    fast = ("--retries", "1", "--timeout", "3")
    if name == "success":
        url = with_userinfo(server.add("/ok.bin", data, rate=1 * MiB))
        return run_get(url, "-d", downloads, *CRED_FLAGS)
    if name == "no-path":
        server.add("/", data)
        return run_get(with_userinfo(server.url("")), "-d", downloads, *CRED_FLAGS)
    if name in ("404", "401", "403"):
        url = with_userinfo(server.add("/err.bin", data, status=int(name)))
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast)
    if name == "503-then-ok":
        url = with_userinfo(server.add("/busy.bin", data, fail_statuses=[503, 503]))
        return run_get(url, "-d", downloads, *CRED_FLAGS)
    if name == "redirect-loop":
        server.add_redirect("/la", "/lb")
        server.add_redirect("/lb", "/la")
        return run_get(with_userinfo(server.url("/la")), "-d", downloads, *CRED_FLAGS, *fast)
    if name == "redirect-to-ftp":
        server.add_redirect("/ftp", f"ftp://{USER}:{PASSWORD}@127.0.0.1/x")
        return run_get(with_userinfo(server.url("/ftp")), "-d", downloads, *CRED_FLAGS, *fast)
    if name == "refused":
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{closed_port()}/x.bin"
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast)
    if name == "bad-port":
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:99999/x.bin"
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast)
    if name == "port-not-a-number":
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:8o8o/x.bin"
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast)
    if name == "bad-ipv6":
        url = f"http://{USER}:{PASSWORD}@[::1/x.bin"
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast)
    if name == "ftp-url":
        url = f"ftp://{USER}:{PASSWORD}@127.0.0.1/x.bin"
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast)
    if name == "checksum":
        url = with_userinfo(server.add("/sum.bin", data))
        return run_get(url, "-d", downloads, *CRED_FLAGS, "--checksum", "sha256=" + "0" * 64)
    if name == "stalled":
        url = with_userinfo(server.add("/stall.bin", data, stall_after=1000, stall_seconds=10))
        return run_get(url, "-d", downloads, *CRED_FLAGS, *fast, timeout=60)
    if name == "interrupted-then-resumed":
        return _interrupt_and_resume(server, downloads)
    raise AssertionError(name)


def _interrupt_and_resume(server: FaultServer, downloads: Path) -> Result:
    data = payload(8 * MiB, seed=7)
    url = with_userinfo(server.add("/int.bin", data, rate=1 * MiB))
    args = (url, "-d", downloads, "-t", "4", *CRED_FLAGS)
    proc = start_get(*args)
    try:
        wait_for(lambda: server.bytes_sent("/int.bin") >= 3 * MiB, 15, "3 MiB")
        time.sleep(1.1)  # a checkpoint, so that the rerun says it resumes
    finally:
        proc.send_signal(signal.SIGINT)
    first = finish(proc, 10)
    server.resource("/int.bin").rate = None
    second = run_get(*args)
    assert second.code == 0, second.describe()
    return Result(first.code, first.stdout + second.stdout, first.stderr + second.stderr, 0)


SCENARIOS = [
    "success",
    "no-path",
    "404",
    "401",
    "403",
    "503-then-ok",
    "redirect-loop",
    "redirect-to-ftp",
    "refused",
    "bad-port",
    "port-not-a-number",
    "bad-ipv6",
    "ftp-url",
    "checksum",
    "stalled",
    "interrupted-then-resumed",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_credentials_are_never_printed(server: FaultServer, downloads: Path, scenario: str) -> None:
    result = _run_scenario(scenario, server, downloads)
    assert_no_secret(result.stdout, result.stderr)
    assert "internal error" not in result.stderr, result.describe()
    if scenario in ("success", "503-then-ok"):
        assert result.code == 0, result.describe()
        gets = [r for r in server.requests if r.method == "GET" and r.range]
        # The URL's userinfo becomes the Authorization (Basic) and wins over --header.
        assert gets and all(r.header("Authorization") for r in gets)
        assert all(r.header("Cookie") == COOKIE for r in gets)


def test_userinfo_becomes_basic_auth(server: FaultServer, downloads: Path) -> None:
    """The userinfo is used (as HTTP Basic), not only hidden."""
    data = payload(100_000, seed=8)
    url = with_userinfo(server.add("/basic.bin", data))
    result = run_get(url, "-o", downloads / "basic.bin")
    assert result.code == 0, result.describe()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    gets = [r for r in server.requests if r.method == "GET"]
    assert gets and all(r.header("Authorization") == expected for r in gets)


def test_engine_never_shows_credentials(server: FaultServer, downloads: Path) -> None:
    """What a front end reads (names, URLs, messages, log) never holds a credential."""
    server.add("/", payload(1000, seed=9))
    headers = (("Authorization", TOKEN), ("Cookie", COOKIE))
    options = Options(retries=1, http=HttpOptions(headers=headers, timeout=3))
    engine = Engine(Store(downloads.parent / "engine-state"))
    engine.start()
    try:
        urls = [
            with_userinfo(server.url("")),
            with_userinfo(server.add("/missing.bin", b"", status=404)),
            f"http://{USER}:{PASSWORD}@127.0.0.1:{closed_port()}",
        ]
        ids = [engine.add(url, downloads, options=options) for url in urls]
        before = engine.snapshot()
        engine.wait_idle(30)
        after = engine.snapshot()
    finally:
        engine.shutdown()
    for snap in (before, after):
        for job in snap.jobs:
            shown = [job.name, job.url, str(job.status), job.error or ""]
            shown += [job.message, job.target or ""]
            assert_no_secret(*shown)
        assert_no_secret(*(f"{line.name} {line.text}" for line in snap.log))
        assert_no_secret(json.dumps(snapshot_to_json(snap)))
    assert len(ids) == 3


def test_job_name_before_probe_hides_userinfo() -> None:
    """The queue shows a name before the probe: it must not be the URL's userinfo."""
    for url in (
        f"http://{USER}:{PASSWORD}@files.example.org",
        f"http://{USER}:{PASSWORD}@files.example.org/",
        f"https://{USER}:{PASSWORD}@files.example.org:8443/?x=1",
    ):
        job = Job.new(url, Path("/tmp"), None, Options())
        assert_no_secret(job.name)


# --------------------------------------------------------------------------- #
# Credentials stay on their host
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("kind", ["authorization-header", "cookie-header", "userinfo"])
def test_credentials_not_sent_to_another_host_after_redirect(
    server: FaultServer, downloads: Path, kind: str
) -> None:
    """127.0.0.1 redirects to localhost: same socket, another host as far as HTTP goes."""
    data = payload(4 * MiB, seed=10)
    server.add("/file.bin", data)
    server.add_redirect("/start.bin", server.url("/file.bin", host="localhost"))
    url = server.url("/start.bin")
    flags: tuple[str, ...] = ()
    if kind == "authorization-header":
        flags = ("--header", f"Authorization: {TOKEN}")
    elif kind == "cookie-header":
        flags = ("--header", f"Cookie: {COOKIE}")
    else:
        url = with_userinfo(url)
    result = run_get(url, "-o", downloads / "file.bin", "-t", "4", "-s", "256K", *flags)
    assert result.code == 0, result.describe()
    assert_saved(downloads / "file.bin", data)

    first = [r for r in server.requests if r.route == "/start.bin"]
    assert first and all(r.header("Authorization") or r.header("Cookie") for r in first)
    moved = [r for r in server.requests if r.route == "/file.bin"]
    assert moved and all((r.header("Host") or "").startswith("localhost") for r in moved)
    leaked = [
        f"{r.method} {r.range or ''}"
        for r in moved
        if r.header("Authorization") is not None or r.header("Cookie") is not None
    ]
    assert not leaked, f"credentials went to another host in: {leaked}"


@pytest.mark.parametrize("kind", ["authorization-header", "userinfo"])
def test_credentials_kept_on_a_same_host_redirect(
    server: FaultServer, downloads: Path, kind: str
) -> None:
    """Not stripping too much: a redirect on the same host keeps the credentials working."""
    data = payload(2 * MiB, seed=11)
    server.add("/real.bin", data)
    server.add_redirect("/alias.bin", "/real.bin")
    url = server.url("/alias.bin")
    flags: tuple[str, ...] = ("--header", f"Authorization: {TOKEN}")
    if kind == "userinfo":
        url, flags = with_userinfo(url), ()
    result = run_get(url, "-o", downloads / "real.bin", "-t", "4", "-s", "256K", *flags)
    assert result.code == 0, result.describe()
    gets = [r for r in server.requests if r.route == "/real.bin" and r.method == "GET"]
    assert gets and all(r.header("Authorization") for r in gets), [
        (r.range, r.header("Authorization")) for r in gets
    ]


# --------------------------------------------------------------------------- #
# Credentials are stored only in owner-only files
# --------------------------------------------------------------------------- #


def _secret_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            raw = path.read_bytes()
            if any(s.encode() in raw for s in SECRETS):
                found.append(path)
    return found


def _assert_private_tree(state: Path) -> None:
    assert state.is_dir()
    for path in [state, *state.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        assert mode == want, f"{path} has mode {mode:o}, not {want:o}"


def test_state_files_are_owner_only_even_with_umask_0(
    server: FaultServer, downloads: Path, state_dir: Path, tmp_path: Path
) -> None:
    """Killed mid-way (a map exists), then a damaged map set aside: all 0600 in 0700."""
    data = payload(8 * MiB, seed=12)
    url = with_userinfo(server.add("/private.bin", data, rate=1 * MiB))
    args = [*GET, url, "-o", str(downloads / "private.bin"), "-t", "4", *CRED_FLAGS]
    proc = subprocess.Popen(
        args,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(0),
    )
    try:
        wait_for(lambda: server.bytes_sent("/private.bin") >= 2 * MiB, 15, "2 MiB")
        time.sleep(1.2)
    finally:
        proc.kill()
    proc.wait(10)
    maps = list((state_dir / "maps").glob("*.json"))
    assert maps, "a block map should have been saved"
    assert not _secret_files(state_dir), "a map outlives its job: no credential in it (L10)"
    _assert_private_tree(state_dir)

    maps[0].write_bytes(maps[0].read_bytes()[:-40])  # torn: set aside on the next run
    server.resource("/private.bin").rate = None
    rerun = subprocess.run(
        args, env=cli_env(), capture_output=True, text=True, preexec_fn=lambda: os.umask(0)
    )
    assert rerun.returncode == 0, rerun.stderr
    assert_no_secret(rerun.stdout, rerun.stderr)
    assert list((state_dir / "maps").glob("*.corrupt-*")), rerun.stderr
    _assert_private_tree(state_dir)
    for path in _secret_files(tmp_path):
        assert state_dir in path.parents, f"{path} holds a credential outside the state dir"


def test_a_map_without_the_password_still_resumes_the_url_with_it(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    """L10: the map is saved without the URL's credentials, yet the same URL with them
    resumes from it, and the server is asked only for what is missing."""
    data = payload(8 * MiB, seed=13)
    route = "/resume-private.bin"
    url = with_userinfo(server.add(route, data, rate=2 * MiB))
    out = downloads / "resume-private.bin"
    proc = start_get(url, "-o", out, "-t", "2", "--fixed")
    try:
        wait_for(lambda: server.bytes_sent(route) >= 3 * MiB, 20, "3 MiB")
        proc.send_signal(signal.SIGINT)
        finish(proc, 20)
    finally:
        proc.kill()
    maps = list((state_dir / "maps").glob("*.json"))
    assert maps and not _secret_files(state_dir), "the map holds no credential"
    assert any(b"resume-private.bin" in m.read_bytes() for m in maps)
    before = server.bytes_sent(route)
    server.resource(route).rate = None
    rerun = run_get(url, "-o", out, "-t", "2")
    assert rerun.code == 0, rerun.describe()
    assert_saved(out, data)
    assert server.bytes_sent(route) - before <= len(data) - 2 * MiB, "it started over"
    assert all(r.header("Authorization") for r in server.requests if r.route == route)


def test_damaged_state_set_aside_long_ago_is_removed(state_dir: Path, downloads: Path) -> None:
    """A set-aside copy of the queue may hold URLs with passwords: after 30 days, the next
    run removes it; a recent one stays for inspection (L10)."""
    (state_dir / "maps").mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir.chmod(0o700)
    old = state_dir / "queue.json.corrupt-20200101-000000"
    old_map = state_dir / "maps" / "abc.json.corrupt-20200101-000000"
    recent = state_dir / f"queue.json.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    for path in (old, old_map, recent):
        path.write_text(with_userinfo("http://127.0.0.1/x"), encoding="utf-8")
        path.chmod(0o600)
    result = run_get(f"http://127.0.0.1:{closed_port()}/x", "-d", downloads, "--retries", "0")
    assert result.code != 0, result.describe()
    assert not old.exists() and not old_map.exists(), "set aside in 2020: removed"
    assert recent.exists(), "set aside today: kept"


def test_queue_file_is_owner_only(server: FaultServer, downloads: Path, tmp_path: Path) -> None:
    root = tmp_path / "queue-state"
    old = os.umask(0)
    try:
        engine = Engine(Store(root))
        engine.start()
        options = Options(http=HttpOptions(headers=(("Authorization", TOKEN),)))
        engine.add(
            with_userinfo(server.url("/nothing.bin")), downloads, options=options, paused=True
        )
        time.sleep(0.5)
        engine.shutdown()
    finally:
        os.umask(old)
    assert (root / "queue.json").exists()
    assert TOKEN.encode() in (root / "queue.json").read_bytes()
    _assert_private_tree(root)
