"""Command-line front: `rangetui get` (headless), the engine's commands, and the TUI.

Nothing here imports Textual at module level: `get`, `add` and `ls` must start fast
and work on machines where the terminal UI is never used.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

ENGINE_COMMANDS = frozenset({"add", "ls", "pause", "resume", "rm", "stop", "engine", "config"})


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "get":
            from rangetui.cli.get import get_main

            return get_main(args[1:])
        if args and args[0] in ENGINE_COMMANDS:
            from rangetui.cli.commands import run_command

            return run_command(args[0], args[1:])
        from rangetui.cli.tui import tui_main

        return tui_main(args)
    except KeyboardInterrupt:
        print("rangetui: interrupted", file=sys.stderr)
        return 130
