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
from pathlib import Path
from typing import TYPE_CHECKING

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
        self._still: dict[str, tuple[Job, JobSnapshot]] = {}
        """The last snapshot of each job that is not running, by the record it was built
        from: records are immutable, so the same record gives the same snapshot. A queue
        of 200 files then costs the running ones per tick, not all 200."""
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

    def load(self, jobs: list[Job]) -> None:
        with self._lock:
            self._jobs = list(jobs)
            self._reindex()
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
            self._changed()

    def replace(self, job: Job) -> None:
        with self._lock:
            index = self._where.get(job.id)
            if index is not None:
                self._jobs[index] = job
                self._changed()

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
            self._reindex()
            self._changed()
            return True

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs = [j for j in self._jobs if j.id != job.id]
            self._reindex()
            self._maps.pop(job.id, None)
            self._changed()

    def unfinished_twin(self, job: Job, running: dict[str, Download]) -> Job | None:
        """The same URL into the same place, not yet done (queued, running or pending).
        A download that has ended well but is not reaped yet is done: a front end has
        already shown it so."""
        key = (job.url, job.directory, job.output)
        with self._lock:
            others = [*self._jobs, *self._pending]
        for other in others:
            if (other.url, other.directory, other.output) != key or other.status is Phase.DONE:
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
            jobs = tuple(self._jobs)
            maps = {job_id: self._maps.get(job_id) for job_id in detail}
            log = tuple(self._log)
            version = self._version
        snaps = []
        still: dict[str, tuple[Job, JobSnapshot]] = {}
        for job in jobs:
            download = running.get(job.id)
            wanted = job.id in detail
            if download is None and not wanted:
                kept = self._still.get(job.id)
                made = kept[1] if kept and kept[0] is job else job_snapshot(job, None, None, False)
                still[job.id] = (job, made)
                snaps.append(made)
                continue
            live = download.snapshot(blocks=wanted) if download is not None else None
            snaps.append(job_snapshot(job, live, maps.get(job.id), wanted))
        snap = EngineSnapshot(tuple(snaps), log, max_jobs, limit_rate, version, detail)
        with self._lock:
            self._cached = snap
            self._still = still
        return snap


def _key(snap: EngineSnapshot) -> tuple[int, frozenset[str], int, int | None]:
    return (snap.version, snap.detail, snap.max_jobs, snap.limit_rate)
