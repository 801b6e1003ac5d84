"""Writing the file: whole writes, disk errors in words, space up front.

Every OSError from the data file becomes one sentence here, so that a full disk reads
the same whichever connection hit it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from rangetui.core.errors import DiskError, FatalError


def write_all(fd: int, data: memoryview, offset: int) -> None:
    """pwrite may write less than asked (signals, some file systems): loop until done."""
    while data:
        try:
            written = os.pwrite(fd, data, offset)
        except OSError as e:
            raise disk_error(e) from None
        data = data[written:]
        offset += written


def disk_error(e: OSError) -> DiskError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskError(
            "the disk is full; free some space and run the same command to resume", full=True
        )
    if e.errno == errno.EFBIG:
        return DiskError("the file is too large for this file system or process limit")
    return DiskError(f"cannot write the file: {e.strerror or e}")


def truncate(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError as e:
        raise disk_error(e) from None


def check_space(fd: int, part: Path, size: int) -> None:
    """Refuse up front when the disk cannot hold the file, rather than fail at 97 %.
    Asked of the open file, never of its name (which another user may have swapped)."""
    with contextlib.suppress(OSError):
        stat = os.fstatvfs(fd)
        have = stat.f_bavail * stat.f_frsize + os.fstat(fd).st_blocks * 512
        if have < size:
            raise FatalError(
                f"not enough disk space in {part.parent}: need {size} bytes, have {have}"
            )


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
