"""One owner per state dir, and a partial file deleted only when nobody writes it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rangetui.core.errors import FatalError
from rangetui.core.naming import PART_SUFFIX
from rangetui.core.partfile import PartFile
from rangetui.core.store import Store, ensure_private_dir


class EngineLocked(Exception):
    """Another rangetui process drives this state dir."""


class StateLock:
    """An exclusive ``flock`` on ``ROOT/lock``, held for the owner's lifetime."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None

    def acquire(self) -> None:
        ensure_private_dir(self.root)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
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
