"""--lowest-speed-limit (L12): a download that stays slower than the floor for a whole
window gives up with one sentence and keeps its progress; a slow moment does not."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rangetui.core import lowspeed
from rangetui.core.download import Download
from rangetui.core.errors import FatalError
from rangetui.core.lowspeed import WINDOW_SECONDS, SpeedFloor
from rangetui.core.store import Store
from rangetui.core.types import Options
from tests.conftest import payload
from tests.fake_clock import FakeClock
from tests.faultserver import FaultServer

KiB = 1024


def test_a_whole_window_below_the_floor_gives_up() -> None:
    clock = FakeClock(50.0)
    floor = SpeedFloor(100 * KiB, clock)
    floor.observe(0)
    clock.now += WINDOW_SECONDS - 1
    floor.observe(KiB)  # slow, but the window is not over
    clock.now += 1
    with pytest.raises(FatalError, match="lowest-speed-limit"):
        floor.observe(2 * KiB)


def test_a_window_above_the_floor_starts_the_next_one() -> None:
    clock = FakeClock(50.0)
    floor = SpeedFloor(100 * KiB, clock)
    floor.observe(0)
    clock.now += WINDOW_SECONDS
    floor.observe(int(WINDOW_SECONDS * 200 * KiB))  # fast: a new window from here
    clock.now += WINDOW_SECONDS / 2
    floor.observe(int(WINDOW_SECONDS * 200 * KiB) + 1)  # slow, half a window: not yet
    clock.now += WINDOW_SECONDS / 2
    with pytest.raises(FatalError):
        floor.observe(int(WINDOW_SECONDS * 200 * KiB) + 2)


def test_a_restart_from_zero_is_a_new_window_and_no_floor_means_none() -> None:
    clock = FakeClock(50.0)
    floor = SpeedFloor(100 * KiB, clock)
    floor.observe(10 * 1024 * KiB)
    clock.now += WINDOW_SECONDS
    floor.observe(0)  # the file started over: not a negative speed
    unlimited = SpeedFloor(None, clock)
    unlimited.observe(0)
    clock.now += 10 * WINDOW_SECONDS
    unlimited.observe(0)


@pytest.mark.parametrize("ranges", [True, False], ids=["parallel", "one-connection"])
def test_a_trickling_server_is_given_up_on(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ranges: bool
) -> None:
    """A byte now and then never hits --timeout; the floor ends it, progress kept."""
    monkeypatch.setattr(lowspeed, "WINDOW_SECONDS", 1.5)
    url = server.add("/trickle.bin", payload(4 * 1024 * KiB), rate=4 * KiB, accept_ranges=ranges)
    options = Options(connections=2, lowest_speed=64 * KiB)
    download = Download(url, directory=tmp_path, options=options, store=Store(tmp_path / "s"))
    with pytest.raises(FatalError, match=r"slower than --lowest-speed-limit 65\.5 kB/s"):
        download.run(threading.Event())
    assert (tmp_path / "trickle.bin.part").exists(), "the bytes fetched so far are kept"
    assert not (tmp_path / "trickle.bin").exists()
