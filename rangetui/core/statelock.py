"""One owner per state dir, and a partial file deleted only when nobody writes it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rangetui.core.naming import PART_SUFFIX
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
    """Delete ``TARGET.part`` and its map unless a writer holds its lock; False if kept."""
    part = target + PART_SUFFIX
    try:
        fd = os.open(part, os.O_RDWR)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(part)
        store.drop_map(Path(target))
    except OSError:
        return False
    finally:
        os.close(fd)
    return True
