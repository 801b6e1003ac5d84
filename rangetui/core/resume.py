"""Saved progress: whether a rerun may trust it, and saving it so that it never lies.

A saved block map claims that bytes are on disk. It is trusted only for the very same
file (same URL, same validators) and a .part of the announced size, and it is saved
only after the data it claims has been fdatasynced: a crash or a power cut may lose
bytes, but never leaves a map that claims them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rangetui.core.blockmap import BlockMap
from rangetui.core.diskio import disk_error, truncate
from rangetui.core.errors import FatalError
from rangetui.core.store import CorruptState, ResumeState, Store
from rangetui.core.types import Remote
from rangetui.core.units import format_size

CHECKPOINT_SECONDS = 1.0
LIGHT_SECONDS = 0.1
"""How often the light map (no sync) follows the data: what a kill -9 can lose."""
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
SAMPLE_BYTES = 16 * 1024
Sampler = Callable[[int, int], bytes]
"""Bytes ``[start, end)`` of the file as the server sends them now."""


class SavedProgress:
    """The saved block map of one open .part: loaded once per attempt, then checkpointed.

    It lives as long as the .part's descriptor, across attempts, because one failed sync
    spoils that descriptor for good: the kernel may report later syncs as successful
    although the failed pages are lost, so from then on nothing more is claimed.
    """

    def __init__(
        self,
        store: Store,
        url: str,
        target: Path,
        fd: int,
        on_event: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._url = url
        self._target = target
        self._fd = fd
        self._on_event = on_event
        self._clock = clock
        self._bmap: BlockMap | None = None
        self._state: ResumeState | None = None
        self._peeked: tuple[ResumeState | None] | None = None
        """The saved state read by :meth:`mirrors`, for :meth:`load` to use (read once)."""
        self._sync_failed = False
        self._last_save = self._last_light = 0.0
        self._boot_id = boot_id()

    def mirrors(self, given: tuple[str, ...]) -> tuple[str, ...]:
        """The mirrors given now, then those the saved progress of this URL remembers: a
        resumed download keeps its servers even when the rerun names none."""
        if self._peeked is None:
            self._peeked = (self._load_saved(),)
        saved = self._peeked[0]
        remembered = saved.mirrors if saved is not None and saved.is_of(self._url) else []
        return tuple(dict.fromkeys([*given, *remembered]))

    def load(
        self,
        remote: Remote,
        block_size: int,
        sample: Sampler | None = None,
        mirrors: tuple[str, ...] = (),
    ) -> BlockMap:
        """The map to fetch into, with the .part sized for it: the saved one when it is for
        this very file, else a new one of ``block_size`` blocks. Without a strong ETag,
        ``sample`` is asked for a few saved ranges to compare with the .part. ``mirrors``
        are saved with it."""
        bmap = self._trusted_map(remote, block_size)
        if sample is not None and bmap.completed and not _strong_etag(remote):
            bmap = self._sampled(bmap, remote, block_size, sample)
        truncate(self._fd, remote.size or 0)
        state = ResumeState(str(self._target), self._url, remote, bmap.block_size)
        state.mirrors = list(mirrors)
        state.done = list(bmap.snapshot().done_intervals)
        # Saved at once so a rerun after an early kill finds its own .part again, but
        # without fsync: it claims nothing new, and syncing would dominate small files.
        self._save(state, durable=False)
        self._bmap, self._state = bmap, state
        # The first light map a tick later: a small file is done before it would help.
        self._last_save = self._last_light = self._clock()
        return bmap

    def checkpoint_if_due(self) -> None:
        """A light map every LIGHT_SECONDS, so that a killed process loses almost
        nothing; a durable one every CHECKPOINT_SECONDS, so that syncs cost little and a
        power cut loses at most that much."""
        now = self._clock()
        if now - self._last_save >= CHECKPOINT_SECONDS:
            self.checkpoint()
            self._last_save = self._last_light = now
        elif now - self._last_light >= LIGHT_SECONDS:
            self.save_light()
            self._last_light = now

    def save_light(self) -> None:
        """The bytes written so far are in the kernel's cache: a crash of this process
        cannot lose them, a reboot can, so the map says which boot it belongs to."""
        bmap, state, boot = self._bmap, self._state, self._boot_id
        if bmap is None or state is None or self._sync_failed or boot is None:
            return
        light = replace(state, done=list(bmap.snapshot().done_intervals), boot_id=boot)
        with contextlib.suppress(OSError):  # a shortcut only: the durable save reports it
            self._store.save_light(light)

    def checkpoint(self) -> None:
        """Snapshot first, then flush the data, then save: the map never claims unsynced bytes."""
        bmap, state = self._bmap, self._state
        if bmap is None or state is None or self._sync_failed:
            return  # after a failed sync the kernel may report success for lost pages
        snap = bmap.snapshot()
        try:
            os.fdatasync(self._fd)
        except OSError as e:
            self._sync_failed = True
            raise disk_error(e) from None
        state.done = list(snap.done_intervals)
        self._save(state)

    def _trusted_map(self, remote: Remote, block_size: int) -> BlockMap:
        """The saved map if it is for this very file and the .part still fits it; each
        reason to start over is said, since it throws bytes away."""
        size = remote.size or 0
        peeked, self._peeked = self._peeked, None
        saved = peeked[0] if peeked is not None else self._load_saved()
        part_size = os.fstat(self._fd).st_size
        reason = why_not_resume(saved, self._url, remote, part_size)
        if saved is not None and reason is None:
            bmap = BlockMap(size, saved.block_size, saved.done)
            if bmap.completed:
                self._on_event(resuming_text(bmap.completed, size))
            return bmap
        if reason:
            self._on_event(f"{reason}; starting over")
        elif part_size:
            self._on_event("found a partial file with no saved progress; starting over")
        # None read, none to drop: a light map of another boot is never trusted, and it
        # goes when this download ends
        if saved is not None:
            self._store.drop_map(self._target)
        return BlockMap(size, block_size)

    def _sampled(
        self, bmap: BlockMap, remote: Remote, block_size: int, sample: Sampler
    ) -> BlockMap:
        """A server without a strong ETag may change a file and keep its size and date
        (or send no date at all, as lighttpd does by default): the bytes themselves must
        say that the saved ones still belong, or two versions would be spliced."""
        done = bmap.snapshot().done_intervals
        for start, end in sample_ranges(done):
            if sample(start, end) != os.pread(self._fd, end - start, start):
                self._on_event(
                    "the file on the server has changed since the last run (the saved bytes"
                    " differ from the server's); starting over"
                )
                self._store.drop_map(self._target)
                return BlockMap(remote.size or 0, block_size)
        return bmap

    def _load_saved(self) -> ResumeState | None:
        """A damaged state file has been set aside; it costs the progress, not the download."""
        try:
            return self._store.load_latest(self._target, self._boot_id)
        except CorruptState as e:
            self._on_event(f"{e}; starting over")
            return None

    def _save(self, state: ResumeState, durable: bool = True) -> None:
        try:
            self._store.save_map(state, durable)
        except OSError as e:
            raise FatalError(
                f"cannot save progress under {self._store.root}: {e.strerror or e}"
            ) from None


def resuming_text(done: int, size: int) -> str:
    """In the units of the table, and the exact byte, as curl says where it resumes."""
    return f"resuming at {format_size(done)} of {format_size(size)} (byte {done})"


@functools.cache
def boot_id() -> str | None:
    """The kernel's id of this boot: a light map of another boot claims unsynced bytes
    that a reboot may have lost. Read once: no process outlives its boot."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _strong_etag(remote: Remote) -> bool:
    return bool(remote.etag) and not (remote.etag or "").startswith("W/")


def sample_ranges(done: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Up to three small ranges of saved bytes: the first, the middle and the last."""
    if not done:
        return []
    first, last = done[0], done[-1]
    middle = max(done, key=lambda i: i[1] - i[0])
    mid = (middle[0] + middle[1]) // 2
    picks = [
        (first[0], min(first[1], first[0] + SAMPLE_BYTES)),
        (mid, min(middle[1], mid + SAMPLE_BYTES)),
        (max(last[0], last[1] - SAMPLE_BYTES), last[1]),
    ]
    return sorted({p for p in picks if p[1] > p[0]})


def why_not_resume(
    saved: ResumeState | None, url: str, remote: Remote, part_size: int
) -> str | None:
    """Why saved progress must not be used (None: it may, or there is none). Bytes of
    another file, or of another version of it, would splice two files into one."""
    if saved is None:
        return None
    if not saved.is_of(url):
        return "the saved progress is for another URL"
    if not saved.remote.same_file_as(remote):
        return "the file on the server has changed since the last run"
    if part_size != (remote.size or 0):
        return "the partial file is missing or has the wrong size"
    return None


__all__ = ["CHECKPOINT_SECONDS", "SavedProgress", "why_not_resume"]
