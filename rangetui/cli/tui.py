"""`rangetui [URL…]`: the terminal UI, attached to the state dir's background engine.

The engine is started first when none runs; the URLs are queued in it; closing the
UI (or losing the terminal) leaves the downloads running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rangetui import __version__
from rangetui.cli.commands import check_command_line, queue_entries
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
from rangetui.core.store import state_root
from rangetui.daemon.protocol import EngineError
from rangetui.daemon.spawn import attach

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
    parser.add_argument("--version", action="version", version=f"rangetui {__version__}")
    add_per_host_flag(parser, default=None)
    add_config_flag(parser)
    args = parse_args(parser, argv)
    entries = entries_or_exit(parser, args)
    problem = check_command_line([e.url for e in entries], args) if entries else None
    if problem:
        print(f"rangetui: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from rangetui.tui.app import RangeApp
    except ImportError as e:
        print(f"rangetui: error: the terminal UI is not available: {e}", file=sys.stderr)
        return EXIT_FAILED
    try:
        engine = attach(state_root(), engine_args(args))
        if args.max_jobs is not None:
            engine.set_max_jobs(args.max_jobs)
        options = options_from(args)
        ids = frozenset(queue_entries(engine, entries, args))
    except (EngineError, DownloadError) as e:
        print(f"rangetui: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    app = RangeApp(engine, args.dir, options, ids if args.exit_when_done else None)
    app.run()
    engine.detach()
    if app.return_code:
        print(f"rangetui: error: {app.farewell}", file=sys.stderr)
    return app.return_code or EXIT_OK
