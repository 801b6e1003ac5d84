"""The downloads of one engine: run each in a thread, stop it, learn how it ended.

Only the engine's scheduler thread starts, stops and reaps; any thread may ask for
the running downloads (to build a snapshot), which is why the table has a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rangetui.core.budget import HostBudget
from rangetui.core.download import Download
from rangetui.core.errors import Cancelled
from rangetui.core.jobs import Job
from rangetui.core.jobthreads import JobThreads
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.store import Store
from rangetui.core.types import DownloadSnapshot

Result = Path | BaseException


@dataclass
class _Running:
    download: Download
    cancel: threading.Event
    outcome: list[Result] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    """Set once the download's run has returned and its outcome is recorded."""
    remove_files: bool | None = None
    """Set when a remove waits for the thread to end: then delete the partial file too."""

    def stop(self) -> None:
        self.cancel.set()
        self.download.interrupt()


@dataclass(frozen=True)
class Ended:
    """A download that has ended: what it returned or raised, and its last state."""

    job_id: str
    result: Result
    last: DownloadSnapshot
    remove_files: bool | None


class Launcher:
    def __init__(
        self,
        store: Store,
        on_event: Callable[[str, str], None],
        on_end: Callable[[], None],
        shared_limit: RateLimiter | None = None,
        budget: HostBudget | None = None,
    ) -> None:
        self.store = store
        self.shared_limit = shared_limit
        self.budget = budget
        self._on_event = on_event
        self._on_end = on_end
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._threads = JobThreads()

    def __len__(self) -> int:
        return len(self._running)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._running

    def downloads(self) -> dict[str, Download]:
        with self._lock:
            return {job_id: r.download for job_id, r in self._running.items()}

    def launch(self, job: Job) -> None:
        output = Path(job.target) if job.target else (Path(job.output) if job.output else None)
        download = Download(
            job.url,
            mirrors=job.mirrors,
            output=output,
            directory=Path(job.directory),
            options=job.options,
            store=self.store,
            on_event=lambda text: self._on_event(job.id, text),
            shared_limit=self.shared_limit,
            budget=self.budget,
        )
        running = _Running(download, threading.Event())
        with self._lock:
            self._running[job.id] = running
        try:
            self._threads.run(lambda: self._run(running), then=self._on_end)
        except RuntimeError as e:  # no thread to be had: the job fails, the engine goes on
            running.outcome.append(e)
            running.done.set()
            self._on_end()

    def _run(self, running: _Running) -> None:
        try:
            running.outcome.append(running.download.run(running.cancel))
        except BaseException as e:  # recorded as the job's failure, never raised in a thread
            running.outcome.append(e)
        running.done.set()

    def stop(self, job_id: str, remove_files: bool | None = None) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.stop()
            if remove_files is not None:
                running.remove_files = remove_files

    def set_connections(self, job_id: str, count: int) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.download.set_connections(count)

    def set_limit_rate(self, job_id: str, rate: int | None) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.download.set_limit_rate(rate)

    def stop_all(self, timeout: float) -> None:
        """Signal every download, then wait for them together, up to ``timeout``."""
        for running in list(self._running.values()):
            running.stop()
        deadline = time.monotonic() + timeout
        for running in list(self._running.values()):
            running.done.wait(max(0.0, deadline - time.monotonic()))

    def ended(self, final: bool = False) -> list[Ended]:
        """The downloads that have ended (every one, when ``final``), removed. A download
        has ended once its outcome is recorded: the engine wakes on that and starts the
        next job at once, not a tick later."""
        done: list[Ended] = []
        for job_id, running in list(self._running.items()):
            if not running.outcome and not final:
                continue
            result = running.outcome[0] if running.outcome else Cancelled("stopped")
            last = running.download.snapshot(blocks=True)
            with self._lock:
                del self._running[job_id]
            done.append(Ended(job_id, result, last, running.remove_files))
        return done
