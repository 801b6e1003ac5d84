"""Each connection's own speed in the snapshot, and the lone connection of a download
without ranges shown as one connection, against the real fault server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rangetui.core.blockmap import BlockMap
from rangetui.core.download import Download
from rangetui.core.engine import Engine
from rangetui.core.errors import Cancelled
from rangetui.core.store import Store
from rangetui.core.types import DownloadSnapshot, Options, Phase
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

pytestmark = pytest.mark.timeout(60)

MiB = 1024 * 1024
RATE = 512 * 1024
"""Per response: slow enough that a few MiB take seconds, fast enough to measure."""


@contextmanager
def running(download: Download) -> Iterator[threading.Event]:
    """Run the download in a thread; on leaving, pause it and wait for it to stop."""
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            download.run(cancel)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield cancel
    finally:
        cancel.set()
        download.interrupt()
        thread.join(10)
    assert not thread.is_alive(), "the download did not stop after the test"
    assert all(isinstance(e, Cancelled) for e in outcome), outcome


def wait_snapshot(
    download: Download, pred: Callable[[DownloadSnapshot], bool], secs: float = 20.0
) -> DownloadSnapshot:
    deadline = time.monotonic() + secs
    snap = download.snapshot(blocks=False)
    while time.monotonic() < deadline:
        snap = download.snapshot(blocks=False)
        if pred(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"timed out; last snapshot: {snap}")


def test_each_parallel_connection_reports_its_own_speed(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    url = server.add("/rates.bin", payload(16 * MiB), rate=RATE)
    download = Download(
        url, output=downloads / "rates.bin", options=Options(connections=4), store=Store(state_dir)
    )

    def all_measured(snap: DownloadSnapshot) -> bool:
        views = snap.connections
        return len(views) == 4 and all(v.rate > 0 for v in views)

    with running(download):
        snap = wait_snapshot(download, all_measured)
    for view in snap.connections:
        # Paced at RATE per response: each shows its own rate, near RATE.
        assert RATE / 8 < view.rate < RATE * 4, snap.connections
        assert view.start <= view.pos <= view.end
    assert sum(v.rate for v in snap.connections) > RATE, "four connections, four rates"


@pytest.mark.parametrize(
    ("route", "options"),
    [
        pytest.param("/noranges.bin", {"accept_ranges": False}, id="no-ranges"),
        pytest.param(
            "/nolength.bin", {"accept_ranges": False, "send_length": False}, id="no-length"
        ),
    ],
)
def test_a_single_connection_download_shows_one_connection_with_speed(
    server: FaultServer, downloads: Path, state_dir: Path, route: str, options: dict[str, bool]
) -> None:
    size = 8 * MiB
    url = server.add(route, payload(size), rate=RATE, **options)
    download = Download(
        url, output=downloads / "single.bin", options=Options(connections=4), store=Store(state_dir)
    )

    def streaming(snap: DownloadSnapshot) -> bool:
        views = snap.connections
        return len(views) == 1 and views[0].pos > 0 and views[0].rate > 0

    with running(download):
        snap = wait_snapshot(download, streaming)
    (view,) = snap.connections
    assert snap.phase is Phase.DOWNLOADING
    assert (view.wid, view.start) == (0, 0)
    assert 0 < view.pos <= size
    if options.get("send_length", True):
        assert (snap.size, view.end) == (size, size)
    else:
        assert snap.size is None
        assert view.end == view.pos, "no length: the range ends where the bytes are"
    assert RATE / 8 < view.rate < RATE * 4, view
    assert view.rate == snap.speed, "the only connection's speed is the download's"


def test_a_finished_single_connection_download_shows_none(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    url = server.add("/done.bin", payload(MiB), accept_ranges=False)
    download = Download(url, output=downloads / "done.bin", store=Store(state_dir))
    download.run(threading.Event())
    assert download.snapshot().connections == ()


def test_the_engine_counts_the_lone_connection(
    server: FaultServer, downloads: Path, state_dir: Path
) -> None:
    """What a front end reads: 1 connection and its speed, not 0."""
    engine = Engine(Store(state_dir), max_jobs=1)
    engine.start()
    try:
        url = server.add("/lone.bin", payload(8 * MiB), rate=RATE, accept_ranges=False)
        job = engine.add(url, downloads)
        snap = wait_job(
            engine,
            job,
            lambda j: j.connections == 1 and j.connection_views[0].rate > 0,
            what="one connection with a speed",
        )
        assert snap.connection_views[0].pos > 0
    finally:
        engine.shutdown()


def test_the_map_reports_each_owners_rate() -> None:
    """The figures the views are made of: each owner's bytes/s on its own segment."""
    bmap = BlockMap(8 * MiB, MiB)
    bmap.partition(2)
    earlier = time.monotonic() - 2.0
    fast, slow = bmap.claim(0, now=earlier), bmap.claim(1, now=earlier)
    assert fast is not None and slow is not None
    bmap.advance(fast.segment, 2 * MiB)
    bmap.advance(slow.segment, MiB // 4)
    rates = bmap.owner_rates()
    assert set(rates) == {0, 1}
    assert rates[0] == pytest.approx(MiB, rel=0.05)
    assert rates[1] == pytest.approx(MiB / 8, rel=0.05)
    bmap.release(slow.segment)
    assert set(bmap.owner_rates()) == {0}, "a released segment has no owner to report"


def test_the_map_gives_the_tuner_plain_rates() -> None:
    bmap = BlockMap(12 * MiB, MiB)
    bmap.partition(3)
    earlier = time.monotonic() - 3.0
    claims = [bmap.claim(w, now=earlier) for w in range(3)]
    assert all(c is not None for c in claims)
    for claim, nbytes in zip(claims, [3 * MiB, 3 * MiB, 3 * MiB // 8], strict=True):
        assert claim is not None
        bmap.advance(claim.segment, nbytes)
    last = claims[2]
    assert last is not None
    own, others, claim_age, remaining = bmap.peer_rates(last.segment)
    assert own == pytest.approx(MiB / 8, rel=0.05)
    assert sorted(others) == pytest.approx([MiB, MiB], rel=0.05)
    assert claim_age == pytest.approx(3.0, abs=0.5)
    assert remaining == 4 * MiB - 3 * MiB // 8
