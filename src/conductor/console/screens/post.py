"""Post a message to a bus: how an operator answers a QUESTION or leaves a note."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static, TextArea

from ...bus import OPERATOR_TYPES
from ..keymap import widget_bindings


@dataclass
class PostRequest:
    project: str
    task: str | None
    type: str
    body: str


class PostMessageScreen(ModalScreen[PostRequest | None]):
    BINDINGS = widget_bindings("post")

    def __init__(self, project: str, task: str | None, *, msg_type: str = "USER") -> None:
        super().__init__()
        self.project_id = project
        self.task_id = task
        self.msg_type = msg_type if msg_type in OPERATOR_TYPES else "USER"

    def compose(self) -> ComposeResult:
        scope = (f"task {self.task_id}" if self.task_id
                 else f"project {self.project_id} (project bus)")
        with Vertical(id="post-box", classes="dialog"):
            yield Static(f"Post a message to {scope}", classes="dialog-title", markup=False)
            with Horizontal(classes="field"):
                yield Label("type", classes="field-label")
                yield Select([(t, t) for t in OPERATOR_TYPES], value=self.msg_type,
                             allow_blank=False, id="post-type", compact=True)
            yield Label("body", classes="field-label")
            yield TextArea("", id="post-body", compact=True, soft_wrap=True)
            yield Static("", id="post-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Post (ctrl+s)", variant="primary", id="post-send", compact=True)
                yield Button("Cancel (esc)", id="post-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#post-body", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "post-send":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        body = self.query_one("#post-body", TextArea).text
        if not body.strip():
            error = self.query_one("#post-error", Static)
            error.update("body: write something to post")
            error.add_class("-shown")
            return
        value = self.query_one("#post-type", Select).value
        self.dismiss(PostRequest(self.project_id, self.task_id, str(value), body))

    def action_cancel(self) -> None:
        self.dismiss(None)
