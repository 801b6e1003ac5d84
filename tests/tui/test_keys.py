"""Each key added for issue 12, driven with Textual's Pilot on a real engine: help, the
footer at 60 columns, the speed limit, the filter, sorting, moving, clearing, the
numbers of a one-connection download, and per-connection speeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widgets import Input

from rangetui.core.engine import Engine
from rangetui.core.store import Store
from rangetui.core.types import Phase
from rangetui.tui.app import RangeApp
from rangetui.tui.help import HelpScreen, help_text
from rangetui.tui.keys import DETAILS, LOG, QUEUE
from rangetui.tui.prompts import LimitDialog, parse_limit
from rangetui.tui.screens import DetailsScreen
from rangetui.tui.widgets import KeyBar, TextLine, TotalsBar
from tests.conftest import payload
from tests.faultserver import FaultServer
from tests.tui.test_tui import (
    SLOW,
    KiB,
    MiB,
    details_body,
    fetched_more_than,
    run,
    status_is,
    table,
    until,
)

pytestmark = pytest.mark.timeout(40)
SIZE = (100, 30)


@pytest.fixture
def engine(state_dir: Path) -> Iterator[Engine]:
    eng = Engine(Store(state_dir), max_jobs=3)
    eng.start()
    yield eng
    eng.shutdown()


def paused_jobs(engine: Engine, downloads: Path, names: list[str]) -> list[str]:
    return [engine.add(f"http://127.0.0.1:9/{n}", downloads, paused=True) for n in names]


def totals(app: RangeApp) -> str:
    return app.query_one(TotalsBar).text.plain


def test_question_mark_and_f1_open_help_listing_every_key(engine: Engine, downloads: Path) -> None:
    text = help_text().plain
    for key in (*QUEUE, *DETAILS, *LOG):
        assert key.show in text and key.help in text
    for glyph in "█▓▒░▌":
        assert glyph in text

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            for key in ("question_mark", "f1"):
                await pilot.press(key)
                assert isinstance(app.screen, HelpScreen)
                await pilot.press("escape")
                assert not isinstance(app.screen, HelpScreen)

    run(scenario)


def test_at_60_columns_status_and_the_keys_stay(engine: Engine, downloads: Path) -> None:
    paused_jobs(engine, downloads, ["a-rather-long-file-name.iso"])

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=(60, 20)) as pilot:
            await until(pilot, lambda: table(app).row_count == 1)
            keys = [c.key for c in table(app).columns]
            assert "status" in keys and "eta" not in keys and "conn" not in keys
            assert sum(c.width for c in table(app).columns) <= 60
            footer = app.query_one(KeyBar).text.plain
            assert "q quit" in footer and "? help" in footer and len(footer) <= 60

    run(scenario)


def test_limit_key_sets_the_shared_and_the_jobs_limit(engine: Engine, downloads: Path) -> None:
    (job_id,) = paused_jobs(engine, downloads, ["x.bin"])

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.press("L")
            assert isinstance(app.screen, LimitDialog)
            app.screen.query_one("#shared", Input).value = "2M"
            app.screen.query_one("#own", Input).value = "500K"
            await pilot.press("enter")
            await until(pilot, lambda: engine.snapshot().limit_rate == 2 * MiB)
            await until(pilot, lambda: engine.snapshot().jobs[0].limit_rate == 500 * KiB)
            await until(pilot, lambda: "limit 2.1 MB/s" in totals(app))
            assert "limit 512 kB/s" in app.query_one("#selected", TextLine).text.plain
            await pilot.press("L")
            app.screen.query_one("#shared", Input).value = "fast"
            await pilot.press("enter")
            assert isinstance(app.screen, LimitDialog), "a bad speed keeps the dialog open"
            app.screen.query_one("#shared", Input).value = ""
            await pilot.press("enter")
            await until(pilot, lambda: engine.snapshot().limit_rate is None)
            await until(pilot, lambda: "limit" not in totals(app))

    run(scenario)
    assert engine.snapshot().find(job_id) is not None


def test_parse_limit_takes_what_limit_rate_takes() -> None:
    assert parse_limit("500K") == 500 * KiB
    assert parse_limit(" 1.5m/s ") == int(1.5 * MiB)
    assert parse_limit("") is None and parse_limit("0") is None and parse_limit("off") is None
    with pytest.raises(ValueError, match="Not a speed"):
        parse_limit("quick")


def test_slash_filters_by_name_and_escape_shows_all(engine: Engine, downloads: Path) -> None:
    paused_jobs(engine, downloads, ["ubuntu.iso", "debian.iso", "notes.txt"])

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 3)
            await pilot.press("slash", *"ISO")
            assert table(app).row_count == 2
            await pilot.press("enter")
            assert "filter “ISO”: 2 of 3" in totals(app)
            assert table(app).has_focus
            await pilot.press("slash", "escape")
            assert table(app).row_count == 3 and "filter" not in totals(app)

    run(scenario)


def test_s_sorts_by_the_next_column_and_back(engine: Engine, downloads: Path) -> None:
    ids = paused_jobs(engine, downloads, ["b.bin", "c.bin", "a.bin"])

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 3)
            await pilot.press("s")
            assert [j.name for j in table(app).rows] == ["a.bin", "b.bin", "c.bin"]
            assert "sorted by name" in totals(app)
            for _ in range(len(table(app).columns)):
                await pilot.press("s")
                if table(app).sort_key == "queue":
                    break
            assert [j.id for j in table(app).rows] == ids

    run(scenario)


def test_shift_k_and_j_move_the_job_in_the_queue(engine: Engine, downloads: Path) -> None:
    ids = paused_jobs(engine, downloads, ["0.bin", "1.bin", "2.bin"])

    def order() -> list[str]:
        return [j.id for j in engine.snapshot().jobs]

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 3)
            await pilot.press("G", "K")
            await until(pilot, lambda: order() == [ids[0], ids[2], ids[1]])
            await until(pilot, lambda: table(app).selected_id == ids[2], secs=2)
            await pilot.press("shift+down")
            await until(pilot, lambda: order() == ids)

    run(scenario)


def test_shift_c_clears_finished_jobs_only(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    done = engine.add(server.add("/d.bin", payload(64 * KiB)), downloads)
    (kept,) = paused_jobs(engine, downloads, ["k.bin"])

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, status_is(engine, done, Phase.DONE))
            await until(pilot, lambda: app.snap.count(Phase.DONE) == 1)
            await pilot.press("C")
            await until(pilot, lambda: [j.id for j in engine.snapshot().jobs] == [kept])
            await until(pilot, lambda: table(app).row_count == 1)

    run(scenario)
    assert (downloads / "d.bin").exists(), "clearing never touches the file"


def test_ctrl_z_is_bound_to_textuals_suspend() -> None:
    bound = {b.key: b.action for b in RangeApp.BINDINGS if isinstance(b, Binding)}
    assert bound["ctrl+z"] == "suspend_process"
    assert callable(RangeApp.action_suspend_process)


def test_one_connection_download_shows_its_connection_bytes_and_speed(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/s.bin", payload(2 * MiB), rate=256 * KiB, accept_ranges=False)
    job_id = engine.add(url, downloads, options=SLOW)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: fetched_more_than(engine, job_id, 300 * KiB)())
            await pilot.pause(0.3)
            row = table(app).row_text(job_id)
            assert " 1 downloading" in row and "kB/s" in row
            await pilot.press("enter")
            assert isinstance(app.screen, DetailsScreen)
            await until(pilot, lambda: "1 of 2 connections" in details_body(app))
            body = details_body(app)
            assert "#0 " in body and "none (not running)" not in body
            await pilot.press("p")

    run(scenario)


def test_details_show_each_connections_own_speed(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/r.bin", payload(4 * MiB), rate=128 * KiB)
    job_id = engine.add(url, downloads, options=SLOW)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, status_is(engine, job_id, Phase.DOWNLOADING))
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.press("enter")

            def speeds() -> list[str]:
                lines = [s for s in details_body(app).splitlines() if s.startswith("   #")]
                return [line.split()[-2] for line in lines]

            await until(pilot, lambda: len(speeds()) == 2 and "0" not in speeds(), secs=15)
            await pilot.press("escape", "p")

    run(scenario)
