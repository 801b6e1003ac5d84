"""One file from URL to finished, renamed OUT: probe, place, fetch, checkpoint, verify.

``Download.run`` blocks the calling thread (the headless command's main thread, or an
engine job thread) and raises a :class:`DownloadError` with a user-facing message on
failure. Any thread may call :meth:`Download.snapshot` for an immutable progress view.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rangetui.core.blockmap import BlockMap
from rangetui.core.budget import HostBudget
from rangetui.core.diskio import check_space, truncate
from rangetui.core.errors import (
    Cancelled,
    DownloadError,
    FatalError,
    RangeNotSupported,
    RemoteChanged,
)
from rangetui.core.finished import FinishedFiles, verify_finished
from rangetui.core.lowspeed import SpeedFloor
from rangetui.core.mirrors import agreeing_sources
from rangetui.core.note import Note
from rangetui.core.opening import FirstConnection
from rangetui.core.placement import PartBusy, PartFile, PartUnsafe, Placement, likely_target, place
from rangetui.core.pool import WorkerPool
from rangetui.core.ratelimit import RateLimiter
from rangetui.core.rates import Speedometer
from rangetui.core.resume import SavedProgress
from rangetui.core.single import SingleStream
from rangetui.core.sizecap import SizeCap
from rangetui.core.sources import SourceSet
from rangetui.core.store import CorruptState, Store
from rangetui.core.tuning import ConnectionTuner
from rangetui.core.types import DownloadSnapshot, Options, Phase, Remote
from rangetui.core.urls import redact

MAX_RESTARTS = 2
MAX_NAME_TRIES = 20
MAX_REFRESHES = 50


class Download:
    """Fetches one URL to one file; resumable, cancellable, observable."""

    def __init__(
        self,
        url: str,
        *,
        mirrors: tuple[str, ...] = (),
        output: Path | None = None,
        directory: Path | None = None,
        options: Options | None = None,
        store: Store | None = None,
        on_event: Callable[[str], None] | None = None,
        shared_limit: RateLimiter | None = None,
        budget: HostBudget | None = None,
    ) -> None:
        self.url = url
        self.mirrors = mirrors
        """Other servers of the same file; used once they agree with the URL."""
        self.budget = budget
        """Connections per host, shared by every download of one engine."""
        self.output = output
        self.directory = directory or Path.cwd()
        self.options = options or Options()
        self.store = store or Store()
        self._on_event = on_event or (lambda _msg: None)
        self._phase = Phase.QUEUED
        self._note = Note()
        self._target: Path | None = None
        self._remote: Remote | None = None
        self._bmap: BlockMap | None = None
        self._pool: WorkerPool | None = None
        self._single: SingleStream | None = None
        self._sources: SourceSet | None = None
        self._retries = 0
        self._speed = 0.0
        self._speedo = Speedometer()
        self._tuner = ConnectionTuner.of(self.options, self.event)
        self._first = FirstConnection(self.options, self.store, budget)
        self._floor = SpeedFloor(self.options.lowest_speed)
        self._cap = SizeCap(self.options.max_filesize)
        self.limiter = RateLimiter(self.options.limit_rate, parent=shared_limit)
        """This download's limit (None: none of its own), under the engine's shared one."""

    # -- observing -------------------------------------------------------------------

    def snapshot(self, blocks: bool = True) -> DownloadSnapshot:
        """Any thread. ``blocks=False`` skips copying the block map (most front-end ticks)."""
        bmap, pool, single, speed = self._bmap, self._pool, self._single, self._speed
        completed = self._completed()
        views = pool.views() if pool else single.views(speed) if single else ()
        remote = self._remote
        return DownloadSnapshot(
            url=redact(self.url),
            target=str(self._target) if self._target else None,
            phase=self._phase,
            size=remote.size if remote else None,
            completed=completed,
            speed=speed,
            connections=views,
            blocks=bmap.snapshot() if bmap is not None and blocks else None,
            retries=self._retries,
            message=self._note.shown(completed),
            etag=remote.etag if remote else None,
            last_modified=remote.last_modified if remote else None,
            connection_target=self._tuner.wanted if pool else 0,
            connection_reason=self._tuner.reason if pool else "",
            sources=self._sources.views() if self._sources and pool else (),
        )

    def _completed(self) -> int:
        bmap, single = self._bmap, self._single
        return bmap.completed if bmap is not None else single.done if single else 0

    def set_connections(self, count: int) -> None:
        """Takes effect within a tick: extra workers stop after their current read."""
        self._tuner.set_connections(count)

    def set_limit_rate(self, rate: int | None) -> None:
        """Any thread; every connection of this download obeys it from its next read."""
        self.limiter.set_rate(rate)

    def interrupt(self) -> None:
        """After setting the cancel event: wake a read blocked on a silent server (the
        download's own loop wakes parallel workers, but a worker run inline holds it)."""
        single, pool = self._single, self._pool
        if single is not None:
            single.abort()
        if pool is not None:
            pool.interrupt()

    def event(self, message: str, lasting: bool = False) -> None:
        self._note.say(message, self._completed(), lasting)
        self._on_event(message)

    def _downloading(self) -> None:
        self._note.rebase(self._completed())  # the map or the stream exists from now
        self._phase = Phase.DOWNLOADING

    # -- running ---------------------------------------------------------------------

    def run(self, cancel: threading.Event) -> Path:
        """Download to completion; raises DownloadError (Cancelled when ``cancel`` is set)."""
        self._phase = Phase.PROBING
        try:
            remote = self._probe(cancel)
            placement = self._fetch_placed(remote, cancel, frozenset())
            self.store.drop_map(placement.target)
            if not placement.already_done:
                FinishedFiles(self.store).remember(
                    self.url, self._remote or remote, placement.target
                )
        except Cancelled:
            self._phase = Phase.PAUSED
            raise
        except DownloadError as e:
            self._phase = Phase.FAILED
            self._note.say(str(e), self._completed())
            raise
        finally:
            self._first.close((self._remote or self).url)
        self._note.say("done", self._completed())
        self._phase = Phase.DONE
        return placement.target

    def _fetch_placed(
        self, remote: Remote, cancel: threading.Event, exclude: frozenset[Path]
    ) -> Placement:
        """Place, lock and fetch; with -d, a name another download holds (or a .part that
        is not ours to use) means the next name."""
        placement = place(self.url, remote, self.output, self.directory, self.store, exclude)
        self._target = placement.target
        if placement.already_done:
            self.event(f"{placement.target} is already complete; nothing to fetch")
            return placement
        if placement.replacing:
            self.event(
                f"the file on the server has changed since {placement.target} was"
                " downloaded; fetching the new version (it replaces the old one when complete)"
            )
        try:
            with placement.locked_part() as part:
                self._fetch_into(placement, remote, part, cancel)
        except (PartBusy, PartUnsafe) as e:
            if self.output is not None or len(exclude) >= MAX_NAME_TRIES:
                raise  # -o: the user named this file; two writers must not race for it
            if isinstance(e, PartBusy) and self._ours(placement):
                raise  # the same file: the same job runs elsewhere
            if isinstance(e, PartUnsafe):
                self.event(f"{e}; choosing another name")
            return self._fetch_placed(remote, cancel, exclude | {placement.target})
        return placement

    def _fetch_into(
        self, placement: Placement, remote: Remote, part: PartFile, cancel: threading.Event
    ) -> None:
        """Fetch, verify, rename. A refusal before any byte arrived (no space, no state
        dir) leaves no empty .part of this run behind (L4); one with bytes keeps them."""
        try:
            self._fetch_all(placement, remote, part.fd, cancel)
            self._phase = Phase.VERIFYING
            verify_finished(part.fd, placement.target, self._remote, self.options, self.store)
            part.finish()
        except DownloadError as e:
            if part.created and not isinstance(e, Cancelled) and not self._fetched():
                part.discard()
                self.store.drop_map(placement.target)
            raise

    def _fetched(self) -> int:
        bmap, single = self._bmap, self._single
        return bmap.completed if bmap is not None else single.done if single else 0

    def _ours(self, placement: Placement) -> bool:
        """Is the busy .part a download of this same URL (then it is the same job)?"""
        try:
            state = self.store.load_map(placement.target)
        except CorruptState:
            return False
        return state is not None and state.is_of(self.url)

    def _probe(self, cancel: threading.Event) -> Remote:
        """Probe with retries; the connection, the first range of the body it holds open
        and its budget slot are kept for the first worker."""
        target = likely_target(self.url, self.output, self.directory)
        opts = self.options
        remote = self._first.probe(self.url, target, opts.retries, cancel, self._retrying)
        self._remote = remote
        self._cap.check(remote)
        return remote

    def _retrying(self, message: str) -> None:
        self._retries += 1
        self.event(message)

    def _fetch_all(
        self, placement: Placement, remote: Remote, fd: int, cancel: threading.Event
    ) -> None:
        """Parallel when the server allows it. When the server's answers change, probe
        again: the same file goes on from where it is, another one starts over. The phase
        says DOWNLOADING once the workers or the one stream exist: what the front ends
        say of a stopped download (resumable or not) is read from them."""
        restarts = refreshes = 0
        saved = SavedProgress(self.store, self.url, placement.target, fd, self.event)
        while True:
            try:
                if remote.accept_ranges and remote.size is not None:
                    self._fetch_parallel(saved, placement, remote, fd, cancel)
                else:
                    self._fetch_single(placement, remote, fd, cancel)
                return
            except RangeNotSupported:
                self.event("the server ignores Range requests; using one connection")
                new = replace(remote, accept_ranges=False)
            except RemoteChanged as e:
                new = self._probe(cancel)
                if new.same_file_as(remote) and refreshes < MAX_REFRESHES:
                    refreshes += 1
                    self.event(f"{e}; the file is unchanged, going on")
                    remote = self._remote = new
                    continue
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise FatalError(f"{e} again; giving up") from None
                self.event(f"{e}; starting over")
            remote = self._remote = new
            self._speedo = Speedometer()
            self.store.drop_map(placement.target)
            truncate(fd, 0)

    def _fetch_parallel(
        self,
        saved: SavedProgress,
        placement: Placement,
        remote: Remote,
        fd: int,
        cancel: threading.Event,
    ) -> None:
        check_space(fd, placement.part, remote.size or 0)
        sampler = functools.partial(self._first.sample, remote)
        mirrors = saved.mirrors(self.mirrors)
        bmap = self._bmap = saved.load(remote, self.options.block_size, sampler, mirrors)
        sources = self._sources = agreeing_sources(
            self.url, remote, mirrors, self.options.http, self.event
        )
        spare, prepaid = self._first.hand_over(remote)
        pool = self._pool = WorkerPool(
            fd=fd,
            sources=sources,
            bmap=bmap,
            options=self.options,
            tuner=self._tuner,
            on_event=self._retrying,
            spare=spare,
            limiter=self.limiter,
            budget=self.budget,
            prepaid=prepaid,
        )
        self._downloading()
        try:
            with pool:  # however it ends, the workers are stopped before anything else
                pool.supervise(cancel, lambda done: self._tick(saved, done))
                self._sample_speed(bmap.completed)
        except BaseException:
            with contextlib.suppress(DownloadError):  # keep the first error, not a disk echo
                saved.checkpoint()
            raise
        finally:
            sources.close()

    def _tick(self, saved: SavedProgress, done: int) -> None:
        """Between two looks at the workers: the speed, and a checkpoint when one is due."""
        self._sample_speed(done)
        saved.checkpoint_if_due()

    def _sample_speed(self, done: int) -> None:
        self._speed = self._speedo.sample(time.monotonic(), done)
        self._floor.observe(done)
        self._cap.observe(done)

    def _fetch_single(
        self, placement: Placement, remote: Remote, fd: int, cancel: threading.Event
    ) -> None:
        self._bmap = None
        self._pool = None
        self.store.drop_map(placement.target)
        if remote.size is not None:
            check_space(fd, placement.part, remote.size)
        why = "no Range support" if remote.size is not None else "no length"
        self.event(f"the server allows one connection ({why}): an interruption starts over", True)
        first = self._first.whole_body()
        single = SingleStream(
            remote, self.options, self._sample_speed, self._retrying, self.limiter, first
        )
        self._single = single
        self._downloading()
        single.run(fd, cancel)


__all__ = ["Download"]
