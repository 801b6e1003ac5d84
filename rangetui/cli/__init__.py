"""Command-line front: `rangetui get` (headless), `rangetui [URL…]` (the TUI).

Nothing here imports Textual at module level: `get` must start fast and work on
machines where the terminal UI is never used.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "get":
            from rangetui.cli.get import get_main

            return get_main(args[1:])
        from rangetui.cli.tui import tui_main

        return tui_main(args)
    except KeyboardInterrupt:
        print("rangetui: interrupted", file=sys.stderr)
        return 130
