"""The test files: random bytes, generated once, with their sha256 computed while writing.

A manifest (``manifest.json``) records name, size and sha256 so that ``--keep-data`` can
reuse the files on the next run without generating or hashing them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 4 * 1024 * 1024
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class DataFile:
    """A file served by nginx; ``name`` is relative to the data dir and to the URL root."""

    name: str
    size: int


@dataclass(frozen=True)
class Generated:
    name: str
    size: int
    sha256: str


def small_files(count: int = 200, size: int = MiB) -> list[DataFile]:
    return [DataFile(f"small/s{i:03d}.bin", size) for i in range(count)]


def _write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb", buffering=0) as f:
        left = size
        while left:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    tmp.chmod(0o644)
    tmp.replace(path)
    return digest.hexdigest()


def _load_manifest(data_dir: Path) -> dict[str, Generated]:
    try:
        raw = json.loads((data_dir / MANIFEST).read_text(encoding="utf-8"))
        return {k: Generated(k, int(v["size"]), str(v["sha256"])) for k, v in raw.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _save_manifest(data_dir: Path, entries: dict[str, Generated]) -> None:
    raw = {k: {"size": g.size, "sha256": g.sha256} for k, g in sorted(entries.items())}
    tmp = data_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    tmp.replace(data_dir / MANIFEST)


def _reusable(data_dir: Path, known: Generated | None, wanted: DataFile) -> bool:
    if known is None or known.size != wanted.size:
        return False
    try:
        return (data_dir / wanted.name).stat().st_size == wanted.size
    except OSError:
        return False


def ensure(
    data_dir: Path, files: Iterable[DataFile], say: Callable[[str], None]
) -> dict[str, Generated]:
    """Generate what is missing; return name -> Generated for every requested file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)
    manifest = _load_manifest(data_dir)
    wanted = list(dict.fromkeys(files))
    missing = [f for f in wanted if not _reusable(data_dir, manifest.get(f.name), f)]
    if missing:
        total = sum(f.size for f in missing)
        say(f"generating {len(missing)} file(s), {total / GiB:.2f} GiB of random data")
        start = time.monotonic()
        for f in missing:
            sha = _write_random(data_dir / f.name, f.size)
            manifest[f.name] = Generated(f.name, f.size, sha)
            _save_manifest(data_dir, manifest)
        say(f"generated in {time.monotonic() - start:.1f} s")
    for d in {(data_dir / f.name).parent for f in wanted}:
        d.chmod(0o755)
    return {f.name: manifest[f.name] for f in wanted}
