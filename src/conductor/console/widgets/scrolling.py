"""What the scrolling widgets share: their keys (:class:`VimKeys`) and a cheap content resize."""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView

from ..keymap import widget_bindings


class VimKeys:
    """A widget whose ``BINDINGS`` are its scope's in the keymap: the vim moves (``j``/``k``,
    ``g``/``G``, PageUp/PageDown, written once in :data:`~conductor.console.keymap.VIM_MOVES`)
    mapped to the widget's own actions, plus the widget's other keys. Used as
    ``class LogView(VimKeys, ScrollView, keys="log")``; every binding has an id, so the
    config's ``keymap:`` remaps it and the help screen lists it."""

    def __init_subclass__(cls, keys: str | None = None, **kwargs) -> None:
        if keys is not None:  # before Textual's __init_subclass__, which merges BINDINGS
            cls.BINDINGS = widget_bindings(keys)
        super().__init_subclass__(**kwargs)


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
    # Private Textual API, on purpose: ``Widget._scroll_update`` is what the virtual_size
    # watcher runs (scrollbar sizes, scroll clamping) minus the layout, and Textual has no
    # public way to update the scrollbars alone. Pinned by
    # tests/console/test_keys_and_textual_api.py (it must exist and keep the scrollbar right).
    view._scroll_update(size)
    view.refresh()
