"""Agent stdout made readable: claude/codex/gemini JSON streams as prose, one row per event.

The readable renderer of the stdout log pane (:class:`~.log_view.LogPane` shows it or the raw
:class:`~.log_view.LogView`). It has the raw view's keys (the ``log.*`` ids: search with
highlight and ``n``/``N``, ``w`` wrap, ``G``/End follow, copy line) and its status row text,
counted in rendered rows: scrolled up, it is PAUSED and counts the rows that arrived.

Follows the file by byte offset like the raw view, but keeps only the last rows it rendered
(bounded) and reads the tail on open (at most :data:`TAIL_BYTES`), so a huge stdout opens at
once; the status row then says ``tail:``. The raw file is always one key away (``v``). Every
read (and the sniffing of a ``command`` agent's stream format) runs in a thread worker.
Searching looks through the rendered rows, which are in memory (at most :data:`MAX_ROWS`).
"""

from __future__ import annotations

import bisect
import itertools
import os

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import WorkerState, get_current_worker

from ...agents.display import DisplayLine, display_lines, sniff_stream_type
from ...errors import ConductorError
from ...store import safefs
from ..messages import ReportsWorkerErrors
from ..text import neutralise
from .line_list import LineList
from .pane_state import PaneState
from .scrolling import VimKeys

TAIL_BYTES = 2 * 1024 * 1024
MAX_READ = 8 * 1024 * 1024
CUT = "\u2026".encode()  # marks a line shown in part (it began before the read, or goes on)
MAX_ROWS = 5000
KIND_STYLES = {
    "text": "",
    "tool": "cyan",
    "thinking": "italic bright_black",
    "result": "bold green",
    "system": "bright_black",
    "raw": "",
}


def readable(agent: str) -> bool:
    """The agent type prints a JSON event stream this view can render (its backend says so:
    claude, codex, gemini, and the REST agents' event lines)."""
    from ...agents.registry import backend, known
    return known(agent) and backend(agent).json_stream


def display_row(line: DisplayLine) -> Text:
    return Text(neutralise(line.text), style=KIND_STYLES.get(line.kind, ""))


class Rows(list):
    """Rendered rows. ``continues``: the first row carries on the last row already shown (a
    streamed chunk whose start lies in an earlier read)."""

    continues = False


def join_rows(lines) -> Rows:
    """Rows from display lines. A line with ``join`` set carries on the row before it when
    that row is of the same kind (gemini streams a reply in pieces); a newline inside such a
    piece starts a new row. A join at the very start marks the rows :attr:`Rows.continues`."""
    rows = Rows()
    kinds: list[str] = []
    for line in lines:
        parts = line.text.split("\n") if line.join else [line.text]
        if line.join and (not rows or kinds[-1] == line.kind):
            if rows:
                rows[-1].append(neutralise(parts[0]))
            else:
                rows.continues = True
                rows.append(display_row(DisplayLine(line.kind, parts[0])))
                kinds.append(line.kind)
            parts = parts[1:]
        for part in parts:
            rows.append(display_row(DisplayLine(line.kind, part)))
            kinds.append(line.kind)
    if len(rows) > MAX_ROWS:
        kept = Rows(rows[-MAX_ROWS:])
        return kept
    return rows


def render_rows(agent: str, data: bytes) -> Rows:
    def lines():
        for raw in data.decode("utf-8", errors="replace").split("\n"):
            if raw.strip():
                yield from display_lines(agent, raw)
    return join_rows(lines())


class _Read(Message):
    def __init__(self, generation: int, start: int, end: int, ident: tuple, rows: list[Text],
                 reset: bool, stream: str | None = None, problem: str = "") -> None:
        super().__init__()
        self.generation = generation
        self.start = start
        self.end = end
        self.ident = ident
        self.rows = rows
        self.reset = reset
        self.stream = stream  # the stream type found by sniffing (a ``command`` agent's)
        self.problem = problem


def read_chunk(path: str, offset: int, ident: tuple | None) -> tuple[int, int, tuple, bytes, bool]:
    """Bytes from ``offset`` to the last newline (start from the tail when the file is new,
    replaced or truncated). Returns (start, end, identity, data, reset)."""
    fd = safefs.open_view(path)  # a link or FIFO is refused (UnsafeFileError), never followed
    if fd is None:
        raise FileNotFoundError(2, "no such file or directory", path)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        current = (st.st_dev, st.st_ino)
        reset = ident is None or current != ident or st.st_size < offset
        if reset:
            offset = max(0, st.st_size - TAIL_BYTES)
        stop = min(st.st_size, offset + MAX_READ)
        fh.seek(offset - 1 if offset > 0 else 0)
        before = fh.read(1) if offset > 0 else b"\n"  # does ``offset`` start a line?
        data = fh.read(stop - offset)
    last = data.rfind(b"\n")
    if last < 0 and len(data) == MAX_READ:
        # one line longer than a whole read: shown in pieces (each marked cut), never stuck
        return offset, stop, current, (CUT if before != b"\n" else b"") + data + CUT + b"\n", reset
    data = data[:last + 1] if last >= 0 else b""
    end = offset + len(data)
    if before != b"\n" and data:
        # the read began inside a line (a tail read, or after a piece above): that line is
        # shown cut, not dropped
        data = CUT + data
    return offset, end, current, data, reset


class ReadableLog(PaneState, ReportsWorkerErrors, VimKeys, LineList, keys="log"):
    """The readable view of an agent's stdout: the log pane's keys, counted in rendered rows."""

    PANE_LABEL = "stdout"
    BACKWARD_FROM_MATCH = -1
    SCROLL_IMMEDIATE = True

    COMPONENT_CLASSES = LineList.COMPONENT_CLASSES | {
        "readable-log--match",
        "readable-log--current-match",
    }

    DEFAULT_CSS = """
    ReadableLog {
        & > .readable-log--match { background: $warning 40%; }
        & > .readable-log--current-match { background: $warning; color: $background; }
    }
    """

    def on_worker_state_changed(self, event) -> None:
        if event.state == WorkerState.ERROR:
            self._reading = False  # the next event or poll reads again
        super().on_worker_state_changed(event)

    def __init__(self, *, id: str | None = None) -> None:
        self._init_pane_state(True)
        super().__init__(max_lines=MAX_ROWS, cursor=False, id=id)
        self.path: str | None = None
        self.agent = ""
        self._stream: str | None = None  # the format the rows are rendered as, once known
        self._offset = 0
        self._ident: tuple | None = None
        self._generation = 0
        self._reading = False
        self._read_again = False  # an event came during a read: read once more after it
        self._tail = False  # the rows start after the file's start (a tail read, rows dropped)
        self._wrap_key: tuple | None = None  # (width, first, rows) the heights are for
        self._wrap_heights: list[int] = []  # each row's height when wrapped
        self._wrap_ends: list[int] = []  # their running sum
        self._edited: set[int] = set()  # rows (by sequence) changed in place since
        self._wrapped: LRUCache[tuple, list[Strip]] = LRUCache(256)
        self._edits = 0  # bumps when a row changes in place (a joined piece)

    # -- the state the pane shows ----------------------------------------------------------

    @property
    def top_line(self) -> int:
        """The row drawn on the top line of the view."""
        return self._row_at(self.scroll_offset.y)

    def _last_shown(self) -> int:
        height = max(self.scrollable_content_region.height, 1)
        return min(self._row_at(self.scroll_offset.y + height - 1), self.row_count - 1)

    def _line_total(self) -> int:
        return self.row_count

    def _shown_text(self, line: int) -> tuple[int, str] | None:
        return line, self.row_text(line)

    def _position_parts(self) -> list[str]:
        count = self.row_count
        if not count:
            return []
        top = min(self.top_line + 1, count)
        where = f"lines {top:,}\u2013{self._last_shown() + 1:,} of {count:,}"
        return [f"tail: {where}" if self._tail else where]

    def _scroll_end(self) -> None:
        self._to_end()

    def _drop_drawn(self) -> None:
        self._strips.clear()
        self._wrapped.clear()

    # -- reading ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._start_polling()

    def _poll(self) -> None:
        if self.display and self.is_on_screen:
            self.refresh_file()

    def set_path(self, path: str | None, agent: str) -> None:
        if path == self.path and agent == self.agent:
            return
        self._generation += 1
        self.path, self.agent = path, agent
        self._stream = agent if readable(agent) else None
        self._offset, self._ident, self._reading = 0, None, False
        self._query, self._match_line, self._search_note, self._problem = "", None, "", ""
        self._tail = False
        self.set_rows([])
        self.refresh_file()

    def refresh_file(self) -> None:
        """Read what was appended (in a worker). Not while hidden behind the raw view: the
        pane asks again when it shows this renderer."""
        if self._reading:
            self._read_again = True
            return
        if self.path is None or not self.is_mounted or not self.display:
            return
        self._reading = True
        self._read_again = False
        self._read(self._generation, self.path, self.agent, self._stream, self._offset,
                   self._ident)

    @work(thread=True, group="readable-read", exit_on_error=False)
    def _read(self, generation: int, path: str, agent: str, stream: str | None, offset: int,
              ident) -> None:
        try:
            start, end, current, data, reset = read_chunk(path, offset, ident)
        except FileNotFoundError:
            self.post_message(_Read(generation, offset, offset, ident, [], False,
                                    problem="waiting for file"))
            return
        except OSError as error:
            self.post_message(_Read(generation, offset, offset, ident, [], False,
                                    problem=f"cannot read: {error.strerror or error}"))
            return
        except ConductorError as error:  # a link, FIFO or device at the name
            self.post_message(_Read(generation, offset, offset, ident, [], False,
                                    problem=f"cannot read: {error}"))
            return
        if stream is None and data:
            # a ``command`` agent wrapping claude (say): the format at the file's start
            stream = sniff_stream_type(path) or agent
        if get_current_worker().is_cancelled:
            return
        rows = render_rows(stream or agent, data)
        self.post_message(_Read(generation, start, end, current, rows, reset, stream))

    def on__read(self, message: _Read) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self._reading = False
        self._problem = message.problem
        if message.problem:
            self._post_status()
            return
        if message.stream is not None:
            self._stream = message.stream
        grew = message.end > self._offset or message.reset
        rows = message.rows
        if message.reset:
            self._tail = message.start > 0 or len(rows) >= MAX_ROWS
            self.set_rows(list(rows))
            self._match_line = None
        elif rows:
            if getattr(rows, "continues", False) and self.row_count \
                    and self.last_row_style == rows[0].style:
                self.extend_last_row(rows[0])
                rows = rows[1:]
            self.append_rows(list(rows))
        self._offset, self._ident = message.end, message.ident
        self._post_status()
        if (grew and message.end - message.start >= MAX_READ) or self._read_again:
            self.refresh_file()

    # -- rows ------------------------------------------------------------------------------

    def set_rows(self, rows: list[Text]) -> None:
        self._new_lines = 0
        self._wrapped.clear()
        super().set_rows(rows)
        if self.is_mounted:  # the new size is laid out after this: scroll to its end then
            self.call_after_refresh(self._end_if_following)
        self._post_status()

    def _end_if_following(self) -> None:
        if self._following:
            self._to_end()
        self._post_status()

    def append_rows(self, rows: list[Text]) -> None:
        if not rows:
            return
        overflow = max(0, self.row_count + len(rows) - self.max_lines)
        paused = not self._following
        top = self.scroll_offset.y
        super().append_rows(rows)
        if overflow:
            self._tail = True
            if self._match_line is not None:
                match = self._match_line
                self._match_line = match - overflow if match >= overflow else None
        if paused:
            self._new_lines += len(rows)
            if overflow:  # keep the rows on screen where they are
                self._adjusting = True
                try:
                    self.scroll_to(y=max(top - overflow, 0), animate=False, immediate=True)
                finally:
                    self._adjusting = False
        self._post_status()

    def extend_last_row(self, more: Text) -> None:
        self._edits += 1
        self._edited.add(self._first + self.row_count - 1)
        super().extend_last_row(more)

    # -- wrapping --------------------------------------------------------------------------

    def _ends(self) -> list[int]:
        """Cumulative wrapped heights of the rows at the current width. Kept up to date
        incrementally (rows dropped at the front, appended, the last one extended): a row's
        cell length is measured once per width, never rendered for this."""
        width = max(self.scrollable_content_region.width, 1)
        key = (width, self._first, self.row_count)
        if key == self._wrap_key and not self._edited:
            return self._wrap_ends
        heights = self._wrap_heights
        old = self._wrap_key
        dropped = self._first - old[1] if old is not None else -1
        if old is None or old[0] != width or not 0 <= dropped <= len(heights):
            heights = [max(1, -(-row.cell_len // width)) for row in self._rows]
        else:
            del heights[:dropped]
            for seq in self._edited:
                at = seq - self._first
                if 0 <= at < len(heights):
                    heights[at] = max(1, -(-self._rows[at].cell_len // width))
            heights.extend(max(1, -(-row.cell_len // width))
                           for row in itertools.islice(self._rows, len(heights), None))
        self._edited.clear()
        self._wrap_heights = heights
        self._wrap_ends = list(itertools.accumulate(heights))
        self._wrap_key = key
        return self._wrap_ends

    def _content_size(self) -> Size:
        if self._wrap:
            ends = self._ends()
            return Size(0, ends[-1] if ends else 0)
        return super()._content_size()

    def _row_at(self, y: int) -> int:
        """The row drawn at virtual line ``y``."""
        if not self._wrap:
            return y
        return bisect.bisect_right(self._ends(), y)

    def _first_line_of(self, row: int) -> int:
        if not self._wrap or row <= 0:
            return max(row, 0)
        ends = self._ends()
        return ends[min(row, len(ends)) - 1]

    def _rewrap(self) -> None:
        self._wrap_key = None
        self._strips.clear()
        self._wrapped.clear()
        self._resize()

    def _relayout(self) -> None:
        if self._wrap:
            self._wrapped.clear()
            self._resize()

    def render_line(self, y: int) -> Strip:
        if not self._wrap:
            return super().render_line(y)
        base, width = self._frame_style()
        line = self.scroll_offset.y + y
        ends = self._ends()
        index = bisect.bisect_right(ends, line)
        if index >= len(ends) or width <= 0:
            return Strip.blank(width, base)
        key = (self._first + index, width, self._edits, self._query, self._match_line == index)
        parts = self._wrapped.get(key)
        if parts is None:
            row = self._decorated(index)
            strip = Strip(Segment.apply_style(list(row.render(self.app.console)), base),
                          row.cell_len)
            length = strip.cell_length
            cuts = list(range(width, length, width)) + [length] if length > width else []
            pieces = strip.divide(cuts) if cuts else [strip]
            parts = [p.extend_cell_length(width, base) for p in pieces]
            self._wrapped[key] = parts
        part = line - (ends[index - 1] if index else 0)
        return parts[part] if part < len(parts) else Strip.blank(width, base)

    # -- search ----------------------------------------------------------------------------

    def _decorated(self, index: int) -> Text:
        row = self._rows[index]
        if not self._query:
            return row
        query = self._query
        plain = row.plain.lower() if query == query.lower() else row.plain
        start = plain.find(query)
        if start < 0:
            return row
        name = ("readable-log--current-match" if index == self._match_line
                else "readable-log--match")
        style: Style = self.get_component_rich_style(name)
        text = row.copy()
        while start >= 0:
            text.stylize(style, start, start + len(query))
            start = plain.find(query, start + len(query))
        return text

    def _search_from(self, line: int, forward: bool) -> None:
        """Looks through the rendered rows, which are in memory: no worker needed."""
        self._find(line, forward)

    def _find(self, start: int, forward: bool) -> None:
        count = self.row_count
        query = self._query
        fold = query == query.lower()
        found: int | None = None
        wrapped = False
        order = (list(range(start, count)) + list(range(0, min(start, count))) if forward
                 else list(range(min(start, count - 1), -1, -1))
                 + list(range(count - 1, max(start, -1), -1)))
        first_pass = (count - start) if forward else min(start, count - 1) + 1
        for n, row in enumerate(order):
            text = self._rows[row].plain
            if query in (text.lower() if fold else text):
                found, wrapped = row, n >= first_pass
                break
        self._show_match(query, found, wrapped)

    # -- moving (the raw view's action names: one keymap scope for both renderers) --------

    def _scroll_lines(self, delta: int) -> None:
        self._jump(max(self.scroll_offset.y + delta, 0))

    def action_top(self) -> None:
        self.scroll_to(y=0, animate=False, immediate=True)
        if self._content_size().height > self.scrollable_content_region.height:
            self.following = False  # also when the view was not at its end yet

    def watch_scroll_y(self, old: float, new: float) -> None:
        ScrollView.watch_scroll_y(self, old, new)
        self._follow_scroll(old, new)
