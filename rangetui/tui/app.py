"""The Textual app: the queue, the selected job's heatmap, and keys that call the engine.

The app never waits on the network. It pulls ``engine.snapshot()`` on a timer (so
screen updates stay bounded however fast the bytes come), skips the redraw when the
snapshot has not changed (so an idle queue costs no CPU), and its actions only
enqueue engine commands. Only the screen on top is redrawn: the queue underneath a
details or help screen waits until it is seen again. The one blocking call,
``shutdown`` at quit, runs in a thread so that the screen can say what it is doing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.events import ScreenResume

from rangetui.core.api import EngineAPI, EngineUnavailable
from rangetui.core.snapshots import EngineSnapshot, JobSnapshot
from rangetui.core.types import Options, Phase
from rangetui.core.units import format_size
from rangetui.tui import spans
from rangetui.tui.heatmap import BlockHeatmap
from rangetui.tui.help import HelpScreen
from rangetui.tui.keys import QUEUE, bindings, footer
from rangetui.tui.notify import QueueWatcher, announce
from rangetui.tui.prompts import FilterBar, LimitDialog, Limits, limit_text
from rangetui.tui.screens import (
    MAX_CONNECTIONS,
    AddDialog,
    DetailsScreen,
    LiveScreen,
    LogScreen,
    RemoveDialog,
    StopDialog,
)
from rangetui.tui.table import SORTS, QueueTable
from rangetui.tui.widgets import KeyBar, TextLine, TotalsBar, totals_text

REFRESH_SECONDS = 0.25
EMPTY_HINT = " The queue is empty: press a to add a download, ? for help."


class RangeApp(App[None]):
    """A front end of an engine: in this process, or the background one over its socket.

    ``q`` detaches (a background engine goes on); ``S`` stops the engine after a confirm.
    """

    CSS_PATH = "app.tcss"
    TITLE = "rangetui"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = bindings(QUEUE)

    def __init__(
        self,
        engine: EngineAPI,
        directory: Path,
        options: Options | None = None,
        exit_after: frozenset[str] | None = None,
        notify: bool = False,
    ) -> None:
        # NO_COLOR: the terminal's own colours and plain attributes (bold, reverse), not
        # every colour turned into a grey, which leaves red on black unreadable.
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        spans.install()
        self.exit_after = exit_after
        self.engine = engine
        self.directory = directory.expanduser().absolute()
        self.options = options or Options()
        self.snap: EngineSnapshot = engine.snapshot()
        self._watcher = QueueWatcher(self.snap) if notify else None
        self._wanted: dict[str, int] = {}
        self._quitting = False
        self.farewell = ""
        """Why the app ended on its own (the engine went away), for the command line."""
        self.engine_stopped = False

    def compose(self) -> ComposeResult:
        yield TotalsBar(id="totals")
        yield QueueTable(id="queue")
        yield TextLine(id="selected")
        yield BlockHeatmap(id="heatmap")
        yield FilterBar(id="filter")
        yield KeyBar(footer(QUEUE), id="keys")

    def on_mount(self) -> None:
        self.show_snapshot(self.snap)
        self.set_interval(REFRESH_SECONDS, self.poll_engine)
        self.table.focus()
        self.app_resume_signal.subscribe(self, self._repaint_all)

    def _repaint_all(self, app: App[None]) -> None:
        """After Ctrl+Z and `fg` the terminal holds the shell's text, and Textual repaints
        nothing by itself; only changed cells would come back. Paint the whole screen."""
        self.screen.refresh(layout=True)
        for widget in self.screen.query("*"):
            widget.refresh()

    @property
    def table(self) -> QueueTable:
        return self.query_one(QueueTable)

    # -- snapshots -------------------------------------------------------------------

    def poll_engine(self) -> None:
        """Block maps travel only for the selected job: the heatmap shows no other."""
        if self._quitting or not self.query(QueueTable):
            return  # the timer can outlive the screen by a tick at exit
        selected = self.table.selected_id
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
        if self._watcher is not None and self._watcher.ended(snap):
            announce(self)
        if isinstance(self.screen, LiveScreen):
            self.screen.take_snapshot(snap)
        elif self.screen is self.screen_stack[0]:
            self._show_main(snap)

    def _show_main(self, snap: EngineSnapshot) -> None:
        self.query_one(TotalsBar).show_totals(snap, self._view_text())
        self.table.show_jobs(snap.jobs)
        self.show_selected()

    def on_screen_resume(self, event: ScreenResume) -> None:
        """Back on the queue: bring it up to date at once."""
        if self.screen is self.screen_stack[0] and self.query(QueueTable):
            self._show_main(self.snap)

    def show_selected(self) -> None:
        job = self.selected()
        self.query_one("#selected", TextLine).show_text(selected_line(job))
        title = heatmap_title(job) if job is not None else ""
        heatmap = self.query_one(BlockHeatmap)
        heatmap.show(job.blocks if job else None, title=title, key=job.id if job else None)

    def on_queue_table_highlighted(self, event: QueueTable.Highlighted) -> None:
        self.show_selected()
        if event.job_id is not None and self.snap.detail != {event.job_id}:
            self.poll_engine()  # the newly selected job's map, now rather than next tick

    def on_queue_table_chosen(self, event: QueueTable.Chosen) -> None:
        self.action_details()

    def selected(self) -> JobSnapshot | None:
        return self.snap.find(self.table.selected_id or "")  # no job's id is ""

    def _view_text(self) -> str:
        table = self.table
        parts = []
        if table.filter:
            parts.append(f"filter “{table.filter}”: {table.row_count} of {len(self.snap.jobs)}")
        if table.sort_key != "queue":
            parts.append(f"sorted by {table.sort_key}")
        return " · ".join(parts)

    # -- actions: each only queues an engine command ------------------------------------

    def action_add(self) -> None:
        def added(job_id: str | None) -> None:
            if job_id is not None:
                self.call_later(self._select_when_shown, job_id)

        dialog = AddDialog(self.add_job, self.directory, self.options.connections)
        self.push_screen(dialog, added)

    def _select_when_shown(self, job_id: str) -> None:
        """A new job appears on the engine's next tick; the cursor goes to it then."""
        self.poll_engine()
        if job_id in {j.id for j in self.table.rows}:
            self.table.select(job_id)
        else:
            self.set_timer(REFRESH_SECONDS, lambda: self._select_when_shown(job_id))

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

        # nothing to delete: done, or failed before a file was placed (a 404)
        no_file = job.status is Phase.FAILED and job.target is None
        partial = job.status is not Phase.DONE and not no_file
        self.push_screen(RemoveDialog(job.name, not partial, job.status is Phase.DONE), remove)

    def action_connections(self, delta: int) -> None:
        """Counted from the last request, so quick presses add up before the engine ticks."""
        if job := self.selected():
            count = self._wanted.get(job.id, job.wanted_connections) + delta
            self._wanted[job.id] = max(1, min(MAX_CONNECTIONS, count))
            self.engine.set_connections(job.id, self._wanted[job.id])

    def action_limit(self) -> None:
        job = self.selected()

        def apply(limits: Limits | None) -> None:
            if limits is None:
                return
            shared, own = limits
            if shared != self.snap.limit_rate:
                self.engine.set_limit(None, shared)
            if job is not None and own != job.limit_rate:
                self.engine.set_limit(job.id, own)

        name, own = (job.name, job.limit_rate) if job is not None else (None, None)
        dialog = LimitDialog(self.snap.limit_rate, name, own)
        self.push_screen(dialog, apply)

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = self.table.filter
        bar.open()

    def on_filter_bar_filter(self, event: FilterBar.Filter) -> None:
        self.table.set_view(filter=event.text)
        self.query_one(TotalsBar).show_totals(self.snap, self._view_text())
        if event.done:
            self.table.focus()

    def action_sort(self) -> None:
        keys = list(SORTS)
        self.table.set_view(sort_key=keys[(keys.index(self.table.sort_key) + 1) % len(keys)])
        self.query_one(TotalsBar).show_totals(self.snap, self._view_text())

    def action_move(self, offset: int) -> None:
        """In the queue's own order only: in a sorted view "up" would mean nothing."""
        job = self.selected()
        if job is None:
            return
        if self.table.sort_key != "queue":
            self.notify("Sorted by another column: press s until the queue order is back.")
            return
        self.engine.move(job.id, offset)

    def action_clear_done(self) -> None:
        for job in self.snap.jobs:
            if job.status is Phase.DONE:
                self.engine.remove(job.id)

    def action_details(self) -> None:
        if job := self.selected():
            self.push_screen(DetailsScreen(job.id, self.snap))

    def action_log(self) -> None:
        self.push_screen(LogScreen(self.snap))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

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
        self.engine_stopped = how == self.engine.shutdown
        text = totals_text(self.snap).append("   stopping and saving…", style="bold yellow")
        self.query_one(TotalsBar).show_text(text)
        try:
            await asyncio.to_thread(how)
        except EngineUnavailable as e:
            self.farewell = str(e)
        self.exit(return_code=1 if self.farewell else 0)  # a stop that failed is no farewell


def all_ended(snap: EngineSnapshot, job_ids: frozenset[str]) -> bool:
    """For --exit-when-done: every job given on the command line is done or failed."""
    ended = {j.id for j in snap.jobs if j.status in (Phase.DONE, Phase.FAILED)}
    return job_ids <= ended


def selected_line(job: JobSnapshot | None) -> Text:
    """Under the table: where the selected job goes, or why it failed."""
    if job is None:
        return _line(EMPTY_HINT, "dim")
    if job.status is Phase.FAILED and job.error:
        return _line(f" failed: {job.error}", "bold")
    where = job.target or job.output or job.directory + "/"
    parts = [f" → {where}"]
    if job.limit_rate:
        parts.append(f"limit {limit_text(job.limit_rate)}")
    if job.message:
        parts.append(job.message)
    return _line("  · ".join(parts), "")


def _line(text: str, style: str) -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")


def heatmap_title(job: JobSnapshot) -> str:
    parts = [job.name]
    if job.size is not None:
        block = job.block_size
        blocks = -(-job.size // block)
        some = f"{blocks} blocks of {format_size(block)}" if blocks != 1 else "1 block"
        parts += [format_size(job.size), some]
    if job.running:
        count = max(job.connections, 1)
        parts.append(job.connection_note or f"{count} connection{'s' if count > 1 else ''}")
    return " · ".join(parts)
