"""A download's block map as a grid of shaded cells, one equal byte range of the file each.

The app pushes a fresh immutable ``MapSnapshot`` several times a second; the map takes
at most one a second (a connection's head moving cell by cell is the busiest thing on
screen, and nobody reads it faster). The snapshot becomes one string of glyphs per row,
and only the runs of cells that changed are repainted, so an idle or slow download costs
next to nothing and an SSH link only carries the cells that moved.

Every state has its own glyph, so the map stays readable without colour (``NO_COLOR``)
and in 16 colours; the colours are component classes so that a theme can restyle them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.events import Resize
from textual.geometry import Region
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from rangetui.core.intervals import Interval, MapSnapshot, bucket_flags, bucket_fractions

DONE, MOST, SOME, NONE, ACTIVE = "█", "▓", "▒", "░", "▌"
DONE_AT = 0.999
"""Not exactly 1.0: float sums over many blocks may fall a hair short of a full cell."""
MOST_AT = 0.66
LEGEND = ((DONE, "done"), (MOST, "most"), (SOME, "some"), (NONE, "none"), (ACTIVE, "fetching"))
EMPTY_MESSAGE = "no block map yet"
MIN_HEIGHT_FOR_LEGEND = 3
"""Below this a legend would take half the map or more; the cells matter more."""
UPDATE_SECONDS = 1.0
"""The same job's map is redrawn at most this often."""
GAP = 6
"""Unchanged cells between two changed runs that are cheaper re-sent than skipped."""

_COMPONENT = {
    DONE: "blockheatmap--done",
    MOST: "blockheatmap--most",
    SOME: "blockheatmap--some",
    NONE: "blockheatmap--none",
    ACTIVE: "blockheatmap--active",
}
_LEGEND_COMPONENT = "blockheatmap--legend"


def cell_glyph(fraction: float, active: bool) -> str:
    """One glyph per state, so the map reads the same with or without colour.

    Any progress at all shows as "some": a started range must never look untouched.
    """
    if active:
        return ACTIVE
    if fraction >= DONE_AT:
        return DONE
    if fraction >= MOST_AT:
        return MOST
    return SOME if fraction > 0 else NONE


def head_ranges(active: Iterable[Interval]) -> list[Interval]:
    """Where each connection is writing now.

    A snapshot's active range runs from the connection's done offset to the end of its
    segment; marking all of it would hide the map under the pending bytes, so only the
    cell holding the next byte to be written is marked.
    """
    return [(a, a + 1) for a, b in active if b > a]


def grid_rows(blocks: MapSnapshot, width: int, rows: int) -> tuple[str, ...]:
    """The glyph strings for ``rows`` rows of ``width`` cells, computed in one pass."""
    cells = width * rows
    if cells <= 0:
        return ()
    fractions = bucket_fractions(blocks.size, blocks.done_intervals, cells)
    flags = bucket_flags(blocks.size, head_ranges(blocks.active), cells)
    text = "".join(map(cell_glyph, fractions, flags))
    return tuple(text[i : i + width] for i in range(0, cells, width))


@dataclass(frozen=True)
class _View:
    """What is on screen, in a form that compares cheaply with the previous one."""

    rows: tuple[str, ...] = ()
    legend: bool = False
    message: str = ""


def build_view(blocks: MapSnapshot | None, width: int, height: int) -> _View:
    """Fit the map to the content area: one legend row when there is room for it."""
    if width <= 0 or height <= 0:
        return _View()
    if blocks is None:
        return _View(message=EMPTY_MESSAGE)
    legend = height >= MIN_HEIGHT_FOR_LEGEND
    return _View(grid_rows(blocks, width, height - legend), legend=legend)


def changed_lines(old: _View, new: _View) -> list[int] | None:
    """Rows to repaint, or None when the layout changed and everything must be."""
    if (old.legend, old.message, len(old.rows)) != (new.legend, new.message, len(new.rows)):
        return None
    return [y for y, (a, b) in enumerate(zip(old.rows, new.rows, strict=True)) if a != b]


def changed_runs(old: str, new: str, gap: int = GAP) -> list[tuple[int, int]]:
    """Runs ``[x1, x2)`` of glyphs that differ between two rows of the same length."""
    runs: list[tuple[int, int]] = []
    for x, (a, b) in enumerate(zip(old, new, strict=True)):
        if a == b:
            continue
        if runs and x - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], x + 1)
        else:
            runs.append((x, x + 1))
    return runs


class BlockHeatmap(Widget):
    """Shows one download's block map; it only ever reads snapshots, never the engine."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {*_COMPONENT.values(), _LEGEND_COMPONENT}
    update_seconds = UPDATE_SECONDS

    DEFAULT_CSS = """
    BlockHeatmap {
        height: 1fr;
        min-height: 1;
    }
    BlockHeatmap > .blockheatmap--done {
        color: $success;
    }
    BlockHeatmap > .blockheatmap--most {
        color: $success 70%;
    }
    BlockHeatmap > .blockheatmap--some {
        color: $success 45%;
    }
    BlockHeatmap > .blockheatmap--none {
        color: $foreground 30%;
    }
    BlockHeatmap > .blockheatmap--active {
        color: $accent;
        text-style: bold;
    }
    BlockHeatmap > .blockheatmap--legend {
        color: $text-muted;
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        self._blocks: MapSnapshot | None = None
        self._title = ""
        self._view = _View()
        self._styles_by_glyph: dict[str, Style] | None = None
        self._strips: dict[int, Strip] = {}
        self._shown_at = 0.0
        self._key: object = None
        self._timer: Timer | None = None
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)

    # -- what the app calls ----------------------------------------------------------

    def show(self, blocks: MapSnapshot | None, *, title: str = "", key: object = None) -> None:
        """Take a new snapshot; repaint only the cells that changed. The same ``key`` (the
        job) is redrawn at most once a second; another key, or the first map of this one
        (a newly selected job's map arrives a moment after its row), at once."""
        first_map = self._blocks is None and blocks is not None
        self._blocks = blocks
        if title != self._title:
            self._title = title
            self.border_title = Text(title) if title else None  # a file name, never markup
        wait = self._shown_at + self.update_seconds - time.monotonic()
        if key != self._key or wait <= 0 or first_map:
            self._key = key
            self._update_view()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._update_view)

    @property
    def cell_count(self) -> int:
        """How many cells the map has at the current size (each one character)."""
        return sum(len(row) for row in self._view.rows)

    # -- keeping the view current ----------------------------------------------------

    def _update_view(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._shown_at = time.monotonic()
        width, height = self.size
        view = build_view(self._blocks, width, height)
        if view == self._view:
            return
        old, self._view = self._view, view
        lines = changed_lines(old, view)
        if lines is None:
            self._strips.clear()
            self.refresh()
            return
        regions = []
        for y in lines:
            self._strips.pop(y, None)
            regions += [Region(a, y, b - a, 1) for a, b in changed_runs(old.rows[y], view.rows[y])]
        self.refresh(*regions)

    def on_resize(self, event: Resize) -> None:
        self._strips.clear()
        self._update_view()

    def notify_style_update(self) -> None:
        """A theme or CSS change: the cached styles and the strips made with them are stale."""
        super().notify_style_update()
        self._styles_by_glyph = None
        self._strips.clear()

    # -- rendering -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is None:
            strip = self._strips[y] = self._make_strip(y)
        return strip

    def _make_strip(self, y: int) -> Strip:
        view, width = self._view, self.size.width
        if y < len(view.rows):
            segments = self._cell_segments(view.rows[y])
        elif view.legend and y == len(view.rows):
            segments = self._legend_segments(width)
        elif view.message and y == 0:
            segments = [Segment(view.message, self._legend_style())]
        else:
            return Strip.blank(width, self.rich_style)
        return Strip(segments).adjust_cell_length(width, self.rich_style)

    def _cell_segments(self, row: str) -> list[Segment]:
        """One segment per run of equal glyphs: few segments even for wide rows."""
        styles = self._glyph_styles()
        return [Segment(glyph * len(list(run)), styles[glyph]) for glyph, run in groupby(row)]

    def _legend_segments(self, width: int) -> list[Segment]:
        """As many whole entries as fit: a cut-off label reads like a different word."""
        styles, label_style = self._glyph_styles(), self._legend_style()
        segments: list[Segment] = []
        used = 0
        for index, (glyph, label) in enumerate(LEGEND):
            separator = "  " if index else ""
            used += len(separator) + len(glyph) + 1 + len(label)
            if used > width:
                break
            segments.append(Segment(separator, label_style))
            segments += [Segment(glyph, styles[glyph]), Segment(f" {label}", label_style)]
        return segments

    def _glyph_styles(self) -> dict[str, Style]:
        """Looked up once per style change, not per row: rows repaint five times a second."""
        if self._styles_by_glyph is None:
            self._styles_by_glyph = {
                glyph: self.get_component_rich_style(component)
                for glyph, component in _COMPONENT.items()
            }
        return self._styles_by_glyph

    def _legend_style(self) -> Style:
        return self.get_component_rich_style(_LEGEND_COMPONENT)
