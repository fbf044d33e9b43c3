"""The one-line title of a single-pane dashboard (``--view logs|bus``): what the pane shows."""

from __future__ import annotations

from textual.widgets import Static

from ..text import neutralise


class ViewTitle(Static):
    """``project / task / run · agent · status · following …``; hidden outside logs/bus views."""

    DEFAULT_CSS = """
    ViewTitle {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $boost;
        color: $text;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.text = ""

    def show(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.update(neutralise(text))  # an agent name comes from a run's record
