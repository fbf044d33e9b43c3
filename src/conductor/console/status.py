"""What the console shows for a task or a run: a glyph, a colour, a heartbeat.

The status itself is the store's one task model (:mod:`conductor.store.taskview`: its words
are the keys of :data:`LOOKS`); this module draws it and reads the root for the tree (every
run of every task, children nested under their parents). The reads run in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store import Layout, scan_root, scan_task
from ..store.taskview import STATES, RunView, TaskView, batched_alive, view_task
from ..store.usage import Usage
from ..timefmt import NS

__all__ = ["HEARTBEAT_LOOKS", "LOOKS", "ProjectView", "RunView", "StatusLook", "TaskView",
           "counts", "heartbeat", "look", "read_root", "read_task", "total_spend"]

LIVE_NS = 60 * NS
STALE_NS = 5 * 60 * NS


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


def read_root(root: str, *, project: str | None, now_ns: int) -> list[ProjectView]:
    """The whole root as views (call from a thread: it reads every task dir)."""
    layout = Layout(root)
    projects = scan_root(root, project=project)
    alive = batched_alive(t for snap in projects for t in snap.tasks)
    return [ProjectView(snap.id, snap.path,
                        [view_task(layout, snap.id, t.id, now_ns=now_ns, snap=t, outputs=True,
                                   alive=alive)
                         for t in snap.tasks])
            for snap in projects]


def read_task(root: str, project: str, task: str, *, now_ns: int) -> TaskView:
    """One task again (call from a thread)."""
    layout = Layout(root)
    return view_task(layout, project, task, now_ns=now_ns, snap=scan_task(layout, project, task),
                     outputs=True)


def counts(projects: list[ProjectView]) -> dict[str, int]:
    """Header figures: how many tasks are in each state of the store's vocabulary, in its order
    (:data:`~conductor.store.taskview.STATES`); a state no task is in is left out."""
    tally: dict[str, int] = {}
    for project in projects:
        for task in project.tasks:
            tally[task.status] = tally.get(task.status, 0) + 1
    return {state: tally[state] for state in STATES if state in tally}


def total_spend(projects: list[ProjectView]) -> Usage:
    """Header figure: the usage of every task shown."""
    total = Usage()
    for project in projects:
        for task in project.tasks:
            total = total + task.usage
    return total
