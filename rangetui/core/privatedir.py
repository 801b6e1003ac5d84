"""Directories of ours alone, and files written into them whole.

State may hold URLs with tokens, and whoever else may write where it lives can plant a
queue entry or a link: so every state directory is owner-only and checked before use,
and a file in it is replaced by a rename, never written in place or through a link.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import stat
import time
from pathlib import Path

from rangetui.core.diskio import fsync_dir
from rangetui.core.errors import FatalError

_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_NAME = re.compile(r"^\..+\.(\d+)-\d+\.tmp$")
"""``.NAME.PID-SERIAL.tmp``: whose it was is in its name."""
STALE_TEMP_SECONDS = 86400
_temp_serial = itertools.count()
_own_pid = os.getpid()
"""Asked once (each ask is a system call), and again in a forked child."""


def _new_pid() -> None:
    global _own_pid
    _own_pid = os.getpid()


os.register_at_fork(after_in_child=_new_pid)
_checked_dirs: set[Path] = set()
"""State dirs found ours alone in this process: nobody else can replace what is inside
a directory of ours that only we may write, so one check is enough."""


class StateUnusable(FatalError):
    """The state dir cannot be read (not a directory, no permission)."""


class StateUnsafe(StateUnusable):
    """The state dir, or a file in it, is not ours alone: never read or write through it."""


def check_private(path: Path, what: str = "state dir", kind: str = "directory") -> None:
    """Refuse (StateUnsafe) a ``path`` another user owns or may write, or a link where a
    ``kind`` ("directory" or "socket") should be; an absent path is fine. The one check
    for the state dir and everything in it, the engine's socket included."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        raise StateUnusable(f"cannot use the {what} {path}: {e.strerror or e}") from None
    is_kind = stat.S_ISDIR if kind == "directory" else stat.S_ISSOCK
    problem = None
    if info.st_uid != os.geteuid():
        problem = f"it belongs to uid {info.st_uid}"
    elif stat.S_ISLNK(info.st_mode):
        problem = "it is a symbolic link"
    elif not is_kind(info.st_mode):
        problem = f"it is not a {kind}"
    elif kind == "directory" and info.st_mode & 0o022:
        problem = "other users may write to it"
    if problem:
        raise StateUnsafe(f"refusing to use the {what} {path}: {problem}")


def ensure_private_dir(directory: Path) -> None:
    """Make what is missing owner-only (0700, parents too: state may hold URLs with
    tokens), then refuse the directory unless it is ours alone."""
    _make_dirs(directory)
    check_private(directory)


def _make_dirs(directory: Path) -> None:
    if os.path.lexists(directory):
        return
    _make_dirs(directory.parent)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise StateUnusable(f"cannot create the state dir {directory}: {e.strerror or e}") from None


def atomic_write_text(path: Path, text: str, durable: bool = False) -> None:
    """The temp file is named by process and serial, not at random: the directory is
    ours alone (checked), and O_EXCL with O_NOFOLLOW refuses whatever is there anyway.
    Plain descriptor calls, not a text file object: a download writes two of these, and
    with -j each system call is a hand-over of the interpreter lock."""
    _ensure_checked(path.parent)
    data = memoryview(text.encode())
    try:
        fd, tmp = _create_temp(path)
    except FileNotFoundError:  # the directory went away since it was checked
        _checked_dirs.discard(path.parent)
        _ensure_checked(path.parent)
        fd, tmp = _create_temp(path)
    try:
        try:
            while data:
                data = data[os.write(fd, data) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def remove_orphan_temps(directory: Path, now: float | None = None) -> list[Path]:
    """Temp files whose writer died between creating and renaming them (a kill -9
    mid-write): those of a process that is gone, and any a day old (a reused pid)."""
    limit = (time.time() if now is None else now) - STALE_TEMP_SECONDS
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                continue
            match = _TEMP_NAME.match(entry.name)
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if (match and not _alive(int(match.group(1)))) or info.st_mtime < limit:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's: not ours to judge
    return True


def _create_temp(path: Path) -> tuple[int, Path]:
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{_own_pid}-{next(_temp_serial)}.tmp")
        try:
            return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
        except FileExistsError:  # left by a crash of a process that had our pid
            continue
    raise FileExistsError(f"no free temporary name for {path}")


def _ensure_checked(directory: Path) -> None:
    if directory not in _checked_dirs:
        ensure_private_dir(directory)
        _checked_dirs.add(directory)


__all__ = [
    "StateUnsafe",
    "StateUnusable",
    "atomic_write_text",
    "check_private",
    "ensure_private_dir",
    "remove_orphan_temps",
]
