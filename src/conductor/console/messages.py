"""Messages the console's workers post back to the event loop.

Workers read disk and call the orchestrator in threads; the only way their results reach the
widgets is one of these messages, handled on the event loop. A failed action arrives as
:class:`ActionFailed` and is always shown (toast + the status line), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from ..bus import Message as BusMessage
from .status import ProjectView, TaskView


class RootScanned(Message):
    """The whole root was read (start-up, ``rescan`` events, ctrl+r)."""

    def __init__(self, projects: list[ProjectView], elapsed: float) -> None:
        super().__init__()
        self.projects = projects
        self.elapsed = elapsed


class TaskScanned(Message):
    """One task was read again after a change under it."""

    def __init__(self, task: TaskView) -> None:
        super().__init__()
        self.task = task


class TaskVanished(Message):
    def __init__(self, project: str, task: str) -> None:
        super().__init__()
        self.project = project
        self.task = task


class ActionDone(Message):
    """A control action (start, stop, restart, post, new task) finished."""

    def __init__(self, action: str, text: str, project: str = "", task: str = "") -> None:
        super().__init__()
        self.action = action
        self.text = text
        self.project = project
        self.task = task


class ActionFailed(Message):
    def __init__(self, action: str, error: str, project: str = "", task: str = "") -> None:
        super().__init__()
        self.action = action
        self.error = error
        self.project = project
        self.task = task


class BusLoaded(Message):
    """The tail of a bus for the feed; ``generation`` drops answers for an old scope."""

    def __init__(self, generation: int, path: str, messages: list[BusMessage],
                 offset: int) -> None:
        super().__init__()
        self.generation = generation
        self.path = path
        self.messages = messages
        self.offset = offset


class BusGrew(Message):
    def __init__(self, generation: int, messages: list[BusMessage], reset: bool) -> None:
        super().__init__()
        self.generation = generation
        self.messages = messages
        self.reset = reset


class FileRead(Message):
    """A small file for a detail tab (output.md, TASK.md, …), read in a thread."""

    def __init__(self, generation: int, slot: str, text: str, note: str = "") -> None:
        super().__init__()
        self.generation = generation
        self.slot = slot
        self.text = text
        self.note = note


@dataclass
class WatchStatus:
    mode: str
    note: str = ""
    extra: dict = field(default_factory=dict)


class PaneError(Message):
    """A pane's reader failed (a symlinked bus, an unreadable file). Bubbles to the app, which
    shows it like any other failure: a toast and the status line."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


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
