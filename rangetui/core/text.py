"""The one place where text from a server or a URL becomes safe to show on a terminal.

Such text is hostile: an ESC starts a sequence that can retitle the window, clear the
screen or fill the clipboard (OSC 52); C1 controls do the same on some terminals; bidi
overrides reorder what the reader sees. Everything that is not printable (controls,
format characters, line breaks) becomes "?". Snapshots apply it to every field that
came from outside, so every front end (the TUI, `ls`, `get`) shows only safe text.
"""

from __future__ import annotations

REPLACEMENT = "?"


def terminal_safe(text: str, limit: int | None = None) -> str:
    """``text`` with every non-printable character replaced, cut to ``limit`` chars."""
    if limit is not None:
        text = text[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else REPLACEMENT for c in text)


def safe_or_none(text: str | None) -> str | None:
    return None if text is None else terminal_safe(text)
