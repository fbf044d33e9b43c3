"""What a single-pane dashboard (``--view logs|bus``) shows: the newest running run of a scope.

No Textual import: plain functions over the :class:`.model.RootModel`, tested as data. The app
re-evaluates :func:`follow_target` whenever the model changes (a full read, a task re-read, a
task gone), so a dashboard moves to a task started after it opened without a key.
"""

from __future__ import annotations

from ..store.taskview import RUNNING
from .model import NodeRef, RootModel
from .status import RunView, TaskView

SCOPES = ("root", "project", "task")


def in_scope(task: TaskView, scope: str, project: str | None, task_id: str | None) -> bool:
    """Whether a task belongs to the followed scope (root: every task the console reads)."""
    if scope in ("project", "task") and project and task.project != project:
        return False
    if scope == "task" and task_id and task.task != task_id:
        return False
    return True


def follow_target(model: RootModel, scope: str = "root", project: str | None = None,
                  task_id: str | None = None) -> NodeRef | None:
    """The newest running run of the scope, else its newest run; None with no run at all.

    "Newest" is the run's start time; a running run is one whose record says running after
    reconciliation (its process is alive), a child run as much as a root run."""
    best: tuple[int, TaskView, RunView] | None = None
    best_running: tuple[int, TaskView, RunView] | None = None
    for task in model.tasks():
        if not in_scope(task, scope, project, task_id):
            continue
        for run in task.runs:
            start = run.info.start_time or 0
            if best is None or start > best[0]:
                best = (start, task, run)
            if run.info.status == RUNNING and (best_running is None or start > best_running[0]):
                best_running = (start, task, run)
    pick = best_running or best
    if pick is None:
        return None
    return NodeRef.of_run(pick[1].project, pick[1].task, pick[2].run_id)


def scope_label(scope: str, project: str | None, task_id: str | None) -> str:
    """How the title names the scope: ``root``, ``project P``, ``task T``."""
    if scope == "task" and task_id:
        return f"task {task_id}"
    if scope in ("project", "task") and project:
        return f"project {project}"
    return "root"


def title_text(project: str, task: str, run: RunView | None, scope_text: str,
               following: bool) -> str:
    """The dashboard's one-line title: what the pane shows (``status · project / task / run ·
    agent``) and, while that is the followed run, what it follows."""
    tail = f" · follows the newest running run of {scope_text}" if following else ""
    if not project:
        return f"no run yet{tail}"
    if run is None:
        return f"{project} / {task}{tail}" if task else f"{project}{tail}"
    # the status first: a narrow dashboard pane cuts the line's end, never whether it runs
    return f"{run.status} · {project} / {task} / {run.run_id} · {run.agent or '?'}{tail}"
