"""A bounded, virtual list of styled one-line rows (the bus feed, readable stdout).

Only the rows on screen are rendered (``render_line``), so appending is cheap however long the
list; it keeps the last ``max_lines`` rows and forgets older ones. Like the log pane it follows
the end until the user moves up, and ``G``/End follows again.
"""

from __future__ import annotations

from collections import deque

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .scrolling import set_virtual_size


class LineList(ScrollView, can_focus=True):
    """Rows of ``Text``; an optional cursor row; follows new rows while at the end."""

    COMPONENT_CLASSES = {"line-list--cursor"}
    DEFAULT_CSS = """
    LineList { background: $surface; }
    LineList > .line-list--cursor { background: $boost; text-style: bold; }
    LineList:focus > .line-list--cursor { background: $accent 40%; }
    """

    class CursorMoved(Message):
        def __init__(self, line_list: "LineList", index: int) -> None:
            super().__init__()
            self.line_list = line_list
            self.index = index

        @property
        def control(self) -> "LineList":
            return self.line_list

    class Chosen(Message):
        """Enter (or a click) on a row."""

        def __init__(self, line_list: "LineList", index: int) -> None:
            super().__init__()
            self.line_list = line_list
            self.index = index

        @property
        def control(self) -> "LineList":
            return self.line_list

    def __init__(self, *, max_lines: int = 5000, cursor: bool = True, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.has_cursor = cursor
        self._rows: deque[Text] = deque(maxlen=max_lines)
        self._first = 0  # sequence number of _rows[0]; rows are cached by sequence
        self._cursor = -1
        self.following = True
        self._strips: LRUCache[tuple, Strip] = LRUCache(512)
        self._widest = 0
        self._frame: tuple[Style, int] | None = None  # (style, width) while a frame renders

    # -- content -------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor(self) -> int:
        return self._cursor

    def row_text(self, index: int) -> str:
        return self._rows[index].plain

    def set_rows(self, rows: list[Text]) -> None:
        self._rows.clear()
        self._first += self.max_lines + 1
        self._strips.clear()
        self._widest = 0
        self._rows.extend(rows)
        self._widest = max((r.cell_len for r in self._rows), default=0)
        self.following = True
        self._cursor = len(self._rows) - 1 if self.has_cursor else -1
        self._resize()
        self._to_end()
        self.refresh()

    def append_rows(self, rows: list[Text]) -> None:
        if not rows:
            return
        at_end = self.following
        overflow = max(0, len(self._rows) + len(rows) - self.max_lines)
        self._first += overflow
        self._rows.extend(rows)
        self._widest = max(self._widest, max(r.cell_len for r in rows))
        if self.has_cursor:
            self._cursor = len(self._rows) - 1 if at_end else max(0, self._cursor - overflow)
        self._resize(quiet=True)
        if at_end:
            self._to_end()
        self.refresh()

    @property
    def last_row_style(self):
        return self._rows[-1].style if self._rows else None

    def extend_last_row(self, more: Text) -> None:
        """Carry on the last row with more text (a streamed reply arriving in pieces)."""
        if not self._rows:
            self.append_rows([more])
            return
        self._rows[-1].append_text(more)
        self._widest = max(self._widest, self._rows[-1].cell_len)
        self._strips.clear()  # its cached strip is stale (only rows on screen are redrawn)
        self._resize(quiet=True)
        if self.following:
            self._to_end()
        self.refresh()

    def _content_size(self) -> Size:
        """The virtual size: the widest row by the rows (a subclass that wraps rows says)."""
        return Size(self._widest, len(self._rows))

    def _resize(self, *, quiet: bool = False) -> None:
        size = self._content_size()
        if quiet:  # appends: the hot path of a live feed
            set_virtual_size(self, size)
        else:
            self.virtual_size = size

    def _to_end(self) -> None:
        self.scroll_to(y=max(0, self._content_size().height
                             - self.scrollable_content_region.height),
                       animate=False, immediate=True)

    # -- drawing -------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # rich_style walks the DOM and the content region is computed: once per frame, not
        # once per line (they were half of an append's frame)
        self._frame = (self.rich_style, self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _frame_style(self) -> tuple[Style, int]:
        """The widget's style and the content width, for the lines being drawn."""
        if self._frame is not None:
            return self._frame
        return self.rich_style, self.scrollable_content_region.width

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        base, width = self._frame_style()
        if index >= len(self._rows):
            return Strip.blank(width, base)
        is_cursor = self.has_cursor and index == self._cursor
        key = (self._first + index, is_cursor, scroll_x, width, self.has_focus)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        row = self._decorated(index)
        segments = list(row.render(self.app.console))
        strip = Strip(Segment.apply_style(segments, base), row.cell_len)
        strip = strip.crop_extend(scroll_x, scroll_x + width, base)
        if is_cursor:
            strip = strip.apply_style(self.get_component_rich_style("line-list--cursor"))
        self._strips[key] = strip
        return strip

    def _decorated(self, index: int) -> Text:
        """The row as drawn (a subclass highlights search matches in a copy)."""
        return self._rows[index]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- moving --------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        if not self._rows:
            return
        index = max(0, min(index, len(self._rows) - 1))
        if self.has_cursor:
            self._cursor = index
            self.following = index == len(self._rows) - 1
            self.scroll_to_region_row(index)
            self.post_message(self.CursorMoved(self, index))
        else:
            height = self.scrollable_content_region.height
            top = max(0, min(index, len(self._rows) - height))
            self.scroll_to(y=top, animate=False, immediate=True)
            self.following = top >= len(self._rows) - height
        self.refresh()

    def scroll_to_region_row(self, index: int) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = self.scroll_offset.y
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)

    def _position(self) -> int:
        return self._cursor if self.has_cursor else self.scroll_offset.y

    def action_down(self) -> None:
        self.move_cursor(self._position() + 1)

    def action_up(self) -> None:
        self.move_cursor(self._position() - 1)

    def action_top(self) -> None:
        self.move_cursor(0)

    def action_bottom(self) -> None:
        self.move_cursor(len(self._rows) - 1)
        self.following = True
        self._to_end()

    def action_page_down(self) -> None:
        self.move_cursor(self._position() + self.scrollable_content_region.height)

    def action_page_up(self) -> None:
        self.move_cursor(self._position() - self.scrollable_content_region.height)

    def action_choose(self) -> None:
        if self.has_cursor and 0 <= self._cursor < len(self._rows):
            self.post_message(self.Chosen(self, self._cursor))

    def on_click(self, event) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self._rows) and self.has_cursor:
            if index == self._cursor and event.chain >= 2:
                self.post_message(self.Chosen(self, index))
            self.move_cursor(index)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if not self.has_cursor:
            height = self.scrollable_content_region.height
            self.following = new >= len(self._rows) - height
