"""The Textual app: the queue, the selected job's heatmap, and keys that call the engine.

The app never waits on the network. It pulls ``engine.snapshot()`` on a timer (so
screen updates stay bounded however fast the bytes come), skips the redraw when the
snapshot has not changed (so an idle queue costs no CPU), and its actions only
enqueue engine commands. The one blocking call, ``shutdown`` at quit, runs in a
thread so that the screen can say what it is doing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from rangetui.core.api import EngineAPI, EngineUnavailable
from rangetui.core.snapshots import EngineSnapshot, JobSnapshot
from rangetui.core.types import Options, Phase
from rangetui.core.units import format_size
from rangetui.tui.heatmap import BlockHeatmap
from rangetui.tui.screens import (
    MAX_CONNECTIONS,
    AddDialog,
    DetailsScreen,
    LiveScreen,
    LogScreen,
    RemoveDialog,
    StopDialog,
)
from rangetui.tui.widgets import QueueTable, TotalsBar, totals_text

REFRESH_SECONDS = 0.25
EMPTY_HINT = " The queue is empty: press a to add a download."


class RangeApp(App[None]):
    """A front end of an engine: in this process, or the background one over its socket.

    ``q`` detaches (a background engine goes on); ``S`` stops the engine after a confirm.
    """

    CSS_PATH = "app.tcss"
    TITLE = "rangetui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add"),
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("x", "remove", "Remove"),
        Binding("P", "pause_all", "Pause all", show=False),
        Binding("R", "resume_all", "Resume all", show=False),
        Binding("plus", "connections(1)", "More connections", key_display="+", show=False),
        Binding("minus", "connections(-1)", "Fewer connections", key_display="-", show=False),
        Binding("enter", "details", "Details", key_display="⏎"),
        Binding("l", "log", "Log"),
        Binding("S", "stop_engine", "Stop engine"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        engine: EngineAPI,
        directory: Path,
        options: Options | None = None,
        exit_after: frozenset[str] | None = None,
    ) -> None:
        super().__init__()
        self.exit_after = exit_after
        self.engine = engine
        self.directory = directory.expanduser().absolute()
        self.options = options or Options()
        self.snap: EngineSnapshot = engine.snapshot()
        self._wanted: dict[str, int] = {}
        self._quitting = False
        self.farewell = ""
        """Why the app ended on its own (the engine went away), for the command line."""
        self._selected_line = Text()

    def compose(self) -> ComposeResult:
        yield TotalsBar(id="totals")
        yield QueueTable(id="queue")
        yield Static(id="selected")
        yield BlockHeatmap(id="heatmap")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_snapshot(self.snap)
        self.set_interval(REFRESH_SECONDS, self.poll_engine)
        self.query_one(QueueTable).focus()

    # -- snapshots -------------------------------------------------------------------

    def poll_engine(self) -> None:
        """Block maps travel only for the selected job: the heatmap shows no other."""
        tables = self.query(QueueTable)
        if self._quitting or not tables:
            return  # the timer can outlive the screen by a tick at exit
        selected = tables.first().selected_id
        try:
            snap = self.engine.snapshot(frozenset({selected}) if selected else frozenset())
        except EngineUnavailable as e:
            self._quitting = True
            self.farewell = str(e)
            self.exit(return_code=1)
            return
        if snap != self.snap and not self._quitting:
            self.show_snapshot(snap)
            if self.exit_after is not None and all_ended(snap, self.exit_after):
                self.run_worker(self.action_quit())

    def show_snapshot(self, snap: EngineSnapshot) -> None:
        self.snap = snap
        self.query_one(TotalsBar).show_totals(snap)
        self.query_one(QueueTable).show_jobs(snap.jobs)
        self.show_selected()
        if isinstance(self.screen, LiveScreen):
            self.screen.show_snapshot(snap)

    def show_selected(self) -> None:
        job = self.selected()
        line = selected_line(job)
        if line != self._selected_line:
            self._selected_line = line
            self.query_one("#selected", Static).update(line)
        title = heatmap_title(job) if job is not None else ""
        self.query_one(BlockHeatmap).show(job.blocks if job else None, title=title)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_selected()
        if self.snap.detail != {self.query_one(QueueTable).selected_id}:
            self.poll_engine()  # the newly selected job's map, now rather than next tick

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """A click on the highlighted row: the mouse way to open the details."""
        self.action_details()

    def selected(self) -> JobSnapshot | None:
        job_id = self.query_one(QueueTable).selected_id
        return self.snap.find(job_id) if job_id is not None else None

    # -- actions: each only queues an engine command ------------------------------------

    def action_add(self) -> None:
        dialog = AddDialog(self.add_job, self.directory, self.options.connections)
        self.push_screen(dialog)

    def add_job(self, url: str, directory: Path, connections: int) -> str:
        options = replace(self.options, connections=connections)
        return self.engine.add(url, directory, options=options)

    def action_pause(self) -> None:
        if job := self.selected():
            self.engine.pause(job.id)

    def action_resume(self) -> None:
        if job := self.selected():
            self.engine.resume(job.id)

    def action_pause_all(self) -> None:
        self.engine.pause_all()

    def action_resume_all(self) -> None:
        self.engine.resume_all()

    def action_remove(self) -> None:
        job = self.selected()
        if job is None:
            return

        def remove(delete: bool | None) -> None:
            if delete is not None:
                self.engine.remove(job.id, delete_partial=delete)

        self.push_screen(RemoveDialog(job.name, job.status is Phase.DONE), remove)

    def action_connections(self, delta: int) -> None:
        """Counted from the last request, so quick presses add up before the engine ticks."""
        if job := self.selected():
            count = self._wanted.get(job.id, job.wanted_connections) + delta
            self._wanted[job.id] = max(1, min(MAX_CONNECTIONS, count))
            self.engine.set_connections(job.id, self._wanted[job.id])

    def action_details(self) -> None:
        if job := self.selected():
            self.push_screen(DetailsScreen(job.id, self.snap))

    def action_log(self) -> None:
        self.push_screen(LogScreen(self.snap))

    async def action_quit(self) -> None:
        """Leave: a background engine goes on; one in this process saves and stops."""
        await self._leave(self.engine.detach)

    def action_stop_engine(self) -> None:
        def stop(confirmed: bool | None) -> None:
            if confirmed:
                self.run_worker(self._leave(self.engine.shutdown))

        self.push_screen(StopDialog(), stop)

    async def _leave(self, how: Callable[[], None]) -> None:
        """Running jobs are saved as queued, so they resume by themselves next time."""
        self._quitting = True
        text = totals_text(self.snap).append("   stopping and saving…", style="bold yellow")
        self.query_one(TotalsBar).update(text)
        try:
            await asyncio.to_thread(how)
        except EngineUnavailable as e:
            self.farewell = str(e)
        self.exit()


def all_ended(snap: EngineSnapshot, job_ids: frozenset[str]) -> bool:
    """For --exit-when-done: every job given on the command line is done or failed."""
    ended = {j.id for j in snap.jobs if j.status in (Phase.DONE, Phase.FAILED)}
    return job_ids <= ended


def selected_line(job: JobSnapshot | None) -> Text:
    """Under the table: where the selected job goes, or why it failed."""
    if job is None:
        return _line(EMPTY_HINT, "dim")
    if job.status is Phase.FAILED and job.error:
        return _line(f" failed: {job.error}", "bold red")
    message = job.message
    where = job.target or job.output or job.directory + "/"
    return _line(f" → {where}" + (f"  · {message}" if message else ""), "dim")


def _line(text: str, style: str) -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")


def heatmap_title(job: JobSnapshot) -> str:
    parts = [job.name]
    if job.size is not None:
        block = job.block_size
        blocks = -(-job.size // block)
        parts += [format_size(job.size), f"{blocks} blocks of {format_size(block)}"]
    if job.running:
        parts.append(f"{job.connections} connections")
    return " · ".join(parts)
