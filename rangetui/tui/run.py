"""Entry point for `rangetui [URL…]`; kept apart so `get` never imports Textual.

Importing this module imports Textual: the command line imports it only for the
TUI, and reports a missing Textual as one line.
"""

from __future__ import annotations

import argparse
import sys

from rangetui.core.engine import Engine
from rangetui.core.errors import DownloadError
from rangetui.core.statelock import EngineLocked
from rangetui.core.store import Store
from rangetui.core.types import Options
from rangetui.core.urls import check_url
from rangetui.tui.app import RangeApp

EXIT_OK = 0
EXIT_LOCKED = 1
EXIT_USAGE = 2


def run_tui(urls: list[str], args: argparse.Namespace, options: Options) -> int:
    """Start the engine (one process per state dir), queue the URLs, run the app."""
    problem = check_urls(urls, args)
    if problem:
        print(f"rangetui: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    engine = Engine(Store(), max_jobs=args.max_jobs)
    try:
        engine.start()
    except EngineLocked as e:
        print(f"rangetui: {e}", file=sys.stderr)
        return EXIT_LOCKED
    except DownloadError as e:
        print(f"rangetui: error: {e}", file=sys.stderr)
        return EXIT_LOCKED
    except OSError as e:
        print(
            f"rangetui: error: cannot use the state dir {engine.store.root}: {e.strerror or e}",
            file=sys.stderr,
        )
        return EXIT_LOCKED
    try:
        run_app(engine, urls, args, options)
    finally:
        engine.shutdown()
    return EXIT_OK


def run_app(engine: Engine, urls: list[str], args: argparse.Namespace, options: Options) -> None:
    output = args.output.expanduser().absolute() if args.output is not None else None
    ids = frozenset(engine.add(url, args.dir, output, options) for url in urls)
    RangeApp(engine, args.dir, options, ids if args.exit_when_done else None).run()


def check_urls(urls: list[str], args: argparse.Namespace) -> str | None:
    """Refuse a bad command line before taking the queue, so nothing is half added."""
    if args.output is not None and len(urls) != 1:
        return "-o names one file; give exactly one URL, or use -d DIR"
    if not args.dir.is_dir():
        return f"no such directory: {args.dir}"
    for url in urls:
        try:
            check_url(url)
        except DownloadError as e:
            return str(e)
    return None
