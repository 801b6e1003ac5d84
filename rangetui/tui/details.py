"""The text of the details screen, built from one job snapshot.

Kept apart from the screen so that it is plain functions of immutable data: the
screen only decides when to call them.
"""

from __future__ import annotations

from rich.text import Text

from rangetui.core.snapshots import JobSnapshot, LogLine
from rangetui.core.types import Phase
from rangetui.core.units import format_eta, format_rate, format_size

LABEL_WIDTH = 13


def _row(text: Text, label: str, value: str | Text, style: str = "") -> None:
    text.append(f" {label:<{LABEL_WIDTH}}", style="bold")
    text.append(value if isinstance(value, Text) else Text(value, style=style))
    text.append("\n")


def _progress(job: JobSnapshot) -> str:
    size = job.size
    if size is None:
        return f"{format_size(job.completed)} so far (size unknown)"
    parts = [format_size(size), f"{format_size(job.completed)} done ({job.fraction or 0:.0%})"]
    if job.status is Phase.DOWNLOADING:
        parts += [format_rate(job.speed), f"ETA {format_eta(job.eta)}"]
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


def _status(job: JobSnapshot) -> Text:
    status = Text(job.status.value, style="bold red" if job.status is Phase.FAILED else "bold")
    wanted = job.wanted_connections
    if job.running:
        status.append(f" · {job.connections} of {wanted} connections")
    else:
        status.append(f" · {wanted} connections when running")
    return status


def _connection_lines(job: JobSnapshot) -> list[str]:
    return [
        f"   #{v.wid:<3} {format_size(v.start):>9} – {format_size(v.end):<9}"
        f" at {format_size(v.pos):>9}   {format_rate(v.rate):>10}"
        for v in job.connection_views
    ]


def details_text(job: JobSnapshot, log: list[LogLine]) -> Text:
    text = Text()
    text.append(f" {job.name}\n\n", style="bold underline")
    _row(text, "Status", _status(job))
    _row(text, "URL", job.url)
    _row(text, "Path", _path(job))
    _row(text, "Progress", _progress(job))
    _row(text, "Validators", _validators(job))
    _row(text, "Retries", str(job.retries) if job.running else "–")
    if job.error:
        _row(text, "Error", job.error, style="red")
    if job.message:
        _row(text, "Message", job.message)
    _section(text, "Connections", _connection_lines(job) or ["   none (not running)"])
    _section(text, "Recent events", [f"   {line.text}" for line in log] or ["   none"])
    return text


def _section(text: Text, title: str, lines: list[str]) -> None:
    text.append(f"\n {title}\n", style="bold")
    for line in lines:
        text.append(line + "\n")
