"""Dialogs and secondary screens: add, remove, details, log.

All of them are modal, so that the queue's one-letter keys never fire underneath
a dialog or while reading the details. None of them talks to the network: the add
dialog calls a function that only queues a command, and the others render the
snapshots the app hands them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, RichLog, Static

from rangetui.core.api import EngineUnavailable
from rangetui.core.errors import DownloadError
from rangetui.core.snapshots import EngineSnapshot, LogLine
from rangetui.core.text import terminal_safe
from rangetui.core.urls import check_url
from rangetui.tui.details import details_lines
from rangetui.tui.form import FormDialog, SteadyInput, UrlsInput, urls_in
from rangetui.tui.help import HelpScreen
from rangetui.tui.keys import DETAILS, LOG, bindings, footer
from rangetui.tui.lineview import LineView
from rangetui.tui.smoothing import Smoother
from rangetui.tui.widgets import KeyBar

MAX_CONNECTIONS = 64
AddFunction = Callable[[str, Path, int], str]


class AddDialog(FormDialog[str]):
    """URL, target directory and connections; dismissed with the new job's id (the
    first one's, when a pasted list of URLs adds a job for each)."""

    CONFIRM = "add"

    def __init__(self, add: AddFunction, directory: Path, connections: int) -> None:
        super().__init__()
        self._add = add
        self._kept: str | None = None
        self._directory = directory
        self._connections = connections

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Add a download", classes="title")
            yield Label("URL (or a pasted list of them)")
            yield UrlsInput(placeholder="https://…", id="url", compact=True)
            yield Label("Save into directory")
            yield SteadyInput(str(self._directory), id="dir", compact=True)
            yield Label(f"Connections (1–{MAX_CONNECTIONS})")
            yield SteadyInput(
                str(self._connections), id="connections", type="integer", compact=True
            )
            yield Static("", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Add", variant="primary", id="add", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "url" and event.value == self._kept:
            self._kept = None  # our own change, after an error that must stay
        elif event.input.id == "url":
            urls = urls_in(event.value)
            hint = f"{len(urls)} URLs: each becomes a download" if len(urls) > 1 else ""
            self.query_one("#error", Static).update(Text(hint, style="dim"))

    def submit(self) -> None:
        """Validate here, where the user can fix it, rather than fail later in the queue;
        every URL of a list before any is added."""
        urls = urls_in(self.query_one("#url", Input).value)
        directory = Path(self.query_one("#dir", Input).value.strip() or ".").expanduser()
        count = self.query_one("#connections", Input).value.strip()
        try:
            connections = check_add(urls[0], directory, count)
            if len(urls) > 1:
                for url in urls:
                    check_url(url)
        except (DownloadError, ValueError) as e:
            self._say(str(e))
            return
        job_ids: list[str] = []
        try:
            for url in urls:
                job_ids.append(self._add(url, directory, connections))
        except (DownloadError, EngineUnavailable) as e:
            problem = str(e)
            if job_ids:  # the engine refused one of a list: the rest stay in the field
                self._kept = " ".join(urls[len(job_ids) :])  # its change keeps this error
                self.query_one("#url", Input).value = self._kept
                problem = f"added {len(job_ids)} of {len(urls)}; then: {problem}"
            self._say(problem)
            return
        self.dismiss(job_ids[0])

    def _say(self, problem: str) -> None:
        """Errors quote URLs, which came from anywhere: never drawn raw."""
        self.query_one("#error", Static).update(Text(terminal_safe(problem), style="bold red"))


def check_add(url: str, directory: Path, count: str) -> int:
    """The connection count, once the fields the engine does not check are sane."""
    if not url:
        raise ValueError("Enter the URL to download.")
    if not directory.is_dir():
        raise ValueError(f"No such directory: {directory}")
    if not count.isdigit() or not 1 <= int(count) <= MAX_CONNECTIONS:
        raise ValueError(f"Connections must be a whole number from 1 to {MAX_CONNECTIONS}.")
    return int(count)


class RemoveDialog(ModalScreen[bool | None]):
    """Dismissed with True (delete the partial file), False (keep it) or None (cancel).

    ``finished``: there is no partial file to speak of (done, or failed before any byte
    was placed), so the only choice is to take the job off the list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "choose(False)", "Remove"),
        Binding("d", "choose(True)", "Remove and delete partial"),
        Binding("escape,c", "choose(None)", "Cancel"),
    ]

    def __init__(self, name: str, finished: bool, done: bool = False) -> None:
        super().__init__()
        self._job_name = name
        self._finished = finished
        self._done = done

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(f"Remove {self._job_name}?"), classes="title")  # never markup
            if self._done:
                yield Static("The downloaded file stays where it is.")
            with Vertical(classes="choices"):
                keep = "Remove from the list" if self._finished else "Remove, keep the partial file"
                yield Button(f"{keep} (k)", id="keep", variant="primary", compact=True)
                if not self._finished:
                    delete = "Remove and delete the partial file (d)"
                    yield Button(delete, id="delete", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        choice = {"keep": False, "delete": True}.get(event.button.id or "")
        self.dismiss(choice)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool:
        """A finished file is the user's: there is no partial file to delete."""
        return not (self._finished and parameters == (True,))

    def action_choose(self, delete: bool | None) -> None:
        self.dismiss(delete)


class StopDialog(ModalScreen[bool]):
    """Stopping the engine stops every download: ask first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "choose(True)", "Stop the engine"),
        Binding("escape,n", "choose(False)", "Cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Stop the engine?", classes="title")
            yield Static(
                "Every download stops; running ones go on by themselves at the next start."
            )
            with Vertical(classes="choices"):
                yield Button("Stop the engine (y)", id="stop", variant="error", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "stop")

    def action_choose(self, stop: bool) -> None:
        self.dismiss(stop)


class LiveScreen(ModalScreen[None]):
    """A view over engine snapshots: the app pushes each new one to ``show_snapshot``."""

    def __init__(self, snap: EngineSnapshot) -> None:
        super().__init__()
        self._first = snap

    def on_mount(self) -> None:
        self.show_snapshot(self._first)

    def take_snapshot(self, snap: EngineSnapshot) -> None:
        """From the app's poll, which can come between the push of this screen and its
        mount (then the newest is shown on mount), or while the app tears it down at exit
        (its widgets are gone: nothing to show)."""
        if not self.is_mounted:
            self._first = snap
            return
        with contextlib.suppress(NoMatches):
            self.show_snapshot(snap)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def show_snapshot(self, snap: EngineSnapshot) -> None:
        raise NotImplementedError


class DetailsScreen(LiveScreen):
    """Everything known about one job, refreshed with each snapshot, cell by cell."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(DETAILS)

    def __init__(self, job_id: str, snap: EngineSnapshot) -> None:
        super().__init__(snap)
        self._job_id = job_id
        self._smoother = Smoother()

    def compose(self) -> ComposeResult:
        yield LineView(id="details")
        yield KeyBar(footer(DETAILS), id="keys")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(LineView).focus()

    def show_snapshot(self, snap: EngineSnapshot) -> None:
        job = snap.find(self._job_id)
        if job is None:
            self.dismiss(None)
            return
        log = [line for line in snap.log if line.job_id == job.id][-5:]
        smoother = self._smoother
        self.query_one(LineView).show(lambda width: details_lines(job, log, width, smoother))


def log_line(line: LogLine) -> Text:
    stamp = time.strftime("%H:%M:%S", time.localtime(line.when))
    text = Text(f"{stamp}  ", style="dim")
    if line.name:
        text.append(f"{line.name}: ", style="bold")
    text.append(line.text, style="red" if line.text.startswith("failed") else "")
    return text


class LogScreen(LiveScreen):
    """The engine's event log; new lines are appended, old ones never redrawn."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(LOG)

    def __init__(self, snap: EngineSnapshot) -> None:
        super().__init__(snap)
        self._last = 0

    def compose(self) -> ComposeResult:
        yield Label(" Event log", classes="title")
        yield RichLog(id="log", max_lines=1000, wrap=True)
        yield KeyBar(footer(LOG), id="keys")

    def show_snapshot(self, snap: EngineSnapshot) -> None:
        log = self.query_one("#log", RichLog)
        for line in snap.log:
            if line.seq > self._last:
                log.write(log_line(line))
        if snap.log:
            self._last = max(self._last, snap.log[-1].seq)
