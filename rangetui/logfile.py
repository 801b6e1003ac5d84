"""The log file: every event of every download, kept after the terminal is gone.

It lives in the state dir's ``log/`` (platformdirs' user log dir on Linux, and it
follows RANGETUI_STATE_DIR), is rotated at 1 MiB with three old files kept, and holds
only what the event log holds: terminal-safe lines, URLs without userinfo, never a
header value.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import time
from pathlib import Path

from rangetui.core.ledger import LOGGER
from rangetui.core.privatedir import ensure_private_dir

LOG_NAME = "rangetui.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 3


class _QuietHandler(logging.handlers.RotatingFileHandler):
    """A full disk or a vanished file costs the log lines, never a word on stderr: the
    download says what matters itself. Cheap per line (a queue of small files logs
    thousands): the size is checked every CHECK_EVERY lines, the buffer written at most
    every FLUSH_SECONDS, and whole at exit."""

    CHECK_EVERY = 64
    FLUSH_SECONDS = 0.5
    _lines = 0
    _flushed = 0.0

    def handleError(self, record: logging.LogRecord) -> None:
        return None

    def shouldRollover(self, record: logging.LogRecord) -> int:
        self._lines += 1
        if self._lines % self.CHECK_EVERY:
            return 0
        return super().shouldRollover(record)

    def flush(self) -> None:
        now = time.monotonic()
        if now - self._flushed >= self.FLUSH_SECONDS:
            self._flushed = now
            super().flush()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            logging.StreamHandler.flush(self)
        super().close()


def log_path(state_root: Path) -> Path:
    return state_root / "log" / LOG_NAME


def open_log(state_root: Path) -> Path | None:
    """Send the engine's events to the log file too; None (and no log) when it cannot be
    written: a log never stops a download."""
    path = log_path(state_root)
    logger = logging.getLogger(LOGGER)
    if any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        return path
    try:
        ensure_private_dir(path.parent)
        handler = _QuietHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return path
