"""Regression tests for the findings of the code review (numbers are the review's).

Each test reproduces one finding against the real fault server (tests/faultserver.py):
it fails on the buggy behaviour and passes once fixed. Each runs in a few seconds:
small files, per-connection rate limits, short ``--timeout`` / ``--retries``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rangetui.core.download import Download
from rangetui.core.engine import Engine
from rangetui.core.errors import DownloadError
from rangetui.core.http.connection import Connection
from rangetui.core.store import ResumeState, Store
from rangetui.core.types import HttpOptions, Options, Phase
from tests.cli_helpers import (
    GET,
    MiB,
    Result,
    assert_clean_failure,
    assert_saved,
    cli_env,
    closed_port,
    run_get,
    sha256,
    sha256_file,
)
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer, RequestRecord

pytestmark = pytest.mark.timeout(60)

FAST = ("--timeout", "3", "--retries", "1")
"""A stall or a failure is over quickly."""


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def get(*args: str | Path, timeout: float = 20.0) -> Result:
    """`rangetui get ARGS…`; a run that loops or hangs fails the test instead of erroring."""
    try:
        return run_get(*args, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        err = e.stderr or b""
        text = err.decode(errors="replace") if isinstance(err, bytes) else err
        raise AssertionError(
            f"rangetui get {' '.join(map(str, args))} did not exit within {timeout} s;"
            f" stderr ends with:\n{text[-1500:]}"
        ) from None


def gets(server: FaultServer, route: str) -> list[RequestRecord]:
    return [r for r in list(server.requests) if r.method == "GET" and r.route == route]


def in_background(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def poll(predicate: Callable[[], object], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


@pytest.fixture
def engine(state_dir: Path) -> Iterator[Engine]:
    eng = Engine(Store(state_dir))
    eng.start()
    yield eng
    eng.shutdown()


def claimed(state: ResumeState | None) -> int:
    return 0 if state is None else sum(end - start for start, end in state.done)


# --------------------------------------------------------------------------- #
# 1. A failed fdatasync: the map never claims more than the last good sync
# --------------------------------------------------------------------------- #


def test_failed_fdatasync_never_lets_the_map_claim_unsynced_bytes(
    server: FaultServer, downloads: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 2nd checkpoint's fdatasync fails (EIO); like Linux, later ones "succeed" although
    the failed pages are lost. No map saved after the failure, nor the one left on disk,
    may claim more than was done when the last successful sync returned."""
    data = payload(16 * MiB)
    url = server.add("/sync.bin", data, rate=MiB)
    target = downloads / "sync.bin"
    real_fdatasync = os.fdatasync
    calls = 0
    failed = threading.Event()
    synced: list[int] = []  # bytes done when each successful sync (before the failure) returned
    saves: list[tuple[bool, int]] = []

    class SpyStore(Store):
        def save_map(self, state: ResumeState, *args: Any, **kwargs: Any) -> None:
            saves.append((failed.is_set(), claimed(state)))
            super().save_map(state, *args, **kwargs)

    store = SpyStore(state_dir)
    download = Download(url, output=target, options=Options(connections=4), store=store)

    def flaky_fdatasync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            failed.set()
            raise OSError(errno.EIO, "Input/output error")
        real_fdatasync(fd)
        if not failed.is_set():
            synced.append(download.snapshot().completed)

    monkeypatch.setattr(os, "fdatasync", flaky_fdatasync)
    with contextlib.suppress(DownloadError):  # failing is fine; claiming unsynced bytes is not
        download.run(threading.Event())
    assert failed.is_set(), f"premise: the 2nd fdatasync never came ({calls} calls)"
    assert synced, "premise: no sync succeeded before the failure"
    bound = synced[-1]
    after = [claim for was_after, claim in saves if was_after]
    assert all(claim <= bound for claim in after), (
        f"after the failed sync a map was saved claiming {max(after)} bytes;"
        f" only {bound} were done at the last successful sync"
    )
    on_disk = claimed(store.load_map(target))
    assert on_disk <= bound, f"the saved map claims {on_disk} bytes, only {bound} were synced"


# --------------------------------------------------------------------------- #
# 2. A HEAD that lies about the length
# --------------------------------------------------------------------------- #


def test_head_with_zero_length_does_not_make_an_empty_file(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(2 * MiB)
    url = server.add("/zero.bin", data, head_headers={"Content-Length": "0"})
    out = downloads / "zero.bin"
    r = get(url, "-o", out, *FAST)
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    assert gets(server, "/zero.bin"), "no GET: the HEAD's length was believed"


@pytest.mark.parametrize("wrong", ["half", "double", "one-more"])
def test_head_with_wrong_length_still_ends_in_the_right_file(
    server: FaultServer, downloads: Path, wrong: str
) -> None:
    data = payload(2 * MiB)
    length = {"half": len(data) // 2, "double": 2 * len(data), "one-more": len(data) + 1}[wrong]
    url = server.add("/wrong.bin", data, head_headers={"Content-Length": str(length)})
    out = downloads / "wrong.bin"
    r = get(url, "-o", out, "-t", "2", *FAST)
    assert r.code == 0, r.describe()
    assert_saved(out, data)


# --------------------------------------------------------------------------- #
# 3. One 200 to a Range request mid-download
# --------------------------------------------------------------------------- #


def test_one_200_to_a_range_request_does_not_wipe_progress(
    server: FaultServer, downloads: Path
) -> None:
    """Once ranges have worked, a lone 200 (a CDN edge's cache miss) is a glitch: the
    download goes on with parallel ranges and keeps what it has."""
    data = payload(16 * MiB)
    url = server.add("/edge.bin", data, rate=2 * MiB)
    res = server.resource("/edge.bin")
    served_200 = threading.Event()

    def glitch() -> None:
        if poll(lambda: server.bytes_sent("/edge.bin") >= 9 * MiB, 15):
            res.ignore_range_times = 1
            if poll(lambda: res.ignore_range_times == 0, 15):
                served_200.set()
        res.rate = None  # whatever happens next happens fast

    in_background(glitch)
    out = downloads / "edge.bin"
    r = get(url, "-o", out, "-t", "2", "--timeout", "5", timeout=30)
    assert served_200.is_set(), "premise: no ranged GET came after the glitch was armed"
    requests = gets(server, "/edge.bin")
    index = next(i for i, q in enumerate(requests) if q.range and q.status == 200)
    later = requests[index + 1 :]
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    assert not [q for q in later if q.range is None], (
        "after one 200 the download restarted as a single whole-file GET"
    )
    assert any(q.status == 206 for q in later), "no ranged GET after the glitch"
    sent = server.bytes_sent("/edge.bin")
    assert sent < 1.5 * len(data), f"the server sent {sent / MiB:.1f} MiB for a 16 MiB file"


# --------------------------------------------------------------------------- #
# 4. Exceptions that are not DownloadErrors
# --------------------------------------------------------------------------- #


def test_huge_buffer_size_is_refused_as_a_bad_flag(server: FaultServer, downloads: Path) -> None:
    url = server.add("/b.bin", payload(MiB))
    out = downloads / "b.bin"
    r = get(url, "-o", out, "-b", "64G", timeout=10)
    assert r.code == 2, r.describe()
    assert len(r.lines) == 1, r.describe()
    assert "-b" in r.stderr or "buffer" in r.stderr.lower(), r.describe()
    assert not out.exists()


def test_retry_after_with_a_non_ascii_digit_is_no_retry_after(
    server: FaultServer, downloads: Path
) -> None:
    """``Retry-After: ²`` (byte 0xB2): ``"²".isdigit()`` is true but ``float("²")`` fails."""
    data = payload(MiB)
    url = server.add("/ra.bin", data, fail_statuses=[503, 503], retry_after="\u00b2")
    out = downloads / "ra.bin"
    r = get(url, "-o", out, "-t", "1", "--timeout", "5", timeout=15)
    assert "internal error" not in r.stderr, r.describe()
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    assert sum(q.status == 503 for q in gets(server, "/ra.bin")) == 2


def test_an_unexpected_exception_in_a_connection_ends_the_download(
    server: FaultServer, downloads: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker dying of something that is not a DownloadError must not be respawned
    forever: the download ends promptly with one error line."""
    url = server.add("/boom.bin", payload(4 * MiB))

    def boom(fd: int, data: Any, offset: int) -> int:
        raise ValueError("boom")

    monkeypatch.setattr(os, "pwrite", boom)
    download = Download(
        url,
        output=downloads / "boom.bin",
        options=Options(connections=2, retries=1),
        store=Store(state_dir),
    )
    cancel = threading.Event()
    outcome: list[BaseException | Path] = []

    def run() -> None:
        try:
            outcome.append(download.run(cancel))
        except BaseException as e:
            outcome.append(e)

    thread = in_background(run)
    thread.join(8)
    if thread.is_alive():
        cancel.set()
        thread.join(5)
        raise AssertionError("the download was still running 8 s after its workers crashed")
    assert outcome and isinstance(outcome[0], DownloadError), outcome
    message = str(outcome[0])
    assert message and "\n" not in message, repr(message)
    assert not (downloads / "boom.bin").exists()


# --------------------------------------------------------------------------- #
# 6. A per-client connection limit
# --------------------------------------------------------------------------- #


def test_connection_limit_503s_do_not_fail_the_download(
    server: FaultServer, downloads: Path
) -> None:
    """Two connections at a time, 503 + Retry-After: 1 beyond (nginx limit_conn). Those
    503s are not failures of the range: with --retries 1, counting them as such gives up
    within about a second (with the default 5, a long download gives up the same way)."""
    data = payload(8 * MiB)
    url = server.add("/limited.bin", data, rate=2 * MiB, max_concurrent=2)
    out = downloads / "limited.bin"
    r = get(url, "-o", out, "-t", "8", "--retries", "1", "--timeout", "5", timeout=30)
    assert any(q.status == 503 for q in gets(server, "/limited.bin")), "premise: no 503"
    assert r.code == 0, r.describe()
    assert_saved(out, data)


# --------------------------------------------------------------------------- #
# 7. Expiring signed redirect targets
# --------------------------------------------------------------------------- #


def test_expired_signed_redirect_target_is_fetched_again_from_the_start_url(
    server: FaultServer, downloads: Path
) -> None:
    """/start redirects to /signed?sig=N (fresh N each time); a signature is good for
    1.5 s, then 403. The download takes several seconds: it must ask /start again."""
    data = payload(12 * MiB)
    server.add("/signed.bin", data, rate=2 * MiB, sig_ttl=1.5)
    url = server.add_redirect("/start.bin", "/signed.bin", signed=True)
    out = downloads / "f.bin"
    r = get(url, "-o", out, "-t", "2", "--timeout", "5", timeout=30)
    assert any(q.status == 403 for q in gets(server, "/signed.bin")), (
        "premise: no request reached an expired signature"
    )
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    assert server.signatures_issued() >= 2, "the start URL was never asked again"


# --------------------------------------------------------------------------- #
# 8. Pause of a single connection stalled mid-read
# --------------------------------------------------------------------------- #


def test_pause_is_prompt_for_a_stalled_single_connection(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add(
        "/stall.bin",
        payload(4 * MiB),
        accept_ranges=False,
        stall_after=MiB,
        stall_seconds=60,
    )
    job = engine.add(url, downloads, options=Options(http=HttpOptions(timeout=30)))
    wait_job(
        engine,
        job,
        lambda j: j.status is Phase.DOWNLOADING and j.completed >= MiB,
        10,
        "the first MiB (then the server stalls)",
    )
    time.sleep(0.3)  # well inside the blocked read
    engine.pause(job)
    wait_job(
        engine,
        job,
        lambda j: j.status is Phase.PAUSED and not j.running,
        3,
        "the pause to take effect (its thread ended)",
    )


# --------------------------------------------------------------------------- #
# 9. Remove "with its partial file" vs another job writing that .part
# --------------------------------------------------------------------------- #


def test_removing_a_job_with_its_partial_spares_another_jobs_part(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    """Job 1 (-d DIR) is paused with a .part; job 2 (same URL, output= the same name in
    DIR) takes that .part over. Removing job 1 with its partial file must not delete the
    .part that job 2 is writing."""
    data = payload(8 * MiB)
    url = server.add("/dup.iso", data, rate=MiB)
    two = Options(connections=2)
    first = engine.add(url, downloads, options=two)
    wait_job(engine, first, lambda j: j.completed >= MiB, 10, "job 1 to have 1 MiB")
    engine.pause(first)
    wait_job(engine, first, lambda j: j.status is Phase.PAUSED and not j.running, 5, "pause")
    second = engine.add(url, downloads, output=Path("dup.iso"), options=two)
    assert second != first, "premise: the second add was folded into the first job"
    wait_job(
        engine,
        second,
        lambda j: j.status is Phase.DOWNLOADING and j.running and j.completed > 0,
        10,
        "job 2 to be downloading",
    )
    engine.remove(first, delete_partial=True)
    assert poll(lambda: engine.snapshot().find(first) is None, 5), "job 1 was not removed"
    time.sleep(0.3)
    server.resource("/dup.iso").rate = None
    snap = wait_job(
        engine, second, lambda j: j.status in (Phase.DONE, Phase.FAILED), 15, "job 2 to end"
    )
    assert snap.status is Phase.DONE, f"job 2 failed: {snap.error}"
    target = Path(snap.target or "")
    assert target.is_file(), f"job 2's file {target} is missing"
    assert sha256_file(target) == sha256(data)


# --------------------------------------------------------------------------- #
# 10. A closed stderr
# --------------------------------------------------------------------------- #


def test_closed_stderr_does_not_abort_the_download(server: FaultServer, downloads: Path) -> None:
    """stderr is a pipe whose reader went away (``2>&1 | head -1``, a closed log pipe):
    messages are lost, the download is not."""
    data = payload(2 * MiB)
    url = server.add("/pipe.bin", data, fail_statuses=[503])  # a retry message to print
    out = downloads / "pipe.bin"
    proc = subprocess.Popen(
        [*GET, url, "-o", str(out), "--timeout", "5"],
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    proc.stderr.close()
    try:
        code = proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("rangetui get did not exit within 20 s") from None
    assert code == 0, f"exit {code} with stderr closed"
    assert_saved(out, data)


# --------------------------------------------------------------------------- #
# 11. -j 2 with two URLs of the same name
# --------------------------------------------------------------------------- #


def test_two_jobs_with_colliding_names_both_save(server: FaultServer, downloads: Path) -> None:
    """Both probes are made to end together (a barrier on the HEADs), so both pick a
    name at the same moment; run several times, as it is a race."""
    for attempt in range(6):
        gate = threading.Barrier(2)
        first, second = payload(64 * 1024, 1), payload(64 * 1024, 2)
        u1 = server.add("/a/same.bin", first, head_gate=gate)
        u2 = server.add("/b/same.bin", second, head_gate=gate)
        directory = downloads / f"run{attempt}"
        directory.mkdir()
        r = get(u1, u2, "-d", directory, "-j", "2", *FAST)
        names = sorted(p.name for p in directory.iterdir())
        assert r.code == 0, f"attempt {attempt}: {names}\n{r.describe()}"
        assert names == ["same (1).bin", "same.bin"], f"attempt {attempt}: {names}"
        contents = {sha256_file(directory / name) for name in names}
        assert contents == {sha256(first), sha256(second)}, f"attempt {attempt}"


# --------------------------------------------------------------------------- #
# 12. Chunked 206 answers
# --------------------------------------------------------------------------- #


def test_chunked_206_answers_cost_no_retries(server: FaultServer, downloads: Path) -> None:
    """Several requests per connection over chunked 206 bodies: reusing the connection
    must not fail on the unread end of the last chunked body."""
    data = payload(16 * MiB)
    url = server.add("/chunked.bin", data, chunked=True)
    out = downloads / "chunked.bin"
    r = get(url, "-o", out, "-t", "2", "--timeout", "5")
    assert r.code == 0, r.describe()
    assert_saved(out, data)
    assert "retrying" not in r.stderr, r.describe()
    ranges = [q.range for q in gets(server, "/chunked.bin") if q.range]
    again = sorted({x for x in ranges if ranges.count(x) > 1})
    assert not again, f"ranges asked for more than once: {again}"


# --------------------------------------------------------------------------- #
# 13. Hostile numbers in Content-Length / Content-Range
# --------------------------------------------------------------------------- #

HUGE = "9" * 5000
SIZE13 = MiB
HOSTILE_NUMBERS: dict[str, dict[str, Any]] = {
    "length-superscript": {"send_length": False, "extra_headers": {"Content-Length": "\u00b2"}},
    "length-5000-digits": {"send_length": False, "extra_headers": {"Content-Length": HUGE}},
    "head-length-superscript": {"head_headers": {"Content-Length": "1\u00b2"}},
    "head-length-5000-digits": {"head_headers": {"Content-Length": HUGE}},
    "range-total-5000-digits": {"extra_headers": {"Content-Range": f"bytes 0-0/{HUGE}"}},
    "range-start-5000-digits": {"extra_headers": {"Content-Range": f"bytes {HUGE}-0/{SIZE13}"}},
    "probe-range-total-5000-digits": {
        "head_headers": {"Accept-Ranges": "none"},
        "extra_headers": {"Content-Range": f"bytes 0-0/{HUGE}"},
    },
    "206-length-superscript": {
        "send_length": False,
        "extra_headers": {"Content-Length": "\u00b2"},
        "head_headers": {"Content-Length": str(SIZE13)},
    },
    "206-length-5000-digits": {
        "send_length": False,
        "extra_headers": {"Content-Length": HUGE},
        "head_headers": {"Content-Length": str(SIZE13)},
    },
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NUMBERS))
def test_hostile_numbers_in_length_headers(server: FaultServer, downloads: Path, case: str) -> None:
    data = payload(SIZE13)
    url = server.add("/n.bin", data, **HOSTILE_NUMBERS[case])
    out = downloads / "n.bin"
    r = get(url, "-o", out, "--timeout", "3", "--retries", "0", timeout=10)
    assert "internal error" not in r.stderr, r.describe()
    if r.code == 0:
        assert_saved(out, data)
    else:
        assert_clean_failure(r)
        assert not out.exists()


# --------------------------------------------------------------------------- #
# 14. Control characters in the reason phrase
# --------------------------------------------------------------------------- #

HOSTILE_REASON = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mreason"


@pytest.mark.parametrize("when", ["final-404", "retried-503"])
def test_reason_phrase_control_characters_never_reach_stderr(
    server: FaultServer, downloads: Path, when: str
) -> None:
    options: dict[str, Any] = {"status": 404} if when == "final-404" else {"fail_statuses": [503]}
    url = server.add("/r.bin", payload(MiB), reason=HOSTILE_REASON, **options)
    r = get(url, "-o", downloads / "r.bin", *FAST)
    assert ("404" if when == "final-404" else "503") in r.stderr, r.describe()
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr, repr(r.stderr)


# --------------------------------------------------------------------------- #
# 15. Clear errors for a bad environment; a crash between rename and map drop
# --------------------------------------------------------------------------- #


def test_missing_ca_bundle_is_one_clear_line(downloads: Path) -> None:
    bundle = downloads / "missing-ca.pem"
    url = f"https://127.0.0.1:{closed_port()}/x.bin"
    r = get(url, "-o", downloads / "x.bin", "--ca-bundle", bundle, *FAST)
    assert r.code != 0, r.describe()
    assert "internal error" not in r.stderr, r.describe()
    assert len(r.lines) == 1, r.describe()
    assert bundle.name in r.stderr, r.describe()


def test_unusable_state_dir_is_one_clear_line(
    server: FaultServer, downloads: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file, not a directory\n")
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(blocker / "state"))
    data = payload(MiB)
    url = server.add("/s.bin", data)
    out = downloads / "s.bin"
    r = get(url, "-o", out, *FAST)
    assert "internal error" not in r.stderr, r.describe()
    if r.code == 0:  # went on without resume state, and said so
        assert_saved(out, data)
        assert str(blocker) in r.stderr, r.describe()
    else:
        assert len(r.lines) == 1, r.describe()
        assert str(blocker) in r.stderr, r.describe()


def test_rerun_after_a_crash_between_rename_and_map_drop_finds_the_file(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    """DESIGN EXPECTATION (not a crash or data-loss bug): a power cut between renaming
    OUT.part to OUT and dropping the block map leaves OUT plus a map claiming every
    byte. Rerunning the same `-d DIR` command must recognise the finished file (exit 0,
    saying it is already there) instead of downloading it all again as "name (1).ext"."""
    data = payload(2 * MiB)
    url = server.add("/file.iso", data)
    first = get(url, "-d", downloads, *FAST)
    assert first.code == 0, first.describe()
    target = downloads / "file.iso"
    assert_saved(target, data)
    # What the crash leaves behind: the map, saved as the download saves it, claiming all.
    with Connection(HttpOptions()) as conn:
        remote = conn.probe(url)
    assert remote.size == len(data)
    state = ResumeState(str(target), url, remote, MiB, [(0, len(data))])
    Store(state_dir).save_map(state)
    server.reset_counters()

    r = get(url, "-d", downloads, *FAST)
    assert r.code == 0, r.describe()
    assert sorted(p.name for p in downloads.iterdir()) == ["file.iso"], r.describe()
    assert "already" in r.stderr.lower(), r.describe()
    assert server.bytes_sent("/file.iso") < len(data), "the whole file was downloaded again"
    assert_saved(target, data)
