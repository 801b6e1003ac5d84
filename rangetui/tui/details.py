"""The text of the details screen, built from one job snapshot.

Kept apart from the screen so that it is plain functions of immutable data: the
screen only decides when to call them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from rich.text import Text

from rangetui.core.download import ConnectionView, Phase
from rangetui.core.engine import JobSnapshot, LogLine
from rangetui.core.units import format_eta, format_rate, format_size

LABEL_WIDTH = 13
WINDOW_SECONDS = 3.0


@dataclass(frozen=True)
class Validators:
    """What tells a resumed download that the remote file is still the same one."""

    key: tuple[str | None, Phase] | None
    etag: str | None
    last_modified: str | None


@dataclass
class _Track:
    """Recent positions of one connection on its current range."""

    start: int
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def speed(self, now: float, pos: int) -> float:
        self.samples.append((now, pos))
        while len(self.samples) > 2 and now - self.samples[0][0] > WINDOW_SECONDS:
            self.samples.popleft()
        then, old = self.samples[0]
        return max(0.0, (pos - old) / (now - then)) if now > then else 0.0


@dataclass
class ConnectionSpeeds:
    """Per-connection speeds from successive positions (the engine reports only totals).

    Averaged over a few seconds: a connection reports progress once per buffer, so
    instant rates would swing between zero and a burst.
    """

    _tracks: dict[int, _Track] = field(default_factory=dict)

    def update(self, job: JobSnapshot, now: float) -> dict[int, float]:
        views = job.live.connections if job.live is not None else ()
        self._tracks = {v.wid: self._track(v) for v in views}
        return {v.wid: self._tracks[v.wid].speed(now, v.pos) for v in views}

    def _track(self, view: ConnectionView) -> _Track:
        track = self._tracks.get(view.wid)
        return track if track is not None and track.start == view.start else _Track(view.start)


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
    record = job.job
    if record.target:
        return record.target
    if record.output:
        return record.output
    return f"{record.directory}/ (name from the server)"


def _validators(v: Validators, status: Phase) -> str:
    parts = []
    if v.etag:
        parts.append(f"ETag {v.etag}")
    if v.last_modified:
        parts.append(f"Last-Modified {v.last_modified}")
    if parts:
        return " · ".join(parts)
    return "– (the server sent none)" if status is Phase.DONE else "– (none known yet)"


def _status(job: JobSnapshot) -> Text:
    status = Text(job.status.value, style="bold red" if job.status is Phase.FAILED else "bold")
    wanted = job.wanted_connections
    if job.live is not None:
        status.append(f" · {job.connections} of {wanted} connections")
    else:
        status.append(f" · {wanted} connections when running")
    return status


def _connection_lines(job: JobSnapshot, speeds: dict[int, float]) -> list[str]:
    views = job.live.connections if job.live is not None else ()
    return [
        f"   #{v.wid:<3} {format_size(v.start):>9} – {format_size(v.end):<9}"
        f" at {format_size(v.pos):>9}   {format_rate(speeds.get(v.wid, 0.0)):>10}"
        for v in views
    ]


def details_text(
    job: JobSnapshot, validators: Validators, speeds: dict[int, float], log: list[LogLine]
) -> Text:
    text = Text()
    text.append(f" {job.name}\n\n", style="bold underline")
    _row(text, "Status", _status(job))
    _row(text, "URL", job.url)
    _row(text, "Path", _path(job))
    _row(text, "Progress", _progress(job))
    _row(text, "Validators", _validators(validators, job.status))
    _row(text, "Retries", str(job.live.retries) if job.live is not None else "–")
    if job.job.error:
        _row(text, "Error", job.job.error, style="red")
    if job.live is not None and job.live.message:
        _row(text, "Message", job.live.message)
    _section(text, "Connections", _connection_lines(job, speeds) or ["   none (not running)"])
    _section(text, "Recent events", [f"   {line.text}" for line in log] or ["   none"])
    return text


def _section(text: Text, title: str, lines: list[str]) -> None:
    text.append(f"\n {title}\n", style="bold")
    for line in lines:
        text.append(line + "\n")
