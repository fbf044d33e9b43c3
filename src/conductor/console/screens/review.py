"""A review comment on one line of a diff: the anchor and the snippet above, the comment below.
Sent to the task's bus as a USER message (the Changes tab builds the body)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from ..keymap import widget_bindings
from ..text import safe_text


class ReviewCommentScreen(ModalScreen[str | None]):
    BINDINGS = widget_bindings("review")
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
            yield TextArea("", id="review-body", compact=True, soft_wrap=True)
            yield Static("", id="review-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send (ctrl+s)", id="review-send", compact=True)
                yield Button("Cancel (esc)", id="review-cancel", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#review-body", TextArea))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "review-send":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        # after the keys already queued in the field (as the post dialog does)
        (self.focused or self).call_later(self._submit_now)

    def _submit_now(self) -> None:
        if not self.is_attached:
            return
        body = self.query_one("#review-body", TextArea).text
        if not body.strip():
            self.query_one("#review-error", Static).update("comment: write something to send")
            return
        self.dismiss(body)

    def action_cancel(self) -> None:
        self.dismiss(None)
