"""A snapshot of a runs root: projects > tasks > runs, each run-info read once.

Views rebuild from this on start and refresh one task at a time afterwards
(:func:`scan_task`). Nothing here writes or reconciles: whether a ``running`` run is stale is
the caller's decision (:func:`conductor.store.liveness.reconcile`), made where it is shown.
Symbolic links are never followed, and names that are not valid ids are skipped, so a stray
file or link in the root cannot make the scan leave it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from .. import ids
from ..errors import ConductorError, IdError
from .layout import CANCELLED, DONE, RUN_INFO, RUNS, STOP_REQUESTED, TASK_CONFIG, TASK_MD, Layout
from .runinfo import RunInfo, RunInfoMissing, placeholder_run_info, read_run_info_stat
from .taskfiles import read_depends_on


@dataclass
class RunSnapshot:
    """One run dir. ``info`` is always set: a missing run-info (``orphan``) or a broken one
    (``error``) gives a placeholder with status ``unknown`` (spec 2.4)."""
    run_id: str
    path: str
    info: RunInfo
    error: str | None = None
    mtime_ns: int = 0
    orphan: bool = False


@dataclass
class TaskSnapshot:
    project_id: str
    id: str
    path: str
    runs: list[RunSnapshot] = field(default_factory=list)
    done: bool = False
    stop_requested: bool = False
    cancelled: bool = False
    depends_on: list[str] = field(default_factory=list)
    task_md_exists: bool = False
    mtime_ns: int = 0
    error: str | None = None

    @property
    def latest_run(self) -> RunSnapshot | None:
        """The run that started last (by start time, not by id text: spec 9 #20)."""
        return self.runs[-1] if self.runs else None


@dataclass
class ProjectSnapshot:
    id: str
    path: str
    tasks: list[TaskSnapshot] = field(default_factory=list)


def _valid_project(name: str) -> bool:
    try:
        ids.validate_project_id(name)
        return True
    except IdError:
        return False


def _valid_component(kind: str, name: str) -> bool:
    try:
        ids.validate_component(kind, name)
        return True
    except IdError:
        return False


def _real_dirs(path: str) -> list[os.DirEntry]:
    """Sub-directories that are directories themselves, not links to them."""
    try:
        with os.scandir(path) as it:
            return [e for e in it if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def scan_root(root: str, *, project: str | None = None) -> list[ProjectSnapshot]:
    """Every project (or just ``project``) under ``root``, sorted by id."""
    layout = Layout(root)
    projects = []
    for entry in sorted(_real_dirs(layout.root), key=lambda e: e.name):
        if (project is not None and entry.name != project) or not _valid_project(entry.name):
            continue
        tasks = [scan_task(layout, entry.name, task.name)
                 for task in sorted(_real_dirs(entry.path), key=lambda e: e.name)
                 if _valid_component("task", task.name)]
        projects.append(ProjectSnapshot(entry.name, entry.path, tasks))
    return projects


def scan_task(layout: Layout, project_id: str, task_id: str) -> TaskSnapshot:
    """One task: its markers and its runs ordered by start time (``ids.run_sort_key``)."""
    path = layout.task_dir(project_id, task_id)
    snap = TaskSnapshot(project_id, task_id, path)
    try:
        snap.mtime_ns = os.lstat(path).st_mtime_ns
        with os.scandir(path) as it:
            entries = {e.name: e for e in it}
    except FileNotFoundError:
        return snap
    except OSError as exc:
        snap.error = f"{path}: {exc.strerror or exc}"
        return snap
    snap.task_md_exists = TASK_MD in entries
    snap.done = _is_regular(entries.get(DONE))
    snap.stop_requested = STOP_REQUESTED in entries
    snap.cancelled = CANCELLED in entries
    if TASK_CONFIG in entries:
        try:
            snap.depends_on = read_depends_on(path)
        except ConductorError as exc:
            snap.error = str(exc)
    runs_entry = entries.get(RUNS)
    if runs_entry is not None and runs_entry.is_dir(follow_symlinks=False):
        snap.runs = _scan_runs(runs_entry.path)
    return snap


def _is_regular(entry: os.DirEntry | None) -> bool:
    if entry is None:
        return False
    try:
        return stat.S_ISREG(os.stat(entry.path).st_mode)
    except OSError:
        return False


def _scan_runs(runs_dir: str) -> list[RunSnapshot]:
    runs = [scan_run(entry.path) for entry in _real_dirs(runs_dir)
            if _valid_component("run", entry.name)]
    runs.sort(key=lambda r: ids.run_sort_key(r.info.start_time, r.run_id))
    return runs


def scan_run(run_dir: str) -> RunSnapshot:
    """One run dir, its run-info read once."""
    run_id = os.path.basename(run_dir)
    info_path = os.path.join(run_dir, RUN_INFO)
    try:
        info, mtime_ns = read_run_info_stat(info_path)
    except RunInfoMissing:
        return RunSnapshot(run_id, run_dir, placeholder_run_info(run_dir), orphan=True)
    except ConductorError as exc:
        return RunSnapshot(run_id, run_dir, placeholder_run_info(run_dir), error=str(exc),
                           mtime_ns=_mtime(info_path))
    return RunSnapshot(run_id, run_dir, info, mtime_ns=mtime_ns)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
