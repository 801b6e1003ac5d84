"""Damaged state files, set aside for inspection and removed once they are old (L10).

A file that cannot be read is never read again, nor deleted at once: the user may want
to see what it held. But a set-aside queue may hold URLs with passwords, so it must not
stay for ever.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

SET_ASIDE_DAYS = 30
"""How long a damaged state file is kept for inspection: it may hold a job's URL with
its password, so it must not stay for ever (L10)."""
_STAMP = "%Y%m%d-%H%M%S"


def set_aside(path: Path) -> Path:
    """Keep a bad file for inspection under a name that is never read again (and that
    says when, for :func:`expire_set_aside`: a rename keeps the file's old mtime)."""
    stamp = time.strftime(_STAMP)
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    return target


def expire_set_aside(directory: Path, now: float | None = None) -> list[Path]:
    """Remove the files set aside in ``directory`` more than SET_ASIDE_DAYS ago."""
    limit = (time.time() if now is None else now) - SET_ASIDE_DAYS * 86400
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            _, sep, stamp = entry.name.rpartition(".corrupt-")
            try:
                when = time.mktime(time.strptime(stamp, _STAMP)) if sep else None
            except (ValueError, OverflowError):
                continue
            if when is not None and when < limit and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


__all__ = ["SET_ASIDE_DAYS", "expire_set_aside", "set_aside"]
