"""Every key (the app's, each pane's and each dialog's), generated from the one binding table
in :mod:`..keymap`, so remapped keys show as remapped."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keymap import ALL, display_keys, widget_bindings
from ..status import HEARTBEAT_LOOKS, LOOKS


def help_table(keys: dict[str, str], *, read_only: bool) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_column(style="bright_black")
    group = None
    for spec in ALL:
        if read_only and spec.control:
            continue
        if spec.group != group:
            group = spec.group
            table.add_row(Text(group, style="bold underline"), "", "")
        table.add_row(display_keys(keys.get(spec.id, spec.keys)), spec.description, spec.id)
    table.add_row(Text("Statuses", style="bold underline"), "", "")
    for name, st in LOOKS.items():
        table.add_row(Text(st.glyph, style=st.style), st.label, "")
    for name, st in HEARTBEAT_LOOKS.items():
        table.add_row(Text(st.glyph, style=st.style), st.label, "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = widget_bindings("help")

    def __init__(self, keys: dict[str, str], *, read_only: bool) -> None:
        super().__init__()
        self.keys = keys
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Static("Keys  (action ids in the right column: remap them in the config's "
                         "keymap: section)", classes="dialog-title", markup=False)
            with VerticalScroll(id="help-scroll"):
                yield Static(help_table(self.keys, read_only=self.read_only), id="help-table")
            close = display_keys(self.keys.get("help.close", "escape,q,question_mark"))
            yield Static(f"{close} close", classes="dialog-hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
