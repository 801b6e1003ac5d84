"""One owner per state dir, and a partial file deleted only when nobody writes it."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from rangetui.core.errors import FatalError
from rangetui.core.naming import PART_SUFFIX
from rangetui.core.partfile import PartFile, why_not_ours
from rangetui.core.privatedir import StateUnsafe, StateUnusable
from rangetui.core.store import Store

LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


class EngineLocked(Exception):
    """Another rangetui process drives this state dir."""


class StateLock:
    """An exclusive ``flock`` on ``ROOT/lock``, held for the owner's lifetime."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None

    def acquire(self) -> None:
        """Refuses (StateUnsafe) a state dir that is not ours alone, and a lock file that
        is a link or not our own file: it is never followed, never created through."""
        Store(self.root).check()
        path = self.root / "lock"
        try:
            fd = os.open(path, LOCK_FLAGS, 0o600)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StateUnsafe(f"refusing to use {path}: it is a symbolic link") from None
            raise StateUnusable(f"cannot use {path}: {e.strerror or e}") from None
        problem = why_not_ours(os.fstat(fd))
        if problem:
            os.close(fd)
            raise StateUnsafe(f"refusing to use {path}: {problem}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EngineLocked(f"another rangetui is already running on {self.root}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def delete_partial(store: Store, target: str) -> bool:
    """Delete ``TARGET.part`` and its map unless a writer holds its lock; False if kept.

    Only a .part of ours is touched: a link or another user's file planted at that name
    is neither opened nor deleted (it is not ours to delete, and gone as far as we care).
    """
    try:
        part = PartFile.adopt(Path(target + PART_SUFFIX), Path(target))
    except (OSError, FatalError):
        return True
    try:
        fcntl.flock(part.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        part.discard()
        store.drop_map(Path(target))
    finally:
        part.close()
    return True
