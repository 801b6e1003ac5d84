"""The main screen's widgets: the queue table and the totals line.

Both are fed immutable engine snapshots by the app's timer and change only what
differs from the previous snapshot, so an idle queue costs nothing and a busy one
sends the terminal a handful of cells per tick (what keeps it smooth over SSH).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from rangetui.core.snapshots import EngineSnapshot, JobSnapshot
from rangetui.core.types import ACTIVE, Phase
from rangetui.core.units import format_eta, format_rate, format_size

DASH = "–"
EIGHTHS = " ▏▎▍▌▋▊▉"
STATUS_STYLE = {
    Phase.QUEUED: "dim",
    Phase.PROBING: "cyan",
    Phase.DOWNLOADING: "bold cyan",
    Phase.PAUSED: "yellow",
    Phase.VERIFYING: "cyan",
    Phase.DONE: "green",
    Phase.FAILED: "bold red",
}


@dataclass(frozen=True)
class Col:
    """One fixed-width column; every cell carries its own leading space as a gutter."""

    key: str
    label: str
    width: int
    right: bool = True


def columns(name_width: int, bar_width: int) -> tuple[Col, ...]:
    return (
        Col("name", "Name", name_width, right=False),
        Col("size", "Size", 9),
        Col("progress", "Progress", bar_width + 6, right=False),
        Col("speed", "Speed", 11),
        Col("eta", "ETA", 8),
        Col("conn", "Conn", 5),
        Col("status", "Status", 12, right=False),
    )


FIXED_WIDTH = sum(c.width for c in columns(0, 0))
SCROLLBAR = 1
MIN_NAME = 12
MAX_NAME = 48
"""Wider, and the eye loses the row between a short name and its numbers."""


def layout_for(width: int) -> tuple[int, int]:
    """Name and bar widths for a table ``width`` cells wide: the name takes what is left."""
    bar = 10 if width < 110 else 20
    name = width - FIXED_WIDTH - bar - SCROLLBAR
    return max(MIN_NAME, min(MAX_NAME, name)), bar


def fit(text: str, width: int, right: bool) -> str:
    """Exactly ``width`` cells (wide characters count double): a gutter space, then the text."""
    room = width - 1
    if cell_len(text) > room:
        text = set_cell_size(text, max(0, room - 1)) + "…"
    pad = " " * (room - cell_len(text))
    return " " + (pad + text if right else text + pad)


def bar(fraction: float | None, width: int) -> str:
    """A bar with eighth-cell resolution, then the percentage: "████▌░░░░  46%"."""
    if fraction is None:
        return "░" * width + "    ?"
    eighths = int(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if full < width and part else "")
    return text + "░" * (width - len(text)) + f" {int(fraction * 100):>3}%"


def cell_values(job: JobSnapshot) -> dict[str, str]:
    """What each column says about ``job``, before fitting to width."""
    running = job.status is Phase.DOWNLOADING
    size = job.size
    return {
        "name": job.name,
        "size": format_size(size) if size is not None else "?",
        "progress": "",
        "speed": format_rate(job.speed) if running else DASH,
        "eta": format_eta(job.eta) if running else DASH,
        "conn": str(job.connections) if running else DASH,
        "status": job.status.value,
    }


def row_cells(job: JobSnapshot, cols: Sequence[Col], bar_width: int) -> tuple[Text, ...]:
    values = cell_values(job)
    values["progress"] = bar(job.fraction, bar_width)
    cells = [Text(fit(values[c.key], c.width, c.right), no_wrap=True) for c in cols]
    cells[-1].stylize(STATUS_STYLE[job.status])
    cells[2].stylize("green" if job.status is Phase.DONE else "cyan", 0, bar_width + 1)
    return tuple(cells)


class QueueTable(DataTable[Text], inherit_bindings=False):
    """One row per job, keyed by job id; cells are updated in place, never re-added.

    Enter is left to the app (details), so that the footer shows it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "scroll_top", "Top", show=False),
        Binding("end,G", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", cell_padding=0, zebra_stripes=False)
        self._shown: dict[str, tuple[Text, ...]] = {}
        self._jobs: tuple[JobSnapshot, ...] = ()
        self._layout = layout_for(80)
        self._cols = columns(*self._layout)

    def on_mount(self) -> None:
        for col in self._cols:
            label = Text(fit(col.label, col.width, col.right), style="bold")
            self.add_column(label, key=col.key)

    @property
    def selected_id(self) -> str | None:
        """The job under the cursor, if the queue is not empty."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return key.value

    def show_jobs(self, jobs: tuple[JobSnapshot, ...]) -> None:
        self._jobs = jobs
        wanted = {job.id for job in jobs}
        for job_id in [k for k in self._shown if k not in wanted]:
            self.remove_row(job_id)
            del self._shown[job_id]
        for job in jobs:
            self._show_job(job)

    def _show_job(self, job: JobSnapshot, resized: bool = False) -> None:
        """Cells keep their width (they are padded to it) unless the table was resized."""
        cells = row_cells(job, self._cols, self._layout[1])
        old = self._shown.get(job.id)
        if old is None:
            self.add_row(*cells, key=job.id)
        else:
            for col, new, before in zip(self._cols, cells, old, strict=True):
                if new != before:
                    self.update_cell(job.id, col.key, new, update_width=resized)
        self._shown[job.id] = cells

    def on_resize(self, event: Resize) -> None:
        """Give the name column whatever width the others leave."""
        layout = layout_for(event.size.width)
        if layout == self._layout:
            return
        self._layout = layout
        self._cols = columns(*layout)
        for col in self._cols[:3]:
            label = Text(fit(col.label, col.width, col.right), style="bold")
            self.columns[ColumnKey(col.key)].label = label
        blank = tuple(Text() for _ in self._cols)
        self._shown = dict.fromkeys(self._shown, blank)
        for job in self._jobs:
            self._show_job(job, resized=True)


def totals_text(snap: EngineSnapshot) -> Text:
    """The header line: overall speed, then how many jobs are in each state."""
    counts = [
        (snap.count(*ACTIVE), "active"),
        (snap.count(Phase.PAUSED), "paused"),
        (snap.count(Phase.QUEUED), "queued"),
        (snap.count(Phase.DONE), "done"),
        (snap.count(Phase.FAILED), "failed"),
    ]
    parts = [f"{n} {label}" for n, label in counts if n or label != "failed"]
    text = Text(" rangetui ", style="bold")
    text.append(f"  ↓ {format_rate(snap.speed):>10}   ")
    text.append(" · ".join(parts))
    return text


class TotalsBar(Static):
    """Docked at the top; redrawn only when its text changes."""

    _last: Text | None = None

    def show_totals(self, snap: EngineSnapshot) -> None:
        text = totals_text(snap)
        if text != self._last:
            self._last = text
            self.update(text)
