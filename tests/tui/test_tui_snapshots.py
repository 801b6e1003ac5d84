"""Snapshot tests of each screen at 80x24 (the main one also at 60x20 and 200x50), from a
queue saved on disk.

Only finished, paused and failed jobs, with fixed sizes, paths and validators: no
live speeds and no clock on these screens, so the pictures never change by
themselves. Regenerate after a deliberate change with ``pytest --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rangetui.core.engine import Engine
from rangetui.core.jobs import Job, JobList
from rangetui.core.store import ResumeState, Store
from rangetui.core.types import Options, Phase, Remote
from rangetui.tui.app import RangeApp

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
SIZE = (80, 24)
HOME = Path("/srv/downloads")
URL = "https://mirror.example.org/pub/"
ADDED = 1_700_000_000.0
ETAG = '"5f1a-9c3e"'
MODIFIED = "Tue, 05 Nov 2024 10:00:00 GMT"


def _job(index: int, name: str, status: Phase, size: int | None, done: int, **extra: Any) -> Job:
    return Job(
        id=f"job{index}",
        url=URL + name,
        directory=str(HOME),
        output=None,
        options=Options(connections=8),
        status=status,
        target=str(HOME / name) if size is not None else None,
        size=size,
        completed=done,
        added=ADDED + index,
        etag=ETAG if size is not None else None,
        last_modified=MODIFIED if size is not None else None,
        **extra,
    )


def _map(store: Store, job: Job, done: list[tuple[int, int]]) -> None:
    assert job.target is not None and job.size is not None
    remote = Remote(job.url, job.size, ETAG, MODIFIED, True)
    store.save_map(ResumeState(job.target, job.url, remote, MiB, done))


def _stripes(size: int, parts: int, share: float) -> list[tuple[int, int]]:
    """What a paused parallel download leaves: the start of each connection's part done."""
    step = size // parts
    return [(i * step, i * step + int(step * share)) for i in range(parts)]


def _saved_queue(store: Store) -> None:
    iso = _job(1, "ubuntu-24.04.iso", Phase.PAUSED, 5_800 * MiB, 0)
    iso_done = _stripes(iso.size or 0, 8, 0.72)
    iso = iso.with_changes(completed=sum(b - a for a, b in iso_done))
    parquet = _job(2, "dataset.parquet", Phase.PAUSED, 1_229 * MiB, 0)
    parquet_done = [(0, 221 * MiB)]
    parquet = parquet.with_changes(completed=221 * MiB)
    jobs = [
        iso,
        _job(3, "linux-6.12.tar.xz", Phase.DONE, 140 * MiB + 200 * KiB, 140 * MiB + 200 * KiB),
        parquet,
        _job(4, "model.bin", Phase.FAILED, None, 0, error="the server answered 404 Not Found"),
        _job(5, "readme.txt", Phase.DONE, 3_174, 3_174),
    ]
    _map(store, iso, iso_done)
    _map(store, parquet, parquet_done)
    JobList(store).save(jobs)


@pytest.fixture
def engine(state_dir: Path) -> Iterator[Engine]:
    store = Store(state_dir)
    _saved_queue(store)
    eng = Engine(store, max_jobs=3)
    eng.start()
    yield eng
    eng.shutdown()


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (200, 50)], ids=["60x20", "80x24", "200x50"])
def test_main_screen(snap_compare: Any, engine: Engine, size: tuple[int, int]) -> None:
    assert snap_compare(RangeApp(engine, HOME), terminal_size=size)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (200, 50)], ids=["60x20", "80x24", "200x50"])
def test_help_screen(snap_compare: Any, engine: Engine, size: tuple[int, int]) -> None:
    assert snap_compare(RangeApp(engine, HOME), press=["question_mark"], terminal_size=size)


def test_limit_dialog(snap_compare: Any, engine: Engine) -> None:
    assert snap_compare(RangeApp(engine, HOME), press=["L", *"2M"], terminal_size=SIZE)


def test_filtered_and_sorted(snap_compare: Any, engine: Engine) -> None:
    press = ["s", "slash", *"a", "enter"]
    assert snap_compare(RangeApp(engine, HOME), press=press, terminal_size=SIZE)


def test_no_color_with_a_failed_job_selected(
    snap_compare: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_COLOR: the terminal's own colours, and the failure in bold and reverse."""
    monkeypatch.setenv("NO_COLOR", "1")
    press = ["j", "j", "j"]
    assert snap_compare(RangeApp(engine, HOME), press=press, terminal_size=SIZE)


def test_main_screen_with_a_finished_job_selected(snap_compare: Any, engine: Engine) -> None:
    assert snap_compare(RangeApp(engine, HOME), press=["j"], terminal_size=SIZE)


def test_add_dialog(snap_compare: Any, engine: Engine) -> None:
    app = RangeApp(engine, HOME, Options(connections=8))
    assert snap_compare(app, press=["a", *"https://example.org/big.iso"], terminal_size=SIZE)


def test_add_dialog_error(snap_compare: Any, engine: Engine) -> None:
    app = RangeApp(engine, HOME, Options(connections=8))
    assert snap_compare(app, press=["a", *"ftp://x/y", "enter"], terminal_size=SIZE)


def test_remove_dialog(snap_compare: Any, engine: Engine) -> None:
    assert snap_compare(RangeApp(engine, HOME), press=["x"], terminal_size=SIZE)


def test_details_screen(snap_compare: Any, engine: Engine) -> None:
    assert snap_compare(RangeApp(engine, HOME), press=["enter"], terminal_size=SIZE)


def test_details_of_a_failed_job(snap_compare: Any, engine: Engine) -> None:
    press = ["j", "j", "j", "enter"]
    assert snap_compare(RangeApp(engine, HOME), press=press, terminal_size=SIZE)
