"""Send the terminal only the cells that changed: what keeps the TUI cheap over SSH.

Two pieces. :func:`changed_spans` compares two renderings of a line cell by cell and
says which runs of cells differ, so that a widget refreshes those regions and no
more. :func:`install` makes Textual write only those regions: its compositor already
tracks dirty spans per line, but writes each widget's piece of the line from the
widget's left edge up to the span's end (an upstream "TODO: crop to x extents"), so
a speed in the middle of a table row would re-send the row's first half with it.
The replacement crops both ends; everything else about the update is Textual's own.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import get_character_cell_size
from rich.console import Console
from rich.control import Control
from rich.style import Style
from rich.text import Text
from textual import _compositor
from textual.geometry import Region
from textual.strip import Strip

GAP = 6
"""Unchanged cells between two changed runs that are cheaper re-sent than skipped
(a cursor move plus a colour costs about as much as six cells of text)."""

Cell = tuple[str, Style | None]


def cells(strip: Strip) -> list[Cell]:
    """One entry per terminal cell; the right half of a wide character is ``("", style)``."""
    out: list[Cell] = []
    for text, style, _ in strip:
        for char in text:
            out.append((char, style))
            if get_character_cell_size(char) == 2:
                out.append(("", style))
    return out


def changed_spans(old: Strip, new: Strip, gap: int = GAP) -> list[tuple[int, int]]:
    """Runs ``[x1, x2)`` of cells that differ; never splits a wide character."""
    if old == new:
        return []
    a, b = cells(old), cells(new)
    width = max(len(a), len(b))
    blank: Cell = (" ", None)
    spans: list[tuple[int, int]] = []
    for x in range(width):
        before = a[x] if x < len(a) else blank
        after = b[x] if x < len(b) else blank
        if before == after:
            continue
        if spans and x - spans[-1][1] <= gap:
            spans[-1] = (spans[-1][0], x + 1)
        else:
            spans.append((x, x + 1))
    return [_whole_characters(x1, x2, a, b) for x1, x2 in spans]


def _whole_characters(x1: int, x2: int, a: list[Cell], b: list[Cell]) -> tuple[int, int]:
    def half(row: list[Cell], x: int) -> bool:
        return x < len(row) and row[x][0] == ""

    while x1 > 0 and (half(a, x1) or half(b, x1)):
        x1 -= 1
    while half(a, x2) or half(b, x2):
        x2 += 1
    return x1, x2


def changed_regions(
    old: Sequence[Strip], new: Sequence[Strip], offset: int = 0
) -> list[Region] | None:
    """Regions to refresh between two sets of lines; None when the line count changed."""
    if len(old) != len(new):
        return None
    return [
        Region(x1, y + offset, x2 - x1, 1)
        for y, (a, b) in enumerate(zip(old, new, strict=True))
        for x1, x2 in changed_spans(a, b)
    ]


def text_strip(text: Text, width: int, base: Style, console: Console) -> Strip:
    """A Text as one line of exactly ``width`` cells on the widget's own background."""
    strip = Strip(list(text.render(console, end="")))
    return strip.adjust_cell_length(width).apply_style(base).simplify()


# -- the compositor's partial update, cropped at both ends -----------------------------


def _render_segments(self: _compositor.ChopsUpdate, console: Console) -> str:
    """Textual's ChopsUpdate.render_segments, with each piece cropped to its span."""
    sequences: list[str] = []
    append = sequences.append
    move_to = Control.move_to
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        for end, (x, strip) in zip(self.chop_ends[y], self.chops[y].items(), strict=False):
            if strip is None or x >= x2 or end <= x1:
                continue
            start, stop = max(x, x1), min(end, x2)
            if (start, stop) != (x, end):
                strip = strip.crop(start - x, stop - x)
            append(move_to(start, y).segment.text)
            append(strip.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def install() -> bool:
    """Crop partial updates to their spans; False (and nothing changed) on a Textual
    whose update object does not look like the one this was written against."""
    update = getattr(_compositor, "ChopsUpdate", None)
    if update is None or not hasattr(update, "render_segments"):
        return False
    probe = update.__init__.__code__.co_varnames
    if not {"chops", "spans", "chop_ends"} <= set(probe):
        return False
    update.render_segments = _render_segments
    return True
