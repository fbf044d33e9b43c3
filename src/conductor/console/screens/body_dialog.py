"""The part the post and review dialogs share: a body field, an error line, send and cancel.

A dialog names its widgets ``<PREFIX>-body``, ``<PREFIX>-error``, ``<PREFIX>-send`` and
``<PREFIX>-cancel``; an empty body shows :attr:`BodyDialog.EMPTY_ERROR` and is not sent.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

ResultType = TypeVar("ResultType")


class BodyDialog(ModalScreen[ResultType]):
    PREFIX: ClassVar[str] = ""
    EMPTY_ERROR: ClassVar[str] = ""
    SHOW_ERROR_CLASS: ClassVar[bool] = False
    """Add ``-shown`` to the error line when it shows a message."""

    def compose_body(self, send: str) -> ComposeResult:
        """The body field, the error line and the buttons (``send``: the send button's
        label)."""
        prefix = self.PREFIX
        yield TextArea("", id=f"{prefix}-body", compact=True, soft_wrap=True)
        yield Static("", id=f"{prefix}-error", markup=False)
        with Horizontal(classes="dialog-buttons"):
            yield Button(f"{send} (ctrl+s)", id=f"{prefix}-send", compact=True)
            yield Button("Cancel (esc)", id=f"{prefix}-cancel", compact=True)

    def on_mount(self) -> None:
        # set now, not later from the app's queue (.focus()): see NewTaskScreen.on_mount
        self.set_focus(self.query_one(f"#{self.PREFIX}-body", TextArea))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.PREFIX}-send":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        # after the keys already queued in the focused field: see NewTaskScreen.action_submit
        (self.focused or self).call_later(self._submit_now)

    def _submit_now(self) -> None:
        if not self.is_attached:
            return
        body = self.query_one(f"#{self.PREFIX}-body", TextArea).text
        if not body.strip():
            error = self.query_one(f"#{self.PREFIX}-error", Static)
            error.update(self.EMPTY_ERROR)
            if self.SHOW_ERROR_CLASS:
                error.add_class("-shown")
            return
        self.dismiss(self.dialog_result(body))

    def dialog_result(self, body: str) -> ResultType:
        """What the dialog returns for a (non-empty) ``body``."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)
