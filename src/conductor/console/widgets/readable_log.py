"""Agent stdout made readable: claude/codex/gemini JSON streams as prose, one row per event.

Follows the file by byte offset like the log pane, but keeps only the last rows it rendered
(bounded) and reads the tail on open (at most :data:`TAIL_BYTES`), so a huge stdout opens at
once. The raw file is always one key away (the log pane); this view never scrolls back further
than its window.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual import work
from textual.message import Message
from textual.worker import WorkerState, get_current_worker

from ...agents.display import DisplayLine, display_lines
from ...errors import ConductorError
from ...store import safefs
from ..messages import ReportsWorkerErrors
from ..text import neutralise
from .line_list import LineList
from .scrolling import VimKeys

TAIL_BYTES = 2 * 1024 * 1024
MAX_READ = 8 * 1024 * 1024
MAX_ROWS = 5000
POLL_SECONDS = 0.5
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
                 reset: bool) -> None:
        super().__init__()
        self.generation = generation
        self.start = start
        self.end = end
        self.ident = ident
        self.rows = rows
        self.reset = reset


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
        fh.seek(offset)
        data = fh.read(stop - offset)
    if reset and offset > 0:
        cut = data.find(b"\n")
        data = data[cut + 1:] if cut >= 0 else b""
        offset = stop - len(data)
    last = data.rfind(b"\n")
    data = data[:last + 1] if last >= 0 else b""
    return offset, offset + len(data), current, data, reset


class ReadableLog(ReportsWorkerErrors, VimKeys, LineList, keys="readable"):
    """The readable view of an agent's stdout."""

    PANE_LABEL = "stdout"

    def on_worker_state_changed(self, event) -> None:
        if event.state == WorkerState.ERROR:
            self._reading = False  # the next event or poll reads again
        super().on_worker_state_changed(event)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_ROWS, cursor=False, id=id)
        self.path: str | None = None
        self.agent = ""
        self._offset = 0
        self._ident: tuple | None = None
        self._generation = 0
        self._reading = False

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self._poll)

    def _poll(self) -> None:
        if self.display and self.is_on_screen:
            self.refresh_file()

    def set_path(self, path: str | None, agent: str) -> None:
        if path == self.path and agent == self.agent:
            return
        self._generation += 1
        self.path, self.agent = path, agent
        self._offset, self._ident, self._reading = 0, None, False
        self.set_rows([])
        self.refresh_file()

    def refresh_file(self) -> None:
        if self.path is None or self._reading or not self.is_mounted:
            return
        self._reading = True
        self._read(self._generation, self.path, self.agent, self._offset, self._ident)

    @work(thread=True, group="readable-read", exit_on_error=False)
    def _read(self, generation: int, path: str, agent: str, offset: int, ident) -> None:
        try:
            start, end, current, data, reset = read_chunk(path, offset, ident)
        except (OSError, ConductorError):
            self.post_message(_Read(generation, offset, offset, ident, [], False))
            return
        if get_current_worker().is_cancelled:
            return
        self.post_message(_Read(generation, start, end, current, render_rows(agent, data), reset))

    def on__read(self, message: _Read) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self._reading = False
        grew = message.end > self._offset or message.reset
        rows = message.rows
        if message.reset:
            self.set_rows(list(rows))
        elif rows:
            if getattr(rows, "continues", False) and self.row_count \
                    and self.last_row_style == rows[0].style:
                self.extend_last_row(rows[0])
                rows = rows[1:]
            self.append_rows(list(rows))
        self._offset, self._ident = message.end, message.ident
        if grew and message.end - message.start >= MAX_READ:
            self.refresh_file()
