"""Where a download lands: OUT from ``-o``, or a safe, unused name inside ``-d DIR``.

A rerun of the same command must find its own ``.part`` again rather than pick
``name (1).ext``, so a name whose saved state is for the same URL counts as ours.
No download's OUT is ever a ``.part`` name: ``-o x.part`` is refused and a server's
``x.part`` is saved as ``x_part``, so one download can never rename over another's
work file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rangetui.core.errors import FatalError
from rangetui.core.finished import FinishedFiles
from rangetui.core.naming import PART_SUFFIX, choose_name, is_inside, is_part_name, unique_path
from rangetui.core.partfile import PartFile, PartUnsafe
from rangetui.core.store import CorruptState, ResumeState, Store
from rangetui.core.types import Remote

__all__ = ["PartBusy", "PartFile", "PartUnsafe", "Placement", "place"]


class PartBusy(FatalError):
    """Another process or job holds the lock on this .part file."""


@dataclass(frozen=True)
class Placement:
    target: Path
    already_done: bool = False
    """OUT is this very file, finished here before (or a crash hit between rename and
    cleanup): nothing to fetch."""
    replacing: bool = False
    """OUT was finished here from this URL, but the server now has another version."""

    @property
    def part(self) -> Path:
        return self.target.with_name(self.target.name + PART_SUFFIX)

    @contextlib.contextmanager
    def locked_part(self) -> Iterator[PartFile]:
        """Open (create) OUT.part safely and hold an exclusive lock: one writer per file."""
        part = PartFile.open(self.part, self.target)
        try:
            try:
                fcntl.flock(part.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PartBusy(f"another rangetui is already downloading {self.target}") from None
            yield part
        finally:
            part.close()


def likely_target(url: str, output: Path | None, directory: Path) -> Path:
    """Where the file will most likely land, before the probe: -o, else the URL's name
    (a server's Content-Disposition may yet name it otherwise)."""
    if output is not None:
        return (directory / output.expanduser()).absolute()
    return directory.expanduser().absolute() / choose_name(url, None)


def place(
    url: str,
    remote: Remote,
    output: Path | None,
    directory: Path,
    store: Store,
    exclude: frozenset[Path] = frozenset(),
) -> Placement:
    """``-o`` wins (relative to ``-d``); else the server's or URL's name, sanitized.

    ``exclude`` holds names another download turned out to hold (two at once with -j).
    """
    directory = directory.expanduser().absolute()
    if output is not None:
        target = (directory / output.expanduser()).absolute()
        if target.name in ("", ".", "..") or target.is_dir():
            raise FatalError(f"-o must name a file, not a directory: {output}")
        if is_part_name(target.name):
            raise FatalError(f"-o must not end in {PART_SUFFIX}: that is how partial files end")
        if not os.path.lexists(target):  # nothing there: neither finished nor ours
            return Placement(target)
        done = _finished_here(store, target, url, remote)
        return Placement(target, done, not done and _ours_changed(store, target, url))
    if not directory.is_dir():
        raise FatalError(f"the directory {directory} does not exist")
    name = choose_name(remote.url, remote.content_disposition)
    if name == "download" and remote.url != url:
        name = choose_name(url, None)
    first = directory / name
    first_there = first not in exclude and os.path.lexists(first)
    if first_there and _finished_here(store, first, url, remote):
        return Placement(first, already_done=True)
    if first_there and _ours_changed(store, first, url):
        return Placement(first, replacing=True)  # a new version replaces ours, not "name (1)"

    def taken(path: Path) -> bool:
        if path in exclude:
            return True
        if first_there if path == first else os.path.lexists(path):
            return True
        if not os.path.lexists(str(path) + PART_SUFFIX):
            return False
        return _saved(store, path, url) is None  # a .part of ours (a rerun) is not taken

    target = unique_path(directory, name, taken)
    if not is_inside(directory, target):
        raise FatalError(f"refusing to write outside {directory}")
    return Placement(target)


def _saved(store: Store, path: Path, url: str) -> ResumeState | None:
    try:
        state = store.load_map(path)
    except CorruptState:
        return None
    return state if state is not None and state.is_of(url) else None


def _ours_changed(store: Store, path: Path, url: str) -> bool:
    """OUT is the file we finished from this URL (untouched since): fetching it again
    can only be for a new version, which replaces it once complete."""
    record = FinishedFiles(store).lookup(path, url)
    return record is not None and record.still_here(path)


def _finished_here(store: Store, path: Path, url: str, remote: Remote) -> bool:
    """OUT exists, no .part, and it is this very file: finished here from this URL and
    untouched since, or a map for it claims every byte."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        return False  # a link, or a file someone else put there: never called ours
    if os.path.lexists(str(path) + PART_SUFFIX):
        return False
    record = FinishedFiles(store).lookup(path, url)
    if record is not None and record.still_here(path) and record.same_remote(remote):
        return True
    state = _saved(store, path, url)
    if state is None or not state.remote.same_file_as(remote) or remote.size is None:
        return False
    return state.done == [(0, remote.size)] and info.st_size == remote.size
