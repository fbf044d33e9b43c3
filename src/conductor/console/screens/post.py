"""Post a message to a bus: how an operator answers a QUESTION or leaves a note. Answering,
the dialog shows the question above the answer (bounded, neutralised, scrollable)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from rich.text import Text
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Select, Static

from ...bus import OPERATOR_TYPES
from ...bus import Message as BusMessage
from ..keymap import widget_bindings
from ..text import safe_text
from .body_dialog import BodyDialog

QUESTION_MAX_CHARS = 8000
"""How much of a question the reply dialog shows (a bus body can be megabytes)."""


def question_text(body: str) -> str:
    """The question as the dialog shows it: at most QUESTION_MAX_CHARS, neutralised."""
    body = body.strip("\n")
    if len(body) > QUESTION_MAX_CHARS:
        cut = len(body) - QUESTION_MAX_CHARS
        body = body[:QUESTION_MAX_CHARS] + f"\n… ({cut} more characters: enter on it opens it whole)"
    return safe_text(body)


@dataclass
class PostRequest:
    project: str
    task: str | None
    type: str
    body: str


class PostMessageScreen(BodyDialog[PostRequest | None]):
    BINDINGS = widget_bindings("post")
    PREFIX = "post"
    EMPTY_ERROR = "body: write something to post"
    SHOW_ERROR_CLASS = True

    def __init__(self, project: str, task: str | None, *, msg_type: str = "USER",
                 question: BusMessage | None = None) -> None:
        super().__init__()
        self.project_id = project
        self.task_id = task
        self.msg_type = msg_type if msg_type in OPERATOR_TYPES else "USER"
        self.question = question

    def compose(self) -> ComposeResult:
        scope = (f"task {self.task_id}" if self.task_id
                 else f"project {self.project_id} (project bus)")
        with Vertical(id="post-box", classes="dialog"):
            if self.question is None:
                yield Static(f"Post a message to {scope}", classes="dialog-title", markup=False)
            else:
                q = self.question
                asker = q.run_id or q.task_id or q.project_id or "the bus"
                yield Static(Text(safe_text(f"Answer the QUESTION from {asker} on {scope}")),
                             classes="dialog-title")
                with VerticalScroll(id="post-question"):
                    yield Static(Text(question_text(q.body)), id="post-question-body")
            with Horizontal(classes="field"):
                yield Label("type", classes="field-label")
                yield Select([(t, t) for t in OPERATOR_TYPES], value=self.msg_type,
                             allow_blank=False, id="post-type", compact=True)
            yield Label("body", classes="field-label")
            yield from self.compose_body("Post")

    def dialog_result(self, body: str) -> PostRequest:
        value = self.query_one("#post-type", Select).value
        return PostRequest(self.project_id, self.task_id, str(value), body)
