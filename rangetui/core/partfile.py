"""The open OUT.part: created or adopted without following a link, then renamed to OUT.

A download dir may be shared with other users (a 0777 or 1777 /tmp, a group dir), who
can put anything at the names we are about to use. So OUT.part is created with
O_EXCL|O_NOFOLLOW, and an existing one is taken up only if it is what we would have
created: a regular file of ours with one name; a link, another user's file, a second
name of some file or a FIFO is refused in one sentence and never opened for writing.

The file is opened once, in a directory opened once. Every connection writes through
that descriptor, never through the name, so a name swapped for a link after the start
leads nowhere; and the final rename happens in that directory only while the name still
holds our file, so what becomes OUT is what we wrote, or the download says why not.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rangetui.core.diskio import disk_error
from rangetui.core.errors import FatalError

OPEN_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
"""O_NONBLOCK and O_NOCTTY: opening a FIFO or a terminal must neither hang nor adopt it
(both change nothing for the regular files we accept)."""
CREATE_FLAGS = OPEN_FLAGS | os.O_CREAT | os.O_EXCL
NEW_MODE = 0o644
OPEN_TRIES = 3


class PartUnsafe(FatalError):
    """OUT.part is there but is not a file this user created: never written, never adopted."""


def why_not_ours(info: os.stat_result) -> str | None:
    """Why a file found at OUT.part must not be used, or None when it is one of ours."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.geteuid():
        return f"it belongs to another user (uid {info.st_uid})"
    if info.st_nlink != 1:
        return "it has other names (hard links)"
    return None


def open_dir(directory: Path) -> int:
    """The directory a download lands in, opened once: its names are looked up only here."""
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise FatalError(open_error(directory / "x", e)) from None


def open_error(path: Path, e: OSError) -> str:
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write to {path.parent}: permission denied"
    if e.errno == errno.ENOENT:
        return f"the directory {path.parent} does not exist"
    if e.errno == errno.ENOTDIR:
        return f"{path.parent} is not a directory"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {path.parent} is full"
    return f"cannot create {path}: {e.strerror or e}"


@dataclass
class PartFile:
    """OUT.part open for reading and writing, with the directory it is in."""

    fd: int
    dir_fd: int
    part: Path
    target: Path
    created: bool
    """Made by this run (an adopted file holds an earlier run's bytes: never discarded)."""
    identity: tuple[int, int]

    @classmethod
    def open(cls, part: Path, target: Path) -> PartFile:
        """Create OUT.part, or adopt our own from an earlier run; PartUnsafe otherwise."""
        dir_fd = open_dir(part.parent)
        try:
            return cls._open_in(dir_fd, part, target)
        except BaseException:
            os.close(dir_fd)
            raise

    @classmethod
    def adopt(cls, part: Path, target: Path) -> PartFile:
        """Only an existing OUT.part of ours (FileNotFoundError when there is none)."""
        dir_fd = open_dir(part.parent)
        try:
            fd, info = _adopt(dir_fd, part)
        except BaseException:
            os.close(dir_fd)
            raise
        return cls(fd, dir_fd, part, target, False, (info.st_dev, info.st_ino))

    @classmethod
    def _open_in(cls, dir_fd: int, part: Path, target: Path) -> PartFile:
        mode = _kept_mode(dir_fd, target.name)
        for _ in range(OPEN_TRIES):
            try:
                fd = os.open(part.name, CREATE_FLAGS, NEW_MODE, dir_fd=dir_fd)
            except FileExistsError:
                pass
            except OSError as e:
                raise FatalError(open_error(part, e)) from None
            else:
                if mode is not None:
                    os.fchmod(fd, mode)  # exactly OUT's mode, whatever the umask (L3)
                info = os.fstat(fd)
                return cls(fd, dir_fd, part, target, True, (info.st_dev, info.st_ino))
            try:
                fd, info = _adopt(dir_fd, part)
            except FileNotFoundError:
                continue  # gone between the two calls: try to create it again
            return cls(fd, dir_fd, part, target, False, (info.st_dev, info.st_ino))
        raise PartUnsafe(f"refusing to use {part}: it keeps appearing and disappearing")

    def holds(self, name: str) -> bool:
        """Does ``name`` in our directory still hold our file (not a link, not another)?"""
        try:
            info = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self.identity

    def finish(self) -> None:
        """fsync, rename OUT.part to OUT in our directory, fsync the directory: OUT is whole
        or absent, and it is the file we wrote."""
        part, target = self.part, self.target
        try:
            os.fsync(self.fd)
            if not self.holds(part.name):
                raise FatalError(
                    f"{part} was replaced by another file while downloading; {target} was not"
                    " written"
                )
            os.rename(part.name, target.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            os.fsync(self.dir_fd)
        except IsADirectoryError:
            raise FatalError(f"cannot replace {target}: it is a directory") from None
        except OSError as e:
            raise disk_error(e) from None
        if not self.holds(target.name):
            raise FatalError(f"{target} was replaced by another file as it was saved")

    def discard(self) -> None:
        """Delete OUT.part if the name still holds our file (a refused download's litter)."""
        if self.holds(self.part.name):
            with contextlib.suppress(OSError):
                os.unlink(self.part.name, dir_fd=self.dir_fd)

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.dir_fd)


def _adopt(dir_fd: int, part: Path) -> tuple[int, os.stat_result]:
    """Open an existing OUT.part only if it is ours, and only the file we looked at."""
    info = os.stat(part.name, dir_fd=dir_fd, follow_symlinks=False)
    problem = why_not_ours(info)
    if problem:
        raise PartUnsafe(f"refusing to use {part}: {problem}")
    try:
        fd = os.open(part.name, OPEN_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise PartUnsafe(f"refusing to use {part}: it was replaced by a link") from None
        raise FatalError(open_error(part, e)) from None
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or why_not_ours(opened):
        os.close(fd)
        raise PartUnsafe(f"refusing to use {part}: it changed while it was opened")
    return fd, opened


def _kept_mode(dir_fd: int, name: str) -> int | None:
    """OUT's permissions when it is a file of ours being replaced (-o over a 0600 file
    stays 0600); None for a new file or anything else (a link is never followed)."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
        return stat.S_IMODE(info.st_mode) & 0o777
    return None


__all__ = ["PartFile", "PartUnsafe", "open_dir", "open_error", "why_not_ours"]
