"""Command-line front: `rangetui get` (headless), the engine's commands, and the TUI.

Nothing here imports Textual at module level: `get`, `add` and `ls` must start fast
and work on machines where the terminal UI is never used.
"""

from __future__ import annotations

import contextlib
import logging
import os
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


def run() -> None:
    """The program (the console script, ``python -m rangetui``): ``get`` ends at once
    once its work is saved and its output flushed, without tearing down every module
    the interpreter loaded (60 ms, a fifth of a small file's download)."""
    code = main()
    if sys.argv[1:2] == ["get"]:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    raise SystemExit(code)
