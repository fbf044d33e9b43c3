"""What the console shows for a task or a run: a status, a glyph, a heartbeat.

Pure functions over store snapshots, so the rules can be tested without a terminal and the
scan can run in a thread. The disk-reading half (:func:`read_task_view`) is the only place that
touches files or processes; everything else is arithmetic on what it returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from ..bus import MessageBus
from ..errors import ConductorError
from ..store import (STDERR, STDOUT, Layout, RunSnapshot, TaskSnapshot,
                     reconcile, run_alive, scan_root, scan_task)
from ..store.loopstate import BACKOFF, BUDGET, LIMIT, LoopState, read_loop_state
from ..store.loopview import LoopWords, effective, loop_words
from ..store.runinfo import RunInfo
from ..store.usage import Usage, run_usage, total_usage
from ..timefmt import NS

LIVE_NS = 60 * NS
STALE_NS = 5 * 60 * NS
STOPPED_PREFIX = "stopped by operator"


@dataclass(frozen=True)
class StatusLook:
    """How a status is drawn: a glyph that reads without colour, and a colour that reads fast."""
    glyph: str
    style: str
    label: str


LOOKS: dict[str, StatusLook] = {
    "running": StatusLook("●", "bold green", "running"),
    "completed": StatusLook("✔", "green", "completed"),
    "failed": StatusLook("✘", "bold red", "failed"),
    "stopped": StatusLook("■", "yellow", "stopped"),
    "cancelled": StatusLook("⊘", "yellow", "cancelled (task cancel)"),
    "waiting": StatusLook("◷", "cyan", "waiting on dependencies"),
    "queued": StatusLook("○", "bright_black", "queued"),
    "needs-you": StatusLook("?", "bold magenta", "needs you (QUESTION)"),
    "loop-dead": StatusLook("⚠", "bold red", "loop dead (a run claims to run, no supervisor)"),
    "stuck": StatusLook("⊗", "bold red", "stuck: identical failures tripped the circuit breaker"),
    "unknown": StatusLook("·", "bright_black", "unknown"),
}
HEARTBEAT_LOOKS: dict[str, StatusLook] = {
    "live": StatusLook("♥", "green", "live: output in the last minute"),
    "stale": StatusLook("♡", "yellow", "stale: no output for 1-5 minutes"),
    "silent": StatusLook("∅", "red", "silent: no output for over 5 minutes"),
}


def look(status: str) -> StatusLook:
    return LOOKS.get(status, LOOKS["unknown"])


@dataclass
class RunView:
    """One run as shown: the reconciled record plus what the tree needs around it."""
    run_id: str
    path: str
    info: RunInfo
    status: str
    last_output_ns: int | None = None
    attempt: int = 0
    attempts: int = 0
    depth: int = 0
    children: list["RunView"] = field(default_factory=list)
    error: str | None = None

    @property
    def agent(self) -> str:
        return self.info.agent

    @property
    def is_root(self) -> bool:
        return self.depth == 0

    @property
    def usage(self) -> Usage:
        return run_usage(self.info)


@dataclass
class TaskView:
    project: str
    task: str
    path: str
    status: str
    runs: list[RunView] = field(default_factory=list)
    roots: list[RunView] = field(default_factory=list)
    loop_alive: bool = False
    last_bus_type: str = ""
    done: bool = False
    stop_requested: bool = False
    depends_on: list[str] = field(default_factory=list)
    waiting_on: list[str] = field(default_factory=list)
    error: str | None = None
    # What the supervisor does between attempts (LOOP-STATE.json), only while it still holds:
    # a wait while the supervisor lives, stuck/failed until the task is started again.
    loop_state: LoopState | None = None
    usage: Usage = field(default_factory=Usage)  # every run of the task, children included

    @property
    def key(self) -> tuple[str, str]:
        return (self.project, self.task)

    def loop_words(self, now_ns: int) -> LoopWords | None:
        return loop_words(self.loop_state, now_ns) if self.loop_state is not None else None

    def detail(self, now_ns: int) -> str:
        """One short line on why the task is in its state ("limit until 14:05"), or ""."""
        words = self.loop_words(now_ns)
        return words.detail if words is not None and words.status == self.status else ""

    @property
    def latest(self) -> RunView | None:
        return self.roots[-1] if self.roots else (self.runs[-1] if self.runs else None)

    @property
    def agent(self) -> str:
        latest = self.latest
        return latest.agent if latest else ""

    def run(self, run_id: str) -> RunView | None:
        for run in self.runs:
            if run.run_id == run_id:
                return run
        return None


@dataclass
class ProjectView:
    id: str
    path: str
    tasks: list[TaskView] = field(default_factory=list)


def heartbeat(last_output_ns: int | None, now_ns: int) -> str:
    """live < 60 s since the last output, stale up to 5 min, silent after."""
    if last_output_ns is None:
        return "silent"
    age = now_ns - last_output_ns
    if age < LIVE_NS:
        return "live"
    if age < STALE_NS:
        return "stale"
    return "silent"


def run_status(info: RunInfo, *, stop_requested: bool) -> str:
    """A reconciled run's status, with "stopped" told apart from other failures."""
    if info.status == "failed" and (info.error_summary.startswith(STOPPED_PREFIX) or stop_requested):
        return "stopped"
    if info.status in LOOKS:
        return info.status
    return "unknown"


def task_status(snap: TaskSnapshot, runs: list[RunView], *, loop_alive: bool,
                last_bus_type: str, waiting_on: list[str],
                loop_state: LoopState | None = None) -> str:
    """One word for a task; the order of the checks is the order of what matters to an operator.

    ``loop_state`` is an :func:`~conductor.store.loopview.effective` one: a budget question
    is ``needs-you``, a limit wait or a backoff ``waiting``, a tripped breaker ``stuck``, a
    loop ended by a failure no retry fixes ``failed``."""
    claims = any(r.info.status == "running" for r in runs) or \
        any(r.status == "running" for r in runs)
    if snap.done and not claims:
        return "completed"
    if loop_state is not None and loop_state.state == BUDGET and not snap.done:
        return "needs-you"
    if last_bus_type == "QUESTION" and not snap.done:
        return "needs-you"
    if claims:
        return "running" if loop_alive else "loop-dead"
    if loop_state is not None:
        if loop_state.state in (LIMIT, BACKOFF):
            return "waiting"
        if loop_state.ended:
            return loop_words(loop_state, 0).status
    if loop_alive:
        return "waiting" if waiting_on and not runs else "running"
    if snap.done:
        return "completed"
    if snap.cancelled:
        return "cancelled"
    if snap.stop_requested:
        return "stopped"
    roots = [r for r in runs if r.is_root] or runs
    if not roots:
        return "waiting" if waiting_on else "queued"
    latest = roots[-1].status
    return latest if latest in ("completed", "failed", "stopped") else "unknown"


def _arrange(runs: list[RunView]) -> list[RunView]:
    """Nest child runs under their parent run; number the root runs (restart attempts)."""
    by_id = {r.run_id: r for r in runs}
    roots: list[RunView] = []
    for run in runs:
        parent = by_id.get(run.info.parent_run_id) if run.info.parent_run_id else None
        if parent is not None and parent is not run:
            parent.children.append(run)
        else:
            roots.append(run)

    def set_depth(run: RunView, depth: int, seen: set[str]) -> None:
        run.depth = depth
        for child in run.children:
            if child.run_id not in seen:
                seen.add(child.run_id)
                set_depth(child, depth + 1, seen)

    for index, root in enumerate(roots, 1):
        root.attempt, root.attempts = index, len(roots)
        set_depth(root, 0, {root.run_id})
    return roots


def build_task_view(snap: TaskSnapshot, *, loop_alive: bool, last_bus_type: str,
                    deps_done: dict[str, bool], now_ns: int,
                    alive: Callable[[RunInfo], bool] | None = None,
                    last_output: Callable[[RunSnapshot], int | None] | None = None,
                    loop_state: LoopState | None = None) -> TaskView:
    """A task view from a snapshot. ``alive`` probes a running run's process (default: psutil);
    ``last_output`` gives the time of a running run's last output write; ``loop_state`` is
    what LOOP-STATE.json says (kept only while it holds: see :func:`effective`)."""
    runs: list[RunView] = []
    for run in snap.runs:
        info = run.info
        if info.status == "running":
            is_alive = alive(info) if alive else run_alive(info)
            info = reconcile(info, done_exists=snap.done, now_ns=now_ns, alive=is_alive)
        view = RunView(run.run_id, run.path, info,
                       run_status(info, stop_requested=snap.stop_requested), error=run.error)
        if info.status == "running":
            view.last_output_ns = last_output(run) if last_output else output_mtime(run)
        runs.append(view)
    roots = _arrange(runs)
    waiting_on = [d for d in snap.depends_on if not deps_done.get(d, False)]
    loop_state = effective(loop_state, loop_alive)
    status = task_status(snap, runs, loop_alive=loop_alive, last_bus_type=last_bus_type,
                         waiting_on=waiting_on, loop_state=loop_state)
    return TaskView(snap.project_id, snap.id, snap.path, status, runs, roots, loop_alive,
                    last_bus_type, snap.done, snap.stop_requested, list(snap.depends_on),
                    waiting_on, snap.error, loop_state, total_usage(r.info for r in runs))


def output_mtime(run: RunSnapshot) -> int | None:
    """The last write to the run's stdout or stderr (or its start, when neither exists yet)."""
    from ..store import safefs
    latest = None
    root = safefs.above(run.path, 4)
    for name, given in ((STDOUT, run.info.stdout_path), (STDERR, run.info.stderr_path)):
        path = given or os.path.join(run.path, name)
        try:  # only files under the root, never through a link
            mtime = safefs.mtime_ns(root, path)
        except (OSError, ConductorError):
            continue
        if mtime is None:
            continue
        latest = mtime if latest is None else max(latest, mtime)
    return latest if latest is not None else run.info.start_time


def last_bus_type(task_dir: str) -> str:
    """The type of the task bus's last message ("" without one): QUESTION means needs-you."""
    from ..store.layout import TASK_BUS
    try:
        last = MessageBus(os.path.join(task_dir, TASK_BUS)).tail(1)
    except (ConductorError, OSError):
        return ""
    return last[-1].type if last else ""


def loop_alive(task_dir: str) -> bool:
    from ..store.supervision import loop_alive as _alive
    try:
        return _alive(task_dir)
    except OSError:
        return False


def view_task(snap: TaskSnapshot, deps_done: dict[str, bool], now_ns: int) -> TaskView:
    """Every disk and process read a task view needs, then :func:`build_task_view`.

    A task whose files defeat the view (a record with numbers no process call accepts, say) is
    shown without its runs and with the problem as its error, so the tasks next to it are still
    shown."""
    try:
        return build_task_view(snap, loop_alive=loop_alive(snap.path),
                               last_bus_type=last_bus_type(snap.path), deps_done=deps_done,
                               now_ns=now_ns, loop_state=read_loop_state(snap.path))
    except (ConductorError, OSError, ValueError, OverflowError) as exc:
        snap.error = snap.error or f"{snap.path}: {exc}"
        snap.runs = []
        return build_task_view(snap, loop_alive=False, last_bus_type="", deps_done=deps_done,
                               now_ns=now_ns)


def read_root(root: str, *, project: str | None, now_ns: int) -> list[ProjectView]:
    """The whole root as views (call from a thread: it reads every task dir)."""
    projects = []
    for snap in scan_root(root, project=project):
        done = {t.id: t.done for t in snap.tasks}
        projects.append(ProjectView(snap.id, snap.path,
                                    [view_task(t, done, now_ns) for t in snap.tasks]))
    return projects


def read_task(root: str, project: str, task: str, *, now_ns: int) -> TaskView:
    """One task again, with its dependencies' DONE markers (call from a thread)."""
    from ..store import safefs
    layout = Layout(root)
    snap = scan_task(layout, project, task)
    done = {}
    for dep in snap.depends_on:
        try:
            done[dep] = safefs.is_file(layout.root,
                                       os.path.join(layout.task_dir(project, dep), "DONE"))
        except ConductorError:
            done[dep] = False
    return view_task(snap, done, now_ns)


def counts(projects: list[ProjectView]) -> dict[str, int]:
    """Header figures: tasks running, needing the operator, failed (or loop-dead), done."""
    out = {"running": 0, "needs-you": 0, "failed": 0, "done": 0}
    for project in projects:
        for task in project.tasks:
            if task.status == "running":
                out["running"] += 1
            elif task.status == "needs-you":
                out["needs-you"] += 1
            elif task.status in ("failed", "loop-dead", "stuck"):
                out["failed"] += 1
            elif task.status == "completed":
                out["done"] += 1
    return out


def total_spend(projects: list[ProjectView]) -> Usage:
    """Header figure: the usage of every task shown."""
    total = Usage()
    for project in projects:
        for task in project.tasks:
            total = total + task.usage
    return total
