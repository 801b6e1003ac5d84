"""`rangetui get`: downloads in the foreground, on the same engine as the TUI.

The engine keeps its queue in memory and takes no state-dir lock, so `get` runs beside
an open TUI. The main thread only follows snapshots and stays free for signals:
Ctrl-C, SIGTERM or SIGHUP (a closed terminal, a dropped SSH session) stops the engine,
which saves every block map, and the process exits 128 + the signal's number (130,
143, 129) with one line saying so and how to resume, if stderr is still there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rangetui.cli.flags import (
    Parser,
    _connections,
    add_download_flags,
    add_per_host_flag,
    options_from,
)
from rangetui.cli.inputfile import Entry, entries_or_exit, make_directories
from rangetui.cli.progress import ProgressPrinter, progress_line
from rangetui.cli.settings import add_config_flag, parse_args
from rangetui.core.engine import Engine
from rangetui.core.errors import DownloadError
from rangetui.core.jobs import MemoryJobList
from rangetui.core.snapshots import EngineSnapshot, JobSnapshot
from rangetui.core.store import Store
from rangetui.core.text import terminal_safe
from rangetui.core.types import ACTIVE, Options, Phase
from rangetui.core.units import format_rate, format_size
from rangetui.core.urls import redact
from rangetui.logfile import open_log

EXIT_OK = 0
EXIT_FAILED = 1
STOP_SIGNALS = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated",
    signal.SIGHUP: "the terminal hung up",
}
"""Each signal that stops `get`, and how its last line says so."""
POLL_SECONDS = 0.05
ENDS_GAP = 0.01
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class GetJob:
    url: str
    output: Path | None
    directory: Path
    options: Options | None = None
    """This URL's own (an -i line's options), else the command line's."""
    mirrors: tuple[str, ...] = ()


def get_main(argv: Sequence[str]) -> int:
    parser = Parser(prog="rangetui get", description="Download in the foreground, resumably.")
    add_download_flags(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also the queue's own notes on stderr"
    )
    parser.add_argument(
        "-j",
        "--max-jobs",
        type=_connections,
        default=1,
        help="files downloaded at once when several URLs are given (default 1)",
    )
    add_per_host_flag(parser)
    add_config_flag(parser)
    args = parse_args(parser, argv)
    entries = entries_or_exit(parser, args)
    if not entries:
        parser.error("give at least one URL (or -i FILE)")
    if args.output is not None and len(entries) > 1:
        parser.error("-o names one file; use -d DIR for several URLs")
    if args.insecure:
        print("rangetui: warning: --insecure: TLS certificates are not verified", file=sys.stderr)
    options = options_from(args)
    jobs = [job_of(entry, args, options) for entry in entries]
    unmade = make_directories(job.directory for job in jobs)
    if unmade:
        print(f"rangetui: error: {terminal_safe(unmade)}", file=sys.stderr)
        return EXIT_FAILED
    limits = (args.max_jobs, args.max_per_host)
    return run_get(jobs, options, quiet=args.quiet, limits=limits, verbose=args.verbose)


def job_of(entry: Entry, args: argparse.Namespace, options: Options) -> GetJob:
    directory, output = entry.where(args)
    return GetJob(entry.url, output, directory, entry.options(options), entry.mirrors)


class _Interrupt:
    """Turns SIGINT/SIGTERM/SIGHUP into a cancel event; a second signal exits at once."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.signum = signal.SIGINT

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.cancel.is_set():
            raise SystemExit(128 + self.signum)
        self.signum = signal.Signals(signum)
        self.cancel.set()

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def run_get(
    jobs: list[GetJob],
    options: Options,
    quiet: bool,
    store: Store | None = None,
    limits: tuple[int, int] = (1, 16),
    verbose: bool = False,
) -> int:
    """Up to ``limits[0]`` URLs at once, in order, with at most ``limits[1]`` connections
    to one host; the exit code is the worst of them."""
    printer = ProgressPrinter(sys.stderr, quiet)
    interrupt = _Interrupt()
    interrupt.install()
    store = store or Store()
    try:
        store.check()  # a state dir another user may write is refused before any use
    except DownloadError as e:
        printer.error(f"error: {e}")
        return EXIT_FAILED
    open_log(store.root)
    engine = Engine(store, limits[0], MemoryJobList(store), max_per_host=limits[1])
    engine.start()
    follower = _Follower(engine, printer, verbose)
    try:
        for job in jobs:
            follower.add(job, options)
        return follower.follow(interrupt)
    finally:
        engine.shutdown(STOP_GRACE_SECONDS)
        if printer.broken:
            _stderr_to_devnull()


def _stderr_to_devnull() -> None:
    """stderr went away (a closed terminal, a dead pipe) with a line still in Python's
    buffer: flushing it at exit would fail and make the exit status 120, not ours."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stderr.fileno())
        os.close(null)


class _Follower:
    """Prints what the engine says about our jobs until each has ended."""

    def __init__(self, engine: Engine, printer: ProgressPrinter, verbose: bool = False) -> None:
        self.engine = engine
        self.verbose = verbose
        self.printer = printer
        self.waiting: set[str] = set()
        self.worst = EXIT_OK
        self.seen = 0
        self.first_open = 0
        """Every job before this index has ended and been reported."""

    def add(self, job: GetJob, options: Options) -> None:
        try:
            added = self.engine.add(
                job.url, job.directory, job.output, job.options or options, mirrors=job.mirrors
            )
            self.waiting.add(added)
        except DownloadError as e:  # plainly not a URL: said at once, the others go on
            self.printer.error(terminal_safe(f"error: {redact(job.url)}: {e}"))
            self.worst = max(self.worst, EXIT_FAILED)

    def follow(self, interrupt: _Interrupt) -> int:
        whole = True
        while self.waiting:
            if interrupt.cancel.is_set():
                return self._interrupted(interrupt)
            self.engine.ended.clear()  # before the snapshot: an end after it wakes the wait
            snap = self.engine.snapshot()
            self._events(snap)
            active = self._look(snap.jobs, whole)
            if len(active) > 1 or (active and active[0].status is Phase.DOWNLOADING):
                self.printer.progress(progress_line(active))
            whole = not self.engine.ended.wait(POLL_SECONDS)
            if not whole and len(self.waiting) > 1:
                time.sleep(ENDS_GAP)  # with -j, ends come in bursts: one look for several
        return self.worst

    def _look(self, jobs: tuple[JobSnapshot, ...], whole: bool) -> list[JobSnapshot]:
        """Report the jobs that ended; the active ones. The engine starts jobs in queue
        order, so after an end only the jobs from the first one still going to the first
        one never started can have changed: a list of thousands costs those few. A look
        at them all comes whenever a wait passes with no end."""
        active: list[JobSnapshot] = []
        index = 0 if whole else self.first_open
        while index < len(jobs):
            job = jobs[index]
            if job.status is Phase.QUEUED and job.started is None and not whole:
                break
            if job.status in (Phase.DONE, Phase.FAILED):
                if job.id in self.waiting:
                    self.waiting.discard(job.id)
                    self.worst = max(self.worst, self._report(job))
                if index == self.first_open:
                    self.first_open += 1
            elif job.status in ACTIVE:
                active.append(job)
            index += 1
        return active

    def _interrupted(self, interrupt: _Interrupt) -> int:
        before = self.engine.snapshot()
        self.engine.shutdown(STOP_GRACE_SECONDS)
        self._events(self.engine.snapshot())
        said = STOP_SIGNALS[interrupt.signum]
        over = [  # one connection, no ranges: nothing to resume from (L5)
            j.name
            for j in before.jobs
            if j.running and j.status is Phase.DOWNLOADING and j.connection_target == 0
        ]
        tail = f" ({', '.join(over)}: no Range support, so it starts over)" if over else ""
        self.printer.error(f"{said}; progress is saved: resume with the same command{tail}")
        return interrupt.exit_code

    def _events(self, snap: EngineSnapshot) -> None:
        """What the downloads said (not the queue's own notes), each line once."""
        for line in snap.log:
            if line.seq > self.seen:
                self.seen = line.seq
                if line.kind == "event" or self.verbose:
                    self.printer.message(line.text)

    def _report(self, job: JobSnapshot) -> int:
        if job.status is Phase.FAILED:
            self.printer.error(f"error: {job.url}: {job.error}")
            return EXIT_FAILED
        secs = (job.finished or time.time()) - (job.started or time.time())
        size = job.size if job.size is not None else job.completed
        rate = format_rate(size / secs) if secs > 0 else ""
        self.printer.message(f"saved {job.target} ({format_size(size)} in {secs:.1f} s, {rate})")
        return EXIT_OK
