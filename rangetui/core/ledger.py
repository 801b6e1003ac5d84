"""The engine's records: jobs, the maps shown for jobs not running, the log, a version.

The scheduler thread changes them; any thread reads them, under one short lock, to
build a snapshot. Jobs are immutable records, replaced whole, so a copy of the list
is a consistent view.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Container
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rangetui.core.blockmap import BlockMap
from rangetui.core.intervals import MapSnapshot
from rangetui.core.jobs import Job
from rangetui.core.snapshots import LOG_LINES, EngineSnapshot, JobSnapshot, LogLine, job_snapshot
from rangetui.core.store import CorruptState, Store
from rangetui.core.text import terminal_safe
from rangetui.core.types import Phase

LOGGER = "rangetui"
_log = logging.getLogger(LOGGER)
"""The front end decides where this goes (rangetui/logfile.py); the core only says it."""

if TYPE_CHECKING:
    from rangetui.core.download import Download


class Ledger:
    def __init__(self) -> None:
        self._jobs: list[Job] = []
        self._where: dict[str, int] = {}
        """Each job's index in ``_jobs``: a queue of thousands of URLs (get -i) is looked
        up several times per file, and a scan each time made it quadratic."""
        self._pending: list[Job] = []
        self._maps: dict[str, MapSnapshot] = {}
        self._log: deque[LogLine] = deque(maxlen=LOG_LINES)
        self._seq = 0
        self._version = 0
        self._cached: EngineSnapshot | None = None
        self._snaps: list[JobSnapshot | None] = []
        """Each job's last snapshot, in queue order: None while its record is newer. A
        snapshot rebuilds only those, the running ones and the detailed ones, so a queue
        of thousands of URLs (get -i) costs the jobs that changed, not all of them."""
        self._stale: set[str] = set()
        """The jobs whose entry in ``_snaps`` is None."""
        self._first_queued = 0
        """No job before this index is queued: the scheduler looks from here."""
        self._same_file: dict[_FileKey, list[str]] = {}
        """The jobs of each URL and place, for the twin check of every add."""
        self._lock = threading.Lock()
        self.dirty = False

    # -- jobs ------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def find(self, job_id: str) -> Job | None:
        with self._lock:
            return self._find(job_id)

    def _find(self, job_id: str) -> Job | None:
        index = self._where.get(job_id)
        return self._jobs[index] if index is not None else None

    def _reindex(self) -> None:
        self._where = {job.id: index for index, job in enumerate(self._jobs)}
        self._same_file = {}
        for job in self._jobs:
            self._same_file.setdefault(_file_key(job), []).append(job.id)

    def load(self, jobs: list[Job]) -> None:
        with self._lock:
            self._jobs = list(jobs)
            self._reindex()
            self._snaps = [None] * len(self._jobs)
            self._stale = set(self._where)
            self._first_queued = 0
            self._changed()

    def expect(self, job: Job) -> None:
        """An accepted Add that the scheduler has not appended yet (for the twin check)."""
        with self._lock:
            self._pending.append(job)

    def append(self, job: Job) -> None:
        with self._lock:
            if job in self._pending:
                self._pending.remove(job)
            self._where[job.id] = len(self._jobs)
            self._jobs.append(job)
            self._same_file.setdefault(_file_key(job), []).append(job.id)
            self._snaps.append(None)
            self._record_changed(job, len(self._jobs) - 1)

    def replace(self, job: Job) -> None:
        with self._lock:
            index = self._where.get(job.id)
            if index is not None:
                self._jobs[index] = job
                self._snaps[index] = None
                self._record_changed(job, index)

    def move(self, job_id: str, offset: int) -> bool:
        """Move a job ``offset`` places in the queue (clamped to its ends)."""
        with self._lock:
            index = self._where.get(job_id)
            if index is None:
                return False
            to = max(0, min(len(self._jobs) - 1, index + offset))
            if to == index:
                return False
            self._jobs.insert(to, self._jobs.pop(index))
            self._snaps.insert(to, self._snaps.pop(index))
            self._reindex()
            self._first_queued = 0
            self._changed()
            return True

    def remove(self, job: Job) -> None:
        with self._lock:
            index = self._where.get(job.id)
            if index is not None:
                del self._jobs[index], self._snaps[index]
            self._stale.discard(job.id)
            self._reindex()
            self._first_queued = 0
            self._maps.pop(job.id, None)
            self._changed()

    def unfinished_twin(self, job: Job, running: dict[str, Download]) -> Job | None:
        """The same URL into the same place, not yet done (queued, running or pending).
        A download that has ended well but is not reaped yet is done: a front end has
        already shown it so."""
        key = _file_key(job)
        with self._lock:
            same = [self._jobs[self._where[i]] for i in self._same_file.get(key, ())]
            others = [*same, *(p for p in self._pending if _file_key(p) == key)]
        for other in others:
            if other.status is Phase.DONE:
                continue
            live = running.get(other.id)
            if live is None or live.snapshot(blocks=False).phase is not Phase.DONE:
                return other
        return None

    def show_saved_map(self, job: Job, store: Store) -> None:
        """At start-up: the saved map of a job not running, for its heatmap."""
        if job.target is None or job.status is Phase.DONE:
            return
        try:
            state = store.load_map(Path(job.target))
        except CorruptState as e:
            self.note(job.id, str(e), "queue")
            return
        if state is not None and state.remote.size is not None:
            bmap = BlockMap(state.remote.size, state.block_size, state.done)
            self.keep_map(job.id, bmap.snapshot())

    def keep_map(self, job_id: str, blocks: MapSnapshot) -> None:
        with self._lock:
            self._maps[job_id] = blocks
            self._version += 1

    def _record_changed(self, job: Job, index: int) -> None:
        """Lock held: ``job`` at ``index`` is a new record."""
        self._stale.add(job.id)
        if job.status is Phase.QUEUED:
            self._first_queued = min(self._first_queued, index)
        self._changed()

    def queued(self, count: int, running: Container[str]) -> list[Job]:
        """The first ``count`` queued jobs not ``running``, in queue order."""
        found: list[Job] = []
        with self._lock:
            jobs, index = self._jobs, self._first_queued
            while index < len(jobs) and jobs[index].status is not Phase.QUEUED:
                index += 1  # done, failed or running: none before them is queued either
            self._first_queued = index
            while index < len(jobs) and len(found) < count:
                job = jobs[index]
                if job.status is Phase.QUEUED and job.id not in running:
                    found.append(job)
                index += 1
        return found

    def _changed(self) -> None:
        """Lock held: the next snapshot is new and the queue needs saving."""
        self._version += 1
        self.dirty = True

    # -- the log ---------------------------------------------------------------------

    def note(self, job_id: str, text: str, kind: str = "event") -> None:
        """Any thread: a download's own events arrive from its threads."""
        with self._lock:
            job = self._find(job_id)
            name = terminal_safe(job.name) if job is not None else ""
            self._seq += 1
            line = LogLine(self._seq, time.time(), job_id, name, terminal_safe(text), kind)
            self._log.append(line)
            self._version += 1
        _log.info("%s %s%s", job_id or "-", f"{name}: " if name else "", line.text)

    # -- reading ---------------------------------------------------------------------

    def progress(self, running: dict[str, Download]) -> list[Job]:
        """Bring running jobs' records up to date (sizes, progress, validators) to save."""
        with self._lock:
            for job_id, download in running.items():
                index = self._where.get(job_id)
                if index is not None:
                    job = self._jobs[index]
                    self._jobs[index] = job.with_progress(download.snapshot(blocks=False))
            self.dirty = False
            return list(self._jobs)

    def snapshot(
        self,
        detail: frozenset[str],
        running: dict[str, Download],
        max_jobs: int,
        limit_rate: int | None = None,
    ) -> EngineSnapshot:
        """Built on the caller's thread; block maps only for the jobs in ``detail``.
        Reused while nothing runs and nothing changed."""
        with self._lock:
            cached = self._cached
            same = (self._version, detail, max_jobs, limit_rate)
            if cached is not None and not running and _key(cached) == same:
                return cached
            snaps = list(self._snaps)
            redo = {
                job_id: (index, self._jobs[index])
                for job_id in (*self._stale, *running, *detail)
                if (index := self._where.get(job_id)) is not None
            }
            maps = {job_id: self._maps.get(job_id) for job_id in detail}
            log = tuple(self._log)
            version = self._version
        kept: list[tuple[int, Job, JobSnapshot]] = []
        for job_id, (index, job) in redo.items():
            download = running.get(job_id)
            wanted = job_id in detail
            live = download.snapshot(blocks=wanted) if download is not None else None
            made = snaps[index] = job_snapshot(job, live, maps.get(job_id), wanted)
            if download is None and not wanted:
                kept.append((index, job, made))
        jobs = cast(tuple[JobSnapshot, ...], tuple(snaps))  # every None was in ``_stale``
        snap = EngineSnapshot(jobs, log, max_jobs, limit_rate, version, detail)
        with self._lock:
            self._cached = snap
            for index, job, made in kept:  # for the next snapshot, unless it changed since
                if index < len(self._jobs) and self._jobs[index] is job:
                    self._snaps[index] = made
                    self._stale.discard(job.id)
        return snap


_FileKey = tuple[str, str, str | None]


def _file_key(job: Job) -> _FileKey:
    """Never changes in a job's life: a replaced record keeps its place in the index."""
    return (job.url, job.directory, job.output)


def _key(snap: EngineSnapshot) -> tuple[int, frozenset[str], int, int | None]:
    return (snap.version, snap.detail, snap.max_jobs, snap.limit_rate)
