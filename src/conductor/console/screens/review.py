"""A review comment on one line of a diff: the anchor and the snippet above, the comment below.
Sent to the task's bus as a USER message (the Changes tab builds the body)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..keymap import widget_bindings
from ..text import safe_text
from .body_dialog import BodyDialog


class ReviewCommentScreen(BodyDialog[str | None]):
    BINDINGS = widget_bindings("review")
    PREFIX = "review"
    EMPTY_ERROR = "comment: write something to send"
    DEFAULT_CSS = """
    ReviewCommentScreen #review-snippet { height: auto; max-height: 8; margin-bottom: 1;
                                          color: $text-muted; }
    ReviewCommentScreen #review-body { height: 5; margin-bottom: 1;
                                       border-left: outer $accent 30%; }
    ReviewCommentScreen #review-hint { color: $text-muted; height: auto; }
    ReviewCommentScreen #review-error { color: $error; height: auto; }
    """

    def __init__(self, anchor: str, snippet: list[str]) -> None:
        super().__init__()
        self.anchor = anchor
        self.snippet = snippet

    def compose(self) -> ComposeResult:
        with Vertical(id="review-box", classes="dialog"):
            yield Static(Text(safe_text(f"Review comment on {self.anchor}")),
                         classes="dialog-title")
            yield Static(Text(safe_text("\n".join(self.snippet))), id="review-snippet")
            yield Static("Your comment, sent to the task's bus as a USER message with the "
                         "line and this snippet:", id="review-hint", markup=False)
            yield from self.compose_body("Send")

    def dialog_result(self, body: str) -> str:
        return body
