"""Messages the console's workers post back to the event loop.

Workers read disk and call the orchestrator in threads; the only way their results reach the
widgets is one of these messages, handled on the event loop. A failed action arrives as an
:class:`ActionFinished` whose result is not ``ok`` and is always shown (toast + the status
line), never dropped.

Dataclasses (Textual's ``Message.__post_init__`` exists for them). ``can_replace`` lets a newer
message of a burst supersede an older one still queued: a later read of the same task, a later
full read, a later small-file read for the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..bus import Message as BusMessage
from .controller import ActionResult
from .status import ProjectView, TaskView


@dataclass
class RootScanned(Message):
    """The whole root was read (start-up, ``rescan`` events, ctrl+r)."""
    projects: list[ProjectView]
    elapsed: float
    first_run: object = None  # FirstRunFacts when the root holds no project (read with it)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RootScanned)


@dataclass
class TaskScanned(Message):
    """One task was read again after a change under it."""
    task: TaskView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskScanned) and message.task.project == self.task.project \
            and message.task.task == self.task.task


@dataclass
class TaskVanished(Message):
    project: str
    task: str


@dataclass
class ActionFinished(Message):
    """A control action (start, stop, restart, post, new task) finished, well or not."""
    result: ActionResult


@dataclass
class BusLoaded(Message):
    """The tail of a bus for the feed; ``generation`` drops answers for an old scope."""
    generation: int
    path: str
    messages: list[BusMessage]
    offset: int


@dataclass
class BusGrew(Message):
    generation: int
    messages: list[BusMessage]
    reset: bool


@dataclass
class FileRead(Message):
    """A small file for a detail tab (output.md, TASK.md, …), read in a thread."""
    generation: int
    slot: str
    text: str
    note: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FileRead) and message.slot == self.slot \
            and message.generation >= self.generation


@dataclass
class PaneError(Message):
    """A pane's reader failed (a symlinked bus, an unreadable file). Bubbles to the app, which
    shows it like any other failure: a toast and the status line."""
    text: str


class ReportsWorkerErrors:
    """Mixin for widgets that read in thread workers: a worker that raises is reported.

    Textual's ``Worker.StateChanged`` does not bubble, so without this a widget's failed read
    would be silent. ``PANE_LABEL`` prefixes the one-line report.
    """

    PANE_LABEL = "pane"

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.post_message(PaneError(f"{self.PANE_LABEL}: {event.worker.error}"))
