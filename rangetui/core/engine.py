"""Runs the queue: commands in, immutable snapshots out.

Front ends never touch a running download. They call :meth:`Engine.execute` (which
only checks and enqueues) and read :meth:`Engine.snapshot`. One scheduler thread
applies the commands, starts up to ``max_jobs`` downloads in queue order, notices
when they end and saves the queue. The same engine serves the TUI (a saved queue,
one owner per state dir) and ``rangetui get`` (a queue in memory, no lock).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from rangetui.core.api import (
    Add,
    Command,
    CommandMethods,
    Move,
    Pause,
    Remove,
    Resume,
    SetConnections,
    SetLimit,
    SetMaxJobs,
)
from rangetui.core.budget import DEFAULT_PER_HOST, HostBudget
from rangetui.core.errors import Cancelled, failure_message
from rangetui.core.jobs import Job, JobList
from rangetui.core.launcher import Launcher, Result
from rangetui.core.ledger import Ledger
from rangetui.core.queuesaver import QueueSaver
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.snapshots import EngineSnapshot
from rangetui.core.statelock import EngineLocked, StateLock, delete_partial
from rangetui.core.store import Store
from rangetui.core.types import ACTIVE, Phase
from rangetui.core.units import format_size
from rangetui.core.urls import check_url, redact

SCHEDULER_TICK = 0.1
MAX_CONNECTIONS = 64

__all__ = ["ACTIVE", "Engine", "EngineLocked"]


@dataclass(frozen=True)
class _Append:
    """An accepted Add, with the job record (and id) already made on the caller's side."""

    job: Job


class Engine(CommandMethods):
    """The queue's owner. Thread-safe ``execute`` and ``snapshot``; one scheduler thread."""

    def __init__(
        self,
        store: Store | None = None,
        max_jobs: int = 3,
        joblist: JobList | None = None,
        max_per_host: int = DEFAULT_PER_HOST,
    ) -> None:
        self.store = store or Store()
        self.max_jobs = max(1, max_jobs)
        self.budget = HostBudget(max_per_host)
        self._joblist = joblist or JobList(self.store)
        self._state_lock = StateLock(self.store.root) if self._joblist.persistent else None
        self._ledger = Ledger()
        self._saver = QueueSaver(self._joblist, self._ledger)
        self.limit_rate: int | None = None
        """The speed limit all downloads share (bytes/s), besides each job's own."""
        self._shared_limit = RateLimiter(None)
        self._launcher = Launcher(
            self.store,
            self._ledger.note,
            self._wake_up,
            shared_limit=self._shared_limit,
            budget=self.budget,
        )
        self._commands: queue.SimpleQueue[Command | _Append] = queue.SimpleQueue()
        self._wake = threading.Event()
        self.ended = threading.Event()  # a job's outcome is recorded: wake a waiting front end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_after_reap: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Take the state dir's lock (a saved queue only), load the queue, start."""
        if self._state_lock is not None:
            self._state_lock.acquire()
        jobs, note = self._joblist.load()
        if note:
            self._ledger.note("", note, "queue")
        self._ledger.load([job.revived() for job in jobs])
        self._ledger.dirty = False
        for job in jobs:
            self._ledger.show_saved_map(job, self.store)
        self._thread = threading.Thread(target=self._loop, name="rangetui-engine", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every download (their maps are saved), save the queue, release the lock."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._launcher.stop_all(timeout)
        self._reap(final=True)
        self.budget.idle.close()
        self._saver.save(self._launcher.downloads())
        if self._state_lock is not None:
            self._state_lock.release()

    def detach(self) -> None:
        """Nobody else runs this engine: the front end leaving stops it."""
        self.shutdown()

    # -- the front-end interface (any thread) ------------------------------------------

    def execute(self, command: Command) -> str | None:
        """Enqueue ``command``; an Add is checked here and returns its job's id at once."""
        if isinstance(command, Add):
            return self._accept(command)
        self._commands.put(command)
        self._wake.set()
        return None

    def _accept(self, command: Add) -> str:
        """Raises DownloadError at once for what is plainly not a URL. In a saved queue,
        the same URL into the same place while an earlier job for it is unfinished is that
        job (``rangetui URL`` run twice must not start a rival download)."""
        for url in (command.url, *command.mirrors):
            check_url(url)
        output = Path(command.output) if command.output is not None else None
        job = Job.new(
            command.url, Path(command.directory), output, command.options, command.mirrors
        )
        running = self._launcher.downloads()
        twin = self._ledger.unfinished_twin(job, running) if self._joblist.persistent else None
        if twin is not None:
            self._ledger.note(twin.id, "already in the queue", "queue")
            return twin.id
        if command.paused:
            job = job.with_changes(status=Phase.PAUSED)
        self._ledger.expect(job)
        self._commands.put(_Append(job))
        self._wake.set()
        return job.id

    def snapshot(self, detail: frozenset[str] = frozenset()) -> EngineSnapshot:
        """The queue now, with block maps only for the jobs in ``detail``."""
        downloads = self._launcher.downloads()
        return self._ledger.snapshot(detail, downloads, self.max_jobs, self.limit_rate)

    @property
    def active_downloads(self) -> int:
        """Downloads still running (a stopped one may take a moment to end)."""
        return len(self._launcher)

    def wait_idle(self, timeout: float) -> bool:
        """Until no job is queued or running (tests, `--exit-when-done`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot()
            if not self._launcher and not snap.going_on:
                time.sleep(SCHEDULER_TICK)
                if not self._launcher and self._commands.empty():
                    return True
            time.sleep(SCHEDULER_TICK / 2)
        return False

    # -- scheduler thread ------------------------------------------------------------

    def _wake_up(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            asked = self._apply_commands()
            self._reap()
            self._start_queued()
            if self._saver.due(asked, bool(self._launcher)):
                self._saver.save(self._launcher.downloads())
            self._wake.wait(SCHEDULER_TICK)

    def _apply_commands(self) -> bool:
        """Whether there was any."""
        applied = False
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return applied
            self._apply(command)
            applied = True

    def _apply(self, command: Command | _Append) -> None:
        match command:
            case _Append(job):
                self._ledger.append(job)
                self._ledger.note(job.id, f"added {redact(job.url)}", "queue")
            case Pause(str() as job_id):
                self._pause(job_id)
            case Pause():
                self._for_each(self._pause)
            case Resume(str() as job_id):
                self._resume(job_id)
            case Resume():
                self._for_each(self._resume)
            case Remove(job_id, delete_partial):
                self._remove(job_id, delete_partial)
            case SetConnections(job_id, count):
                self._set_connections(job_id, count)
            case SetMaxJobs(count):
                self.max_jobs = max(1, min(MAX_CONNECTIONS, count))
                self._ledger.note("", f"at most {self.max_jobs} downloads at once", "queue")
            case SetLimit(job_id, rate):
                self._set_limit(job_id, rate if rate is not None and rate > 0 else None)
            case Move(job_id, offset):
                self._ledger.move(job_id, offset)
            case Add():
                raise AssertionError("an Add is accepted by execute, never queued")

    def _for_each(self, action: Callable[[str], None]) -> None:
        for job in self._ledger.jobs():
            action(job.id)

    def _pause(self, job_id: str) -> None:
        job = self._ledger.find(job_id)
        if job is not None and job.status in (Phase.QUEUED, *ACTIVE):
            self._ledger.replace(job.with_changes(status=Phase.PAUSED))
            self._launcher.stop(job_id)
            self._ledger.note(job.id, "paused", "queue")

    def _resume(self, job_id: str) -> None:
        """A front end may show a job failed (its download's own phase) a moment before
        the engine has reaped it: a retry asked for then is kept for that moment."""
        job = self._ledger.find(job_id)
        if job is not None and job.status in ACTIVE and job_id in self._launcher:
            self._retry_after_reap.add(job_id)
        if job is not None and job.status in (Phase.PAUSED, Phase.FAILED):
            self._ledger.replace(job.with_changes(status=Phase.QUEUED, error=None))
            said = "retrying" if job.status is Phase.FAILED else "resumed"
            self._ledger.note(job.id, said, "queue")

    def _remove(self, job_id: str, delete: bool) -> None:
        job = self._ledger.find(job_id)
        if job is None:
            return
        said = "removed" + (" with its partial file" if delete else "")
        self._ledger.note(job.id, said, "queue")
        self._ledger.remove(job)
        if job_id in self._launcher:
            self._launcher.stop(job_id, remove_files=delete)
        elif delete and job.status is not Phase.DONE:
            self._delete_partial(job.id, job.target)

    def _set_connections(self, job_id: str, count: int) -> None:
        job = self._ledger.find(job_id)
        if job is None:
            return
        count = max(1, min(MAX_CONNECTIONS, count))
        self._ledger.replace(job.with_changes(options=job.options.with_connections(count)))
        self._launcher.set_connections(job_id, count)
        self._ledger.note(job.id, f"{count} connections", "queue")

    def _set_limit(self, job_id: str | None, rate: int | None) -> None:
        """At once for running downloads; a job's own limit is saved with it."""
        said = f"speed limit {format_size(rate)}/s" if rate else "no speed limit"
        if job_id is None:
            self.limit_rate = rate
            self._shared_limit.set_rate(rate)
            self._ledger.note("", f"{said} for all downloads", "queue")
            return
        job = self._ledger.find(job_id)
        if job is None:
            return
        self._ledger.replace(job.with_changes(options=replace(job.options, limit_rate=rate)))
        self._launcher.set_limit_rate(job_id, rate)
        self._ledger.note(job.id, said, "queue")

    def _delete_partial(self, job_id: str, target: str | None) -> None:
        """Only ever the .part file and its map, and never one another job is writing."""
        if target is None or any(j.target == target for j in self._ledger.jobs()):
            return
        if not delete_partial(self.store, target):
            said = "kept the partial file: another download is using it"
            self._ledger.note(job_id, said, "queue")

    def _start_queued(self) -> None:
        free = self.max_jobs - len(self._launcher)
        for job in self._ledger.queued(free, self._launcher) if free > 0 else ():
            self._launcher.launch(job)
            started = job.with_changes(status=Phase.PROBING, error=None, started=time.time())
            self._ledger.replace(started)

    def _reap(self, final: bool = False) -> None:
        """Record the outcome of downloads whose thread has ended."""
        for ended in self._launcher.ended(final):
            job = self._ledger.find(ended.job_id)
            if job is None:  # removed while running
                if ended.remove_files:
                    self._delete_partial(ended.job_id, ended.last.target)
                continue
            if ended.last.blocks is not None:
                self._ledger.keep_map(job.id, ended.last.blocks)
            self._ledger.replace(self._outcome(job.with_progress(ended.last), ended.result))
            self.ended.set()

    def _outcome(self, job: Job, result: Result) -> Job:
        if isinstance(result, Path):
            self._ledger.note(job.id, f"done: {result}", "queue")
            done = job.with_changes(target=str(result), completed=job.size or job.completed)
            return done.with_changes(status=Phase.DONE, finished=time.time(), error=None)
        if isinstance(result, Cancelled):
            if job.status not in ACTIVE:
                return job
            # stopped by quitting, not by the user: run again next time
            return job.with_changes(status=Phase.QUEUED if self._stop.is_set() else Phase.PAUSED)
        message = failure_message(result)
        self._ledger.note(job.id, f"failed: {message}", "queue")
        if job.id in self._retry_after_reap:
            self._retry_after_reap.discard(job.id)
            self._ledger.note(job.id, "retrying", "queue")
            return job.with_changes(status=Phase.QUEUED, error=None)
        return job.with_changes(status=Phase.FAILED, error=message, finished=time.time())
