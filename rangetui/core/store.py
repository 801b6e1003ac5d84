"""Persistence: where state lives, and how it is written so a crash never leaves it torn.

Every file is JSON wrapped as ``{"schema": N, "sha256": ..., "data": ...}``, written to a
temp file, fsynced, renamed over the old one and the directory fsynced. A file that
fails to parse, has another schema or a wrong checksum is moved aside and reported;
the caller then starts that job over instead of trusting it.

The state dir is trusted only when it is ours alone: whoever else may write to it can
plant a queue entry that makes us overwrite any file, or a link where we create one.
So a state dir (or a dir in it) that another user owns or may write is refused in one
sentence, and nothing in it is read or created through a link.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from stat import S_ISREG
from typing import Any

import platformdirs

from rangetui.core.privatedir import (
    StateUnsafe,
    StateUnusable,
    atomic_write_text,
    check_private,
    ensure_private_dir,
    remove_orphan_temps,
)
from rangetui.core.setaside import expire_set_aside, set_aside
from rangetui.core.types import Remote
from rangetui.core.urls import redact

SCHEMA = 2
"""2: a job and a saved map remember the file's mirrors (``mirrors``, a list of URLs)."""
STATE_ENV = "RANGETUI_STATE_DIR"


class CorruptState(Exception):
    """A state file could not be trusted; it has been moved aside (the message says where)."""


def state_root() -> Path:
    """``RANGETUI_STATE_DIR`` (tests, several profiles) or the platform's state dir."""
    override = os.environ.get(STATE_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_state_dir("rangetui", appauthor=False))


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def path_key(target: str) -> str:
    """The file name of a target's state (its map, its finished record): a download
    asks for it about ten times, so it is hashed once."""
    return hashlib.sha256(target.encode()).hexdigest()[:32]


def atomic_write_json(path: Path, data: Any, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old or the new file, whole.

    ``durable=False`` skips the fsyncs, for a file whose loss in a power cut costs
    nothing (a map that claims no bytes yet), where the sync would dominate small files.
    """
    envelope = {"schema": SCHEMA, "sha256": _digest(data), "data": data}
    atomic_write_text(path, json.dumps(envelope, separators=(",", ":")), durable)


def migrate(schema: int, data: Any) -> Any:
    """A state file of an earlier schema, brought to this one. 1 → 2: no mirrors yet (a
    job's in ``jobs``, a map's at its top level)."""
    if schema == 1 and isinstance(data, dict):
        data = dict(data)
        if isinstance(data.get("jobs"), list):
            data["jobs"] = [_with_mirrors(job) for job in data["jobs"]]
        elif "block_size" in data:
            data = _with_mirrors(data)
    return data


def _with_mirrors(item: Any) -> Any:
    return {**item, "mirrors": []} if isinstance(item, dict) else item


def read_json(path: Path) -> Any | None:
    """The data of a state file, None if absent; raises CorruptState after setting it aside.
    A link or anything but a regular file of ours is refused, never followed (StateUnsafe).
    A file of an earlier schema is migrated; one of a later schema is set aside."""
    try:
        raw = _read_private(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise StateUnsafe(f"refusing to read {path}: it is a symbolic link") from None
        raise StateUnusable(f"cannot read {path}: {e.strerror or e}") from None
    try:
        envelope = json.loads(raw)
        schema = envelope.get("schema") if isinstance(envelope, dict) else None
        ok = (
            isinstance(envelope, dict)
            and schema in range(1, SCHEMA + 1)
            and envelope.get("sha256") == _digest(envelope.get("data"))
        )
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        aside = set_aside(path)
        raise CorruptState(f"state file {path} is damaged; moved it to {aside.name}")
    return migrate(envelope["schema"], envelope["data"])


def _read_private(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if not S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise StateUnsafe(f"refusing to read {path}: it is not a file of yours")
        chunks = [os.read(fd, info.st_size + 1)]
        while chunks[-1]:  # it grew since the fstat: read on to the end
            chunks.append(os.read(fd, 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass
class ResumeState:
    """What a partial download needs to continue: the remote it came from and its done bytes."""

    target: str
    url: str
    remote: Remote
    block_size: int
    done: list[tuple[int, int]] = field(default_factory=list)
    boot_id: str | None = None
    """Set on a light map (saved without a sync): valid only until the machine reboots."""
    mirrors: list[str] = field(default_factory=list)
    """Other servers of the file, so that a resumed download keeps using them."""

    @property
    def completed(self) -> int:
        return sum(b - a for a, b in self.done)

    def is_of(self, url: str) -> bool:
        """Was this progress saved for ``url``? Compared without credentials, which a
        saved map never holds (L10)."""
        return redact(self.url) == redact(url)

    def to_json(self) -> dict[str, Any]:
        """No credentials: a map outlives its job (a removed job's partial file keeps its
        map for a later rerun), so the URL's password must not be in it (L10). A mirror
        with credentials is not remembered at all: without them it would only fail."""
        return {
            "target": self.target,
            "url": redact(self.url),
            "remote": asdict(replace(self.remote, url=redact(self.remote.url))),
            "block_size": self.block_size,
            "done": [list(i) for i in self.done],
            "boot_id": self.boot_id,
            "mirrors": _without_credentials(self.mirrors),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResumeState:
        """A map of an older version may hold credentials: they are dropped on reading,
        and the next save writes the map without them."""
        remote = Remote(**data["remote"])
        return cls(
            target=str(data["target"]),
            url=redact(str(data["url"])),
            remote=replace(remote, url=redact(remote.url)),
            block_size=int(data["block_size"]),
            done=[(int(a), int(b)) for a, b in data["done"]],
            boot_id=None if data.get("boot_id") is None else str(data["boot_id"]),
            mirrors=_without_credentials(str(m) for m in data.get("mirrors", [])),
        )


def _without_credentials(urls: Iterable[str]) -> list[str]:
    return [url for url in urls if redact(url) == url]


class Store:
    """Block maps, one file per target path, under an injectable root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else state_root()

    def check(self) -> None:
        """Before any use: the state dir and its maps dir exist and are ours alone
        (StateUnusable or StateUnsafe, one sentence, otherwise)."""
        ensure_private_dir(self.root)
        check_private(self.maps_dir)
        for directory in (self.root, self.maps_dir):
            expire_set_aside(directory)
        for directory in (self.root, self.maps_dir, self.finished_dir):
            remove_orphan_temps(directory)

    @property
    def maps_dir(self) -> Path:
        return self.root / "maps"

    @property
    def finished_dir(self) -> Path:
        """Records of the files finished here (core.finished)."""
        return self.root / "finished"

    def map_path(self, target: Path) -> Path:
        return self.maps_dir / f"{path_key(str(target))}.json"

    def light_path(self, target: Path) -> Path:
        return self.map_path(target).with_suffix(".light.json")

    def has_saved(self, target: Path) -> bool:
        """Is there a map (durable or light) for ``target``? Two stats, nothing parsed."""
        return self.map_path(target).exists() or self.light_path(target).exists()

    def load_map(self, target: Path) -> ResumeState | None:
        """The saved (durable) state for ``target``; CorruptState if it had to be set aside."""
        return self._load(self.map_path(target), target)

    def load_latest(self, target: Path, boot_id: str | None) -> ResumeState | None:
        """The map that claims the most while still true: a light map (bytes the kernel
        has, not yet synced) only in the boot that wrote it, else the durable one. A
        damaged light map is only a lost shortcut: the durable one stands."""
        durable = self.load_map(target)
        try:
            light = self._load(self.light_path(target), target)
        except CorruptState:
            light = None
        if light is None or boot_id is None or light.boot_id != boot_id:
            return durable
        if durable is not None and durable.completed >= light.completed:
            return durable
        return light

    def _load(self, path: Path, target: Path) -> ResumeState | None:
        data = read_json(path)
        if data is None:
            return None
        try:
            state = ResumeState.from_json(data)
        except (KeyError, TypeError, ValueError):
            aside = set_aside(path)
            raise CorruptState(
                f"state file {path} is unreadable; moved it to {aside.name}"
            ) from None
        if state.target != str(target):
            return None
        return state

    def save_map(self, state: ResumeState, durable: bool = True) -> None:
        atomic_write_json(self.map_path(Path(state.target)), state.to_json(), durable)

    def save_light(self, state: ResumeState) -> None:
        """No sync: it survives a crash of the process, not of the machine (the boot id
        says which machine run it belongs to)."""
        atomic_write_json(self.light_path(Path(state.target)), state.to_json(), durable=False)

    def drop_map(self, target: Path) -> None:
        for path in (self.map_path(target), self.light_path(target)):
            with contextlib.suppress(OSError):
                path.unlink()
