"""Entry point for `rangetui [URL…]`; kept apart so `get` never imports Textual."""

from __future__ import annotations

import argparse
import sys

from rangetui.core.download import Options


def run_tui(urls: list[str], args: argparse.Namespace, options: Options) -> int:
    """Placeholder until the Textual app lands (issue 3): say so instead of failing oddly."""
    print("rangetui: the terminal UI is not built yet; use `rangetui get URL`", file=sys.stderr)
    return 2
