"""Crash consistency: `kill -9` at random moments, damaged state files, write ordering,
and one writer per file.

The torture test kills a real `rangetui get` again and again and resumes it each time.
After every kill it checks what a later run will trust: the saved block map is whole
(never torn), every byte it claims is the right byte in OUT.part, it never claims less
than before, OUT does not exist yet, and no run ever asks the server again for bytes
the map already had. The file is checked by sha256 whenever a run completes.

CI runs 64 MiB and 30 kills; the issue's full run is

    RANGETUI_TORTURE_MIB=200 RANGETUI_TORTURE_KILLS=30 pytest -s tests/test_torture.py -k kill

which prints the figures (kills, bytes fetched again, files corrupted).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rangetui.core.download import Download
from rangetui.core.engine import Engine
from rangetui.core.jobs import Job, JobList
from rangetui.core.store import SCHEMA, CorruptState, Store, read_json
from rangetui.core.types import HttpOptions, Options
from tests.cli_helpers import (
    GET,
    MiB,
    assert_clean_failure,
    assert_saved,
    cli_env,
    finish,
    part_of,
    run_get,
    sha256,
    sha256_file,
    wait_for,
)
from tests.conftest import payload
from tests.faultserver import FaultServer

Interval = tuple[int, int]

TORTURE_MIB = int(os.environ.get("RANGETUI_TORTURE_MIB", "64"))
TORTURE_KILLS = int(os.environ.get("RANGETUI_TORTURE_KILLS", "30"))
CONNS = 8
KILL_DELAY = (0.05, 0.5)
"""Seconds from the moment a run reaches its anchor (see ANCHORS) to its kill -9."""
ANCHORS = ("start", "transfer", "checkpoint")
"""Each kill's delay counts from one of: the process start (most of these land in
start-up or the probe), its first range request (mid-transfer, before any periodic
checkpoint), or its first periodic checkpoint (mid-transfer, progress saved)."""


# --------------------------------------------------------------------------- #
# Reading what a run left behind, without changing it
# --------------------------------------------------------------------------- #


def map_file(state: Path, light: bool = False) -> Path | None:
    """The durable block map (or the light one, saved without a sync)."""
    found = sorted((state / "maps").glob("*.json")) if (state / "maps").is_dir() else []
    maps = [p for p in found if p.name.endswith(".light.json") == light]
    assert len(maps) <= 1, f"several block maps for one download: {maps}"
    return maps[0] if maps else None


def map_identity(state: Path) -> tuple[int, int] | None:
    path = map_file(state)
    try:
        st = os.stat(path) if path else None
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns) if st else None


def saved_done(state: Path) -> list[Interval]:
    """What a rerun on this machine trusts: the durable map or, in the same boot, the light
    one when it claims more. Read from a copy (a damaged copy fails the test)."""
    durable, light = read_done(map_file(state)), read_done(map_file(state, light=True))
    return light if total(light) > total(durable) else durable


def read_done(path: Path | None) -> list[Interval]:
    if path is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "map.json"
        shutil.copyfile(path, copy)
        try:
            data = read_json(copy)
        except CorruptState as e:
            raise AssertionError(f"the block map was left damaged: {e}") from None
    assert data is not None
    return [(int(a), int(b)) for a, b in data["done"]]


def total(intervals: list[Interval]) -> int:
    return sum(b - a for a, b in intervals)


def covers(outer: list[Interval], inner: list[Interval]) -> bool:
    """Every byte of ``inner`` is in ``outer`` (both sorted, merged)."""
    return all(any(a <= x and y <= b for a, b in outer) for x, y in inner)


def overlap(intervals: list[Interval], a: int, b: int) -> int:
    return sum(max(0, min(b, y) - max(a, x)) for x, y in intervals)


def assert_claims_match(part: Path, data: bytes, done: list[Interval]) -> None:
    """Each byte the map claims is on disk and right."""
    if not done:
        return
    assert part.exists(), "the map claims bytes but OUT.part is gone"
    with part.open("rb") as f:
        for a, b in done:
            for start in range(a, b, 4 * MiB):
                end = min(b, start + 4 * MiB)
                f.seek(start)
                got = f.read(end - start)
                if got != data[start:end]:
                    pairs = enumerate(zip(got, data[start:end], strict=False))
                    bad = next((i for i, (x, y) in pairs if x != y), len(got))
                    raise AssertionError(
                        f"the map claims bytes {a}-{b} but byte {start + bad} is wrong on disk"
                    )


def ranges_asked(server: FaultServer, route: str, since: int) -> list[Interval]:
    """The byte ranges of the GETs on ``route`` from request number ``since`` on, but a
    resumed run's 1-byte probe (it reads the server's answer, not the file's bytes)."""
    found = []
    for record in list(server.requests)[since:]:
        if record.route != route or record.method != "GET" or not record.range:
            continue
        if record.range == "bytes=0-0":
            continue
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", record.range)
        assert match, record.range
        found.append((int(match[1]), int(match[2]) + 1))
    return found


# --------------------------------------------------------------------------- #
# The torture test
# --------------------------------------------------------------------------- #


@pytest.fixture
def fast_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Output and state on tmpfs when there is one (fsync is free there), else tmp_path."""
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else None
    root = base or tmp_path / "fast"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("RANGETUI_STATE_DIR", str(root / "state"))
    yield root
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Torture:
    server: FaultServer
    route: str
    data: bytes
    out: Path
    state: Path
    args: list[str]
    rng: random.Random
    kills: int = 0
    completions: int = 0
    done: list[Interval] = field(default_factory=list)
    saved_by_kills: int = 0
    log: list[str] = field(default_factory=list)

    def start(self) -> tuple[subprocess.Popen[bytes], Path]:
        err = self.out.parent / f"run-{self.kills}-{self.completions}.err"
        with err.open("wb") as f:
            proc = subprocess.Popen(
                [*GET, *self.args],
                env=cli_env(),
                stdout=subprocess.DEVNULL,
                stderr=f,
                stdin=subprocess.DEVNULL,
            )
        return proc, err

    def wait_anchor(self, proc: subprocess.Popen[bytes], anchor: str, requests_before: int) -> None:
        deadline = time.monotonic() + 20
        changes, last = 0, map_identity(self.state)
        while proc.poll() is None:
            assert time.monotonic() < deadline, f"the run never reached its {anchor}"
            if anchor == "start":
                return
            if anchor == "transfer" and ranges_asked(self.server, self.route, requests_before):
                return
            if anchor == "checkpoint":
                now = map_identity(self.state)
                if now != last:
                    changes, last = changes + 1, now
                if changes >= 2:  # the save at start, then the first periodic checkpoint
                    return
            time.sleep(0.005)

    def one_run(self, anchor: str) -> None:
        requests_before = len(self.server.requests)
        sent_before = self.server.bytes_sent(self.route)
        proc, err = self.start()
        try:
            self.wait_anchor(proc, anchor, requests_before)
            time.sleep(self.rng.uniform(*KILL_DELAY))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        asked = ranges_asked(self.server, self.route, requests_before)
        refetch = [r for r in asked if overlap(self.done, *r)]
        assert not refetch, f"asked again for saved bytes: {refetch} (saved {self.done})"
        sent = self.server.bytes_sent(self.route) - sent_before
        if proc.returncode == 0:  # finished before the kill: check it, then start afresh
            assert_saved(self.out, self.data)
            self.completions += 1
            self.out.unlink()
            self.done = []
            self.log.append(f"{anchor:10} completed before the kill, sent {sent}")
            return
        assert proc.returncode == -signal.SIGKILL, err.read_text()
        self.kills += 1
        assert not self.out.exists(), "OUT exists although the run was killed"
        done = saved_done(self.state)
        assert covers(done, self.done), f"saved progress went backwards: {self.done} -> {done}"
        assert_claims_match(part_of(self.out), self.data, done)
        gained = total(done) - total(self.done)
        self.saved_by_kills += gained
        self.log.append(f"{anchor:10} sent {sent:>10}  saved {gained:>10}  done {total(done)}")
        self.done = done


@pytest.mark.timeout(900)
def test_kill_9_at_random_moments_then_resume(server: FaultServer, fast_dir: Path) -> None:
    size = TORTURE_MIB * MiB
    rate = max(4 * MiB, size // 16)
    """All connections together; the killed runs need about 16 s of transfer in all."""
    data = payload(size, seed=2024)
    route = "/torture.bin"
    url = server.add(route, data, rate=rate // CONNS)
    out = fast_dir / "dl" / "torture.bin"
    out.parent.mkdir()
    seed = int(os.environ.get("RANGETUI_TORTURE_SEED", str(random.randrange(10**6))))
    torture = Torture(
        server,
        route,
        data,
        out,
        fast_dir / "state",
        [url, "-o", str(out), "-t", str(CONNS), "-q"],
        random.Random(seed),
    )
    started = time.monotonic()
    while torture.kills < TORTURE_KILLS:
        torture.one_run(ANCHORS[(torture.kills + torture.completions) % len(ANCHORS)])

    server.resource(route).rate = None
    before = len(server.requests)
    final = run_get(*torture.args, timeout=300)
    assert final.code == 0, final.describe()
    assert_saved(out, data)
    torture.completions += 1
    asked = ranges_asked(server, route, before)
    assert not [r for r in asked if overlap(torture.done, *r)], "the last run refetched"
    assert not re.search(r"start(ing)? over|damaged|unreadable", final.stderr, re.I), final.stderr
    assert map_file(torture.state) is None, "the block map outlived the download"

    sent = server.bytes_sent(route)
    refetched = sent - torture.completions * size
    received_by_killed = sent - torture.completions * size + torture.saved_by_kills
    per_kill = rate * (KILL_DELAY[1] + 0.25) + CONNS * 512 * 1024
    print(
        f"\ntorture: {size // MiB} MiB, seed {seed}, {torture.kills} kills survived,"
        f" {torture.completions} completed runs, {sha256_file(out)[:12]} correct,"
        f" 0 corrupted, {time.monotonic() - started:.0f} s"
        f"\n  bytes sent by the server {sent} ({sent / size:.2f} x the file)"
        f"\n  re-fetched {refetched} bytes ({refetched / MiB:.1f} MiB,"
        f" {refetched / torture.kills / MiB:.2f} MiB per kill)"
        f"\n  killed runs received {received_by_killed / MiB:.1f} MiB and kept"
        f" {torture.saved_by_kills / MiB:.1f} MiB"
    )
    print("  " + "\n  ".join(torture.log))
    assert torture.saved_by_kills > 0, "no killed run ever kept any progress"
    assert refetched <= torture.kills * per_kill, f"{refetched} bytes fetched again"


# --------------------------------------------------------------------------- #
# Damaged state files are set aside, reported, and not trusted
# --------------------------------------------------------------------------- #


def _valid_envelope_wrong_shape(raw: bytes) -> bytes:
    import hashlib

    data = {"target": json.loads(raw)["data"]["target"], "done": "all of it"}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return json.dumps({"schema": SCHEMA, "sha256": digest, "data": data}).encode()


DAMAGE = {
    "torn-half": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "flipped-digit": lambda raw: re.sub(rb'"done":\[\[(\d)', rb'"done":[[9\1', raw, count=1),
    "garbage": lambda raw: os.urandom(len(raw)),
    "nul-filled": lambda raw: b"\0" * len(raw),
    "other-schema": lambda raw: raw.replace(b'"schema":%d' % SCHEMA, b'"schema":99'),
    "valid-checksum-wrong-shape": _valid_envelope_wrong_shape,
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_block_map_is_set_aside_and_the_job_restarts(
    server: FaultServer, downloads: Path, state_dir: Path, damage: object
) -> None:
    size = 6 * MiB
    data = payload(size, seed=33)
    url = server.add("/damaged.bin", data, rate=512 * 1024)
    out = downloads / "damaged.bin"
    args = (url, "-o", out, "-t", "4")
    proc = subprocess.Popen([*GET, *map(str, args)], env=cli_env(), stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: total(_quiet_done(state_dir)) > 0, 20, "a checkpoint with progress")
    finally:
        proc.kill()
        proc.wait(10)
    path = map_file(state_dir)
    assert path is not None
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]

    server.resource("/damaged.bin").rate = None
    server.reset_counters()
    result = run_get(*args)
    assert result.code == 0, result.describe()
    assert_saved(out, data)
    assert re.search(r"moved it to \S+\.corrupt-", result.stderr), result.describe()
    assert re.search(r"start(ing)? over", result.stderr), result.describe()
    assert list((state_dir / "maps").glob("*.corrupt-*")), "the damaged file was not kept"
    assert server.bytes_sent("/damaged.bin") >= size, "the damaged map was trusted"


def _quiet_done(state: Path) -> list[Interval]:
    """The durable map's claims (the one these tests damage)."""
    try:
        return read_done(map_file(state))
    except (AssertionError, FileNotFoundError):
        return []


def test_damaged_queue_file_is_set_aside_and_reported(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    JobList(store).save([Job.new("http://h/a", tmp_path, None, Options())])
    queue = store.root / "queue.json"
    queue.write_bytes(queue.read_bytes()[:-10])
    engine = Engine(store)
    engine.start()
    try:
        log = [line.text for line in engine.snapshot().log]
    finally:
        engine.shutdown()
    assert any("moved it to" in text for text in log), log
    assert list(store.root.glob("queue.json.corrupt-*"))


# --------------------------------------------------------------------------- #
# Ordering: the map never claims bytes that are not synced; OUT is synced first
# --------------------------------------------------------------------------- #


class SyncRecorder:
    """Wraps os.pwrite/fdatasync/fsync/replace to check what each saved map claims."""

    def __init__(self, part: Path, target: Path, map_dir: Path) -> None:
        self.part, self.target, self.map_dir = str(part), str(target), str(map_dir)
        self.lock = threading.Lock()
        self.written: list[Interval] = []
        self.synced: list[Interval] = []
        self.maps_saved = 0
        self.light_saved = 0
        self.violations: list[str] = []
        self.real = {
            name: getattr(os, name)
            for name in ("pwrite", "splice", "fdatasync", "fsync", "replace")
        }

    def _is_part(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == self.part
        except OSError:
            return False

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        n: int = self.real["pwrite"](fd, data, offset)
        if self._is_part(fd):
            with self.lock:
                self.written.append((offset, offset + n))
        return n

    def splice(self, src: int, dst: int, count: int, **kw: int) -> int:
        """Zero-copy writes (socket → pipe → file) count as writes like pwrite."""
        n: int = self.real["splice"](src, dst, count, **kw)
        offset = kw.get("offset_dst")
        if offset is not None and self._is_part(dst):
            with self.lock:
                self.written.append((offset, offset + n))
        return n

    def _sync(self, name: str, fd: int) -> None:
        is_part = self._is_part(fd)
        with self.lock:
            before = list(self.written)
        self.real[name](fd)
        if is_part:
            with self.lock:
                self.synced = merge(self.synced + before)

    def fdatasync(self, fd: int) -> None:
        self._sync("fdatasync", fd)

    def fsync(self, fd: int) -> None:
        self._sync("fsync", fd)

    def replace(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        dst_s = str(dst)
        with self.lock:
            synced = list(self.synced)
            written = merge(self.written)
        if os.path.dirname(dst_s) == self.map_dir and dst_s.endswith(".light.json"):
            self._check_light(Path(src), written)
        elif os.path.dirname(dst_s) == self.map_dir and dst_s.endswith(".json"):
            done = [(a, b) for a, b in json.loads(Path(src).read_bytes())["data"]["done"]]
            self.maps_saved += 1
            if not covers(synced, merge(done)):
                self.violations.append(f"map claims {done} with only {synced} synced")
        elif dst_s == self.target and not covers(synced, written):
            self.violations.append(f"renamed to OUT with {written} written, {synced} synced")
        self.real["replace"](src, dst)

    def _check_light(self, src: Path, written: list[Interval]) -> None:
        """A light map may claim what the kernel has (written), not more, and only for
        this boot: it must say which boot that is."""
        data = json.loads(src.read_bytes())["data"]
        done = merge([(a, b) for a, b in data["done"]])
        self.light_saved += 1
        if not data.get("boot_id"):
            self.violations.append("a light map without a boot id")
        if not covers(written, done):
            self.violations.append(f"light map claims {done} with only {written} written")


def merge(intervals: list[Interval]) -> list[Interval]:
    result: list[list[int]] = []
    for a, b in sorted(intervals):
        if result and a <= result[-1][1]:
            result[-1][1] = max(result[-1][1], b)
        else:
            result.append([a, b])
    return [(a, b) for a, b in result]


def test_map_is_saved_only_after_its_data_is_synced(
    server: FaultServer, downloads: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 12 * MiB
    data = payload(size, seed=44)
    url = server.add("/ordered.bin", data, rate=1 * MiB)
    out = downloads / "ordered.bin"
    store = Store(state_dir)
    recorder = SyncRecorder(part_of(out), out, store.maps_dir)
    for name in recorder.real:
        monkeypatch.setattr(os, name, getattr(recorder, name))
    options = Options(connections=4, http=HttpOptions(timeout=10))
    saved = Download(url, output=out, options=options, store=store).run(threading.Event())
    monkeypatch.undo()
    assert saved == out
    assert sha256_file(out) == sha256(data)
    assert recorder.maps_saved >= 3, "expected several checkpoints during a 3 s download"
    assert recorder.light_saved >= 10, "expected light maps between the checkpoints"
    assert not recorder.violations, recorder.violations


# --------------------------------------------------------------------------- #
# One writer per file
# --------------------------------------------------------------------------- #


def _start_many(args: tuple[str | Path, ...], count: int) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [*GET, *map(str, args)],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(count)
    ]


def test_simultaneous_gets_of_one_output_have_one_writer(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(8 * MiB, seed=55)
    url = server.add("/race.bin", data, rate=512 * 1024)
    out = downloads / "race.bin"
    procs = _start_many((url, "-o", out, "-t", "4"), 4)
    results = [finish(p, 60) for p in procs]
    winners = [r for r in results if r.code == 0]
    assert len(winners) == 1, [r.describe() for r in results]
    for loser in (r for r in results if r.code != 0):
        assert_clean_failure(loser)
        assert "already" in loser.stderr.lower(), loser.describe()
    assert_saved(out, data)


def test_simultaneous_gets_into_one_dir_never_share_a_file(
    server: FaultServer, downloads: Path
) -> None:
    data = payload(8 * MiB, seed=56)
    url = server.add("/race-d.bin", data, rate=1 * MiB)
    procs = _start_many((url, "-d", downloads, "-t", "4"), 4)
    results = [finish(p, 60) for p in procs]
    saved = [re.search(r"saved (.+) \(", r.stderr) for r in results if r.code == 0]
    paths = [m[1] for m in saved if m]
    assert paths, [r.describe() for r in results]
    assert len(paths) == len(set(paths)), f"two processes saved the same file: {paths}"
    for loser in (r for r in results if r.code != 0):
        assert_clean_failure(loser)
        assert "already" in loser.stderr.lower(), loser.describe()
    assert sorted(str(p) for p in downloads.iterdir()) == sorted(paths)
    for path in paths:
        assert_saved(Path(path), data)
