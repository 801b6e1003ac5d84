"""`rangetui [URL…]`: the terminal UI over the state dir's queue."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rangetui import __version__
from rangetui.cli.flags import Parser, _connections, add_download_flags, options_from, read_urls


def tui_main(argv: Sequence[str]) -> int:
    parser = Parser(
        prog="rangetui",
        description="Terminal download manager. `rangetui get --help` for headless.",
    )
    add_download_flags(parser)
    parser.add_argument(
        "--max-jobs", type=_connections, default=3, help="downloads running at once (default 3)"
    )
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="quit once the URLs given here are done or failed (scripts, benchmarks)",
    )
    parser.add_argument("--version", action="version", version=f"rangetui {__version__}")
    args = parser.parse_args(argv)
    urls = read_urls(args)
    try:
        from rangetui.tui.run import run_tui
    except ImportError as e:
        print(f"rangetui: error: the terminal UI is not available: {e}", file=sys.stderr)
        return 1
    return run_tui(urls, args, options_from(args))
