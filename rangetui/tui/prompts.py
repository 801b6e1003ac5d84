"""Small prompts of the main screen: the speed-limit dialog and the filter line.

Both only say what the user typed: the app turns it into engine commands (limits)
or into what the table shows (the filter).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from rangetui.core.units import parse_size
from rangetui.tui.form import FormDialog, SteadyInput
from rangetui.tui.smoothing import format_speed

NO_LIMIT = ("", "0", "none", "off", "no", "-", "∞")
Limits = tuple[int | None, int | None]
"""(for all downloads, for the selected job), bytes/s; None: no limit."""


def parse_limit(text: str) -> int | None:
    """ "500K", "2M", "1.5M" (per second, as --limit-rate); empty or 0: no limit."""
    text = text.strip().lower().removesuffix("/s")
    if text in NO_LIMIT:
        return None
    try:
        rate = parse_size(text)
    except ValueError:
        raise ValueError(f"Not a speed: {text!r}. Use a number with K, M or G: 500K, 2M.") from None
    return rate or None


def limit_text(rate: int | None) -> str:
    return "" if rate is None else format_speed(rate)


class LimitDialog(FormDialog[Limits]):
    """Two fields: the limit all downloads share, and the selected job's own."""

    CONFIRM = "apply"

    def __init__(self, shared: int | None, job_name: str | None, own: int | None) -> None:
        super().__init__()
        self._shared, self._job_name, self._own = shared, job_name, own

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Speed limit", classes="title")
            yield Static("Per second, with K, M or G (500K, 2M); empty for none.")
            yield Label("All downloads together")
            yield SteadyInput(_raw(self._shared), id="shared", compact=True)
            if self._job_name is not None:
                yield Label(Text(f"This download: {self._job_name}"))  # a name, never markup
                yield SteadyInput(_raw(self._own), id="own", compact=True)
            yield Static("", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def submit(self) -> None:
        try:
            shared = parse_limit(self.query_one("#shared", Input).value)
            owns = self.query("#own")
            own = parse_limit(owns.first(Input).value) if owns else None
        except ValueError as e:
            self.query_one("#error", Static).update(Text(str(e), style="bold red"))
            return
        self.dismiss((shared, own))


def _raw(rate: int | None) -> str:
    """A limit as the user would type it back."""
    if rate is None:
        return ""
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if rate >= factor:
            value = rate / factor
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.2f}{unit}"
    return str(rate)


class FilterBar(Input):
    """The ``/`` line: filters the table as the user types; Enter keeps it, Esc clears."""

    DEFAULT_CSS = "FilterBar { dock: bottom; display: none; height: 1; border: none; }"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear", "Clear", show=False)]

    class Filter(Message):
        def __init__(self, text: str, done: bool) -> None:
            super().__init__()
            self.text, self.done = text, done

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter by name; ⏎ keep, esc clear", id=id, compact=True)

    def open(self) -> None:
        self.display = True
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Filter(event.value, done=False))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.display = False
        self.post_message(self.Filter(self.value, done=True))

    def action_clear(self) -> None:
        self.value = ""
        self.display = False
        self.post_message(self.Filter("", done=True))

    def on_blur(self, event: events.Blur) -> None:
        self.display = False
