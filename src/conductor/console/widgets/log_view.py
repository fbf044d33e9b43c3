"""The log pane: a file-backed, line-API view of an agent's stdout/stderr that follows the tail.

Modelled on Toolong. The widget never holds the file: :class:`~conductor.console.line_index.LineIndex` keeps a
sparse byte-offset index and decoded lines live in small LRU caches. The event loop never reads
the file (design principle 6): opening (the tail, read backwards), checking for growth and
scanning it, reading the lines to draw and searching all run in thread workers, which hand back
plain data. ``render_line`` only draws from the line cache; a line not read yet is drawn blank
and asked for, together with a page above and below the view, and drawn when it arrives (a
frame later). Opening and growth also read the last page, so the tail and new lines appear
with the message that announces them. The part of the file before the tail is indexed by a
cancellable worker and merged without moving the view. Growth is read from the last offset only.

Wrapping (``w``) works on the visible window only: the scroll position stays in *file lines*
(one scroll step = one file line, the scrollbar maps file lines) and each visible line is folded
to the width when drawn. When the lines from the scroll position on do not fill the screen, the
window is laid out from the last line upwards instead, so the end of the file is always
reachable and following shows the last rows.

Everything drawn passes through :func:`~conductor.console.text.neutralise`: control characters and escape
sequences are shown as symbols, never sent to the terminal.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import work
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from conductor.console.text import PLACEHOLDER_CHARS
from conductor.console.line_index import (
    Change,
    DisplayLine,
    IndexDelta,
    LineIndex,
    LineReader,
    PrefixIndex,
    find_backward,
    find_forward,
    read_display_lines,
)
from conductor.console.keymap import widget_bindings
from conductor.console.widgets.pane_state import PaneState
from conductor.console.widgets.scrolling import VimKeys, set_virtual_size
from conductor.errors import ConductorError

if TYPE_CHECKING:
    from conductor.console.widgets.readable_log import ReadableLog

TAIL_LINES = 1000
LINE_CACHE_SIZE = 1024
_PLACEHOLDER = re.compile("[" + "".join(sorted(PLACEHOLDER_CHARS)) + "]")
STRIP_CACHE_SIZE = 256
LONG_WORKERS = frozenset({"log-view-index", "log-view-search"})
"""Worker groups that may scan the whole file: cancelled when the pane shows another file."""
MAX_FETCH_LINES = 512
"""Lines one read worker reads (the view and a page either side fit in it many times)."""


@dataclass(frozen=True, slots=True)
class _Window:
    """The wrapped rows on screen and the file line drawn on the top row."""

    key: tuple
    rows: list[Strip]
    top_line: int


class LogView(PaneState, VimKeys, ScrollView, can_focus=True, keys="log"):
    """Shows a text file that may grow, following its end until the user scrolls up."""


    COMPONENT_CLASSES = {
        "log-view--control",
        "log-view--marker",
        "log-view--match",
        "log-view--current-match",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        & > .log-view--control { color: $warning; }
        & > .log-view--marker { color: $text-muted; text-style: italic; }
        & > .log-view--match { background: $warning 40%; }
        & > .log-view--current-match { background: $warning; color: $background; }
    }
    """

    class FollowChanged(Message):
        """Following started or stopped (by the user, a search jump, or a reset)."""

        def __init__(self, log_view: Widget, following: bool) -> None:
            super().__init__()
            self.log_view = log_view
            self.following = following

        @property
        def control(self) -> Widget:
            return self.log_view

    class StatusChanged(Message):
        """The one-line status text changed (see :attr:`LogView.status_text`)."""

        def __init__(self, log_view: Widget, text: str) -> None:
            super().__init__()
            self.log_view = log_view
            self.text = text

        @property
        def control(self) -> Widget:
            return self.log_view

    class SearchRequested(Message):
        """The user asked to type a search (``/``); the container shows an input."""

        def __init__(self, log_view: Widget) -> None:
            super().__init__()
            self.log_view = log_view

        @property
        def control(self) -> Widget:
            return self.log_view

    class _IndexBuilt(Message):
        def __init__(self, generation: int, prefix: PrefixIndex) -> None:
            super().__init__()
            self.generation = generation
            self.prefix = prefix

    class _IndexProgress(Message):
        def __init__(self, generation: int, percent: int) -> None:
            super().__init__()
            self.generation = generation
            self.percent = percent

    class _Opened(Message):
        def __init__(self, generation: int, index: LineIndex | None, problem: str,
                     lines: dict[int, DisplayLine]) -> None:
            super().__init__()
            self.generation = generation
            self.index = index
            self.problem = problem
            self.lines = lines

    class _Checked(Message):
        def __init__(self, generation: int, change: Change, delta: IndexDelta | None,
                     lines: dict[int, DisplayLine]) -> None:
            super().__init__()
            self.generation = generation
            self.change = change
            self.delta = delta
            self.lines = lines

    class _LinesRead(Message):
        def __init__(self, generation: int, origin: int, state, lines: dict[int, DisplayLine],
                     ) -> None:
            super().__init__()
            self.generation = generation
            self.origin = origin
            self.state = state
            self.lines = lines

    class _SearchDone(Message):
        def __init__(self, generation: int, origin: int, query: str, line: int | None,
                     wrapped: bool) -> None:
            super().__init__()
            self.generation = generation
            self.origin = origin
            self.query = query
            self.line = line
            self.wrapped = wrapped

    def __init__(self, path: str | None = None, *, follow: bool = True,
                 max_line_length: int = 2000, name: str | None = None,
                 id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._path: str | None = None
        self._index: LineIndex | None = None
        self._generation = 0
        self._init_pane_state(follow)
        self._max_line_length = max(1, max_line_length)
        self._max_width = 0
        self._lines: LRUCache[int, DisplayLine] = LRUCache(LINE_CACHE_SIZE)
        self._strips: LRUCache[int, Strip] = LRUCache(STRIP_CACHE_SIZE)
        self._window: _Window | None = None
        self._index_percent: int | None = None
        self._growth_pending = False
        self._check_again = False
        self._opening = False
        self._fetching = False
        self._fetch_scheduled = False
        self._wanted: set[int] = set()
        self._fetch_cache: OrderedDict = OrderedDict()
        self._prefix_lines = 0
        self._width_update_scheduled = False
        self._frame_style: Style | None = None
        if path is not None:
            self._path = path  # opened by a worker once mounted

    # -- public state ----------------------------------------------------------------------

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def line_count(self) -> int:
        """Lines known so far (only the tail's until the background index is merged)."""
        return self._index.line_count if self._index is not None else 0

    @property
    def index_complete(self) -> bool:
        """True once line numbers are absolute (the whole file is indexed)."""
        return self._index is not None and self._index.complete

    @property
    def top_line(self) -> int:
        """The file line on the top row of the view."""
        if self._wrap and self._window is not None:
            return self._window.top_line
        return self.scroll_offset.y

    def _line_total(self) -> int:
        return self.line_count

    def _last_shown(self) -> int:
        height = max(self.scrollable_content_region.height, 1)
        return min(self.top_line + height, self.line_count) - 1

    def _shown_text(self, line: int) -> tuple[int, str] | None:
        shown = self._lines.get(line)
        if shown is None:
            return None
        return line, shown.text if shown.cut_at is None else shown.text[:shown.cut_at]

    def _position_parts(self) -> list[str]:
        parts = []
        count = self.line_count
        if count:
            top = min(self.top_line + 1, count)
            last = min(self.top_line + self.scrollable_content_region.height, count)
            where = f"lines {top:,}\u2013{last:,} of {count:,}"
            if not self.index_complete:
                where = f"tail: {where}"
            parts.append(where)
        if self._index_percent is not None and not self.index_complete:
            parts.append(f"indexing {self._index_percent}%")
        return parts

    # -- opening and switching files -------------------------------------------------------

    def set_path(self, path: str | None) -> None:
        """Show another file (or none); all state is reset and following resumes."""
        was_following = self._following
        self._close()
        self._following = True
        self._query = ""
        self._search_note = ""
        if path is not None:
            self._open(path)
        self._after_reset(was_following)

    def _open(self, path: str) -> None:
        self._path = path
        self._problem = ""
        if self.is_mounted:
            self._start_open()

    def _start_open(self) -> None:
        if self._path is not None and not self._opening:
            self._opening = True
            self._open_file(self._generation, self._path, self._following, self._read_ahead())

    def _read_ahead(self) -> int:
        """Lines to read with an open or a growth: two screens (100 before the first layout)."""
        height = self.scrollable_content_region.height
        return 2 * height if height else 100

    @work(thread=True, group="log-view-open", exit_on_error=False)
    def _open_file(self, generation: int, path: str, at_end: bool, lines: int) -> None:
        worker = get_current_worker()
        index: LineIndex | None = None
        problem = ""
        shown: dict[int, DisplayLine] = {}
        try:
            index = LineIndex.open_tail(path, TAIL_LINES)
            # The index is this thread's until the message hands it over.
            count = index.line_count
            wanted = range(max(count - lines, 0), count) if at_end else range(min(lines, count))
            shown = read_display_lines(index.reader(), wanted, self._max_line_length)
        except FileNotFoundError:
            problem = "waiting for file"
        except OSError as error:
            problem = f"cannot read: {error.strerror or error}"
        except ConductorError as error:  # a link, FIFO or device at the name: one line, no content
            problem = f"cannot read: {error}"
        if worker.is_cancelled:
            if index is not None:
                index.close()
            return
        self.post_message(self._Opened(generation, index, problem, shown))

    def on_log_view__opened(self, message: _Opened) -> None:
        message.stop()
        if message.generation != self._generation or not self.is_mounted:
            if message.index is not None:
                message.index.close()
            return
        self._opening = False
        self._index = message.index
        self._problem = message.problem
        if self._index is not None:
            self._store_lines(message.lines)
            if not self._index.complete:
                # After the first frame: the scan holds the GIL in bursts and would delay it.
                self.call_after_refresh(self._start_index_build, self._generation)
        self._update_virtual_size()
        if self._following:
            self._scroll_end()
        self.refresh()
        self._post_status()
        if self._check_again and self._index is not None:
            self.refresh_file()

    def _close(self, *, unmounting: bool = False) -> None:
        self._generation += 1
        if self.is_mounted:
            # The long scans stop; the short reads finish and their answers are dropped (by
            # generation), except when the pane goes away: then the open closes what it opened.
            for worker in list(self.workers):
                if worker.node is self and (unmounting or worker.group in LONG_WORKERS):
                    worker.cancel()
        if self._index is not None:
            self._index.close()
        self._index = None
        self._path = None
        self._growth_pending = False
        self._check_again = False
        self._opening = False
        self._fetching = False
        self._wanted = set()
        self._fetch_cache = OrderedDict()
        self._index_percent = None
        self._new_lines = 0
        self._match_line = None
        self._max_width = 0
        self._invalidate()

    def _after_reset(self, was_following: bool) -> None:
        if not self.is_mounted:
            return
        self._update_virtual_size()
        if was_following != self._following:
            self.post_message(self.FollowChanged(self, self._following))
        if self._following:
            self._scroll_end()
        self.refresh()
        self._post_status()

    def _reload(self) -> None:
        """The file was truncated or replaced: start over from its new tail."""
        path = self._path
        was_following = self._following
        self._close()
        self._following = True
        if path is not None:
            self._open(path)
        self._after_reset(was_following)

    def on_mount(self) -> None:
        super().on_mount()
        self._start_polling()
        if self._index is None:
            self._start_open()
        self._update_virtual_size()
        self.call_after_refresh(self._settle_initial_scroll)

    def _settle_initial_scroll(self) -> None:
        self._scroll_end()
        self._post_status()

    def on_unmount(self) -> None:
        self._close(unmounting=True)

    # -- growth ----------------------------------------------------------------------------

    def _poll(self) -> None:
        if self.display and self.is_on_screen:
            self.refresh_file()

    def refresh_file(self) -> None:
        """Read what was appended since the last call (or reload after truncation/replacement).
        The check and the read run in a worker; a call while one runs checks again after it."""
        if self._path is None:
            return
        if self._growth_pending or self._opening:
            self._check_again = True
            return
        if self._index is None:
            self._open(self._path)
            return
        self._growth_pending = True
        self._check_again = False
        index = self._index
        self._check_file(index, self._generation, index.dup_fd(),
                         self._read_ahead() if self._following else 0)

    @work(thread=True, group="log-view-growth", exit_on_error=False)
    def _check_file(self, index: LineIndex, generation: int, fd: int, tail: int) -> None:
        worker = get_current_worker()
        delta: IndexDelta | None = None
        shown: dict[int, DisplayLine] = {}
        try:
            change, size = index.check()
            if change is Change.GROWN:
                delta = index.scan_growth(size, fd=fd, cancelled=lambda: worker.is_cancelled)
                if tail and not worker.is_cancelled:
                    reader = index.reader_after(delta, fd)
                    count = reader.line_count
                    wanted = range(max(count - tail, reader.first_line), count)
                    shown = read_display_lines(reader, wanted, self._max_line_length,
                                               cancelled=lambda: worker.is_cancelled)
        finally:
            os.close(fd)
        if not worker.is_cancelled:
            self.post_message(self._Checked(generation, change, delta, shown))

    def on_log_view__checked(self, message: _Checked) -> None:
        message.stop()
        if message.generation != self._generation or self._index is None:
            return
        self._growth_pending = False
        if message.change is Change.RESET:
            self._reload()
            return
        if message.delta is not None:
            self._apply_growth(message.delta, message.lines)
        if self._check_again:
            self.refresh_file()

    def _apply_growth(self, delta: IndexDelta, lines: dict[int, DisplayLine]) -> None:
        index = self._index
        assert index is not None
        partial_line = index.complete_lines  # drawn before its newline arrived: redraw it
        before = index.state
        added = index.apply(delta)
        if index.state is before:  # stale: the prefix was merged meanwhile; check again
            self._check_again = True
            return
        self._lines.discard(partial_line)
        self._strips.discard(partial_line)
        self._store_lines(lines)
        self._window = None
        self._update_virtual_size()
        if self._following:
            self._scroll_end()
        else:
            self._new_lines += added
        self.refresh()
        self._post_status()

    # -- reading the lines to draw ---------------------------------------------------------

    def _store_lines(self, lines: dict[int, DisplayLine]) -> None:
        for line, shown in lines.items():
            self._lines[line] = shown
            self._strips.discard(line)

    def _want(self, line: int) -> None:
        """``render_line`` met a line not read yet: read it (and the view's surroundings)."""
        self._wanted.add(line)
        if not self._fetch_scheduled:
            self._fetch_scheduled = True
            self.call_later(self._fetch_lines)

    def _around_view(self) -> range:
        height = max(self.scrollable_content_region.height, 1)
        top = self.top_line
        return range(max(top - height, 0), min(top + 2 * height, self.line_count))

    def _prefetch(self) -> None:
        """After a scroll: make sure the lines a page either side of the view are read."""
        if self._index is None or self._fetching:
            return
        lines = self._lines
        if any(line not in lines for line in self._around_view()):
            self._want(self.top_line)

    def _fetch_lines(self) -> None:
        self._fetch_scheduled = False
        index = self._index
        if index is None or self._fetching or not self.is_mounted:
            return
        count = index.line_count
        wanted = {line for line in self._wanted if line < count}
        wanted.update(self._around_view())
        self._wanted = set()
        lines = sorted(line for line in wanted if line not in self._lines)[:MAX_FETCH_LINES]
        if not lines:
            return
        self._fetching = True
        self._read_lines(self._generation, index.reader(own_fd=True, cache=self._fetch_cache),
                         lines)

    @work(thread=True, group="log-view-lines", exit_on_error=False)
    def _read_lines(self, generation: int, reader: LineReader, lines: list[int]) -> None:
        worker = get_current_worker()
        with reader:
            shown = read_display_lines(reader, lines, self._max_line_length,
                                       cancelled=lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(self._LinesRead(generation, reader.origin, reader.state, shown))

    def on_log_view__lines_read(self, message: _LinesRead) -> None:
        message.stop()
        if message.generation != self._generation or self._index is None:
            return
        self._fetching = False
        index = self._index
        if message.origin == index.origin:  # else numbered before the prefix merge: drop
            lines = message.lines
            if message.state != index.state:  # the last line may have grown since
                lines = {n: v for n, v in lines.items() if n < message.state.lines}
            self._store_lines(lines)
            self._window = None
            if self._wrap:
                self._update_virtual_size()
            self.refresh()
        if self._wanted:
            self._want(min(self._wanted))

    # -- background index ------------------------------------------------------------------

    def _start_index_build(self, generation: int) -> None:
        if generation != self._generation or self._index is None or self._index.complete:
            return
        self._index_percent = 0
        self._build_index(self._index, self._generation, self._index.dup_fd())

    @work(thread=True, exclusive=True, group="log-view-index", exit_on_error=False)
    def _build_index(self, index: LineIndex, generation: int, fd: int) -> None:
        worker = get_current_worker()
        total = max(index.origin, 1)
        reported = [0]

        def progress(offset: int) -> None:
            percent = offset * 100 // total
            if percent >= reported[0] + 5:
                reported[0] = percent
                self.post_message(self._IndexProgress(generation, percent))

        try:
            prefix = index.build_prefix(fd, cancelled=lambda: worker.is_cancelled,
                                        progress=progress)
        finally:
            os.close(fd)
        if prefix is not None and not worker.is_cancelled:
            self.post_message(self._IndexBuilt(generation, prefix))

    def on_log_view__index_progress(self, message: _IndexProgress) -> None:
        message.stop()
        if message.generation == self._generation:
            self._index_percent = message.percent
            self._post_status()

    def on_log_view__index_built(self, message: _IndexBuilt) -> None:
        message.stop()
        if message.generation != self._generation or self._index is None:
            return
        shift = self._index.merge_prefix(message.prefix)
        self._prefix_lines = shift
        self._index_percent = None
        if not shift:
            self._post_status()
            return
        self._invalidate()
        if self._match_line is not None:
            self._match_line += shift
        top = self.scroll_offset.y
        self._update_virtual_size()
        self._adjusting = True
        try:
            if self._following:
                self._scroll_end()
            else:
                self.scroll_to(y=top + shift, animate=False)
        finally:
            self._adjusting = False
        self.refresh()
        self._post_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker failures are shown in the status bar, never swallowed."""
        if event.state is WorkerState.ERROR and event.worker.node is self:
            event.stop()
            error = event.worker.error
            group = event.worker.group
            if group == "log-view-growth":
                self._growth_pending = False
            elif group == "log-view-open":
                self._opening = False
            elif group == "log-view-lines":
                self._fetching = False
            self._problem = f"error: {error}"
            self._post_status()

    # -- following and scrolling -----------------------------------------------------------

    def _scroll_end(self) -> None:
        self._adjusting = True
        try:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        finally:
            self._adjusting = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._window = None
        self._prefetch()
        self._follow_scroll(old_value, new_value)

    def _relayout(self) -> None:
        self._window = None
        self._update_virtual_size()

    def _scroll_lines(self, delta: int) -> None:
        top = self.top_line if self._wrap else self.scroll_offset.y
        self.scroll_to(y=max(top + delta, 0), animate=False)

    def action_top(self) -> None:
        self.scroll_to(y=0, animate=False)

    def _rewrap(self) -> None:
        self._window = None
        self._strips.clear()
        self._update_virtual_size()

    # -- search ----------------------------------------------------------------------------

    def _search_from(self, line: int, forward: bool) -> None:
        self._start_search(self._query, line, forward)

    def _drop_drawn(self) -> None:
        self._strips.clear()
        self._window = None

    def _start_search(self, query: str, line: int, forward: bool) -> None:
        index = self._index
        if index is None or not index.line_count:
            return
        line = min(max(line, 0), index.line_count)
        self._search_note = f"searching \u201c{query}\u201d\u2026"
        self._post_status()
        self._search_file(self._generation, index.reader(own_fd=True), query, forward, line)

    @work(thread=True, exclusive=True, group="log-view-search", exit_on_error=False)
    def _search_file(self, generation: int, reader: LineReader, query: str, forward: bool,
                     line: int) -> None:
        worker = get_current_worker()
        needle = query.encode("utf-8")
        ignore_case = query == query.lower()
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        with reader:
            fd, origin, end = reader.fd, reader.origin, reader.state.scanned_to
            split, split_line = reader.line_start(line), min(line, reader.state.lines)
            end_line = reader.state.lines
            if forward:
                found = find_forward(fd, split, end, split_line, needle, ignore_case, cancelled)
                wrapped = found is None
                if wrapped:
                    found = find_forward(fd, origin, split, 0, needle, ignore_case, cancelled)
            else:
                found = find_backward(fd, origin, split, split_line, needle, ignore_case,
                                      cancelled)
                wrapped = found is None
                if wrapped:
                    found = find_backward(fd, split, end, end_line, needle, ignore_case,
                                          cancelled)
        if not worker.is_cancelled:
            self.post_message(self._SearchDone(generation, origin, query, found, wrapped))

    def on_log_view__search_done(self, message: _SearchDone) -> None:
        message.stop()
        if (message.generation != self._generation or message.query != self._query
                or self._index is None):
            return
        line = message.line
        if line is not None and message.origin != self._index.origin:
            line += self._prefix_lines  # the background index was merged meanwhile
        self._show_match(message.query, line, message.wrapped)

    # -- rendering -------------------------------------------------------------------------

    def _invalidate(self) -> None:
        self._lines.clear()
        self._strips.clear()
        self._window = None

    def _update_virtual_size(self) -> None:
        count = self.line_count
        if self._wrap:
            region = self.scrollable_content_region
            height = max(region.height, 1)
            self._set_virtual_size(Size(0, self._last_page_top(region.width, height) + height))
        else:
            self._set_virtual_size(Size(self._max_width, count))

    def _set_virtual_size(self, size: Size) -> None:
        set_virtual_size(self, size)

    def _line_strip(self, line: int) -> Strip:
        """The whole line, styled, uncropped; blank while a worker reads it (never read here)."""
        cached = self._strips.get(line)
        if cached is not None:
            return cached
        shown = self._lines.get(line)
        if shown is None:
            self._want(line)
            return Strip([], 0)
        text = Text(shown.text, no_wrap=True, end="")
        self._style_text(text, shown, line)
        strip = Strip(text.render(self.app.console), text.cell_len)
        self._strips[line] = strip
        if strip.cell_length > self._max_width and not self._wrap:
            self._max_width = strip.cell_length
            if not self._width_update_scheduled:
                self._width_update_scheduled = True
                self.call_after_refresh(self._apply_max_width)
        return strip

    def _apply_max_width(self) -> None:
        self._width_update_scheduled = False
        self._update_virtual_size()

    def _style_text(self, text: Text, shown: DisplayLine, line: int) -> None:
        plain = shown.text
        end = shown.cut_at if shown.cut_at is not None else len(plain)
        control = self.get_component_rich_style("log-view--control", partial=True)
        for found in _PLACEHOLDER.finditer(plain, 0, end):
            text.stylize(control, found.start(), found.end())
        if shown.cut_at is not None:
            text.stylize(self.get_component_rich_style("log-view--marker", partial=True),
                         shown.cut_at)
        if self._query:
            name = ("log-view--current-match" if line == self._match_line
                    else "log-view--match")
            self._stylize_matches(text, plain[:end], self.get_component_rich_style(name))

    def _stylize_matches(self, text: Text, plain: str, style: Style) -> None:
        query = self._query
        haystack = plain
        if query == query.lower():
            haystack = plain.lower()
        start = haystack.find(query)
        while start >= 0:
            text.stylize(style, start, start + len(query))
            start = haystack.find(query, start + len(query))

    def render_lines(self, crop: Region) -> list[Strip]:
        # rich_style walks the DOM (~0.1 ms); once per frame, not once per line.
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    @property
    def _line_style(self) -> Style:
        return self._frame_style if self._frame_style is not None else self.rich_style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        style = self._line_style
        if self._index is None:
            return Strip.blank(width, style)
        if self._wrap:
            rows = self._wrapped_window(width).rows
            return rows[y] if y < len(rows) else Strip.blank(width, style)
        line = self.scroll_offset.y + y
        if line >= self.line_count:
            return Strip.blank(width, style)
        scroll_x = self.scroll_offset.x
        return self._line_strip(line).crop_extend(scroll_x, scroll_x + width, style)

    def _wrap_line(self, line: int, width: int) -> list[Strip]:
        strip = self._line_strip(line)
        length = strip.cell_length
        style = self._line_style
        if length <= width:
            return [strip.extend_cell_length(width, style)]
        cuts = list(range(width, length, width)) + [length]
        return [part.extend_cell_length(width, style) for part in strip.divide(cuts)]

    def _last_page_top(self, width: int, height: int) -> int:
        """First line of the last page when wrapped: the lines from it on fit the height.

        This is the largest scroll position (virtual height = it + height), so the
        scrollbar only shows when the wrapped lines overflow."""
        line = self.line_count
        used = 0
        while line > 0 and width > 0:
            used += len(self._wrap_line(line - 1, width))
            if used > height:
                break
            line -= 1
        return min(line, max(self.line_count - 1, 0))

    def _wrapped_window(self, width: int) -> _Window:
        """Rows from the top line down, or from the last line up at the largest scroll
        position (so following always shows the last rows)."""
        height = self.scrollable_content_region.height
        count = self.line_count
        top = self.scroll_offset.y
        key = (top, width, height, count, self._generation)
        if self._window is not None and self._window.key == key:
            return self._window
        rows: list[Strip] = []
        if top < self.max_scroll_y or top == 0:
            line = top
            while len(rows) < height and line < count:
                rows.extend(self._wrap_line(line, width))
                line += 1
            window = _Window(key, rows[:height], top)
        else:
            line = count - 1
            while len(rows) < height and line >= 0:
                rows[:0] = self._wrap_line(line, width)
                line -= 1
            window = _Window(key, rows[-height:], line + 1)
        self._window = window
        return window


class LogPane(Vertical):
    """A log pane: its status row and search input around one renderer.

    A plain pane shows a :class:`LogView`. ``readable=True`` (the stdout pane) holds two
    renderers of the same file, the raw :class:`LogView` and the readable
    :class:`~.readable_log.ReadableLog`, with the same keys, status row and search; which one
    shows is the pane's mode (:meth:`set_readable`), kept when the file changes (a new run, a
    restart), and the focus moves with it."""

    BINDINGS = widget_bindings("log_pane")

    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
        & > LogView { height: 1fr; }
        & > #log-switch { height: 1fr; }
        & > #log-switch > * { height: 1fr; }
        & > #log-search { display: none; }
        & > #log-search.-open { display: block; }
        & > #log-status { height: 1; background: $panel; color: $text; padding: 0 1; }
    }
    """

    def __init__(self, path: str | None = None, *, follow: bool = True,
                 max_line_length: int = 2000, readable: bool = False, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._view = LogView(path, follow=follow, max_line_length=max_line_length,
                             id="log-view")
        self._view.status_sink = lambda text: self._sink(self._view, text)
        self._readable: ReadableLog | None = None
        if readable:
            from .readable_log import ReadableLog
            view = ReadableLog(id="readable-view")
            view.status_sink = lambda text: self._sink(view, text)
            self._readable = view
        self._show_readable = readable
        self._status_shown = self.shown.status_text

    @property
    def log_view(self) -> LogView:
        """The raw renderer."""
        return self._view

    @property
    def readable_view(self) -> ReadableLog | None:
        """The readable renderer (a ``readable=True`` pane only)."""
        return self._readable

    @property
    def readable(self) -> bool:
        """The pane's mode: the readable renderer is the one shown."""
        return self._show_readable

    @property
    def shown(self) -> LogView | ReadableLog:
        """The renderer on screen."""
        return self._readable if self._show_readable and self._readable is not None \
            else self._view

    @property
    def status(self) -> Static:
        return self.query_one("#log-status", Static)

    def compose(self):
        if self._readable is not None:
            initial = "readable-view" if self._show_readable else "log-view"
            with ContentSwitcher(initial=initial, id="log-switch"):
                yield self._view
                yield self._readable
        else:
            yield self._view
        yield Input(placeholder="search (enter to find, esc to close)", id="log-search",
                    compact=True)
        yield Static(self._status_shown, id="log-status", markup=False)

    def set_path(self, path: str | None, agent: str = "", remote: bool = False) -> None:
        """Show another file; ``agent``: the run's agent type, for the readable renderer;
        ``remote``: it is written on another host (no event tells of its writes here)."""
        for view in (self._view, self._readable):
            if view is not None and view.remote != remote:
                view.remote = remote
                if view.is_mounted:
                    view._start_polling()
        self._view.set_path(path)
        if self._readable is not None:
            self._readable.set_path(path, agent)

    def set_readable(self, readable: bool) -> None:
        """Show the readable (True) or the raw renderer. The focus, when on the renderer
        hidden now, moves to the one shown; an open search closes."""
        if self._readable is None or readable == self._show_readable:
            return
        before = self.shown
        self._show_readable = readable
        if self.is_mounted:
            had_focus = before.has_focus
            self.query_one("#log-switch", ContentSwitcher).current = \
                "readable-view" if readable else "log-view"
            search = self.query_one("#log-search", Input)
            search_open = search.has_class("-open")
            search.remove_class("-open")
            if had_focus or search_open and search.has_focus:
                self.shown.focus()
            if readable:
                self._readable.refresh_file()  # not read while hidden
        self._show_status(self.shown.status_text)

    def on_log_view_status_changed(self, message: LogView.StatusChanged) -> None:
        if message.log_view is self.shown:
            self._show_status(message.text)  # usually drawn already, through status_sink

    def _sink(self, view, text: str) -> None:
        if view is self.shown:
            self._show_status(text)

    def _show_status(self, text: str) -> None:
        if text == self._status_shown:
            return
        try:
            status = self.status
        except NoMatches:  # not composed yet: the message that follows draws it
            return
        self._status_shown = text
        # One fixed-height row: new text never changes its size, so no layout of the screen.
        status.update(text, layout=False)

    def on_log_view_search_requested(self, message: LogView.SearchRequested) -> None:
        message.stop()
        search = self.query_one("#log-search", Input)
        search.value = self.shown.search_query
        search.add_class("-open")
        search.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id != "log-search":
            return
        message.stop()
        self.shown.search(message.value)
        self.action_close_search()

    def action_close_search(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.has_class("-open"):
            search.remove_class("-open")
            self.shown.focus()
