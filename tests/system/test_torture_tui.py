"""Crash consistency of the TUI and its engine: `kill -9` the real `rangetui URL -d DIR`
and the background engine it started, again and again.

The TUI runs in a pseudo-terminal of 80x24 that the test owns (a thread drains it, so
the app never blocks on output). The first start gives the URL, which puts the job in
the persistent queue under RANGETUI_STATE_DIR; every later start gives no URL at all:
the job must come back from the queue and resume by itself. Each run is killed a random
300-1500 ms after its first range request. After every kill the test checks what the
next run will trust: the queue file is whole and holds exactly one job, the saved block
map is whole, every byte it claims is the right byte in NAME.part, it never claims less
than before, and no run asks the server again for bytes the map already had. Then the
rate limit is lifted, one more start finishes the file, `q` quits it cleanly (exit 0),
and the file must have the right sha256, with no `.part`, no map and no `NAME (1).ext`.

    RANGETUI_TUI_TORTURE_KILLS=30 RANGETUI_TUI_TORTURE_MIB=64 \
        pytest -s tests/test_torture_tui.py

prints the figures (kills, bytes fetched again).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rangetui.core.store import CorruptState, read_json
from tests.cli_helpers import MiB, assert_saved, part_of, sha256_file
from tests.conftest import payload
from tests.daemon_helpers import kill_engine
from tests.faultserver import FaultServer
from tests.pty_helpers import POLL, Tui, poll_until
from tests.system.test_torture import (
    Interval,
    assert_claims_match,
    covers,
    map_file,
    overlap,
    ranges_asked,
    saved_done,
    total,
)

KILLS = int(os.environ.get("RANGETUI_TUI_TORTURE_KILLS", "10"))
SIZE_MIB = int(os.environ.get("RANGETUI_TUI_TORTURE_MIB", "32"))
KILL_DELAY = (0.3, 1.5)
"""Seconds from a run's first range request to its kill -9."""
SURELY_CHECKPOINTED = 1.35
"""A run killed this long after its first request has passed a 1 s checkpoint."""
CONNS = 8  # the TUI's default connections per file
ROUTE = "/tui-torture.bin"
NAME = "tui-torture.bin"
START_TIMEOUT = 30.0
"""From a start to its first range request (Textual's import and start-up included)."""
FINISH_TIMEOUT = 60.0
QUIT_TIMEOUT = 20.0


# --------------------------------------------------------------------------- #
# What a killed run left behind
# --------------------------------------------------------------------------- #


def saved_queue(state: Path) -> list[dict[str, Any]]:
    """The jobs of queue.json, read from a copy (a damaged file fails the test)."""
    path = state / "queue.json"
    assert path.is_file(), "the queue was never saved"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "queue.json"
        shutil.copyfile(path, copy)
        try:
            data = read_json(copy)
        except CorruptState as e:
            raise AssertionError(f"the queue file was left damaged: {e}") from None
    assert isinstance(data, dict), data
    jobs = data.get("jobs")
    assert isinstance(jobs, list), data
    return jobs


def the_one_job(state: Path, url: str) -> dict[str, Any]:
    jobs = saved_queue(state)
    brief = [(j.get("id"), j.get("status"), j.get("target"), j.get("error")) for j in jobs]
    assert len(jobs) == 1, f"expected exactly one job in the queue, found {len(jobs)}: {brief}"
    job = jobs[0]
    assert job["url"] == url, job
    return job


@dataclass
class Torture:
    server: FaultServer
    url: str
    data: bytes
    downloads: Path
    state: Path
    rng: random.Random
    kills: int = 0
    done: list[Interval] = field(default_factory=list)
    saved_by_kills: int = 0
    late_kills_that_saved: int = 0
    late_kills: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.downloads / NAME

    def args(self) -> list[str]:
        """The URL on the first start only: later starts must resume the queued job."""
        url = [self.url] if self.kills == 0 else []
        return [*url, "-d", str(self.downloads)]

    def one_kill(self) -> None:
        requests_before = len(self.server.requests)
        sent_before = self.server.bytes_sent(ROUTE)
        started = time.monotonic()
        tui = Tui.start(self.args(), cwd=self.downloads.parent)
        try:
            poll_until(
                lambda: ranges_asked(self.server, ROUTE, requests_before),
                START_TIMEOUT,
                f"range request from start {self.kills + 1}"
                + (" (without the URL: is the queued job not resumed?)" if self.kills else ""),
                tui,
            )
            transfer = time.monotonic()
            delay = self.rng.uniform(*KILL_DELAY)
            time.sleep(delay)
            assert tui.alive, f"the TUI exited by itself mid-download\n{tui.describe()}"
            kill_engine(self.state)  # the process that downloads; then its front end
            tui.kill()
        finally:
            tui.close()
        assert tui.proc.returncode == -signal.SIGKILL, tui.describe()
        self.kills += 1
        self.check_after_kill(requests_before, sent_before, delay, transfer - started)

    def check_after_kill(
        self, requests_before: int, sent_before: int, delay: float, startup: float
    ) -> None:
        asked = ranges_asked(self.server, ROUTE, requests_before)
        refetch = [r for r in asked if overlap(self.done, *r)]
        assert not refetch, f"asked again for saved bytes: {refetch} (saved {self.done})"
        assert not self.out.exists(), "NAME exists although every run was killed mid-download"
        names = sorted(p.name for p in self.downloads.iterdir())
        assert names == [NAME + ".part"], f"expected only {NAME}.part in the output dir: {names}"
        job = the_one_job(self.state, self.url)
        assert job["status"] in ("queued", "probing", "downloading"), job
        done = saved_done(self.state)
        assert covers(done, self.done), f"saved progress went backwards: {self.done} -> {done}"
        assert_claims_match(part_of(self.out), self.data, done)
        gained = total(done) - total(self.done)
        self.saved_by_kills += gained
        if delay >= SURELY_CHECKPOINTED:
            self.late_kills += 1
            self.late_kills_that_saved += gained > 0
        sent = self.server.bytes_sent(ROUTE) - sent_before
        self.log.append(
            f"kill {self.kills:>2}: start-up {startup:4.2f} s, killed {delay:4.2f} s into the"
            f" transfer, sent {sent:>9}, saved {gained:>9}, done {total(done)}"
        )
        self.done = done

    def finish(self) -> float:
        """Lift the rate limit, start once more without arguments, quit with q once done."""
        self.server.resource(ROUTE).rate = None
        requests_before = len(self.server.requests)
        started = time.monotonic()
        tui = Tui.start(["-d", str(self.downloads)], cwd=self.downloads.parent)
        try:
            poll_until(self.out.exists, FINISH_TIMEOUT, f"{NAME} to appear", tui)
            seconds = time.monotonic() - started
            tui.type(b"q")
            deadline = time.monotonic() + QUIT_TIMEOUT
            while tui.alive and time.monotonic() < deadline:
                time.sleep(POLL)
            assert not tui.alive, f"q did not quit within {QUIT_TIMEOUT} s\n{tui.describe()}"
        finally:
            tui.close()
        assert tui.proc.returncode == 0, tui.describe()
        assert "Traceback" not in tui.drain.text(200), tui.describe()
        asked = ranges_asked(self.server, ROUTE, requests_before)
        refetch = [r for r in asked if overlap(self.done, *r)]
        assert not refetch, f"the last run asked again for saved bytes: {refetch}"
        return seconds


@pytest.mark.timeout(120 + 10 * KILLS)
def test_kill_9_the_tui_at_random_moments_then_it_resumes_from_its_queue(
    server: FaultServer, state_dir: Path, downloads: Path
) -> None:
    size = SIZE_MIB * MiB
    # All the killed runs together get at most about half the file, so none can finish.
    rate = max(CONNS * 16 * 1024, int(size / (2 * KILLS * KILL_DELAY[1])))
    data = payload(size, seed=4242)
    url = server.add(ROUTE, data, rate=rate // CONNS)
    seed = int(os.environ.get("RANGETUI_TUI_TORTURE_SEED", str(random.randrange(10**6))))
    torture = Torture(server, url, data, downloads, state_dir, random.Random(seed))
    started = time.monotonic()

    while torture.kills < KILLS:
        torture.one_kill()
    final_seconds = torture.finish()

    assert_saved(torture.out, data)
    names = sorted(p.name for p in downloads.iterdir())
    assert names == [NAME], f"expected exactly one output file, found {names}"
    deadline = time.monotonic() + 5  # the engine outlives the TUI: it saves ends each second
    while the_one_job(state_dir, url)["status"] != "done" and time.monotonic() < deadline:
        time.sleep(POLL)
    job = the_one_job(state_dir, url)
    assert job["status"] == "done", job
    assert job["target"] == str(torture.out), job
    assert map_file(state_dir) is None, "the block map outlived the download"

    sent = server.bytes_sent(ROUTE)
    refetched = sent - size
    per_kill = (rate // CONNS) * CONNS * (KILL_DELAY[1] + 0.25) + CONNS * 512 * 1024
    print(
        f"\ntui torture: {SIZE_MIB} MiB at {rate / MiB:.2f} MiB/s, seed {seed},"
        f" {torture.kills} kills survived, {sha256_file(torture.out)[:12]} correct,"
        f" {time.monotonic() - started:.0f} s in all (last run {final_seconds:.1f} s to finish)"
        f"\n  bytes sent by the server {sent} ({sent / size:.2f} x the file)"
        f"\n  re-fetched {refetched} bytes ({refetched / MiB:.1f} MiB,"
        f" {refetched / torture.kills / MiB:.2f} MiB per kill)"
        f"\n  killed runs kept {torture.saved_by_kills / MiB:.1f} MiB;"
        f" {torture.late_kills_that_saved} of {torture.late_kills} runs killed"
        f" >= {SURELY_CHECKPOINTED} s into the transfer saved progress"
    )
    print("  " + "\n  ".join(torture.log))
    if torture.late_kills:
        assert torture.late_kills_that_saved, "no run killed well after a checkpoint kept progress"
    assert refetched <= torture.kills * per_kill, f"{refetched} bytes fetched again"
