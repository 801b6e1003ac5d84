"""The terminal UI driven by keys (Textual's Pilot) against the real local fault server.

Each test runs the real app on a real engine over a private state dir and judges
what a user would: the rows on screen, the files on disk and what the server sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, Label, RichLog, Static

from rangetui.core.engine import Engine
from rangetui.core.errors import FatalError
from rangetui.core.snapshots import JobSnapshot
from rangetui.core.store import Store
from rangetui.core.types import Options, Phase
from rangetui.tui.app import RangeApp
from rangetui.tui.form import urls_in
from rangetui.tui.lineview import LineView
from rangetui.tui.screens import AddDialog, DetailsScreen, LogScreen, RemoveDialog
from rangetui.tui.table import QueueTable
from rangetui.tui.widgets import TextLine
from tests.conftest import payload
from tests.engine_helpers import wait_job
from tests.faultserver import FaultServer

pytestmark = pytest.mark.timeout(30)

KiB = 1024
MiB = 1024 * KiB
SIZE = (100, 30)
SLOW = Options(connections=2, buffer_size=64 * KiB, block_size=256 * KiB)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def until(pilot: Pilot[None], check: Callable[[], bool], secs: float = 10.0) -> None:
    """Let the app run until ``check()`` holds, in bounded 0.1 s steps."""
    for _ in range(int(secs * 10)):
        if check():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {secs} s waiting for {check}")


def job(engine: Engine, job_id: str) -> JobSnapshot:
    found = engine.snapshot().find(job_id)
    assert found is not None, f"job {job_id} is gone"
    return found


def status_is(engine: Engine, job_id: str, *statuses: Phase) -> Callable[[], bool]:
    """Engine commands are applied on its next tick: a just-added job may not show yet."""

    def check() -> bool:
        found = engine.snapshot().find(job_id)
        return found is not None and found.status in statuses

    return check


def fetched_more_than(engine: Engine, job_id: str, nbytes: int) -> Callable[[], bool]:
    def check() -> bool:
        found = engine.snapshot().find(job_id)
        return found is not None and found.completed > nbytes

    return check


def table(app: RangeApp) -> QueueTable:
    return app.query_one(QueueTable)


def selected_line(app: RangeApp) -> str:
    return app.query_one("#selected", TextLine).text.plain


def details_body(app: RangeApp) -> str:
    return app.screen.query_one(LineView).plain


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*text)


# --------------------------------------------------------------------------- #
# Adding
# --------------------------------------------------------------------------- #


def test_add_dialog_downloads_with_the_right_sha256(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    data = payload(2 * MiB, seed=3)
    url = server.add("/added.bin", data)

    async def scenario() -> None:
        app = RangeApp(engine, downloads, Options(connections=4))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            assert isinstance(app.screen, AddDialog)
            await type_text(pilot, url)
            await pilot.press("enter")
            assert not isinstance(app.screen, AddDialog)
            await until(pilot, lambda: table(app).row_count == 1)
            job_id = table(app).selected_id
            assert job_id is not None
            await until(pilot, status_is(engine, job_id, Phase.DONE))
            assert job(engine, job_id).wanted_connections == 4

    run(scenario)
    assert sha((downloads / "added.bin").read_bytes()) == sha(data)


def test_a_pasted_list_of_urls_adds_a_download_for_each(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    """UX note 17: Textual's one-line box kept the first line of a paste alone."""
    files = {f"/list{i}.bin": payload(300 * KiB, seed=20 + i) for i in range(3)}
    urls = [server.add(path, data) for path, data in files.items()]

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            dialog = app.screen
            field = dialog.query_one("#url", Input)
            field.post_message(events.Paste("\n".join(["", *urls, "  "])))
            await pilot.pause()
            assert field.value == " ".join(urls)
            assert "3 URLs" in str(dialog.query_one("#error", Static).render())
            await pilot.click("#add")
            await until(pilot, lambda: table(app).row_count == 3)
            jobs = engine.snapshot().jobs
            await until(pilot, lambda: table(app).selected_id == jobs[0].id)  # the first
            for added in jobs:
                await until(pilot, status_is(engine, added.id, Phase.DONE))

    run(scenario)
    for path, data in files.items():
        assert sha((downloads / path.lstrip("/")).read_bytes()) == sha(data)


def test_a_pasted_list_with_one_bad_url_adds_none(engine: Engine, downloads: Path) -> None:
    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            dialog = app.screen
            paste = "http://127.0.0.1:9/a\nftp://127.0.0.1:9/b\n"
            dialog.query_one("#url", Input).post_message(events.Paste(paste))
            await pilot.pause()
            await pilot.click("#add")
            await pilot.pause()
            assert app.screen is dialog
            assert "not an http or https URL" in str(dialog.query_one("#error", Static).render())
        assert engine.snapshot().jobs == ()

    run(scenario)


@pytest.mark.parametrize(
    ("before", "pasted", "after"),
    [
        ("", "\nhttp://127.0.0.1:9/a\n", "http://127.0.0.1:9/a"),  # a leading blank line
        (
            "http://127.0.0.1:9/a",
            "http://127.0.0.1:9/b\r\n",
            "http://127.0.0.1:9/a http://127.0.0.1:9/b",
        ),
        ("", "http://127.0.0.1:9/\x1b[31mred\x07", "http://127.0.0.1:9/ [31mred"),
    ],
    ids=["leading-blank", "after-text", "control-characters"],
)
def test_what_a_paste_puts_in_the_url_field(
    engine: Engine, downloads: Path, before: str, pasted: str, after: str
) -> None:
    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            field = app.screen.query_one("#url", Input)
            field.value = before
            field.cursor_position = len(before)
            field.post_message(events.Paste(pasted))
            await pilot.pause()
            assert field.value == after

    run(scenario)


def test_a_list_the_engine_refuses_midway_keeps_the_rest() -> None:
    """Every URL passed the dialog's checks, but the engine refused the second: the
    first stays added, the dialog says so and keeps the others for another try."""
    added: list[str] = []

    def add(url: str, directory: Path, connections: int) -> str:
        if url.endswith("/b"):
            raise FatalError("the engine said no")
        added.append(url)
        return f"id-{len(added)}"

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(AddDialog(add, Path("/tmp"), 4))

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            dialog = app.screen
            urls = " ".join(f"http://127.0.0.1:9/{name}" for name in "abc")
            dialog.query_one("#url", Input).value = urls
            await pilot.click("#add")
            await pilot.pause()
            assert app.screen is dialog
            said = str(dialog.query_one("#error", Static).render())
            assert "added 1 of 3; then: the engine said no" in said
            assert (
                dialog.query_one("#url", Input).value == "http://127.0.0.1:9/b http://127.0.0.1:9/c"
            )
        assert added == ["http://127.0.0.1:9/a"]

    run(scenario)


def test_several_urls_and_a_word_that_is_none_add_nothing() -> None:
    assert urls_in("http://a/x www.b.com/y http://c/z") == [
        "http://a/x",
        "www.b.com/y",
        "http://c/z",
    ]
    assert urls_in("  http://a/x y.iso ") == ["http://a/x y.iso"]  # one URL, a raw space


def test_a_one_line_paste_is_pasted_once(engine: Engine, downloads: Path) -> None:
    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            field = app.screen.query_one("#url", Input)
            field.post_message(events.Paste("http://127.0.0.1:9/one"))
            await pilot.pause()
            assert field.value == "http://127.0.0.1:9/one"

    run(scenario)


@pytest.mark.parametrize(
    ("url", "directory", "connections", "message"),
    [
        ("ftp://example.invalid/x", None, "4", "not an http or https URL"),
        ("", None, "4", "Enter the URL"),
        ("http://127.0.0.1:9/x", "no/such/dir", "4", "No such directory"),
        ("http://127.0.0.1:9/x", None, "0", "from 1 to 64"),
    ],
)
def test_add_dialog_says_what_is_wrong_and_stays_open(
    engine: Engine,
    downloads: Path,
    url: str,
    directory: str | None,
    connections: str,
    message: str,
) -> None:
    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("a")
            dialog = app.screen
            dialog.query_one("#url", Input).value = url
            if directory is not None:
                dialog.query_one("#dir", Input).value = str(downloads / directory)
            dialog.query_one("#connections", Input).value = connections
            await pilot.click("#add")
            await pilot.pause()
            assert app.screen is dialog
            assert message in str(dialog.query_one("#error", Static).render())
            await pilot.press("escape")
            assert not isinstance(app.screen, AddDialog)
        assert engine.snapshot().jobs == ()

    run(scenario)


# --------------------------------------------------------------------------- #
# Pause, resume, retry, connections
# --------------------------------------------------------------------------- #


def test_pause_stops_traffic_and_resume_finishes(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    data = payload(2 * MiB, seed=5)
    job_id = engine.add(server.add("/p.bin", data, rate=256 * KiB), downloads, options=SLOW)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, fetched_more_than(engine, job_id, 128 * KiB))
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.press("p")
            await until(
                pilot,
                lambda: (
                    status_is(engine, job_id, Phase.PAUSED)() and not job(engine, job_id).running
                ),
            )
            await until(pilot, lambda: not server.serving("/p.bin"))
            sent = server.bytes_sent("/p.bin")
            await pilot.pause(0.6)
            assert server.bytes_sent("/p.bin") == sent
            assert "paused" in table(app).row_text(job_id)
            server.resource("/p.bin").rate = None
            await pilot.press("r")
            await until(pilot, status_is(engine, job_id, Phase.DONE))

    run(scenario)
    assert sha((downloads / "p.bin").read_bytes()) == sha(data)


def test_pause_all_and_resume_all(engine: Engine, server: FaultServer, downloads: Path) -> None:
    urls = [server.add(f"/{i}.bin", payload(MiB, i), rate=128 * KiB) for i in range(2)]
    ids = [engine.add(url, downloads, options=SLOW) for url in urls]

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 2)
            await pilot.press("P")
            for job_id in ids:
                await until(pilot, status_is(engine, job_id, Phase.PAUSED))
            for i in range(2):
                server.resource(f"/{i}.bin").rate = None
            await pilot.press("R")
            for job_id in ids:
                await until(pilot, status_is(engine, job_id, Phase.DONE))

    run(scenario)


def test_failed_job_shows_the_reason_and_r_retries(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    data = payload(256 * KiB, seed=8)
    job_id = engine.add(server.add("/gone.bin", data, status=404), downloads)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, status_is(engine, job_id, Phase.FAILED))
            await until(pilot, lambda: "404" in selected_line(app))
            line = selected_line(app)
            assert "failed" in line and "404" in line
            server.resource("/gone.bin").status = None
            await pilot.press("r")
            await until(pilot, status_is(engine, job_id, Phase.DONE))

    run(scenario)
    assert (downloads / "gone.bin").read_bytes() == data


def test_plus_and_minus_change_the_connections(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    job_id = engine.add(server.add("/c.bin", payload(MiB), rate=64 * KiB), downloads, options=SLOW)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, status_is(engine, job_id, Phase.DOWNLOADING))
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.press("plus", "plus", "plus")
            await until(pilot, lambda: job(engine, job_id).wanted_connections == 5)
            await pilot.press("minus")
            await until(pilot, lambda: job(engine, job_id).wanted_connections == 4)
            await pilot.press("p")

    run(scenario)


# --------------------------------------------------------------------------- #
# Quitting and coming back
# --------------------------------------------------------------------------- #


def test_the_cursor_starts_on_the_first_job_downloading(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    """UX note 20: a long-lived queue opens on its finished jobs at the top."""
    for i in range(2):
        done = engine.add(server.add(f"/d{i}.bin", payload(10 * KiB)), downloads)
        wait_job(engine, done, lambda j: j.status is Phase.DONE)
    slow = engine.add(server.add("/busy.bin", payload(4 * MiB), rate=128 * KiB), downloads)
    wait_job(engine, slow, lambda j: j.status is Phase.DOWNLOADING)  # in the queue the app opens

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 3)
            assert table(app).selected_id == slow
            assert [j.status for j in engine.snapshot().jobs][:2] == [Phase.DONE, Phase.DONE]

    run(scenario)


def test_quit_mid_download_then_a_new_app_resumes_and_finishes(
    state_dir: Path, server: FaultServer, downloads: Path
) -> None:
    data = payload(2 * MiB, seed=9)
    url = server.add("/q.bin", data, rate=256 * KiB)
    first = Engine(Store(state_dir))
    first.start()
    job_id = first.add(url, downloads, options=SLOW)

    async def quit_midway() -> None:
        app = RangeApp(first, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, fetched_more_than(first, job_id, 256 * KiB))
            await pilot.press("q")
        assert app.return_code == 0

    run(quit_midway)
    saved = json.loads((state_dir / "queue.json").read_text())
    assert "queued" in json.dumps(saved), "a running job is saved to run again"
    fetched_before = server.bytes_sent("/q.bin")
    assert fetched_before < len(data)
    server.resource("/q.bin").rate = None
    server.reset_counters()
    second = Engine(Store(state_dir))
    second.start()

    async def come_back() -> None:
        app = RangeApp(second, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, status_is(second, job_id, Phase.DONE))

    try:
        run(come_back)
    finally:
        second.shutdown()
    assert sha((downloads / "q.bin").read_bytes()) == sha(data)
    assert server.bytes_sent("/q.bin") < len(data) - 128 * KiB, "only the missing bytes again"


# --------------------------------------------------------------------------- #
# Removing
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(("key", "part_kept"), [("k", True), ("d", False)])
def test_remove_keeps_or_deletes_the_partial_file(
    engine: Engine, server: FaultServer, downloads: Path, key: str, part_kept: bool
) -> None:
    url = server.add("/x.bin", payload(2 * MiB), rate=128 * KiB)
    job_id = engine.add(url, downloads, options=SLOW)
    part = downloads / "x.bin.part"

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, fetched_more_than(engine, job_id, 0))
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.press("x")
            assert isinstance(app.screen, RemoveDialog)
            await pilot.press(key)
            await until(pilot, lambda: engine.snapshot().find(job_id) is None)
            await until(pilot, lambda: table(app).row_count == 0)
            await until(pilot, lambda: part.exists() is part_kept)
            await pilot.pause(0.3)
            assert part.exists() is part_kept

    run(scenario)
    assert not (downloads / "x.bin").exists()


def test_remove_can_be_cancelled(engine: Engine, downloads: Path) -> None:
    job_id = engine.add("http://127.0.0.1:9/never.bin", downloads, paused=True)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.press("x", "escape")
            await pilot.pause(0.3)
            assert engine.snapshot().find(job_id) is not None

    run(scenario)


# --------------------------------------------------------------------------- #
# Moving around, details, log
# --------------------------------------------------------------------------- #


def test_cursor_starts_on_the_first_job_and_j_k_move_it(engine: Engine, downloads: Path) -> None:
    ids = [engine.add(f"http://127.0.0.1:9/{n}.bin", downloads, paused=True) for n in range(3)]

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 3)
            assert table(app).selected_id == ids[0]
            await pilot.press("j", "j")
            assert table(app).selected_id == ids[2]
            await pilot.press("k")
            assert table(app).selected_id == ids[1]
            await pilot.press("up")
            assert table(app).selected_id == ids[0]
            await pilot.pause(0.6)
            assert table(app).selected_id == ids[0], "refreshes never move the cursor"

    run(scenario)


def test_details_redact_credentials_and_log_lists_events(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/d.bin", payload(64 * KiB))
    secret_url = url.replace("http://", "http://alice:s3cret@")
    job_id = engine.add(secret_url, downloads)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, status_is(engine, job_id, Phase.DONE))
            await until(pilot, lambda: table(app).row_count == 1)
            await until(pilot, lambda: app.snap.jobs[0].status is Phase.DONE)  # the app has seen it
            await pilot.press("enter")
            assert isinstance(app.screen, DetailsScreen)
            body = details_body(app)
            assert "s3cret" not in body
            assert "/d.bin" in body and str(downloads / "d.bin") in body
            await pilot.press("escape")
            await pilot.press("l")
            assert isinstance(app.screen, LogScreen)
            log = app.screen.query_one("#log", RichLog)

            def lines() -> str:
                return "\n".join(strip.text for strip in log.lines)

            await until(pilot, lambda: "d.bin: done" in lines())  # RichLog writes once laid out
            assert "s3cret" not in lines()
            await pilot.press("escape")
            assert not isinstance(app.screen, LogScreen)

    run(scenario)


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


def _rangetui(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """On a terminal (a pty for stdin and stdout), as without one nothing is drawn."""
    env = {**os.environ, "RANGETUI_STATE_DIR": str(state_dir), "TERM": "xterm-256color"}
    master, slave = pty.openpty()
    try:
        return subprocess.run(
            [sys.executable, "-m", "rangetui", *args],
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            text=True,
            timeout=20,
        )
    finally:
        os.close(slave)
        os.close(master)


def test_a_second_instance_is_refused_in_one_line(engine: Engine, state_dir: Path) -> None:
    result = _rangetui(state_dir=state_dir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0], result.stderr


def test_a_bad_url_on_the_command_line_is_refused_before_anything_starts(
    state_dir: Path,
) -> None:
    result = _rangetui("ftp://example.invalid/x", state_dir=state_dir)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not an http" in result.stderr
    assert not (state_dir / "queue.json").exists()


def test_a_name_that_looks_like_markup_is_shown_as_text(engine: Engine, downloads: Path) -> None:
    """Real files are named like `data[a=b c=d].csv`: Textual must never parse them."""
    name = "[a=1 b=2]x[b]y[red].bin"
    job_id = engine.add("http://127.0.0.1:9/x.bin", downloads, output=Path(name), paused=True)

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: table(app).row_count == 1)
            await pilot.pause(0.3)
            assert table(app).selected_id == job_id
            await pilot.press("x")
            assert isinstance(app.screen, RemoveDialog)
            assert name in str(app.screen.query_one(".title", Label).render())
            await pilot.press("escape", "enter")
            assert isinstance(app.screen, DetailsScreen)
            assert name in details_body(app)

    run(scenario)


def test_notify_rings_once_when_the_queue_has_ended(
    engine: Engine, server: FaultServer, downloads: Path
) -> None:
    url = server.add("/ring.bin", payload(256 * KiB, seed=61), rate=256 * KiB)
    rings: list[str] = []

    async def scenario(notify: bool) -> None:
        app = RangeApp(engine, downloads, notify=notify)
        app.bell = lambda: rings.append("bell")  # type: ignore[method-assign]
        async with app.run_test(size=SIZE) as pilot:
            job_id = engine.add(url, downloads, output=Path(f"ring-{notify}.bin"))
            await until(pilot, status_is(engine, job_id, Phase.DONE))
            await pilot.pause(0.6)  # a few more snapshots: it rings once, not on each

    run(lambda: scenario(notify=False))
    assert rings == [], "off unless asked for"
    run(lambda: scenario(notify=True))
    assert rings == ["bell"]


def test_dialog_cursors_do_not_blink(engine: Engine, downloads: Path) -> None:
    """A blinking cursor is two redraws a second sent over SSH while a dialog is open."""

    async def scenario() -> None:
        app = RangeApp(engine, downloads)
        async with app.run_test(size=SIZE) as pilot:
            for key in ("a", "L"):
                await pilot.press(key)
                await until(pilot, lambda: bool(app.screen.query(Input)))
                boxes = list(app.screen.query(Input))
                assert boxes and not any(box.cursor_blink for box in boxes), key
                await pilot.press("escape")

    run(scenario)
