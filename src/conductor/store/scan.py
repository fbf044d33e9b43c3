"""A snapshot of a runs root: projects > tasks > runs, each run-info read once.

Views rebuild from this on start and refresh one task at a time afterwards
(:func:`scan_task`). Nothing here writes or reconciles: whether a ``running`` run is stale is
the caller's decision (:func:`conductor.store.liveness.reconcile`), made where it is shown.
Symbolic links are never followed, and names that are not valid ids are skipped, so a stray
file or link in the root cannot make the scan leave it.

This is the one place that lists a root's task and run directories (:func:`task_names`,
:func:`run_names`). A scan reads every run-info, or with ``newest=True`` only the newest runs
(see :func:`newest_candidates`): ``list`` and ``status`` print one row per task, and a task
of 1,000 runs must not cost 1,000 reads for it.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

from .. import ids
from ..errors import ConductorError, IdError
from . import safefs
from .layout import CANCELLED, DONE, RUN_INFO, RUNS, STOP_REQUESTED, TASK_CONFIG, TASK_MD, Layout
from .runinfo import RunInfo, RunInfoMissing, placeholder_run_info, read_run_info_stat


class RunSnapshot:
    """One run dir. ``info`` is always set: a missing run-info (``orphan``) or a broken one
    (``error``) gives a placeholder with status ``unknown`` (spec 2.4)."""
    # plain classes, not dataclasses: `list` and `status` import this module, and every
    # dataclass costs its generated methods at import time
    __slots__ = ("run_id", "path", "info", "error", "mtime_ns", "orphan")

    def __init__(self, run_id: str, path: str, info: RunInfo, error: str | None = None,
                 mtime_ns: int = 0, orphan: bool = False) -> None:
        self.run_id, self.path, self.info = run_id, path, info
        self.error, self.mtime_ns, self.orphan = error, mtime_ns, orphan

    def __repr__(self) -> str:
        return f"RunSnapshot({self.run_id!r}, error={self.error!r}, orphan={self.orphan})"


class TaskSnapshot:
    __slots__ = ("project_id", "id", "path", "runs", "done", "stop_requested", "cancelled",
                 "depends_on", "task_md_exists", "mtime_ns", "error", "run_count", "complete")

    def __init__(self, project_id: str, id: str, path: str) -> None:
        self.project_id, self.id, self.path = project_id, id, path
        self.runs: list[RunSnapshot] = []
        self.done = self.stop_requested = self.cancelled = self.task_md_exists = False
        self.depends_on: list[str] = []
        self.mtime_ns = 0
        self.error: str | None = None
        # How many run dirs the runs dir lists; ``runs`` holds all of them when ``complete``,
        # else only the newest ones (and older ones back to the newest readable run).
        self.run_count = 0
        self.complete = True

    def __repr__(self) -> str:
        return f"TaskSnapshot({self.project_id!r}, {self.id!r}, runs={len(self.runs)})"

    @property
    def latest_run(self) -> RunSnapshot | None:
        """The run that started last (by start time, not by id text: spec 9 #20)."""
        return self.runs[-1] if self.runs else None


class ProjectSnapshot:
    __slots__ = ("id", "path", "tasks")

    def __init__(self, id: str, path: str, tasks: list[TaskSnapshot] | None = None) -> None:
        self.id, self.path, self.tasks = id, path, tasks if tasks is not None else []


def _valid_project(name: str) -> bool:
    try:
        ids.validate_project_id(name)
        return True
    except IdError:
        return False


def _valid_component(kind: str, name: str) -> bool:
    """:func:`ids.validate_component`'s rule as a test (a scan tries every name it lists)."""
    return len(name) <= ids.MAX_COMPONENT and ids._COMPONENT_RE.match(name) is not None


def scan_root(root: str, *, project: str | None = None) -> list[ProjectSnapshot]:
    """Every project (or just ``project``) under ``root``, sorted by id. Only real directories
    count: a link, FIFO or file at a project or task name is skipped."""
    layout = Layout(root)
    projects = []
    try:
        names = project_names(layout.root)
    except OSError:  # no root yet
        names = []
    for name in names:
        if project is not None and name != project:
            continue
        path = os.path.join(layout.root, name)
        try:
            names = task_names(layout.root, path)
        except ConductorError:  # swapped for a link since the listing
            names = []
        tasks = [scan_task(layout, name, task) for task in names]
        projects.append(ProjectSnapshot(name, path, tasks))
    return projects


def project_names(root: str) -> list[str]:
    """The project dirs of a runs root: real directories (not links) with valid project ids,
    sorted. Raises OSError when the root cannot be listed (missing, not a directory)."""
    with os.scandir(root) as it:
        return sorted(e.name for e in it
                      if e.is_dir(follow_symlinks=False) and _valid_project(e.name))


def _looks_like_task(name: str) -> bool:
    try:
        ids.validate_task_id(name)
    except ConductorError:
        return False
    return True


def task_names(root: str, project_dir: str, warn=None) -> list[str]:
    """The task dirs of a project: real directories with valid task names, sorted.

    Listed through the project dir's descriptor, reached from the root without following a
    link: a link at a task name is skipped, never entered. ``warn(path, what)`` hears of a
    task-named entry that is not a directory (a link or FIFO, say)."""
    names = []
    for name, kind in safefs.entries(root, project_dir).items():
        if kind != safefs.DIR:
            if warn is not None and kind != safefs.FILE and _looks_like_task(name):
                path = os.path.join(project_dir, name)
                try:
                    what = safefs.describe(os.lstat(path).st_mode)
                except OSError:
                    continue  # gone meanwhile
                warn(path, what)
            continue
        if _valid_component("task", name):
            names.append(name)
    return sorted(names)


def run_names(found: dict[str, str]) -> tuple[list[str], str | None]:
    """From a runs dir's :func:`safefs.entries`: the names of its run dirs (valid run ids that
    are real directories), and the first run-named entry that is not a directory (or None)."""
    names, odd = [], None
    for name, kind in sorted(found.items()):
        if not _valid_component("run", name):
            continue
        if kind == safefs.DIR:
            names.append(name)
        elif odd is None:
            odd = name
    return names, odd


def id_second(run_id: str) -> str:
    """``YYYYMMDDHHMMSS`` from a run id (``20260221-1015000000-…`` or legacy
    ``run_20260221-101500-…``), or "" when the id carries no time."""
    text = run_id[4:] if run_id.startswith("run_") else run_id
    stamp = text[:8] + text[9:15]
    if len(stamp) == 14 and stamp.isdigit() and text[8:9] == "-":
        return stamp
    return ""


def newest_candidates(names: list[str]) -> tuple[list[str], Iterator[list[str]]]:
    """(the run dirs that may hold the newest run, the older ones in groups of one id second,
    newest first, made only when asked for).

    A run id carries its start second (spec 1.4), written just before the runner records
    ``start_time``. The newest run by start time is among the runs of the two newest id
    seconds: the second one covers a run whose id was made just before a second boundary and
    whose start was recorded after it. When some id carries no time, every run is a
    candidate (they are then ordered by start time, as a full scan does)."""
    keyed = [(id_second(n), n) for n in names]
    if any(not sec for sec, _ in keyed):
        return list(names), iter(())
    seconds = sorted({sec for sec, _ in keyed}, reverse=True)
    cut = seconds[1] if len(seconds) > 1 else (seconds[0] if seconds else "")

    def older() -> Iterator[list[str]]:  # a generator: grouped only when first asked for
        groups: dict[str, list[str]] = {}
        for sec, name in keyed:
            if sec < cut:
                groups.setdefault(sec, []).append(name)
        for sec in seconds[2:]:
            yield groups[sec]

    return [n for sec, n in keyed if sec >= cut], older()


def scan_task(layout: Layout, project_id: str, task_id: str, *,
              newest: bool = False) -> TaskSnapshot:
    """One task: its markers and its runs ordered by start time (``ids.run_sort_key``).

    ``newest``: read only the run-infos that can hold the newest run (:func:`newest_candidates`),
    and older ones one by one until a readable run is among them; ``run_count`` still counts
    every run dir (from the listing) and ``complete`` is False when some were not read.

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
    snap.cancelled = entries.get(CANCELLED) == safefs.FILE  # a link there is no cancel
    if TASK_CONFIG in entries:
        from .taskfiles import read_depends_on  # only for a task with dependencies
        try:
            snap.depends_on = read_depends_on(path)
        except ConductorError as exc:
            snap.error = str(exc)
    runs_dir = os.path.join(path, RUNS)
    if entries.get(RUNS) == safefs.DIR:
        snap.runs, odd, snap.run_count = _scan_runs(layout.root, runs_dir, newest)
        snap.complete = len(snap.runs) == snap.run_count
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


def _scan_runs(root: str, runs_dir: str,
               newest: bool = False) -> tuple[list[RunSnapshot], str | None, int]:
    """The run dirs read (links and other non-directories are not entered), the path of the
    first run-named entry that is not a real directory (for a warning), and how many run dirs
    the listing holds.

    The runs dir is opened once and each run dir below it through that descriptor, so a scan
    of 10,000 runs does not walk from the root 10,000 times (see docs/performance.md)."""
    try:
        runs_fd = safefs.open_dir(root, runs_dir)
    except (ConductorError, OSError):
        return [], runs_dir, 0
    runs: list[RunSnapshot] = []
    try:
        names, odd_name = run_names(safefs.entries_at(runs_fd, runs_dir))
        odd = os.path.join(runs_dir, odd_name) if odd_name else None
        if newest:
            read, older = newest_candidates(names)
        else:
            read, older = sorted(names), iter(())
        bad = _read_runs(root, runs_fd, runs_dir, read, runs)
        odd = odd or bad
        # Back to the newest readable run (what `list` shows), a second of ids at a time, and
        # one second more, as for the newest.
        found = any(r.error is None and not r.orphan for r in runs)
        for group in older if not found else ():
            bad = _read_runs(root, runs_fd, runs_dir, group, runs)
            odd = odd or bad
            if found:
                break
            found = any(r.error is None and not r.orphan for r in runs)
    except ConductorError:
        return [], runs_dir, 0
    finally:
        os.close(runs_fd)
    runs.sort(key=lambda r: ids.run_sort_key(r.info.start_time, r.run_id))
    return runs, odd, len(names)


def _read_runs(root: str, runs_fd: int, runs_dir: str, names: list[str],
               into: list[RunSnapshot]) -> str | None:
    """Read ``names`` into ``into``; the first that turned into a non-directory, or None."""
    odd = None
    for name in names:
        run, bad = _read_run(root, runs_fd, runs_dir, name)
        odd = odd or bad
        if run is not None:
            into.append(run)
    return odd


def _read_run(root: str, runs_fd: int, runs_dir: str,
              name: str) -> tuple[RunSnapshot | None, str | None]:
    """One listed run dir, opened below ``runs_fd``; (None, path) when it turned into
    something else since the listing, (None, None) when it is gone."""
    run_dir = os.path.join(runs_dir, name)
    try:
        run_fd = safefs.open_subdir_at(runs_fd, name, run_dir)
    except FileNotFoundError:
        return None, None  # removed since the listing (gc)
    except (ConductorError, OSError):
        return None, run_dir  # swapped for a link or a file since the listing
    try:
        return scan_run(run_dir, root=root, run_fd=run_fd), None
    finally:
        os.close(run_fd)


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
