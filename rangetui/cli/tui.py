"""`rangetui [URL…]`: the terminal UI, attached to the state dir's background engine.

The engine is started first when none runs; the URLs are queued in it; closing the
UI (or losing the terminal) leaves the downloads running.

Without a terminal to draw on (stdin or stdout not a tty, as in `ssh host rangetui
URL`, or TERM=dumb) nothing is drawn: URLs are queued as `rangetui add` queues them,
and without URLs the command says why it cannot start. SIGTERM and SIGHUP ask the app
to exit like `q` does, so the terminal is restored (main screen, no mouse reporting,
a cursor) and the downloads go on in the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rangetui import __version__
from rangetui.cli.commands import check_command_line, queue_entries, queued
from rangetui.cli.flags import (
    Parser,
    _connections,
    add_download_flags,
    add_per_host_flag,
    options_from,
)
from rangetui.cli.inputfile import entries_or_exit
from rangetui.cli.settings import add_config_flag, parse_args
from rangetui.core.errors import DownloadError
from rangetui.core.snapshots import EngineSnapshot
from rangetui.core.store import state_root
from rangetui.core.text import terminal_safe
from rangetui.daemon.protocol import EngineError
from rangetui.daemon.spawn import attach

if TYPE_CHECKING:
    from rangetui.daemon.client import RemoteEngine
    from rangetui.tui.app import RangeApp

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
LEAVE_SIGNALS = {signal.SIGTERM: "terminated", signal.SIGHUP: "the terminal hung up"}
LEAVE_SECONDS = 5.0
"""After SIGTERM/SIGHUP, how long the app may take to restore the terminal and exit
before the process ends anyway (a terminal that is gone may swallow the last writes)."""


def engine_args(args: argparse.Namespace) -> tuple[str, ...]:
    """What a new engine is started with (the running one keeps its own)."""
    found: list[str] = []
    if args.max_jobs is not None:
        found += ["--max-jobs", str(args.max_jobs)]
    if args.max_per_host is not None:
        found += ["--max-per-host", str(args.max_per_host)]
    return tuple(found)


def tui_main(argv: Sequence[str]) -> int:
    parser = Parser(
        prog="rangetui",
        description="Terminal download manager. `rangetui get --help` for headless; "
        "add, ls, pause, resume, rm, stop and engine drive the background engine.",
    )
    add_download_flags(parser)
    parser.add_argument(
        "--max-jobs", type=_connections, help="downloads running at once (default 3)"
    )
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="quit once the URLs given here are done or failed (scripts, benchmarks)",
    )
    parser.add_argument(
        "--notify",
        action="store_true",
        help="a bell (and OSC 9 where the terminal shows it) when every download has ended",
    )
    parser.add_argument("--version", action="version", version=f"rangetui {__version__}")
    add_per_host_flag(parser, default=None)
    add_config_flag(parser)
    args = parse_args(parser, argv)
    entries = entries_or_exit(parser, args)
    problem = check_command_line(entries, args) if entries else None
    if problem:
        say(f"error: {problem}")
        return EXIT_USAGE
    no_terminal = terminal_problem()
    if no_terminal and not entries:
        say(f"error: {no_terminal}; use `rangetui get URL` or `rangetui add URL` instead")
        return EXIT_FAILED
    app_class = None if no_terminal else load_app()
    if app_class is None and not no_terminal:
        return EXIT_FAILED
    try:
        engine = attach(state_root(), engine_args(args))
        if args.max_jobs is not None:
            engine.set_max_jobs(args.max_jobs)
        options = options_from(args)
        ids = queue_entries(engine, entries, args)
        if no_terminal or app_class is None:
            return queued_without_terminal(engine, ids, no_terminal or "")
    except (EngineError, DownloadError) as e:
        say(f"error: {e}")
        return EXIT_FAILED
    exit_after = frozenset(ids) if args.exit_when_done else None
    app = app_class(engine, args.dir, options, exit_after, notify=args.notify)
    caught = run_app(app)
    engine.detach()
    if caught is not None:
        say(f"{LEAVE_SIGNALS[caught]}; the downloads go on in the background engine")
        return 128 + caught
    if app.return_code:
        say(f"error: {app.farewell}")
    elif line := going_on(app.snap, app.engine_stopped):
        say(line)
    return app.return_code or EXIT_OK


def going_on(snap: EngineSnapshot, stopped: bool) -> str:
    """What a user leaving the screen should know: downloads carry on without it."""
    count = snap.going_on
    if not count:
        return ""
    them = f"{count} download{'s' if count != 1 else ''} {'goes' if count == 1 else 'go'} on"
    if stopped:
        return f"the engine has stopped; {them} at its next start"
    return f"{them} in the background engine (`rangetui ls` lists them; `rangetui stop` stops)"


def say(text: str) -> None:
    """One line on stderr, terminal-safe (it may quote a URL); silent if stderr is gone."""
    with contextlib.suppress(OSError, ValueError):
        print(f"rangetui: {terminal_safe(text)}", file=sys.stderr, flush=True)


def load_app() -> type[RangeApp] | None:
    """The Textual app, imported only when there is a terminal to draw it on."""
    try:
        from rangetui.tui.app import RangeApp
    except ImportError as e:
        say(f"error: the terminal UI is not available: {e}")
        return None
    return RangeApp


def terminal_problem() -> str | None:
    """Why the full-screen UI cannot be drawn here, or None when it can."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return "there is no terminal to draw on (stdin and stdout must be a terminal)"
    if os.environ.get("TERM", "") == "dumb":
        return "the terminal is dumb (TERM=dumb), too plain for the full-screen UI"
    return None


def queued_without_terminal(engine: RemoteEngine, ids: list[str], why: str) -> int:
    """As `rangetui add` does: "ID  NAME" per job on stdout, then one line saying so."""
    snap = queued(engine, ids)
    engine.detach()
    for job_id in ids:
        job = snap.find(job_id)
        print(f"{job_id}  {job.name if job else ''}".rstrip())
    say(f"{why}: queued {len(ids)} download(s) in the background engine; `rangetui ls` shows them")
    return EXIT_OK


def run_app(app: RangeApp) -> signal.Signals | None:
    """Run the app until it exits; returns the signal (SIGTERM, SIGHUP) that ended it.

    The handlers go on the app's own event loop, so the signal only asks the app to exit
    and the exit runs as after `q`: the driver leaves the alternate screen, turns mouse
    reporting off and shows the cursor. A watchdog ends the process should that hang.
    """
    caught: list[signal.Signals] = []
    watchdogs: list[threading.Timer] = []

    def leave(signum: signal.Signals) -> None:
        if not caught:
            caught.append(signum)
            watchdog = threading.Timer(LEAVE_SECONDS, os._exit, (128 + signum,))
            watchdog.daemon = True
            watchdog.start()
            watchdogs.append(watchdog)
        app.exit()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in LEAVE_SIGNALS:
            loop.add_signal_handler(signum, leave, signum)
        try:
            await app.run_async()
        finally:
            for signum in LEAVE_SIGNALS:
                loop.remove_signal_handler(signum)

    try:
        asyncio.run(run())
    finally:
        for watchdog in watchdogs:
            watchdog.cancel()
    return caught[0] if caught else None
