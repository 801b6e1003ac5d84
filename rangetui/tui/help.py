"""The help screen (``?`` or F1): every key of every screen, and what the heatmap shows.

Made from the same key table as the bindings and the footer (keys.py), so it lists
exactly the keys that work.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from rangetui.tui.heatmap import LEGEND
from rangetui.tui.keys import SECTIONS, Key

KEY_WIDTH = 15
HEATMAP_WORDS = {
    "done": "every byte of the slice is here",
    "most": "two thirds or more",
    "some": "started",
    "none": "not yet",
    "fetching": "a connection is writing here now",
}


def help_text() -> Text:
    text = Text()
    for title, keys in SECTIONS:
        text.append(f" {title}\n", style="bold underline")
        for key in keys:
            _key_line(text, key)
        text.append("\n")
    text.append(" The heatmap\n", style="bold underline")
    text.append(" The selected download's file, cut into equal slices, one cell each:\n")
    for glyph, word in LEGEND:
        text.append(f"   {glyph * 3}  ", style="bold")
        text.append(f"{word}: {HEATMAP_WORDS[word]}\n")
    text.append("\n Speeds are in decimal units (kB/s, MB/s), sizes in binary (KiB, MiB).\n")
    text.append(" Limits take K, M or G: 500K, 2M, 1.5M (per second).\n")
    return text


def _key_line(text: Text, key: Key) -> None:
    text.append(f"   {key.show:<{KEY_WIDTH}}", style="bold")
    text.append(f"{key.help}\n")


class HelpScreen(ModalScreen[None]):
    """Full screen and opaque: nothing updates underneath while it is read."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { background: $background; }
    HelpScreen #help-title { height: 1; background: $panel; text-style: bold; }
    HelpScreen #help { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(
            Text(" Help: esc, q or ? to go back  ·  ↑ ↓ PgUp PgDn scroll"), id="help-title"
        )
        with VerticalScroll(id="help"):
            yield Static(help_text(), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
