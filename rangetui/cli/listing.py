"""`rangetui ls`: the queue as a table that fits the terminal, or as JSON for scripts."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from rangetui.core.snapshots import JobSnapshot
from rangetui.core.types import Phase
from rangetui.core.units import format_rate, format_size

MIN_WIDTH = 60
HEADERS = ("ID", "NAME", "STATUS", "DONE", "SIZE", "SPEED")
FIXED = (12, 0, 11, 4, 9, 10)


def job_json(job: JobSnapshot) -> dict[str, Any]:
    """What scripts rely on: the fields of the README's contract, and a few more."""
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "size": job.size,
        "completed": job.completed,
        "speed": job.speed,
        "connections": job.connections,
        "connection_target": job.connection_target,
        "connection_reason": job.connection_reason,
        "connection_note": job.connection_note,
        "target": job.target,
        "error": job.error,
        "url": job.url,
        "directory": job.directory,
        "message": job.message or None,
        "eta": job.eta,
        "added": job.added,
        "finished": job.finished,
        "mirrors": list(job.mirrors),
        "sources": [
            {"url": v.url, "live": v.live, "received": v.received, "connections": v.connections}
            for v in job.sources
        ],
    }


def table(jobs: Sequence[JobSnapshot], width: int | None = None) -> list[str]:
    """One line per job; the name takes what the other columns leave."""
    width = max(MIN_WIDTH, width or shutil.get_terminal_size((80, 24)).columns)
    name_width = width - sum(FIXED) - (len(FIXED) - 1)
    widths = tuple(name_width if w == 0 else w for w in FIXED)
    lines = [_row(HEADERS, widths)]
    for job in jobs:
        lines.append(_row(_cells(job), widths))
        if job.status is Phase.FAILED and job.error:
            lines.append(_fit("  " + job.error, width))
        elif job.status is Phase.DOWNLOADING and job.connection_note:
            lines.append(_fit("  " + job.connection_note, width))
    return lines


def _cells(job: JobSnapshot) -> tuple[str, ...]:
    fraction = job.fraction
    return (
        job.id,
        job.name,
        job.status.value,
        f"{int(fraction * 100)}%" if fraction is not None else "?",
        format_size(job.size) if job.size is not None else "?",
        format_rate(job.speed) if job.status is Phase.DOWNLOADING else "–",
    )


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    right = {3, 4, 5}
    parts = [
        _fit(cell, w).rjust(w) if i in right else _fit(cell, w).ljust(w)
        for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
    ]
    return " ".join(parts).rstrip()


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
