"""The persistent queue: what each job is, and how the list of jobs is saved.

A job record holds what is needed to run the download again after a restart (URL,
where to, options) and what to show before it runs (status, size, progress). The
block map itself lives in the store, keyed by the target path, as for `get`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rangetui.core.naming import filename_from_url
from rangetui.core.store import CorruptState, Store, atomic_write_json, read_json
from rangetui.core.types import (
    ACTIVE,
    DownloadSnapshot,
    Options,
    Phase,
    options_from_json,
    options_to_json,
)

QUEUE_VERSION = 2
"""The job records' own version, inside the store's envelope. 1: before --fixed, when
every job used exactly its -t connections; 2: ``options.fixed`` says whether it does,
``options.lowest_speed`` holds a --lowest-speed-limit and ``options.max_filesize`` a
--max-filesize (none before)."""


def migrate(item: dict[str, Any], version: int) -> dict[str, Any]:
    """A saved job record brought up to QUEUE_VERSION. A version-1 job was saved before
    counts adapted: it had no say, so it gets today's default (adaptive, -t the most)."""
    if not isinstance(item, dict):
        raise TypeError("a job record is an object")
    if version < 2:
        options = dict(item.get("options") or {})
        options.setdefault("fixed", False)
        options.setdefault("lowest_speed", None)
        options.setdefault("max_filesize", None)
        item = {**item, "options": options}
    return item


@dataclass(frozen=True)
class Job:
    """One queued download as saved on disk. Immutable: the engine replaces it on change."""

    id: str
    url: str
    directory: str
    output: str | None
    options: Options
    status: Phase = Phase.QUEUED
    target: str | None = None
    size: int | None = None
    completed: int = 0
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    added: float = field(default_factory=time.time)
    finished: float | None = None
    started: float | None = None
    mirrors: tuple[str, ...] = ()
    """Other servers of the same file (schema 2)."""

    @classmethod
    def new(
        cls,
        url: str,
        directory: Path,
        output: Path | None,
        options: Options,
        mirrors: tuple[str, ...] = (),
    ) -> Job:
        return cls(
            id=uuid.uuid4().hex[:12],
            url=url,
            directory=str(directory.expanduser().absolute()),
            output=str(output) if output is not None else None,
            options=options,
            mirrors=mirrors,
        )

    @property
    def name(self) -> str:
        return self.name_for(self.target)

    def name_for(self, target: str | None) -> str:
        """The name shown for this job once its file is (or would be) at ``target``."""
        if target:
            return Path(target).name
        if self.output:
            return Path(self.output).name
        try:
            host = urlsplit(self.url).hostname
        except ValueError:
            host = None
        return filename_from_url(self.url) or host or "download"

    def with_changes(self, **changes: Any) -> Job:
        return replace(self, **changes)

    def revived(self) -> Job:
        """As a new process finds it: a job that was running when the last one ended
        runs again; a paused one stays paused."""
        return replace(self, status=Phase.QUEUED) if self.status in ACTIVE else self

    def with_progress(self, live: DownloadSnapshot) -> Job:
        """The record brought up to date from its running download (what is saved)."""
        return replace(
            self,
            target=live.target or self.target,
            size=live.size if live.size is not None else self.size,
            completed=live.completed,
            etag=live.etag or self.etag,
            last_modified=live.last_modified or self.last_modified,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = options_to_json(self.options)
        data["status"] = self.status.value
        data["mirrors"] = list(self.mirrors)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        fields = dict(data)
        fields["options"] = options_from_json(fields["options"])
        fields["status"] = Phase(fields["status"])
        fields["mirrors"] = tuple(str(m) for m in fields.get("mirrors", ()))
        return cls(**fields)


class JobList:
    """Load and save the queue file (``queue.json`` under the state root)."""

    persistent = True

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def path(self) -> Path:
        return self.store.root / "queue.json"

    def load(self) -> tuple[list[Job], str | None]:
        """The saved jobs and, if the file was damaged and set aside, a message saying so."""
        try:
            data = read_json(self.path)
        except CorruptState as e:
            return [], str(e)
        if data is None:
            return [], None
        jobs: list[Job] = []
        skipped = 0
        version = data.get("version", 1) if isinstance(data, dict) else 1
        for item in data.get("jobs", []) if isinstance(data, dict) else []:
            try:
                jobs.append(Job.from_json(migrate(item, int(version))))
            except (KeyError, TypeError, ValueError):
                skipped += 1
        note = f"skipped {skipped} unreadable job(s) in {self.path}" if skipped else None
        return jobs, note

    def save(self, jobs: list[Job]) -> None:
        data = {"version": QUEUE_VERSION, "jobs": [job.to_json() for job in jobs]}
        atomic_write_json(self.path, data)


class MemoryJobList(JobList):
    """A queue that lives as long as its process: ``rangetui get`` on the same engine."""

    persistent = False

    def load(self) -> tuple[list[Job], str | None]:
        return [], None

    def save(self, jobs: list[Job]) -> None:
        return None
