"""The behaviour every form dialog shares: Enter or the confirm button submits, the
other button or Escape cancels (dismissed with None)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from textual import events
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button, Input

R = TypeVar("R")


class SteadyInput(Input):
    """A text box whose cursor does not blink: each blink is a redraw, two a second,
    sent over SSH for as long as a dialog stays open (and a picture of the dialog would
    depend on when it was taken)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_blink = False


class UrlsInput(SteadyInput):
    """A URL field that keeps every line of a paste: a one-line text box would keep the
    first alone (Textual's Input does), silently dropping the rest of a list. What a
    paste brings is text from anywhere: control characters are dropped, never drawn."""

    def _on_paste(self, event: events.Paste) -> None:
        """Textual calls Input's own handler after this one unless stopped here."""
        event.stop()
        event.prevent_default()
        text = event.text.replace("\r", "\n")
        printable = "".join(c if c.isprintable() or c == "\n" else " " for c in text)
        words = " ".join(line.strip() for line in printable.split("\n") if line.strip())
        if not words:
            return
        start, end = sorted(self.selection)
        before, after = self.value[:start], self.value[end:]
        pad_before = " " if before and not before.endswith(" ") else ""
        pad_after = " " if after and not after.startswith(" ") else ""
        self.replace(pad_before + words + pad_after, start, end)


def urls_in(text: str) -> list[str]:
    """The URLs of the field: each word, when several words are URLs (a pasted list;
    a word that is not a URL is then an error, not part of another), else the whole
    text (a lone URL with a raw space in it stays one)."""
    words = text.split()
    if sum("://" in word for word in words) > 1:
        return words
    return [text.strip()]


class FormDialog(ModalScreen[R | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    CONFIRM = "ok"
    """The id of the button that submits."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.CONFIRM:
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def submit(self) -> None:
        raise NotImplementedError
