"""Files this machine has finished: a rerun of a done download fetches no body again.

A record per target path, under the state dir's ``finished/``: a hash of the URL (never
the URL itself, which may carry a token), the validators the server gave, and the
file's size, mtime and inode when it was finished. A rerun trusts OUT only when all
of them still hold: the same URL, the same file on the server, the same file here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from rangetui.core.checksum import verify
from rangetui.core.errors import FatalError
from rangetui.core.store import CorruptState, Store, atomic_write_json, path_key, read_json
from rangetui.core.types import Options, Remote


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Finished:
    url_sha256: str
    size: int | None
    etag: str | None
    last_modified: str | None
    file_size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, url: str, remote: Remote, path: Path) -> Finished:
        info = os.stat(path)
        return cls(
            url_key(url),
            remote.size,
            remote.etag,
            remote.last_modified,
            info.st_size,
            info.st_mtime_ns,
            info.st_ino,
        )

    def still_here(self, path: Path) -> bool:
        """OUT is the very file we finished: not replaced, not edited, not truncated."""
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns, info.st_ino) == (
            self.file_size,
            self.mtime_ns,
            self.inode,
        )

    def same_remote(self, remote: Remote) -> bool:
        mine = Remote("", self.size, self.etag, self.last_modified, accept_ranges=False)
        return mine.same_file_as(remote)


class FinishedFiles:
    def __init__(self, store: Store) -> None:
        self.dir = store.finished_dir

    def path_for(self, target: Path) -> Path:
        return self.dir / f"{path_key(str(target))}.json"

    def remember(self, url: str, remote: Remote, target: Path) -> None:
        """Best effort: without the record, a rerun only costs a download, never a file."""
        with contextlib.suppress(OSError):
            record = Finished.of(url, remote, target)
            atomic_write_json(self.path_for(target), asdict(record), durable=False)

    def has(self, target: Path) -> bool:
        return self.path_for(target).exists()

    def lookup(self, target: Path, url: str) -> Finished | None:
        """The record of ``target`` if it was finished from ``url``."""
        try:
            data = read_json(self.path_for(target))
            record = Finished(**data) if isinstance(data, dict) else None
        except (CorruptState, TypeError, ValueError, OSError):
            return None
        return record if record is not None and record.url_sha256 == url_key(url) else None

    def forget(self, target: Path) -> None:
        with contextlib.suppress(OSError):
            self.path_for(target).unlink()


def verify_finished(
    fd: int, target: Path, remote: Remote | None, options: Options, store: Store
) -> None:
    """The whole file, before its rename: the announced size, then every checksum asked
    for or sent; a mismatch drops the saved map, so a rerun fetches it all again."""
    size = os.fstat(fd).st_size
    if remote is not None and remote.size is not None and size != remote.size:
        raise FatalError(f"the file has {size} bytes but the server announced {remote.size}")
    digest = remote.digest if remote is not None else None
    try:
        verify(fd, target.name, options.checksum, options.checksum_file, digest)
    except FatalError:
        store.drop_map(target)
        raise
