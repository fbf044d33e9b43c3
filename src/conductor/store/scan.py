"""A snapshot of a runs root: projects > tasks > runs, each run-info read once.

Views rebuild from this on start and refresh one task at a time afterwards
(:func:`scan_task`). Nothing here writes or reconciles: whether a ``running`` run is stale is
the caller's decision (:func:`conductor.store.liveness.reconcile`), made where it is shown.
Symbolic links are never followed, and names that are not valid ids are skipped, so a stray
file or link in the root cannot make the scan leave it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .. import ids
from ..errors import ConductorError, IdError
from . import safefs
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


def scan_root(root: str, *, project: str | None = None) -> list[ProjectSnapshot]:
    """Every project (or just ``project``) under ``root``, sorted by id. Only real directories
    count: a link, FIFO or file at a project or task name is skipped."""
    layout = Layout(root)
    projects = []
    for name in sorted(safefs.subdirs(layout.root, layout.root)):
        if (project is not None and name != project) or not _valid_project(name):
            continue
        path = os.path.join(layout.root, name)
        tasks = [scan_task(layout, name, task)
                 for task in sorted(safefs.subdirs(layout.root, path))
                 if _valid_component("task", task)]
        projects.append(ProjectSnapshot(name, path, tasks))
    return projects


def scan_task(layout: Layout, project_id: str, task_id: str) -> TaskSnapshot:
    """One task: its markers and its runs ordered by start time (``ids.run_sort_key``).

    Everything is read through :mod:`safefs` from the root: a task dir that is a link is an
    error of the task, and a bad marker (a link, FIFO, directory or huge file) does not count
    and is named in ``error``; the runs next to it are still listed.
    """
    path = os.path.join(layout.root, project_id, task_id)
    snap = TaskSnapshot(project_id, task_id, path)
    try:
        path = snap.path = layout.task_dir(project_id, task_id)
        st = safefs.lstat(layout.root, path)
        if st is None:
            return snap
        snap.mtime_ns = st.st_mtime_ns
        entries = safefs.entries(layout.root, path)
    except ConductorError as exc:
        snap.error = str(exc)
        return snap
    except OSError as exc:
        snap.error = f"{path}: {exc.strerror or exc}"
        return snap
    snap.task_md_exists = TASK_MD in entries
    snap.done = entries.get(DONE) == safefs.FILE
    snap.stop_requested = STOP_REQUESTED in entries
    snap.cancelled = CANCELLED in entries
    if TASK_CONFIG in entries:
        try:
            snap.depends_on = read_depends_on(path)
        except ConductorError as exc:
            snap.error = str(exc)
    runs_dir = os.path.join(path, RUNS)
    if entries.get(RUNS) == safefs.DIR:
        snap.runs, odd = _scan_runs(layout.root, runs_dir)
    elif RUNS in entries:
        odd = runs_dir
    else:
        odd = None
    if odd and snap.error is None:
        snap.error = f"{odd}: is {_kind(layout.root, odd)}, expected a directory"
    return snap


def _kind(root: str, path: str) -> str:
    try:
        st = safefs.lstat(root, path)
    except ConductorError:
        return "not reachable"
    return "gone" if st is None else safefs.describe(st.st_mode)


def _scan_runs(root: str, runs_dir: str) -> tuple[list[RunSnapshot], str | None]:
    """The run dirs (links and other non-directories are not entered), and the path of the
    first run-named entry that is not a real directory (for a warning).

    The runs dir is opened once and each run dir below it through that descriptor, so a scan
    of 10,000 runs does not walk from the root 10,000 times (see docs/performance.md)."""
    try:
        runs_fd = safefs.open_dir(root, runs_dir)
    except (ConductorError, OSError):
        return [], runs_dir
    runs, odd = [], None
    try:
        found = safefs.entries_at(runs_fd, runs_dir)
        for name in sorted(found):
            if not _valid_component("run", name):
                continue
            run_dir = os.path.join(runs_dir, name)
            if found[name] != safefs.DIR:
                odd = odd or run_dir
                continue
            try:
                run_fd = safefs.open_subdir_at(runs_fd, name, run_dir)
            except FileNotFoundError:
                continue  # removed since the listing (gc)
            except (ConductorError, OSError):
                odd = odd or run_dir  # swapped for a link or a file since the listing
                continue
            try:
                runs.append(scan_run(run_dir, root=root, run_fd=run_fd))
            finally:
                os.close(run_fd)
    except ConductorError:
        return [], runs_dir
    finally:
        os.close(runs_fd)
    runs.sort(key=lambda r: ids.run_sort_key(r.info.start_time, r.run_id))
    return runs, odd


def scan_run(run_dir: str, *, root: str | None = None, run_fd: int | None = None) -> RunSnapshot:
    """One run dir, its run-info read once (through :mod:`safefs`: a link, FIFO or huge file
    at run-info.yaml gives a placeholder with the error, never a hang). ``run_fd``: the run
    dir, already opened safely by a scanner."""
    run_id = os.path.basename(run_dir)
    info_path = os.path.join(run_dir, RUN_INFO)
    try:
        info, mtime_ns = read_run_info_stat(info_path, run_fd)
    except RunInfoMissing:
        return RunSnapshot(run_id, run_dir, placeholder_run_info(run_dir), orphan=True)
    except ConductorError as exc:
        return RunSnapshot(run_id, run_dir, placeholder_run_info(run_dir), error=str(exc),
                           mtime_ns=_mtime(root or safefs.above(run_dir, 4), info_path))
    return RunSnapshot(run_id, run_dir, info, mtime_ns=mtime_ns)


def _mtime(root: str, path: str) -> int:
    try:
        return safefs.mtime_ns(root, path) or 0
    except (OSError, ConductorError):
        return 0
