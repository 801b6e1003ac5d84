"""Runs the queue: commands in, immutable snapshots out.

Front ends never touch a running download. They call the command methods (which
only enqueue) and read :meth:`Engine.snapshot`. One scheduler thread applies the
commands, starts up to ``max_jobs`` downloads in queue order, notices when they end
and saves the queue. Each download runs in its own thread with its own cancel event.
"""

from __future__ import annotations

import fcntl
import functools
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from rangetui.core.blockmap import BlockMap, MapSnapshot
from rangetui.core.download import Download, DownloadSnapshot, Options, Phase
from rangetui.core.errors import Cancelled, DownloadError
from rangetui.core.http import check_url, redact
from rangetui.core.jobs import Job, JobList
from rangetui.core.naming import PART_SUFFIX
from rangetui.core.store import CorruptState, Store, ensure_private_dir

SCHEDULER_TICK = 0.1
SAVE_SECONDS = 1.0
LOG_LINES = 500
ACTIVE = (Phase.PROBING, Phase.DOWNLOADING, Phase.VERIFYING)


class EngineLocked(Exception):
    """Another rangetui process drives this state dir."""


@dataclass(frozen=True)
class LogLine:
    when: float
    job: str
    text: str


@dataclass(frozen=True)
class JobSnapshot:
    """A job as a front end shows it: the saved record plus live progress when running."""

    job: Job
    live: DownloadSnapshot | None
    blocks: MapSnapshot | None
    wanted_connections: int

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def status(self) -> Phase:
        if self.live is None or self.job.status in (Phase.PAUSED, Phase.QUEUED):
            return self.job.status
        return self.live.phase

    @property
    def size(self) -> int | None:
        return self.live.size if self.live and self.live.size is not None else self.job.size

    @property
    def completed(self) -> int:
        return self.live.completed if self.live else self.job.completed

    @property
    def speed(self) -> float:
        return self.live.speed if self.live and self.status is Phase.DOWNLOADING else 0.0

    @property
    def eta(self) -> float | None:
        size = self.size
        if size is None or self.speed <= 0:
            return None
        return max(0, size - self.completed) / self.speed

    @property
    def fraction(self) -> float | None:
        size = self.size
        if self.status is Phase.DONE:
            return 1.0
        return min(1.0, self.completed / size) if size else None

    @property
    def connections(self) -> int:
        return len(self.live.connections) if self.live else 0

    @property
    def url(self) -> str:
        return redact(self.job.url)


@dataclass(frozen=True)
class EngineSnapshot:
    jobs: tuple[JobSnapshot, ...]
    log: tuple[LogLine, ...]
    max_jobs: int
    limit_rate: int | None = None

    @property
    def speed(self) -> float:
        return sum(j.speed for j in self.jobs)

    def count(self, *statuses: Phase) -> int:
        return sum(1 for j in self.jobs if j.status in statuses)

    def find(self, job_id: str) -> JobSnapshot | None:
        return next((j for j in self.jobs if j.id == job_id), None)


@dataclass
class _Running:
    download: Download
    cancel: threading.Event
    thread: threading.Thread
    outcome: list[BaseException | Path] = field(default_factory=list)
    remove_files: bool | None = None  # set when a remove is waiting for the thread to end

    def stop(self) -> None:
        self.cancel.set()
        self.download.interrupt()


class Engine:
    """The queue's owner. Thread-safe command methods; one scheduler thread."""

    def __init__(self, store: Store | None = None, max_jobs: int = 3) -> None:
        self.store = store or Store()
        self.max_jobs = max(1, max_jobs)
        self._joblist = JobList(self.store)
        self._jobs: list[Job] = []
        self._running: dict[str, _Running] = {}
        self._paused_maps: dict[str, MapSnapshot] = {}
        self._pending_adds: list[Job] = []
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._log: deque[LogLine] = deque(maxlen=LOG_LINES)
        self._snapshot = EngineSnapshot((), (), self.max_jobs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None
        self._dirty = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Take the state dir's lock, load the queue, start the scheduler."""
        self._take_lock()
        jobs, note = self._joblist.load()
        if note:
            self._note("", note)
        self._jobs = [self._revive(job) for job in jobs]
        for job in self._jobs:
            self._load_map_for_display(job)
        self._publish()
        self._thread = threading.Thread(target=self._loop, name="rangetui-engine", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every download (their maps are saved), save the queue, release the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for running in self._running.values():
            running.stop()
        deadline = time.monotonic() + timeout
        for running in self._running.values():
            running.thread.join(max(0.0, deadline - time.monotonic()))
        self._reap(final=True)
        self._save()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _take_lock(self) -> None:
        ensure_private_dir(self.store.root)
        fd = os.open(self.store.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EngineLocked(
                f"another rangetui is already running on {self.store.root}"
            ) from None
        self._lock_fd = fd

    @staticmethod
    def _revive(job: Job) -> Job:
        """Jobs that were running when the last process ended run again; paused stay paused."""
        if job.status in ACTIVE:
            return job.with_changes(status=Phase.QUEUED)
        return job

    # -- commands (any thread) -------------------------------------------------------

    def add(
        self,
        url: str,
        directory: Path,
        output: Path | None = None,
        options: Options | None = None,
        paused: bool = False,
    ) -> str:
        """Queue a URL; raises DownloadError at once for what is plainly not a URL.

        The same URL into the same place while an earlier job for it is unfinished is
        that job (``rangetui URL`` run twice must not start a rival download).
        """
        check_url(url)
        job = Job.new(url, directory, output, options or Options())
        twin = self._unfinished_twin(job)
        if twin is not None:
            self._note(twin.name, "already in the queue")
            return twin.id
        if paused:
            job = job.with_changes(status=Phase.PAUSED)
        self._pending_adds.append(job)
        self._commands.put(lambda: self._do_add(job))
        return job.id

    def _unfinished_twin(self, job: Job) -> Job | None:
        """Jobs are immutable and copying a list is atomic under the GIL, so this reads a
        consistent (if slightly old) view from the caller's thread."""
        key = (job.url, job.directory, job.output)
        for other in [*self._jobs, *self._pending_adds]:
            if (other.url, other.directory, other.output) == key and other.status is not Phase.DONE:
                return other
        return None

    def pause(self, job_id: str) -> None:
        self._commands.put(lambda: self._do_pause(job_id))

    def resume(self, job_id: str) -> None:
        self._commands.put(lambda: self._do_resume(job_id))

    def pause_all(self) -> None:
        self._commands.put(lambda: self._for_each(self._do_pause))

    def resume_all(self) -> None:
        self._commands.put(lambda: self._for_each(self._do_resume))

    def remove(self, job_id: str, delete_partial: bool = False) -> None:
        self._commands.put(lambda: self._do_remove(job_id, delete_partial))

    def set_connections(self, job_id: str, count: int) -> None:
        self._commands.put(lambda: self._do_connections(job_id, count))

    def snapshot(self) -> EngineSnapshot:
        """The latest published state (rebuilt by the scheduler every tick)."""
        return self._snapshot

    def wait_idle(self, timeout: float) -> bool:
        """Until no job is queued or running (tests, `--exit-when-done`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self._snapshot
            if not self._running and not snap.count(Phase.QUEUED, *ACTIVE):
                time.sleep(SCHEDULER_TICK)
                if not self._running and self._commands.empty():
                    return True
            time.sleep(SCHEDULER_TICK / 2)
        return False

    # -- scheduler thread ------------------------------------------------------------

    def _loop(self) -> None:
        last_save = time.monotonic()
        while not self._stop.is_set():
            self._apply_commands()
            self._reap()
            self._start_queued()
            self._publish()
            now = time.monotonic()
            if self._dirty or (self._running and now - last_save >= SAVE_SECONDS):
                self._save()
                last_save = now
            self._stop.wait(SCHEDULER_TICK)

    def _apply_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def _for_each(self, command: Callable[[str], None]) -> None:
        for job in list(self._jobs):
            command(job.id)

    def _index(self, job_id: str) -> int | None:
        return next((i for i, j in enumerate(self._jobs) if j.id == job_id), None)

    def _replace(self, job: Job) -> None:
        index = self._index(job.id)
        if index is not None:
            self._jobs[index] = job
            self._dirty = True

    def _do_add(self, job: Job) -> None:
        self._pending_adds.remove(job)
        self._jobs.append(job)
        self._dirty = True
        self._note(job.name, f"added {redact(job.url)}")

    def _do_pause(self, job_id: str) -> None:
        index = self._index(job_id)
        if index is None:
            return
        job = self._jobs[index]
        if job.status in (Phase.QUEUED, *ACTIVE):
            self._replace(job.with_changes(status=Phase.PAUSED))
            running = self._running.get(job_id)
            if running is not None:
                running.stop()
            self._note(job.name, "paused")

    def _do_resume(self, job_id: str) -> None:
        index = self._index(job_id)
        if index is None:
            return
        job = self._jobs[index]
        if job.status in (Phase.PAUSED, Phase.FAILED):
            self._replace(job.with_changes(status=Phase.QUEUED, error=None))
            self._note(job.name, "retrying" if job.status is Phase.FAILED else "resumed")

    def _do_remove(self, job_id: str, delete_partial: bool) -> None:
        index = self._index(job_id)
        if index is None:
            return
        job = self._jobs.pop(index)
        self._dirty = True
        running = self._running.get(job_id)
        if running is not None:
            running.stop()
            running.remove_files = delete_partial
        elif delete_partial and job.status is not Phase.DONE:
            self._delete_partial(job.target)
        self._paused_maps.pop(job_id, None)
        self._note(job.name, "removed" + (" with its partial file" if delete_partial else ""))

    def _do_connections(self, job_id: str, count: int) -> None:
        index = self._index(job_id)
        if index is None:
            return
        job = self._jobs[index]
        count = max(1, min(64, count))
        self._replace(job.with_changes(options=_with_connections(job.options, count)))
        running = self._running.get(job_id)
        if running is not None:
            running.download.set_connections(count)
        self._note(job.name, f"{count} connections")

    def _delete_partial(self, target: str | None) -> None:
        """Only ever the .part file and its map, and never one another job is writing."""
        if target is None or any(j.target == target for j in self._jobs):
            return
        part = target + PART_SUFFIX
        try:
            fd = os.open(part, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(part)
            self.store.drop_map(Path(target))
        except OSError:
            self._note(Path(target).name, "kept the partial file: another download is using it")
        finally:
            os.close(fd)

    def _start_queued(self) -> None:
        for job in self._jobs:
            if len(self._running) >= self.max_jobs:
                return
            if job.status is Phase.QUEUED and job.id not in self._running:
                self._launch(job)

    def _launch(self, job: Job) -> None:
        output = Path(job.target) if job.target else (Path(job.output) if job.output else None)
        download = Download(
            job.url,
            output=output,
            directory=Path(job.directory),
            options=job.options,
            store=self.store,
            on_event=functools.partial(self._note, job.name),
        )
        cancel = threading.Event()
        running = _Running(download, cancel, threading.Thread())
        running.thread = threading.Thread(
            target=_run_download, args=(running,), name=f"rangetui-job-{job.id}", daemon=True
        )
        self._running[job.id] = running
        self._replace(job.with_changes(status=Phase.PROBING, error=None))
        running.thread.start()

    def _reap(self, final: bool = False) -> None:
        """Record the outcome of downloads whose thread has ended; keep live ones' progress."""
        for job_id, running in list(self._running.items()):
            snap = running.download.snapshot()
            index = self._index(job_id)
            if index is not None:
                job = self._jobs[index]
                self._jobs[index] = job.with_changes(
                    target=snap.target or job.target,
                    size=snap.size if snap.size is not None else job.size,
                    completed=snap.completed,
                    etag=snap.etag or job.etag,
                    last_modified=snap.last_modified or job.last_modified,
                )
            if running.thread.is_alive() and not final:
                continue
            del self._running[job_id]
            self._finish(job_id, running, snap)

    def _finish(self, job_id: str, running: _Running, snap: DownloadSnapshot) -> None:
        if snap.blocks is not None:
            self._paused_maps[job_id] = snap.blocks
        index = self._index(job_id)
        if index is None:  # removed while running
            if running.remove_files:
                self._delete_partial(snap.target)
            self._paused_maps.pop(job_id, None)
            return
        job = self._jobs[index]
        result = running.outcome[0] if running.outcome else Cancelled("stopped")
        if isinstance(result, Path):
            job = job.with_changes(
                status=Phase.DONE,
                target=str(result),
                finished=time.time(),
                error=None,
                completed=job.size or job.completed,
            )
            self._note(job.name, f"done: {result}")
        elif isinstance(result, Cancelled):
            if job.status in ACTIVE:  # stopped by quitting, not by the user: run again next time
                job = job.with_changes(status=Phase.QUEUED if self._stop.is_set() else Phase.PAUSED)
        else:
            message = (
                str(result) if isinstance(result, DownloadError) else f"internal error: {result!r}"
            )
            job = job.with_changes(status=Phase.FAILED, error=message)
            self._note(job.name, f"failed: {message}")
        self._jobs[index] = job
        self._dirty = True

    # -- publishing ------------------------------------------------------------------

    def _publish(self) -> None:
        jobs: list[JobSnapshot] = []
        for job in self._jobs:
            running = self._running.get(job.id)
            live = running.download.snapshot() if running is not None else None
            blocks = live.blocks if live and live.blocks else self._paused_maps.get(job.id)
            if job.status is Phase.DONE and job.size is not None:
                blocks = MapSnapshot(job.size, ((0, job.size),), (), job.size)
            jobs.append(JobSnapshot(job, live, blocks, job.options.connections))
        self._snapshot = EngineSnapshot(tuple(jobs), tuple(self._log), self.max_jobs)

    def _load_map_for_display(self, job: Job) -> None:
        if job.target is None or job.status is Phase.DONE:
            return
        try:
            state = self.store.load_map(Path(job.target))
        except CorruptState as e:
            self._note(job.name, str(e))
            return
        if state is not None and state.remote.size is not None:
            bmap = BlockMap(state.remote.size, state.block_size, state.done)
            self._paused_maps[job.id] = bmap.snapshot()

    def _note(self, job: str, text: str) -> None:
        self._log.append(LogLine(time.time(), job, text))

    def _save(self) -> None:
        try:
            self._joblist.save(self._jobs)
            self._dirty = False
        except OSError as e:
            self._note("", f"cannot save the queue: {e.strerror or e}")


def _run_download(running: _Running) -> None:
    try:
        running.outcome.append(running.download.run(running.cancel))
    except BaseException as e:  # recorded as the job's failure, never raised in a thread
        running.outcome.append(e)


def _with_connections(options: Options, count: int) -> Options:
    return replace(options, connections=count)
