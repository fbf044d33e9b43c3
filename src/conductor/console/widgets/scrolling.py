"""Changing a scroll view's content size without a layout of the whole screen."""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Set ``view.virtual_size`` and update its scrollbars, without asking for a layout.

    Assigning ``virtual_size`` asks for a layout (the reactive is declared so), and a layout
    re-arranges every widget on the screen: about half of the frame that shows an appended
    line. A scroll view's own size never depends on its content size, so only the scrollbars
    need updating; when one appears or disappears, ``show_*_scrollbar`` (layout reactives)
    still ask for the layout that this needs.
    """
    if size == view.virtual_size:
        return
    if not view.is_mounted or not view.container_size:
        view.virtual_size = size
        return
    view.set_reactive(type(view).virtual_size, size)
    view._scroll_update(size)  # what the reactive's watcher does, minus the layout
    view.refresh()
