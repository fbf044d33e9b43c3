"""Which reads a batch of watch events asks for, and when they run: the console's refresh
scheduler, as plain data (no Textual import, tested on its own).

Two halves:

* :meth:`RefreshScheduler.route` maps a batch of :class:`conductor.watch.WatchEvent` to a
  :class:`Plan`: a full re-read of the root (debounced by the app), the followed files that
  grew (each read once per batch), the runs whose logs grew (their heartbeat) and whether the
  bus the feed follows grew. Tasks whose files changed are marked dirty.
* The dirty set coalesces: tasks marked while a read is under way wait for it to finish and
  are then read in one batch, each once, in (project, task) order. Nothing is read before the
  first full read of the root (:meth:`ready`).

What a pane follows is declared by the pane (:class:`Following`, built by the app from
``DetailTabs.followed_files()`` and the bus feed's path and scope), not hard-coded here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

TaskKey = tuple[str, str]


@dataclass(frozen=True)
class Following:
    """The files the panes show now. ``bus_task`` is None when the feed shows a project bus.
    ``fast``: the files the fast path watches (armed): the root watcher's events for them ask
    for no read, the fast path's own event did (or will) read them."""
    logs: frozenset[str] = frozenset()
    bus: str | None = None
    bus_project: str = ""
    bus_task: str | None = None
    selected_run: str | None = None
    fast: frozenset[str] = frozenset()

    def targets(self) -> dict[str, str]:
        """The followed files for the fast path (:class:`conductor.watch.FollowWatcher`)."""
        files = {path: "log_grew" for path in self.logs}
        if self.bus:
            files[self.bus] = "bus_grew"
        return files

    def follows_bus(self, event) -> bool:
        """The feed's bus grew: its exact path, or the same bus file name in the scope it
        shows (a path spelled another way, through the watcher's root)."""
        if not self.bus:
            return False
        if event.path == self.bus:
            return True
        if os.path.basename(self.bus) != event.file or event.project != self.bus_project:
            return False
        return self.bus_task is None or self.bus_task == event.task


@dataclass
class Plan:
    """What one batch of events asks the app to do (the dirty tasks are in the scheduler)."""
    rescan: bool = False
    logs: list[str] = field(default_factory=list)
    outputs: list[tuple[str, str, str]] = field(default_factory=list)
    bus: bool = False


class RefreshScheduler:
    """The dirty set of tasks to re-read, and the routing of watch events to it."""

    def __init__(self, project_filter: str | None = None) -> None:
        self.project_filter = project_filter
        self._dirty: set[TaskKey] = set()
        self.reading = False
        self.is_ready = False

    @property
    def pending(self) -> frozenset[TaskKey]:
        return frozenset(self._dirty)

    def mark(self, project: str, task: str) -> None:
        """Re-read this task at the next :meth:`take` (a task outside the project filter, or
        an event without a task, asks for nothing)."""
        if not project or not task:
            return
        if self.project_filter and project != self.project_filter:
            return
        self._dirty.add((project, task))

    def mark_all(self, keys: Iterable[TaskKey]) -> None:
        for project, task in keys:
            self.mark(project, task)

    def ready(self) -> None:
        """The first full read is in: task reads may start."""
        self.is_ready = True

    def take(self) -> list[TaskKey]:
        """The tasks to read now, sorted, and the read counted as under way; [] when there is
        nothing to read, a read is under way or the root was never read."""
        if not self._dirty or self.reading or not self.is_ready:
            return []
        keys, self._dirty = sorted(self._dirty), set()
        self.reading = True
        return keys

    def finished(self) -> None:
        """The read from :meth:`take` is done (whatever it found)."""
        self.reading = False

    def route_fast(self, batch: Iterable, follow: Following) -> Plan:
        """A batch from the fast path: only the followed reads (the root watcher's events for
        the same writes do the bookkeeping: heartbeats, task re-reads)."""
        plan = Plan()
        logs: dict[str, None] = {}
        for event in batch:
            if event.kind == "log_grew" and event.path in follow.logs:
                logs[event.path] = None
            elif event.kind == "bus_grew" and follow.follows_bus(event):
                plan.bus = True
        plan.logs = list(logs)
        return plan

    def route(self, batch: Iterable, follow: Following) -> Plan:
        """Map one batch of watch events to the few reads it needs (a followed file that the
        fast path watches, ``follow.fast``, is read on its events, not on these)."""
        plan = Plan()
        logs: dict[str, None] = {}
        outputs: dict[tuple[str, str, str], None] = {}
        for event in batch:
            kind = event.kind
            if kind in ("rescan", "project_changed"):
                plan.rescan = True
            elif kind in ("run_changed", "task_changed"):
                self.mark(event.project, event.task)
            elif kind == "log_grew":
                if event.path in follow.logs and event.path not in follow.fast:
                    logs[event.path] = None
                if event.run:
                    outputs[(event.project, event.task, event.run)] = None
                if event.file == "output.md" and follow.selected_run is not None \
                        and follow.selected_run == event.run:
                    self.mark(event.project, event.task)
            elif kind == "bus_grew":
                if follow.follows_bus(event) and follow.bus not in follow.fast:
                    plan.bus = True
                if event.task:
                    self.mark(event.project, event.task)
        plan.logs = list(logs)
        plan.outputs = list(outputs)
        return plan
