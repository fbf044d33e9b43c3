"""The message-bus feed: one line per message, live, bounded, filterable by type.

The feed shows one bus file at a time (the selected task's, or its project's). It reads the
tail once (``MessageBus.tail_with_offset``) and then only what was appended, through a
``BusReader`` kept at the byte offset after the last complete entry. Reads run in thread
workers; a ``generation`` number drops answers that arrive after the scope changed.
"""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import get_current_worker

from ...bus import BusReader, MessageBus
from ...bus import Message as BusMessage
from ...words import count
from ..messages import BusGrew, BusLoaded, PaneError, ReportsWorkerErrors
from ..text import neutralise
from .line_list import LineList
from .scrolling import VimKeys

MAX_MESSAGES = 5000
TYPE_STYLES = {
    "USER": "bold bright_white on blue",
    "FACT": "green",
    "PROGRESS": "cyan",
    "DECISION": "bold blue",
    "ERROR": "bold red",
    "QUESTION": "bold magenta",
    "INFO": "bright_black",
    "WARNING": "yellow",
    "WARN": "yellow",
    "RUN_START": "bright_black",
    "RUN_STOP": "bright_black",
    "RUN_CRASH": "red",
}
ALL_TYPES = ("USER", "FACT", "PROGRESS", "DECISION", "ERROR", "QUESTION", "INFO", "WARNING",
             "RUN_START", "RUN_STOP", "RUN_CRASH")
TYPE_WIDTH = 9


def clock_text(ts: int | None) -> str:
    if not ts:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(ts / 1e9))


def message_row(msg: BusMessage) -> Text:
    """``12:03:44 QUESTION  run-id  first line of the body`` with the type colour-coded."""
    text = Text(clock_text(msg.ts) + " ", style="bright_black")
    kind = neutralise(msg.type or "?")[:TYPE_WIDTH]
    text.append(kind.ljust(TYPE_WIDTH), style=TYPE_STYLES.get(msg.type, "white"))
    text.append(" ")
    if msg.run_id:
        text.append(neutralise(msg.run_id)[-12:] + " ", style="cyan")
    elif msg.task_id:
        text.append(neutralise(msg.task_id)[-12:] + " ", style="bright_black")
    text.append(neutralise(msg.first_line))
    if "\n" in msg.body.strip("\n"):
        text.append(" …", style="bright_black")
    return text


class FeedList(VimKeys, LineList, keys="feed"):
    """The feed's rows: vim moves, enter opens a message."""


class BusFeed(ReportsWorkerErrors, Vertical):
    """A title line (scope, filter) and the list of messages."""

    PANE_LABEL = "bus"

    def __init__(self, *, id: str | None = None, max_messages: int = MAX_MESSAGES) -> None:
        super().__init__(id=id)
        self.messages: deque[BusMessage] = deque(maxlen=max_messages)
        self.shown: list[BusMessage] = []
        self.types: frozenset[str] = frozenset()  # empty: every type
        self.path: str | None = None
        self.scope_label = ""
        self._generation = 0
        self._reader: BusReader | None = None
        self._polling = False
        self._poll_again = False
        self.problem = ""
        self._title_shown = ""

    def compose(self):
        yield Static("", id="bus-title", markup=False)
        yield FeedList(max_lines=self.messages.maxlen or MAX_MESSAGES, id="bus-list")

    @property
    def list(self) -> FeedList:
        return self.query_one(FeedList)

    # -- scope ---------------------------------------------------------------------------

    def show_bus(self, path: str | None, label: str) -> None:
        """Show another bus (or none); the tail is read in a thread."""
        if path == self.path and label == self.scope_label:
            return
        self._generation += 1
        self.path = path
        self.scope_label = label
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.messages.clear()
        self.problem = ""
        self._render_all()
        if path is not None:
            self._load(self._generation, path)

    @work(thread=True, group="bus-load", exclusive=True, exit_on_error=False)
    def _load(self, generation: int, path: str) -> None:
        messages, offset = MessageBus(path).tail_with_offset(self.messages.maxlen or 0)
        if not get_current_worker().is_cancelled:
            self.post_message(BusLoaded(generation, path, messages, offset))

    def on_bus_loaded(self, message: BusLoaded) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self.messages.clear()
        self.messages.extend(message.messages)
        self._reader = BusReader(message.path, message.offset)
        self._render_all()
        if self._poll_again:
            self._poll_again = False
            self.poll()

    def poll(self) -> None:
        """The bus grew: read the new entries (one read at a time; a second call re-polls)."""
        if self._reader is None:
            self._poll_again = self.path is not None
            return
        if self._polling:
            self._poll_again = True
            return
        self._polling = True
        self._read_new(self._generation, self._reader)

    @work(thread=True, group="bus-poll", exit_on_error=False)
    def _read_new(self, generation: int, reader: BusReader) -> None:
        resets = reader.resets
        try:
            messages = reader.poll()
        except Exception:  # noqa: BLE001 - a torn file is retried at the next event
            messages = []
        self.post_message(BusGrew(generation, messages, reader.resets != resets))

    def on_bus_grew(self, message: BusGrew) -> None:
        message.stop()
        self._polling = False
        if message.generation == self._generation:
            incoming = message.messages
            if message.reset:
                # The bus was rotated (or rewritten): the reader drained the old file and read
                # the new one from its start. What the feed shows stays; only messages it does
                # not hold yet are added, so a rewrite that repeats old entries repeats nothing.
                held = {m.msg_id for m in self.messages if m.msg_id}
                incoming = [m for m in incoming if not m.msg_id or m.msg_id not in held]
            if incoming:
                self.messages.extend(incoming)
                fresh = [m for m in incoming if self._wanted(m)]
                overflow = len(self.shown) + len(fresh) - (self.messages.maxlen or 0)
                self.shown.extend(fresh)
                if overflow > 0:
                    del self.shown[:overflow]
                self.list.append_rows([message_row(m) for m in fresh])
                self._title()
        if self._poll_again:
            self._poll_again = False
            self.poll()

    # -- filter --------------------------------------------------------------------------

    def _wanted(self, msg: BusMessage) -> bool:
        return not self.types or msg.type in self.types

    def set_types(self, types: frozenset[str]) -> None:
        self.types = types
        self._render_all()

    def _render_all(self) -> None:
        self.shown = [m for m in self.messages if self._wanted(m)]
        self.list.set_rows([message_row(m) for m in self.shown])
        self._title()

    def _title(self) -> None:
        parts = [f"Bus · {self.scope_label or 'nothing selected'}"]
        if self.types:
            parts.append("types: " + ",".join(sorted(self.types)))
        parts.append(count(len(self.shown), "message"))
        if self.problem:
            parts.append("unreadable: " + self.problem)
        text = neutralise("  ·  ".join(parts))
        if text != self._title_shown:
            self._title_shown = text
            # one fixed-height row: new text never changes its size, so no layout
            self.query_one("#bus-title", Static).update(text, layout=False)

    def selected_message(self) -> BusMessage | None:
        index = self.list.cursor
        if 0 <= index < len(self.shown):
            return self.shown[index]
        return None

    def on_pane_error(self, message: PaneError) -> None:
        """Our own reader failed: say so in the title too, then let the app report it."""
        self.problem = message.text.removeprefix(f"{self.PANE_LABEL}: ")
        self._title()

    def on_unmount(self) -> None:
        if self._reader is not None:
            self._reader.close()
