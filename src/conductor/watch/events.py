"""Typed change events under a runs root, and the pure mapping from a changed path to one.

The console does not care that ``agent-stdout.txt`` was modified; it cares that a run's log grew,
so that it reads the new bytes of that one file. :func:`classify` names the change in those terms
and drops everything a view never shows (atomic-write temp files, transient locks, stray files).
It looks only at the path text, never at the disk, so it works the same for a file that was just
deleted and can be tested without one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

from ..errors import IdError
from ..ids import validate_component, validate_project_id
from ..store.layout import (CANCELLED, DONE, HOME_FOLDERS, ITERATE_SUMMARY, LOOP_STATE, OUTPUT,
                            PROJECT_BUS,
                            PROJECT_FACTS, PROMPT, PROPAGATION_STATE, RUN_INFO, RUNS, STDERR, STDOUT,
                            STOP_REQUESTED, TASK_BUS, TASK_CONFIG, TASK_LOOP_LOCK, TASK_MD,
                            TASK_STATE)

RUN_CHANGED = "run_changed"
LOG_GREW = "log_grew"
BUS_GREW = "bus_grew"
TASK_CHANGED = "task_changed"
PROJECT_CHANGED = "project_changed"
RESCAN = "rescan"
KINDS = (RUN_CHANGED, LOG_GREW, BUS_GREW, TASK_CHANGED, PROJECT_CHANGED, RESCAN)


RUN_LOG_FILES = frozenset({STDOUT, STDERR, OUTPUT, PROMPT})
TASK_MARKER_FILES = frozenset({TASK_MD, DONE, STOP_REQUESTED, TASK_STATE, TASK_CONFIG, CANCELLED,
                               TASK_LOOP_LOCK, PROPAGATION_STATE, ITERATE_SUMMARY, LOOP_STATE})
PROJECT_INFO_FILES = frozenset({HOME_FOLDERS, PROJECT_FACTS})

# Structural changes first: a consumer that applies a batch in order creates a task node
# before it is asked to refresh one of that task's runs.
_KIND_ORDER = {RESCAN: 0, PROJECT_CHANGED: 1, TASK_CHANGED: 2, RUN_CHANGED: 3, BUS_GREW: 4,
               LOG_GREW: 5}


@dataclass(frozen=True)
class WatchEvent:
    """One thing a view may need to re-read.

    ``project``/``task``/``run`` are ids ("" when the event is above that level); ``path`` is the
    absolute path that changed (the root for ``rescan``); ``file`` is its basename for file
    events and "" for directory events. A rotated bus (``TASK-MESSAGE-BUS.md.<stamp>.archived``)
    reports ``file`` as the bus name, because what changed for a reader is the bus.
    """

    kind: str
    project: str = ""
    task: str = ""
    run: str = ""
    path: str = ""
    file: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What makes two events the same for a consumer (the path is not part of it)."""
        return (self.kind, self.project, self.task, self.run, self.file)


def rescan_event(root: str) -> WatchEvent:
    return WatchEvent(RESCAN, path=os.path.abspath(root))


def _valid_project(name: str) -> bool:
    try:
        validate_project_id(name)
        return True
    except IdError:
        return False


def _valid_component(kind: str, name: str) -> bool:
    try:
        validate_component(kind, name)
        return True
    except IdError:
        return False


def _is_rotated_bus(name: str, bus: str) -> bool:
    return name.startswith(bus + ".") and name.endswith(".archived")


def _ignored_name(name: str) -> bool:
    """Transient files: atomic-write temps and per-update locks (spec 1.5)."""
    if name.endswith(".tmp"):
        return True
    return name.endswith(".lock") and name != TASK_LOOP_LOCK


class Classifier:
    """:func:`classify` for one root, with the root's prefix computed once (hot in big batches)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self._prefix = self.root.rstrip(os.sep) + os.sep

    def __call__(self, path: str) -> WatchEvent | None:
        full = path if os.path.isabs(path) else os.path.abspath(path)
        full = os.path.normpath(full)
        if full == self.root:
            return WatchEvent(RESCAN, path=full)
        if not full.startswith(self._prefix):
            return None
        parts = full[len(self._prefix):].split(os.sep)
        if not _valid_project(parts[0]):
            return None
        handler = _BY_DEPTH.get(len(parts))
        return handler(full, parts) if handler else None


def _project_level(full: str, parts: list[str]) -> WatchEvent | None:
    return WatchEvent(PROJECT_CHANGED, parts[0], path=full)


def _project_entry(full: str, parts: list[str]) -> WatchEvent | None:
    project, name = parts
    if name == PROJECT_BUS or _is_rotated_bus(name, PROJECT_BUS):
        return WatchEvent(BUS_GREW, project, path=full, file=PROJECT_BUS)
    if name in PROJECT_INFO_FILES:
        return WatchEvent(PROJECT_CHANGED, project, path=full, file=name)
    if _ignored_name(name) or not _valid_component("task", name):
        return None
    return WatchEvent(TASK_CHANGED, project, name, path=full)


def _task_entry(full: str, parts: list[str]) -> WatchEvent | None:
    project, task, name = parts
    if not _valid_component("task", task):
        return None
    if name == TASK_BUS or _is_rotated_bus(name, TASK_BUS):
        return WatchEvent(BUS_GREW, project, task, path=full, file=TASK_BUS)
    if name in TASK_MARKER_FILES:
        return WatchEvent(TASK_CHANGED, project, task, path=full, file=name)
    if name == RUNS:
        return WatchEvent(TASK_CHANGED, project, task, path=full, file=RUNS)
    return None


def _run_dir(full: str, parts: list[str]) -> WatchEvent | None:
    project, task, runs, run = parts
    if runs != RUNS or not _valid_component("task", task) or not _valid_component("run", run):
        return None
    return WatchEvent(RUN_CHANGED, project, task, run, path=full)


def _run_entry(full: str, parts: list[str]) -> WatchEvent | None:
    project, task, runs, run, name = parts
    if runs != RUNS or not _valid_component("task", task) or not _valid_component("run", run):
        return None
    if name == RUN_INFO:
        return WatchEvent(RUN_CHANGED, project, task, run, path=full, file=name)
    if name in RUN_LOG_FILES:
        return WatchEvent(LOG_GREW, project, task, run, path=full, file=name)
    return None


_BY_DEPTH = {1: _project_level, 2: _project_entry, 3: _task_entry, 4: _run_dir, 5: _run_entry}


def classify(root: str, path: str) -> WatchEvent | None:
    """The event for a change of ``path`` under ``root``, or None when no view cares.

    The root itself maps to ``rescan`` (it was created, removed or replaced). Paths outside the
    root, with an invalid project/task/run id, or naming temp and lock files give None.
    """
    return Classifier(root)(path)


def dedupe(events: Iterable[WatchEvent]) -> list[WatchEvent]:
    """One event per :attr:`WatchEvent.key`, structural kinds first; a rescan swallows the rest.

    Within a kind the first-seen order is kept. A batch holding a ``rescan`` is just that
    rescan: the consumer re-reads everything anyway.
    """
    seen: dict[tuple, WatchEvent] = {}
    for event in events:
        if event.kind == RESCAN:
            return [event]
        seen.setdefault(event.key, event)
    return sorted(seen.values(), key=lambda e: _KIND_ORDER[e.kind])
