"""The lines of the details screen, built from one job snapshot.

Kept apart from the screen so that they are plain functions of immutable data (and
of the smoother that holds speeds steady): the screen only decides when to call them.
Long values wrap under their own column, not under the labels.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from rangetui.core.snapshots import JobSnapshot, LogLine
from rangetui.core.types import ConnectionView, Phase
from rangetui.core.units import format_size
from rangetui.tui.columns import connections_text
from rangetui.tui.smoothing import Smoother, format_eta, format_speed

LABEL_WIDTH = 13
INDENT = 1 + LABEL_WIDTH
_CONSOLE = Console(width=1000, color_system=None, force_terminal=False)
"""Only for wrapping text to a width; nothing is printed with it."""


def wrap(text: Text, width: int, indent: int) -> list[Text]:
    """``text`` in lines of ``width`` cells; lines after the first start at ``indent``."""
    if text.cell_len <= width:
        return [text]
    first, *rest = text.wrap(_CONSOLE, max(10, width))
    return [first, *wrap_rest(rest, width, indent)]


def wrap_rest(lines: list[Text], width: int, indent: int) -> list[Text]:
    """Continuation lines, re-wrapped to the room left after the indent."""
    joined = Text(" ").join(line for line in lines)
    room = max(10, width - indent)
    return [Text(" " * indent) + line for line in joined.wrap(_CONSOLE, room)]


def _row(lines: list[Text], width: int, label: str, value: str | Text, style: str = "") -> None:
    """The label, then the value wrapped in its own column."""
    value_text = value if isinstance(value, Text) else Text(value, style=style)
    first, *rest = wrap(value_text, width - INDENT, 0)
    lines.append(Text(f" {label:<{LABEL_WIDTH}}", style="bold") + first)
    lines.extend(Text(" " * INDENT) + line for line in rest)


def _progress(job: JobSnapshot, smoother: Smoother) -> str:
    size = job.size
    if size is None:
        parts = [f"{format_size(job.completed)} so far (size unknown)"]
    else:
        parts = [format_size(size), f"{format_size(job.completed)} done ({job.fraction or 0:.0%})"]
    if job.status is Phase.DOWNLOADING:
        speed = smoother.speed(job.id, job.speed)
        parts.append(format_speed(speed))
        if size is not None:
            parts.append(f"ETA {format_eta(smoother.eta(job.id, size - job.completed, job.speed))}")
    return " · ".join(parts)


def _path(job: JobSnapshot) -> str:
    if job.target:
        return job.target
    if job.output:
        return job.output
    return f"{job.directory}/ (name from the server)"


def _validators(job: JobSnapshot) -> str:
    parts = []
    if job.etag:
        parts.append(f"ETag {job.etag}")
    if job.last_modified:
        parts.append(f"Last-Modified {job.last_modified}")
    if parts:
        return " · ".join(parts)
    return "– (the server sent none)" if job.status is Phase.DONE else "– (none known yet)"


def _mirrors(job: JobSnapshot) -> str:
    """While running, what each server has sent and whether it is still used."""
    if not job.sources:
        return " · ".join(job.mirrors)
    return " · ".join(
        f"{v.url} {format_size(v.received)}{'' if v.live else ' (retired)'}"
        for v in job.sources[1:]
    )


def _status(job: JobSnapshot) -> Text:
    status = Text(job.status.value, style="bold reverse" if job.status is Phase.FAILED else "bold")
    wanted = job.wanted_connections
    if job.running and job.status is Phase.DOWNLOADING:
        status.append(f" · {connections_text(job)} of {wanted} connections")
        if job.size is None or (job.connections <= 1 and job.blocks is None):
            status.append(" (one stream: the server does not take ranges)")
    elif not job.running:
        status.append(f" · {wanted} connections when running")
    if job.limit_rate:
        status.append(f" · limit {format_speed(job.limit_rate)}")
    return status


def _connection(view: ConnectionView, job_id: str, smoother: Smoother) -> Text:
    """One connection: its range, where it is, its own speed (held steady like the total)."""
    speed = smoother.speed(f"{job_id}#{view.wid}", view.rate)
    end = format_size(view.end) if view.end > view.pos or view.end else "?"
    mirror = view.measured_mirror
    label = f"#{view.wid:<3}" if mirror is None else f"m{mirror:<3}"
    text = Text(
        f"   {label} {format_size(view.start):>9} – {end:<9}"
        f" at {format_size(view.pos):>9}   {format_speed(speed):>9}"
    )
    if mirror is not None:
        text.append(f"  measuring mirror {mirror}", style="dim")
    return text


def details_lines(
    job: JobSnapshot, log: list[LogLine], width: int, smoother: Smoother
) -> list[Text]:
    lines = [Text(f" {job.name}", style="bold underline"), Text()]
    _row(lines, width, "Status", _status(job))
    if job.connection_note:
        _row(lines, width, "Count", job.connection_note)
    for label, value in (
        ("URL", job.url),
        ("Path", _path(job)),
        ("Progress", _progress(job, smoother)),
        ("Validators", _validators(job)),
        ("Retries", str(job.retries) if job.running else "–"),
    ):
        _row(lines, width, label, value)
    if job.mirrors:
        _row(lines, width, "Mirrors", _mirrors(job))
    if job.error:
        _row(lines, width, "Error", job.error, style="bold red")
    if job.message:
        _row(lines, width, "Message", job.message)
    views = [_connection(v, job.id, smoother) for v in job.connection_views]
    _section(lines, "Connections", views or [Text("   none (not running)")])
    events = [Text(f"   {line.text}") for line in log]
    _section(
        lines, "Recent events", [w for e in events for w in wrap(e, width, 3)] or [Text("   none")]
    )
    return lines


def _section(lines: list[Text], title: str, body: list[Text]) -> None:
    lines += [Text(), Text(f" {title}", style="bold"), *body]
