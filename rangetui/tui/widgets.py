"""One-line widgets of the main screen: the totals on top, the selected job's line, the keys.

Each keeps the line it drew and, given a new one, refreshes only the cells that
differ, so that a changing total speed costs the terminal a few cells a second.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from rangetui.core.snapshots import EngineSnapshot
from rangetui.core.types import ACTIVE, Phase
from rangetui.tui.keys import ALWAYS, Entry
from rangetui.tui.smoothing import Smoother, format_speed
from rangetui.tui.spans import changed_regions, text_strip


class TextLine(Widget):
    """A single line of rich Text (never markup), repainted cell by cell."""

    DEFAULT_CSS = "TextLine { height: 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text()
        self._strip: Strip | None = None

    @property
    def text(self) -> Text:
        return self._text

    def show_text(self, text: Text) -> None:
        self._text = text
        self._redraw()

    def _redraw(self, whole: bool = False) -> None:
        if not self.is_mounted or not self.size.width:
            return
        new = text_strip(self._text, self.size.width, self.rich_style, self.app.console)
        old, self._strip = self._strip, new
        regions = None if old is None or whole else changed_regions([old], [new])
        if regions is None:
            self.refresh()
        elif regions:
            self.refresh(*regions)

    def on_resize(self, event: events.Resize) -> None:
        self._redraw(whole=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._redraw(whole=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1

    def render_line(self, y: int) -> Strip:
        if y == 0 and self._strip is not None:
            return self._strip
        return Strip.blank(self.size.width, self.rich_style)


def totals_text(snap: EngineSnapshot, smoother: Smoother | None = None, view: str = "") -> Text:
    """The header: overall speed, the global limit, counts per state, then the view."""
    counts = [
        (snap.count(*ACTIVE), "active"),
        (snap.count(Phase.PAUSED), "paused"),
        (snap.count(Phase.QUEUED), "queued"),
        (snap.count(Phase.DONE), "done"),
        (snap.count(Phase.FAILED), "failed"),
    ]
    speed = smoother.speed("", snap.speed) if smoother is not None else snap.speed
    text = Text(" rangetui ", style="bold")
    text.append(f" ↓ {format_speed(speed):>9}")
    if snap.limit_rate:
        text.append(f" (limit {format_speed(snap.limit_rate)})", style="bold")
    text.append("  ")
    text.append(" · ".join(f"{n} {label}" for n, label in counts if n or label != "failed"))
    if view:
        text.append(f"   {view}", style="bold")
    return text


class TotalsBar(TextLine):
    """Docked at the top; the total speed is held steady like every other speed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.smoother = Smoother()

    def show_totals(self, snap: EngineSnapshot, view: str = "") -> None:
        self.show_text(totals_text(snap, self.smoother, view))


class KeyBar(TextLine):
    """The footer: the keys of the screen that fit, by priority; help and quit always.

    A click on an entry runs its action, as Textual's footer does.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key"}
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; }
    KeyBar > .keybar--key { text-style: bold; color: $accent; }
    """

    def __init__(self, entries: tuple[Entry, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries = entries
        self._spans: list[tuple[int, int, str]] = []

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width)
        super().on_resize(event)

    def on_mount(self) -> None:
        self._layout(self.size.width)

    def _layout(self, width: int) -> None:
        shown = fitting(self._entries, width)
        plain = self.app.no_color
        style = "bold underline" if plain else self.get_component_rich_style("keybar--key")
        text, self._spans = Text(), []
        for entry in shown:
            text.append("  " if text else " ")
            start = text.cell_len
            text.append(entry.show, style)
            text.append(f" {entry.word}")
            self._spans.append((start, text.cell_len, entry.key))
        self.show_text(text)

    def on_click(self, event: events.Click) -> None:
        """As if the key were pressed: the same bindings, on whichever screen is up."""
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)


def entry_width(entry: Entry) -> int:
    return 2 + len(entry.show) + 1 + len(entry.word)


def fitting(entries: tuple[Entry, ...], width: int) -> list[Entry]:
    """Drop the least needed entries until the rest fit; ALWAYS entries never go."""
    kept = list(entries)
    while sum(map(entry_width, kept)) > width:
        droppable = [e for e in kept if e.priority != ALWAYS]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda e: (e.priority, kept.index(e))))
    return kept
