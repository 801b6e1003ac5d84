"""The queue's columns: which fit a given width, and what each says about a job.

Columns give way by priority as the terminal narrows (connections and ETA first,
then size, then the bar shrinks, then speed); the name takes whatever is left, and
the status is never dropped. Cells are plain strings padded to their column's width,
so the table can compare a row with the one on screen cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from rangetui.core.snapshots import JobSnapshot
from rangetui.core.types import Phase
from rangetui.core.units import format_size
from rangetui.tui.smoothing import DASH, Smoother, format_eta, format_speed

EIGHTHS = " ▏▎▍▌▋▊▉"
MIN_NAME = 12
WIDE = 110
"""From this width on, the progress bar is twice as long."""


@dataclass(frozen=True)
class Col:
    """One column; every cell carries its own leading space as a gutter."""

    key: str
    label: str
    width: int
    right: bool = True


def _fixed(bar: int) -> dict[str, Col]:
    return {
        "size": Col("size", "Size", 9),
        "progress": Col("progress", "Progress", bar + 6, right=False),
        "speed": Col("speed", "Speed", 10),
        "eta": Col("eta", "ETA", 9),
        "conn": Col("conn", "Conn", 5),
        "status": Col("status", "Status", 12, right=False),
    }


ORDER = ("name", "size", "progress", "speed", "eta", "conn", "status")
GIVE_WAY = ("conn", "eta", "size", "bar", "speed")
"""What goes first when the terminal is narrow ("bar": the progress bar halves)."""


def layout(width: int) -> tuple[tuple[Col, ...], int]:
    """The columns that fit in ``width`` cells and the bar's width; the name takes the rest."""
    bar = 20 if width >= WIDE else 10
    dropped: set[str] = set()
    for victim in (None, *GIVE_WAY):
        if victim == "bar":
            bar = 5
        elif victim is not None:
            dropped.add(victim)
        fixed = {k: c for k, c in _fixed(bar).items() if k not in dropped}
        if width - sum(c.width for c in fixed.values()) >= MIN_NAME:
            break
    name = Col("name", "Name", max(MIN_NAME, width - sum(c.width for c in fixed.values())), False)
    cols = {"name": name, **fixed}
    return tuple(cols[k] for k in ORDER if k in cols), bar


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


def connections_text(job: JobSnapshot) -> str:
    """A download over one connection still has one, even without a block map."""
    return str(max(job.connections, 1)) if job.status is Phase.DOWNLOADING else DASH


def cell_values(job: JobSnapshot, smoother: Smoother, bar_width: int) -> dict[str, str]:
    """What each column says about ``job``; speeds and ETAs as the smoother holds them."""
    running = job.status is Phase.DOWNLOADING
    speed = smoother.speed(job.id, job.speed if running else 0.0)
    remaining = job.size - job.completed if job.size is not None else None
    eta = smoother.eta(job.id, remaining, job.speed if running else 0.0)
    return {
        "name": job.name,
        "size": format_size(job.size) if job.size is not None else _so_far(job),
        "progress": bar(job.fraction, bar_width),
        "speed": format_speed(speed) if running else DASH,
        "eta": format_eta(eta) if running else DASH,
        "conn": connections_text(job),
        "status": job.status.value,
    }


def _so_far(job: JobSnapshot) -> str:
    """No size from the server: the bytes so far, so a running download is seen to move."""
    return f"{format_size(job.completed)}+" if job.completed else "?"


def header(cols: tuple[Col, ...], sort_key: str) -> list[str]:
    """Column labels; the sorted one is marked."""
    return [fit(c.label + (" ▾" if c.key == sort_key else ""), c.width, c.right) for c in cols]
