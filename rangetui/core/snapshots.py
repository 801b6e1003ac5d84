"""What front ends see: immutable snapshots of the queue and its log, and their JSON.

A snapshot is plain data built from the engine's records when a front end asks, so
that it can cross a thread or a socket. It never carries a header value or a URL's
userinfo: the URL is redacted when the snapshot is made, and options are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rangetui.core.intervals import MapSnapshot
from rangetui.core.jobs import Job
from rangetui.core.text import safe_or_none, terminal_safe
from rangetui.core.types import (
    ACTIVE,
    ConnectionView,
    DownloadSnapshot,
    Phase,
    SourceView,
    connections_note,
)
from rangetui.core.urls import redact

SNAPSHOT_VERSION = 1
LOG_LINES = 500
"""Recent log lines an engine keeps (and a client of a background engine)."""


class CodecError(ValueError):
    """A snapshot or command in JSON that this version cannot read."""


@dataclass(frozen=True)
class LogLine:
    """One event, keyed by job id: a job's name changes when its file is placed."""

    seq: int
    when: float
    job_id: str
    name: str
    text: str
    kind: str = "event"
    """"event": said by the download itself; "queue": said by the engine about the job."""


@dataclass(frozen=True)
class JobSnapshot:
    """One job as a front end shows it: the saved record merged with live progress."""

    id: str
    name: str
    url: str
    status: Phase
    directory: str
    output: str | None = None
    target: str | None = None
    size: int | None = None
    completed: int = 0
    speed: float = 0.0
    connection_views: tuple[ConnectionView, ...] = ()
    wanted_connections: int = 1
    connection_target: int = 0
    """How many connections the running download aims at now (0: not parallel)."""
    connection_reason: str = ""
    """Why (a ConnectionReason value); front ends word it with ``connection_note``."""
    limit_rate: int | None = None
    """The job's own speed limit (bytes/s), if it has one."""
    block_size: int = 1
    running: bool = False
    retries: int = 0
    message: str = ""
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    added: float = 0.0
    started: float | None = None
    finished: float | None = None
    blocks: MapSnapshot | None = None
    mirrors: tuple[str, ...] = ()
    """The job's other servers, redacted and terminal-safe."""
    sources: tuple[SourceView, ...] = ()
    """While it runs from several servers: each one's state, bytes and speed."""

    @property
    def connections(self) -> int:
        """The count's connections: a mirror's measuring one, on top, is not of them
        (``-t 8`` never reads "9 of 8")."""
        return sum(1 for v in self.connection_views if v.measured_mirror is None)

    @property
    def connection_note(self) -> str | None:
        """'4 connections: the server refused more', while a parallel download runs."""
        if not self.running or self.connection_target <= 0:
            return None
        return connections_note(
            self.connection_target, self.connection_reason, self.wanted_connections
        )

    @property
    def eta(self) -> float | None:
        size = self.size
        if size is None or self.speed <= 0:
            return None
        return max(0, size - self.completed) / self.speed

    @property
    def fraction(self) -> float | None:
        if self.status is Phase.DONE:
            return 1.0
        size = self.size
        return min(1.0, self.completed / size) if size else None


@dataclass(frozen=True)
class EngineSnapshot:
    jobs: tuple[JobSnapshot, ...]
    log: tuple[LogLine, ...]
    max_jobs: int
    limit_rate: int | None = None
    version: int = 0
    detail: frozenset[str] = field(default_factory=frozenset)
    """The jobs whose block maps this snapshot carries (what the front end asked for)."""

    @property
    def speed(self) -> float:
        return sum(j.speed for j in self.jobs)

    def count(self, *statuses: Phase) -> int:
        return sum(1 for j in self.jobs if j.status in statuses)

    @property
    def going_on(self) -> int:  # jobs running or waiting to run: work still to do
        return self.count(Phase.QUEUED, *ACTIVE)

    def find(self, job_id: str) -> JobSnapshot | None:
        return next((j for j in self.jobs if j.id == job_id), None)


def job_snapshot(
    job: Job, live: DownloadSnapshot | None, stored: MapSnapshot | None, detail: bool
) -> JobSnapshot:
    """The saved record, with the running download's figures where it has them."""
    status = job.status
    if live is not None and status not in (Phase.PAUSED, Phase.QUEUED):
        status = live.phase
    target = (live.target if live is not None else None) or job.target
    size = live.size if live is not None and live.size is not None else job.size
    return JobSnapshot(
        id=job.id,
        name=terminal_safe(job.name_for(target)),
        url=terminal_safe(redact(job.url)),
        status=status,
        directory=terminal_safe(job.directory),
        output=safe_or_none(job.output),
        target=safe_or_none(target),
        size=size,
        completed=live.completed if live is not None else job.completed,
        speed=live.speed if live is not None and status is Phase.DOWNLOADING else 0.0,
        connection_views=live.connections if live is not None else (),
        wanted_connections=job.options.connections,
        connection_target=live.connection_target if live is not None else 0,
        connection_reason=live.connection_reason if live is not None else "",
        limit_rate=job.options.limit_rate,
        block_size=job.options.block_size,
        running=live is not None,
        retries=live.retries if live is not None else 0,
        message=terminal_safe(live.message) if live is not None else "",
        error=safe_or_none(job.error or _live_failure(status, live)),
        etag=safe_or_none((live.etag if live is not None else None) or job.etag),
        last_modified=safe_or_none(
            (live.last_modified if live is not None else None) or job.last_modified
        ),
        added=job.added,
        started=job.started,
        finished=job.finished,
        blocks=_blocks(status, size, live, stored) if detail else None,
        mirrors=tuple(terminal_safe(redact(m)) for m in job.mirrors),
        sources=tuple(
            SourceView(terminal_safe(v.url), v.live, v.received, v.rate, v.connections)
            for v in (live.sources if live is not None else ())
        ),
    )


def _live_failure(status: Phase, live: DownloadSnapshot | None) -> str | None:
    """A download that has failed but is not reaped yet: its own message is the error
    (else `get`, which stops at FAILED, would print the record's error: None)."""
    return live.message if live is not None and status is Phase.FAILED else None


def _blocks(
    status: Phase, size: int | None, live: DownloadSnapshot | None, stored: MapSnapshot | None
) -> MapSnapshot | None:
    if status is Phase.DONE and size is not None:
        return MapSnapshot.complete(size)
    if live is not None and live.blocks is not None:
        return live.blocks
    return stored


# -- JSON codec ---------------------------------------------------------------------


def map_to_json(blocks: MapSnapshot | None) -> dict[str, Any] | None:
    if blocks is None:
        return None
    return {
        "size": blocks.size,
        "done": [list(i) for i in blocks.done_intervals],
        "active": [list(i) for i in blocks.active],
        "completed": blocks.completed,
    }


def map_from_json(data: Any) -> MapSnapshot | None:
    if data is None:
        return None
    return MapSnapshot(
        size=int(data["size"]),
        done_intervals=tuple((int(a), int(b)) for a, b in data["done"]),
        active=tuple((int(a), int(b)) for a, b in data["active"]),
        completed=int(data["completed"]),
    )


def job_to_json(job: JobSnapshot) -> dict[str, Any]:
    """The fields of ``rangetui ls --json`` and more: ``connections`` is a count."""
    return {
        "id": job.id,
        "name": job.name,
        "url": job.url,
        "status": job.status.value,
        "directory": job.directory,
        "output": job.output,
        "target": job.target,
        "size": job.size,
        "completed": job.completed,
        "speed": job.speed,
        "connections": job.connections,
        "connection_views": [[v.wid, v.start, v.pos, v.end, v.rate] for v in job.connection_views],
        "wanted_connections": job.wanted_connections,
        "connection_target": job.connection_target,
        "connection_reason": job.connection_reason,
        "limit_rate": job.limit_rate,
        "block_size": job.block_size,
        "running": job.running,
        "retries": job.retries,
        "message": job.message,
        "error": job.error,
        "etag": job.etag,
        "last_modified": job.last_modified,
        "added": job.added,
        "started": job.started,
        "finished": job.finished,
        "blocks": map_to_json(job.blocks),
        "mirrors": list(job.mirrors),
        "sources": [[v.url, v.live, v.received, v.rate, v.connections] for v in job.sources],
    }


def job_from_json(data: dict[str, Any]) -> JobSnapshot:
    views = tuple(
        ConnectionView(int(w), int(s), int(p), int(e), float(r))
        for w, s, p, e, r in data["connection_views"]
    )
    return JobSnapshot(
        id=str(data["id"]),
        name=str(data["name"]),
        url=str(data["url"]),
        status=Phase(data["status"]),
        directory=str(data["directory"]),
        output=_opt_str(data["output"]),
        target=_opt_str(data["target"]),
        size=_opt_int(data["size"]),
        completed=int(data["completed"]),
        speed=float(data["speed"]),
        connection_views=views,
        wanted_connections=int(data["wanted_connections"]),
        connection_target=int(data.get("connection_target", 0)),
        connection_reason=str(data.get("connection_reason", "")),
        limit_rate=_opt_int(data.get("limit_rate")),
        block_size=int(data["block_size"]),
        running=bool(data["running"]),
        retries=int(data["retries"]),
        message=str(data["message"]),
        error=_opt_str(data["error"]),
        etag=_opt_str(data["etag"]),
        last_modified=_opt_str(data["last_modified"]),
        added=float(data["added"]),
        started=_opt_float(data["started"]),
        finished=_opt_float(data["finished"]),
        blocks=map_from_json(data["blocks"]),
        mirrors=tuple(str(m) for m in data.get("mirrors", ())),
        sources=tuple(
            SourceView(str(u), bool(live), int(n), float(r), int(c))
            for u, live, n, r, c in data.get("sources", ())
        ),
    )


def log_to_json(line: LogLine) -> list[Any]:
    return [line.seq, line.when, line.job_id, line.name, line.text, line.kind]


def log_from_json(data: list[Any]) -> LogLine:
    seq, when, job_id, name, text, kind = data
    return LogLine(int(seq), float(when), str(job_id), str(name), str(text), str(kind))


def snapshot_to_json(snap: EngineSnapshot) -> dict[str, Any]:
    return {
        "v": SNAPSHOT_VERSION,
        "jobs": [job_to_json(j) for j in snap.jobs],
        "log": [log_to_json(line) for line in snap.log],
        "max_jobs": snap.max_jobs,
        "limit_rate": snap.limit_rate,
        "version": snap.version,
        "detail": sorted(snap.detail),
    }


def snapshot_from_json(data: Any) -> EngineSnapshot:
    """Raises CodecError for anything but a snapshot of this version, whole."""
    if not isinstance(data, dict) or data.get("v") != SNAPSHOT_VERSION:
        raise CodecError("not a snapshot of this version")
    try:
        return EngineSnapshot(
            jobs=tuple(job_from_json(j) for j in data["jobs"]),
            log=tuple(log_from_json(line) for line in data["log"]),
            max_jobs=int(data["max_jobs"]),
            limit_rate=_opt_int(data["limit_rate"]),
            version=int(data["version"]),
            detail=frozenset(str(d) for d in data["detail"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CodecError(f"a damaged snapshot: {type(e).__name__}") from None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
