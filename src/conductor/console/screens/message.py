"""One bus message in full: every header field and the whole body."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...bus import Message as BusMessage
from ...timefmt import format_rfc3339nano
from ..keymap import widget_bindings
from ..text import safe_text
from ..widgets.bus_feed import TYPE_STYLES


def message_table(msg: BusMessage) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("type", Text(safe_text(msg.type), style=TYPE_STYLES.get(msg.type, "")))
    for key, value in (("msg_id", msg.msg_id), ("time", format_rfc3339nano(msg.ts) if msg.ts else ""),
                       ("project", msg.project_id), ("task", msg.task_id), ("run", msg.run_id),
                       ("issue", msg.issue_id)):
        if value:
            table.add_row(key, Text(safe_text(value)))
    for parent in msg.parents:
        table.add_row("parent", Text(safe_text(f"{parent.msg_id} {parent.kind}".strip())))
    for link in msg.links:
        table.add_row("link", Text(safe_text(f"{link.label} {link.url}".strip())))
    for key, value in msg.meta.items():
        table.add_row(f"meta.{safe_text(key)}", Text(safe_text(value)))
    return table


class MessageScreen(ModalScreen[None]):
    BINDINGS = widget_bindings("message")

    def __init__(self, msg: BusMessage) -> None:
        super().__init__()
        self.msg = msg

    def compose(self) -> ComposeResult:
        with Vertical(id="message-box", classes="dialog"):
            yield Static(message_table(self.msg), id="message-header")
            with VerticalScroll(id="message-scroll"):
                yield Static(Text(safe_text(self.msg.body)), id="message-body")
            yield Static("esc close", classes="dialog-hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
