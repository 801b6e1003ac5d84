"""Every key of every screen, in one table: the bindings, the footer and the help screen
are all made from it, so that none of them can forget a key the others know.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

ALWAYS = 0
"""Footer priority of the keys that are never dropped (help and quit)."""


@dataclass(frozen=True)
class Key:
    """One key (or several that do the same), what it does, and where it is shown."""

    keys: str
    """Textual key names, comma-separated."""
    show: str
    """How the key is written for a person: "p", "⏎", "PgUp PgDn"."""
    word: str
    """The footer's word for it (empty: help only)."""
    help: str
    """A sentence for the help screen."""
    action: str = ""
    """Textual action; empty when a widget handles the key itself (the table's cursor)."""
    footer: int = 99
    """Footer priority: lower stays longer as the terminal narrows; ALWAYS never goes."""


QUEUE = (
    Key("up,down,k,j", "↑ ↓  k j", "", "move between jobs"),
    Key("pageup,pagedown", "PgUp PgDn", "", "a page up or down"),
    Key("home,end,g,G", "Home End  g G", "", "first or last job"),
    Key("a", "a", "add", "add a download: URL, target directory, connections", "add", 1),
    Key("p", "p", "pause", "pause the selected job", "pause", 2),
    Key("r", "r", "resume", "resume the selected job (a failed one is retried)", "resume", 2),
    Key("P", "P", "pause all", "pause every job", "pause_all", 7),
    Key("R", "R", "resume all", "resume every paused job and retry failed ones", "resume_all", 7),
    Key("x", "x", "remove", "remove the job: keep the partial file or delete it", "remove", 3),
    Key(
        "enter", "⏎", "details", "details: URL, path, each connection's speed, events", "details", 3
    ),
    Key("L", "L", "limit", "speed limit for all downloads and for the selected one", "limit", 4),
    Key("slash", "/", "filter", "show only jobs whose name contains some text", "filter", 4),
    Key("s", "s", "sort", "sort by the next column (queue order, name, size, …)", "sort", 6),
    Key("plus", "+", "more", "one more connection for the selected job", "connections(1)", 8),
    Key("minus", "-", "fewer", "one connection fewer for the selected job", "connections(-1)", 8),
    Key("K,shift+up", "K  ⇧↑", "", "move the job up the queue (starts sooner)", "move(-1)"),
    Key("J,shift+down", "J  ⇧↓", "", "move the job down the queue", "move(1)"),
    Key("C", "C", "clear done", "clear finished jobs from the list (files stay)", "clear_done", 8),
    Key("l", "l", "log", "the event log", "log", 5),
    Key(
        "S",
        "S",
        "stop engine",
        "stop the engine (asks first; downloads go on next start)",
        "stop_engine",
        9,
    ),
    Key("ctrl+z", "Ctrl+Z", "", "suspend to the shell; `fg` comes back", "suspend_process"),
    Key("question_mark,f1", "?  F1", "help", "this help", "help", ALWAYS),
    Key("q", "q", "quit", "quit the TUI (the engine and its downloads go on)", "quit", ALWAYS),
)
PAIRS = (
    ("p", "r", "p/r", "pause/resume"),
    ("P", "R", "P/R", "all"),
    ("plus", "minus", "+/-", "connections"),
)
"""Two keys shown as one footer entry: "p/r pause/resume"."""


@dataclass(frozen=True)
class Entry:
    """One entry of the key bar."""

    show: str
    word: str
    key: str
    """The (first) key name, pressed when the entry is clicked."""
    priority: int


def footer(keys: tuple[Key, ...]) -> tuple[Entry, ...]:
    """The key bar's entries in order, pairs merged (a click presses the first key)."""
    by_keys = {k.keys: k for k in keys}
    entries: list[Entry] = []
    merged: set[str] = set()
    for key in keys:
        if not key.word or key.keys in merged:
            continue
        pair = next((p for p in PAIRS if p[0] == key.keys and p[1] in by_keys), None)
        if pair is None:
            entries.append(Entry(_short(key), key.word, _first(key), key.footer))
        else:
            merged.add(pair[1])
            entries.append(Entry(pair[2], pair[3], _first(key), key.footer))
    return tuple(entries)


def _short(key: Key) -> str:
    """The footer writes a key once: "?" for "?  F1"."""
    return key.show.split("  ")[0]


def _first(key: Key) -> str:
    return key.keys.split(",")[0]


DETAILS = (
    Key("up,down,pageup,pagedown,home,end", "↑ ↓ PgUp PgDn", "", "scroll"),
    Key("escape,enter,q", "esc  ⏎  q", "back", "back to the queue", "dismiss_screen", ALWAYS),
    Key("question_mark,f1", "?  F1", "help", "this help", "help", ALWAYS),
)
LOG = (
    Key("up,down,pageup,pagedown,home,end", "↑ ↓ PgUp PgDn", "", "scroll"),
    Key("escape,l,q", "esc  l  q", "back", "back to the queue", "dismiss_screen", ALWAYS),
    Key("question_mark,f1", "?  F1", "help", "this help", "help", ALWAYS),
)
DIALOGS = (
    Key("tab", "Tab  ⇧Tab", "", "next or previous field"),
    Key("enter", "⏎", "", "confirm (add, apply the limit, keep the filter)"),
    Key("escape", "esc", "", "cancel (in the filter: show every job again)"),
    Key("k,d", "k  d", "", "remove: keep the partial file / delete it"),
    Key("y,n", "y  n", "", "stop the engine: yes / no"),
)
SECTIONS = (
    ("The queue", QUEUE),
    ("Details", DETAILS),
    ("Event log", LOG),
    ("Dialogs", DIALOGS),
)


def bindings(keys: tuple[Key, ...]) -> list[BindingType]:
    """Textual bindings for the keys that have an action; all hidden from Textual's
    footer, because the key bar draws the footer from the same table."""
    return [
        Binding(k.keys, k.action, k.word or k.help, show=False, key_display=k.show)
        for k in keys
        if k.action
    ]
