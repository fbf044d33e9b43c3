"""One model of what a task's status is, below both front ends (the console and the CLI).

A :class:`TaskView` is read from disk by :func:`view_task`: the task's markers (DONE,
CANCELLED, STOP-REQUESTED), its runs (every one, or with ``newest=True`` only the newest: see
:func:`conductor.store.scan.newest_candidates`) with each ``running`` run's liveness
(:func:`conductor.store.liveness.run_alive`, reconciled in memory, never written), whether its
supervisor lives (TASK-LOOP.lock), the loop state of LOOP-STATE.json while it holds, the
dependencies it waits on, and whether the last message on its bus is a QUESTION.
:func:`task_state` turns that into one word of the operator vocabulary:

==============  ================================================================================
``running``     a run is alive and its supervisor holds the lock (or a live loop between runs)
``needs-you``   the last bus message is a QUESTION, or the loop asks about a spent budget
``waiting``     waiting on dependencies (no runs yet), a usage limit or a backoff
``queued``      no runs yet, nothing to wait for
``stuck``       the circuit breaker tripped (identical failures)
``failed``      the newest root run failed, or the loop ended on a failure no retry fixes
``stopped``     stopped by the operator (STOP-REQUESTED, or a run stopped by the operator)
``cancelled``   CANCELLED exists and nothing runs
``completed``   DONE exists and nothing runs
``loop-dead``   a run claims to run but no supervisor holds the lock
``unknown``     the newest run's record cannot be read
==============  ================================================================================

Filters accept this vocabulary and upstream's words for it (:data:`SYNONYMS`: ``done`` is
``completed``, ``blocked`` is ``waiting``, ``active`` is ``running``, ``pending`` is
``queued``), and the loop-state words ``limit``, ``budget`` and ``backoff``
(:func:`matches`). Upstream's own columns (``list``'s LATEST_STATUS, ``status``'s STATUS) are
words of a run, not of a task; the CLI maps a view to them at its edge
(:mod:`conductor.cli.info_tasks`).

Nothing here writes, and nothing imports Textual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from ..errors import ConductorError
from . import safefs
from .layout import DONE, STDERR, STDOUT, TASK_BUS, Layout
from .liveness import reconcile, runs_alive
from .loopstate import BACKOFF, BUDGET, LIMIT, LoopState, read_loop_state
from .loopview import LoopWords, effective, loop_words
from .runinfo import RunInfo
from .scan import RunSnapshot, TaskSnapshot, scan_task
from .usage import Usage, run_usage, total_usage

RUNNING = "running"
NEEDS_YOU = "needs-you"
WAITING = "waiting"
QUEUED = "queued"
STUCK = "stuck"
FAILED = "failed"
STOPPED = "stopped"
CANCELLED = "cancelled"
COMPLETED = "completed"
LOOP_DEAD = "loop-dead"
UNKNOWN = "unknown"
STATES = (RUNNING, NEEDS_YOU, WAITING, QUEUED, STUCK, FAILED, STOPPED, CANCELLED, COMPLETED,
          LOOP_DEAD, UNKNOWN)

# Other words a filter accepts for a state: upstream's and spellings of ours.
SYNONYMS = {"done": COMPLETED, "all_finished": COMPLETED, "active": RUNNING, "blocked": WAITING,
            "pending": QUEUED, "needs_you": NEEDS_YOU, "question": NEEDS_YOU, "dead": LOOP_DEAD}
# Filter words that match the loop state itself (a kind of waiting or of needs-you).
LOOP_FILTERS = (LIMIT, BUDGET, BACKOFF)

STOPPED_PREFIX = "stopped by operator"


def filter_word(text: str) -> str | None:
    """The operator state (or loop-state word) a filter word stands for; None if unknown."""
    word = text.strip().lower()
    if word in STATES or word in LOOP_FILTERS:
        return word
    return SYNONYMS.get(word)


def words(state: str) -> tuple[str, ...]:
    """A state and every other word a filter accepts for it (for a text filter)."""
    return (state, *sorted(w for w, s in SYNONYMS.items() if s == state))


# ---- runs --------------------------------------------------------------------------------------

def run_status(info: RunInfo, *, stop_requested: bool) -> str:
    """A reconciled run's word: running, completed, failed, stopped (a failure the operator
    caused) or unknown."""
    if info.status == FAILED and (info.error_summary.startswith(STOPPED_PREFIX) or stop_requested):
        return STOPPED
    if info.status in (RUNNING, COMPLETED, FAILED):
        return info.status
    return UNKNOWN


class RunView:
    """One run as shown: its record after in-memory reconciliation (``info``), whether its
    record could be read and its process is alive, and its place in the task's tree."""
    # plain classes, not dataclasses: `list` and `status` import this module, and every
    # dataclass costs its generated methods at import time
    __slots__ = ("run_id", "path", "info", "status", "readable", "alive", "error",
                 "last_output_ns", "attempt", "attempts", "depth", "children")

    def __init__(self, run_id: str, path: str, info: RunInfo, status: str, readable: bool = True,
                 alive: bool = False, error: str | None = None) -> None:
        self.run_id, self.path, self.info, self.status = run_id, path, info, status
        self.readable, self.alive, self.error = readable, alive, error
        self.last_output_ns: int | None = None  # a running run's last output write (outputs=True)
        self.attempt = self.attempts = 0  # root runs: 1.. in start order (restart attempts)
        self.depth = 0  # 0: a root run; children nest under the run named by parent_run_id
        self.children: list[RunView] = []

    def __repr__(self) -> str:
        return f"RunView({self.run_id!r}, {self.status!r})"

    @property
    def agent(self) -> str:
        return self.info.agent

    @property
    def is_root(self) -> bool:
        return self.depth == 0

    @property
    def usage(self) -> Usage:
        return run_usage(self.info)


def view_run(snap: RunSnapshot, *, done: bool, stop_requested: bool, now_ns: int,
             alive: Callable[[RunInfo], bool] | None = None) -> RunView:
    readable = not snap.orphan and snap.error is None
    info, is_alive = snap.info, False
    if readable and info.status == RUNNING:
        is_alive = (alive or run_alive)(info)
        info = reconcile(info, done_exists=done, now_ns=now_ns, alive=is_alive)
    return RunView(snap.run_id, snap.path, info, run_status(info, stop_requested=stop_requested),
                   readable, is_alive and info.status == RUNNING, snap.error)


def arrange(runs: list[RunView]) -> list[RunView]:
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


# ---- tasks -------------------------------------------------------------------------------------

class TaskView:
    __slots__ = ("snap", "runs", "roots", "loop_alive", "loop_state", "waiting_on",
                 "last_bus_type", "status", "root", "_usage")

    def __init__(self, snap: TaskSnapshot | None = None, runs: list[RunView] | None = None,
                 roots: list[RunView] | None = None, loop_alive: bool = False,
                 loop_state: LoopState | None = None, waiting_on: list[str] | None = None,
                 last_bus_type: str = "", status: str = "", root: str = "", *,
                 project: str = "", task: str = "", path: str = "") -> None:
        # ``project``/``task``/``path`` without a snapshot: a view made by hand (tests, demos)
        self.snap = snap if snap is not None else TaskSnapshot(project, task, path)
        self.runs = runs if runs is not None else []  # in start order; all when complete
        self.roots = roots if roots is not None else []
        self.loop_alive = loop_alive
        self.loop_state = loop_state  # LOOP-STATE.json only while it holds (effective)
        self.waiting_on = waiting_on if waiting_on is not None else []  # before any run
        self.last_bus_type = last_bus_type  # "" when the bus was not read
        self.status = status
        self.root = root  # the runs root, for usage's read of the runs not read
        self._usage: Usage | None = None

    def __repr__(self) -> str:
        return f"TaskView({self.project!r}, {self.task!r}, {self.status!r})"

    project = property(lambda self: self.snap.project_id)
    task = property(lambda self: self.snap.id)
    id = task
    path = property(lambda self: self.snap.path)
    done = property(lambda self: self.snap.done)
    cancelled = property(lambda self: self.snap.cancelled)
    stop_requested = property(lambda self: self.snap.stop_requested)
    depends_on = property(lambda self: self.snap.depends_on)
    error = property(lambda self: self.snap.error)
    run_count = property(lambda self: self.snap.run_count if not self.snap.complete
                         else len(self.runs))
    blocked_by = property(lambda self: self.waiting_on)

    @property
    def key(self) -> tuple[str, str]:
        return (self.project, self.task)

    @property
    def newest(self) -> RunView | None:
        """The run that started last, readable or not."""
        return self.runs[-1] if self.runs else None

    @property
    def latest_readable(self) -> RunView | None:
        """The last-started run whose run-info could be read."""
        for run in reversed(self.runs):
            if run.readable:
                return run
        return None

    @property
    def latest(self) -> RunView | None:
        """The newest root run (the newest attempt), else the newest run."""
        return self.roots[-1] if self.roots else self.newest

    @property
    def agent(self) -> str:
        latest = self.latest
        return latest.agent if latest else ""

    @property
    def any_running(self) -> bool:
        """A run read claims to run (after reconciliation: its process is alive)."""
        return any(r.info.status == RUNNING for r in self.runs)

    def run(self, run_id: str) -> RunView | None:
        for run in self.runs:
            if run.run_id == run_id:
                return run
        return None

    @property
    def reports_usage(self) -> bool:
        """A run read reports tokens or cost (with ``newest``, the newest runs only)."""
        return any(r.usage for r in self.runs if r.readable)

    @property
    def usage(self) -> Usage:
        """Every run's tokens and cost, summed; a view of the newest runs reads the rest once."""
        if self._usage is None:
            infos = [r.info for r in self.runs if r.readable]
            if not self.snap.complete and self.root:
                full = scan_task(Layout(self.root), self.project, self.task)
                infos = [r.info for r in full.runs if r.error is None and not r.orphan]
            self._usage = total_usage(infos)
        return self._usage

    def loop_words(self, now_ns: int) -> LoopWords | None:
        return loop_words(self.loop_state, now_ns) if self.loop_state is not None else None

    def detail(self, now_ns: int) -> str:
        """One short line on why the task is in its state ("limit until 14:05"), or ""."""
        words = self.loop_words(now_ns)
        return words.detail if words is not None and words.status == self.status else ""


def task_state(view: TaskView) -> str:
    """The task's word; the order of the checks is the order of what matters to an operator.

    The loop state is an effective one: a budget question is ``needs-you``, a limit wait or a
    backoff ``waiting``, a tripped breaker ``stuck``, a loop ended by a failure no retry fixes
    ``failed``."""
    done, state = view.done, view.loop_state
    claims = any(r.info.status == RUNNING for r in view.runs)
    if done and not claims:
        return COMPLETED
    if state is not None and state.state == BUDGET and not done:
        return NEEDS_YOU
    if view.last_bus_type == "QUESTION" and not done:
        return NEEDS_YOU
    if claims:
        return RUNNING if view.loop_alive else LOOP_DEAD
    if state is not None:
        if state.state in (LIMIT, BACKOFF):
            return WAITING
        if state.ended:
            return loop_words(state, 0).status
    if view.loop_alive:
        return WAITING if view.waiting_on and not view.runs else RUNNING
    if view.cancelled:
        return CANCELLED
    if view.stop_requested:
        return STOPPED
    roots = view.roots or view.runs
    if not roots:
        return WAITING if view.waiting_on else QUEUED
    latest = roots[-1].status
    return latest if latest in (COMPLETED, FAILED, STOPPED) else UNKNOWN


def matches(view: TaskView, text: str) -> bool:
    """Does the task answer to the filter word (either vocabulary, or a loop-state word)?"""
    word = filter_word(text)
    if word in LOOP_FILTERS:
        return view.loop_state is not None and view.loop_state.state == word
    return word is not None and view.status == word


def build_view(snap: TaskSnapshot, *, now_ns: int, loop_alive: bool = False,
               loop_state: LoopState | None = None, last_bus_type: str = "",
               waiting_on: list[str] | None = None, root: str = "",
               alive: Callable[[RunInfo], bool] | None = None,
               last_output: Callable[[RunSnapshot], int | None] | None = None) -> TaskView:
    """A view from what was read (no disk reads but the liveness probe of ``running`` runs:
    ``alive``, default :func:`run_alive`). ``loop_state`` is LOOP-STATE.json as read (kept only
    while it holds); ``last_output`` gives a running run's last output write."""
    runs = []
    for snap_run in snap.runs:
        run = view_run(snap_run, done=snap.done, stop_requested=snap.stop_requested,
                       now_ns=now_ns, alive=alive)
        if last_output is not None and run.info.status == RUNNING:
            run.last_output_ns = last_output(snap_run)
        runs.append(run)
    view = TaskView(snap, runs, arrange(runs), loop_alive, effective(loop_state, loop_alive),
                    list(waiting_on or []), last_bus_type, root=root)
    view.status = task_state(view)
    return view


def run_alive(info: RunInfo) -> bool:
    """One run's liveness, through :func:`runs_alive` (the one probe every view asks)."""
    return runs_alive([info])[0]


def batched_alive(snaps: Iterable[TaskSnapshot]) -> Callable[[RunInfo], bool]:
    """Liveness for every ``running`` run of many tasks, asked at once: each executor gets
    one question for all of its runs (one ``squeue`` per listing of a Slurm root, never one per
    run or per task). The answer is keyed by record identity; a record it was not asked about
    (read later) is probed alone."""
    infos = [run.info for snap in snaps for run in snap.runs
             if not run.orphan and run.error is None and run.info.status == RUNNING]
    answers = dict(zip(map(id, infos), runs_alive(infos))) if infos else {}

    def alive(info: RunInfo) -> bool:
        found = answers.get(id(info))
        return run_alive(info) if found is None else found
    return alive


def view_task(layout: Layout, project: str, task: str, *, now_ns: int, newest: bool = False,
              bus: bool = True, outputs: bool = False, snap: TaskSnapshot | None = None,
              alive: Callable[[RunInfo], bool] | None = None) -> TaskView:
    """Every disk and process read a view needs, then :func:`build_view`.

    ``newest``: only the newest runs are read (``run_count`` still counts all; ``usage`` reads
    the rest when asked). ``bus``: read the bus's last message (needs-you). ``outputs``: the
    last output write of each running run (the console's heartbeat). A task whose files defeat
    the view (numbers no process call accepts, say) is shown without its runs and with the
    problem as its error, so the tasks next to it are still shown."""
    snap = snap if snap is not None else scan_task(layout, project, task, newest=newest)
    try:
        waiting = []
        if not snap.runs and not snap.done and snap.depends_on:
            waiting = [d for d in snap.depends_on if not dependency_ready(layout, project, d)]
        alive_loop = loop_alive(snap.path)
        return build_view(snap, now_ns=now_ns, loop_alive=alive_loop,
                          loop_state=read_loop_state(snap.path),
                          last_bus_type=last_bus_type(snap.path) if bus else "",
                          waiting_on=waiting, root=layout.root, alive=alive,
                          last_output=output_mtime if outputs else None)
    except (ConductorError, OSError, ValueError, OverflowError) as exc:
        snap.error = snap.error or f"{snap.path}: {exc}"
        snap.runs, snap.run_count, snap.complete = [], 0, True
        return build_view(snap, now_ns=now_ns, root=layout.root)


# ---- what the reads are ------------------------------------------------------------------------

def loop_alive(task_dir: str) -> bool:
    from .supervision import loop_alive as _alive
    try:
        return _alive(task_dir)
    except OSError:
        return False


def last_bus_type(task_dir: str) -> str:
    """The type of the task bus's last message ("" without one): QUESTION means needs-you."""
    from ..bus import MessageBus
    try:
        last = MessageBus(os.path.join(task_dir, TASK_BUS)).tail(1)
    except (ConductorError, OSError):
        return ""
    return last[-1].type if last else ""


def dependency_ready(layout: Layout, project: str, dep: str) -> bool:
    """DONE exists, or the task has readable runs, none running, and the newest of them (by
    start time) completed (spec 4.10, ordered by start time rather than by name: 9 #20)."""
    try:
        task_dir = layout.task_dir(project, dep)
        if not safefs.is_dir(layout.root, task_dir):  # absent, or a link: never followed
            return False
        if safefs.is_file(layout.root, os.path.join(task_dir, DONE)):
            return True
    except ConductorError:
        return False
    runs = [r for r in scan_task(layout, project, dep).runs if r.error is None and not r.orphan]
    if not runs or any(r.info.status == RUNNING for r in runs):
        return False
    return runs[-1].info.status == COMPLETED


def output_mtime(run: RunSnapshot) -> int | None:
    """The last write to the run's stdout or stderr (or its start, when neither exists yet)."""
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
