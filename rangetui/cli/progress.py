"""`get`'s output: one live progress line on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from rangetui.core.snapshots import JobSnapshot
from rangetui.core.units import format_eta, format_rate, format_size

PLAIN_PROGRESS_SECONDS = 5.0
TTY_PROGRESS_SECONDS = 0.25


class ProgressPrinter:
    """One live line on a terminal; a line every few seconds into a log; nothing if quiet."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self._last = 0.0
        self._live = False
        self.broken = False

    def message(self, text: str) -> None:
        if not self.quiet:
            self._write(f"rangetui: {text}\n", clear=True)

    def error(self, text: str) -> None:
        self._write(f"rangetui: {text}\n", clear=True)

    def _write(self, text: str, clear: bool = False) -> None:
        """A closed or broken stderr (a dead pipe) silences us; it never stops the download."""
        if self.broken:
            return
        try:
            if clear and self._live:
                self.stream.write("\r\x1b[K")
                self._live = False
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.broken = True

    def progress(self, line: str, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        interval = TTY_PROGRESS_SECONDS if self.tty else PLAIN_PROGRESS_SECONDS
        if not force and now - self._last < interval:
            return
        self._last = now
        if self.tty:
            self._write(f"\r{line}\x1b[K")
            self._live = True
        else:
            self._write(line + "\n")


def progress_line(jobs: Sequence[JobSnapshot]) -> str:
    """One line for one file, or for several with their totals. One file says how many
    connections it aims at, and why ("4 connections: the server refused more")."""
    completed = sum(j.completed for j in jobs)
    speed = sum(j.speed for j in jobs)
    conns = f"{sum(j.connections for j in jobs)} conn"
    if len(jobs) == 1:
        conns = jobs[0].connection_note or conns
    sizes = [j.size for j in jobs]
    done = format_size(completed)
    if None in sizes:
        return f"{done}  {format_rate(speed)}  [{conns}]"
    size = sum(s or 0 for s in sizes)
    pct = 100.0 * completed / size if size else 100.0
    eta = max(0, size - completed) / speed if speed > 0 else None
    return (
        f"{pct:5.1f}%  {done} / {format_size(size)}  {format_rate(speed)}"
        f"  ETA {format_eta(eta)}  [{conns}]"
    )
