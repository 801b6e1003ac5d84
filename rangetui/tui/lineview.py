"""A scrollable page of styled lines that repaints only the cells that changed.

For the details screen: its speeds and positions change several times a second,
but re-sending the whole page for them would be most of the terminal traffic.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rangetui.tui.spans import changed_spans, text_strip

Lines = Callable[[int], list[Text]]
"""Makes the page's lines for a width (long ones wrapped to it)."""


class LineView(ScrollView, can_focus=True):
    """Call :meth:`show` with a function of the width; it is called again on resize."""

    DEFAULT_CSS = "LineView { height: 1fr; scrollbar-size-vertical: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._make: Lines | None = None
        self._strips: list[Strip] = []

    @property
    def plain(self) -> str:
        """The page as text (tests)."""
        return "\n".join(strip.text.rstrip() for strip in self._strips)

    def show(self, make: Lines) -> None:
        self._make = make
        self._redraw()

    def _redraw(self, whole: bool = False) -> None:
        width = self.scrollable_content_region.width
        if self._make is None or width <= 0:
            return
        base, console = self.rich_style, self.app.console
        new = [text_strip(line, width, base, console) for line in self._make(width)]
        old, self._strips = self._strips, new
        if whole or len(old) != len(new):
            self.virtual_size = Size(width, len(new))
            self.refresh()
            return
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        regions = [
            Region(x1, y - top, x2 - x1, 1)
            for y in range(top, min(len(new), top + height))
            for x1, x2 in changed_spans(old[y], new[y])
        ]
        if regions:
            self.refresh(*regions)

    def on_resize(self, event: events.Resize) -> None:
        self._redraw(whole=True)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if index < len(self._strips):
            return self._strips[index].crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)
