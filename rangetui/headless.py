"""`rangetui get`: downloads in the foreground with a progress line on stderr.

The download runs in its own thread so that the main thread stays free for signals:
Ctrl-C or SIGTERM sets the cancel event, the download saves its block map and stops,
and the process exits non-zero with a hint to rerun the same command.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TextIO

from rangetui.core.download import Download, DownloadSnapshot, Options, Phase
from rangetui.core.errors import Cancelled, DownloadError
from rangetui.core.http import redact
from rangetui.core.store import Store
from rangetui.core.units import format_eta, format_rate, format_size

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
PLAIN_PROGRESS_SECONDS = 5.0
TTY_PROGRESS_SECONDS = 0.25
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class GetJob:
    url: str
    output: Path | None
    directory: Path


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

    def progress(self, snap: DownloadSnapshot, force: bool = False) -> None:
        if self.quiet or snap.phase is not Phase.DOWNLOADING:
            return
        now = time.monotonic()
        interval = TTY_PROGRESS_SECONDS if self.tty else PLAIN_PROGRESS_SECONDS
        if not force and now - self._last < interval:
            return
        self._last = now
        line = progress_line(snap)
        if self.tty:
            self._write(f"\r{line}\x1b[K")
            self._live = True
        else:
            self._write(line + "\n")


def progress_line(snap: DownloadSnapshot) -> str:
    done = format_size(snap.completed)
    if snap.size is None:
        return f"{done}  {format_rate(snap.speed)}  [{len(snap.connections)} conn]"
    pct = 100.0 * snap.completed / snap.size if snap.size else 100.0
    return (
        f"{pct:5.1f}%  {done} / {format_size(snap.size)}  {format_rate(snap.speed)}"
        f"  ETA {format_eta(snap.eta)}  [{len(snap.connections)} conn]"
    )


class _Interrupt:
    """Turns SIGINT/SIGTERM into a cancel event; a second Ctrl-C exits at once."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.signum: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.cancel.is_set():
            raise SystemExit(EXIT_INTERRUPTED)
        self.signum = signum
        self.cancel.set()


@dataclass
class _Active:
    """One download running in its thread, as the main loop tracks it."""

    job: GetJob
    download: Download
    thread: threading.Thread
    started: float
    outcome: list[BaseException | Path]


def run_get(
    jobs: list[GetJob],
    options: Options,
    quiet: bool,
    store: Store | None = None,
    max_jobs: int = 1,
) -> int:
    """Up to ``max_jobs`` URLs at once, in order; the exit code is the worst of them."""
    printer = ProgressPrinter(sys.stderr, quiet)
    interrupt = _Interrupt()
    interrupt.install()
    cancel = interrupt.cancel
    store = store or Store()
    events: queue.SimpleQueue[str] = queue.SimpleQueue()
    pending = list(reversed(jobs))
    active: list[_Active] = []
    worst = EXIT_OK
    cancelled_at: float | None = None
    while pending or active:
        while pending and len(active) < max_jobs and not cancel.is_set():
            active.append(_start(pending.pop(), options, store, events, cancel))
        active[0].thread.join(0.05 if len(active) > 1 else 0.1)
        _drain(events, printer)
        for item in [a for a in active if not a.thread.is_alive()]:
            active.remove(item)
            worst = max(worst, _report(item, printer))
        if active:
            printer.progress(_combined(active))
        if cancel.is_set():
            pending.clear()
            if cancelled_at is None:
                for item in active:
                    item.download.interrupt()
            cancelled_at = cancelled_at or time.monotonic()
            if active and time.monotonic() - cancelled_at > STOP_GRACE_SECONDS:
                break  # stuck in a connect or probe: nothing unsaved is lost by leaving
    _drain(events, printer)
    if cancel.is_set():
        printer.error("interrupted; progress is saved: resume with the same command")
        return EXIT_INTERRUPTED
    return worst


def _start(
    job: GetJob,
    options: Options,
    store: Store,
    events: queue.SimpleQueue[str],
    cancel: threading.Event,
) -> _Active:
    download = Download(
        job.url,
        output=job.output,
        directory=job.directory,
        options=options,
        store=store,
        on_event=events.put,
    )
    outcome: list[BaseException | Path] = []
    thread = threading.Thread(target=_target, args=(download, cancel, outcome), daemon=True)
    thread.start()
    return _Active(job, download, thread, time.monotonic(), outcome)


def _combined(active: list[_Active]) -> DownloadSnapshot:
    """One progress line for several files: the first one's, with totals when there are more."""
    snaps = [a.download.snapshot() for a in active]
    if len(snaps) == 1:
        return snaps[0]
    sizes = [s.size for s in snaps]
    return replace(
        snaps[0],
        phase=Phase.DOWNLOADING,
        size=None if None in sizes else sum(s or 0 for s in sizes),
        completed=sum(s.completed for s in snaps),
        speed=sum(s.speed for s in snaps),
        connections=tuple(c for s in snaps for c in s.connections),
    )


def _target(
    download: Download, cancel: threading.Event, outcome: list[BaseException | Path]
) -> None:
    try:
        outcome.append(download.run(cancel))
    except BaseException as e:  # reported by the main thread, never as a traceback
        outcome.append(e)


def _drain(events: queue.SimpleQueue[str], printer: ProgressPrinter) -> None:
    while not events.empty():
        printer.message(events.get_nowait())


def _report(item: _Active, printer: ProgressPrinter) -> int:
    result = item.outcome[0] if item.outcome else Cancelled("interrupted")
    secs = time.monotonic() - item.started
    if isinstance(result, Path):
        snap = item.download.snapshot()
        size = snap.size if snap.size is not None else snap.completed
        rate = format_rate(size / secs) if secs > 0 else ""
        printer.message(f"saved {result} ({format_size(size)} in {secs:.1f} s, {rate})")
        return EXIT_OK
    if isinstance(result, Cancelled):
        return EXIT_INTERRUPTED
    if isinstance(result, DownloadError):
        printer.error(f"error: {redact(item.job.url)}: {result}")
        return EXIT_FAILED
    if isinstance(result, MemoryError):
        printer.error("error: out of memory")
        return EXIT_FAILED
    printer.error(f"internal error: {type(result).__name__}: {result}")
    return EXIT_FAILED
