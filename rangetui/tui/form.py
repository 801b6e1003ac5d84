"""The behaviour every form dialog shares: Enter or the confirm button submits, the
other button or Escape cancels (dismissed with None)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

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
