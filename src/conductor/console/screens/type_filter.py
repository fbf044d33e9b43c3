"""Pick the message types the bus feed shows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, SelectionList, Static

from ..keymap import widget_bindings
from ..widgets.bus_feed import ALL_TYPES


class TypeFilterScreen(ModalScreen[frozenset | None]):
    BINDINGS = widget_bindings("types")

    def __init__(self, current: frozenset[str]) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="types-box", classes="dialog"):
            yield Static("Show these message types (none ticked: all)", classes="dialog-title",
                         markup=False)
            yield SelectionList[str](*[(t, t, t in self.current) for t in ALL_TYPES],
                                     id="types-list")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (ctrl+s)", variant="primary", id="types-apply")
                yield Button("Cancel (esc)", id="types-cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "types-apply":
            self.action_apply()
        else:
            self.action_cancel()

    def action_apply(self) -> None:
        self.dismiss(frozenset(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)
