"""The console's model: the projects, tasks and runs it shows, outside any widget.

The app holds one :class:`RootModel`. Reads of the runs root (:func:`.status.read_root`,
:func:`.status.read_task`, in thread workers) update it on the event loop; the run tree renders
it and never owns it; lookups go through a :class:`NodeRef`. No Textual import: the model is
tested as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..store.usage import Usage
from .status import ProjectView, RunView, TaskView, counts, total_spend

PROJECT, TASK, RUN = "project", "task", "run"
LIVE_STATUSES = ("running", "loop-dead", "queued", "waiting", "needs-you")
STILL_RUNNING = ("running", "needs-you", "queued", "waiting")


@dataclass(frozen=True)
class NodeRef:
    """What a tree node stands for. ``kind`` is "project", "task" or "run"; ``key`` is the one
    hashable name of the node everywhere (tree index, expanded sets, selection)."""
    kind: str
    project: str
    task: str = ""
    run: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.project, self.task, self.run)

    @classmethod
    def of_project(cls, project: str) -> NodeRef:
        return cls(PROJECT, project)

    @classmethod
    def of_task(cls, project: str, task: str) -> NodeRef:
        return cls(TASK, project, task)

    @classmethod
    def of_run(cls, project: str, task: str, run: str) -> NodeRef:
        return cls(RUN, project, task, run)

    @property
    def task_ref(self) -> NodeRef:
        """The task this node belongs to (itself for a task)."""
        return NodeRef(TASK, self.project, self.task)

    def same_task(self, project: str, task: str) -> bool:
        return bool(self.task) and self.project == project and self.task == task


@dataclass
class Picked:
    """What a node resolves to: a task node brings its latest run."""
    project: ProjectView | None = None
    task: TaskView | None = None
    run: RunView | None = None


@dataclass
class RootRead:
    """What a full read changed: ``old`` maps a task's key to its view before the read."""
    first: bool
    gone_projects: list[str] = field(default_factory=list)
    gone_tasks: list[tuple[str, str]] = field(default_factory=list)
    new_projects: list[str] = field(default_factory=list)
    old: dict[tuple[str, str], TaskView] = field(default_factory=dict)


@dataclass
class TaskRead:
    """What a re-read of one task changed."""
    task: TaskView
    old: TaskView | None
    new_project: bool


class RootModel:
    """Projects (sorted by id) with their tasks (sorted by id)."""

    def __init__(self) -> None:
        self.projects: dict[str, ProjectView] = {}
        self.loaded = False
        # tasks with a running run placed on another host, kept as tasks are read: the
        # console polls these every few seconds, and a walk over every run of a 10,000-run
        # root for them took ~5 ms of the event loop each time
        self._placed: set[tuple[str, str]] = set()

    # -- lookups -------------------------------------------------------------------------

    def project(self, project: str) -> ProjectView | None:
        return self.projects.get(project)

    def task(self, project: str, task: str) -> TaskView | None:
        proj = self.projects.get(project)
        if proj is None:
            return None
        for view in proj.tasks:
            if view.task == task:
                return view
        return None

    def tasks(self) -> Iterator[TaskView]:
        for project in self.projects.values():
            yield from project.tasks

    def resolve(self, ref: NodeRef | None) -> Picked:
        """The views a node stands for; a task node's run is the task's latest."""
        if ref is None:
            return Picked()
        project = self.projects.get(ref.project)
        task = self.task(ref.project, ref.task) if ref.task else None
        run = task.run(ref.run) if task is not None and ref.run else None
        if task is not None and run is None and ref.kind == TASK:
            run = task.latest
        return Picked(project, task, run)

    def statuses(self) -> dict[tuple[str, str], str]:
        return {(t.project, t.task): t.status for t in self.tasks()}

    def counts(self) -> dict[str, int]:
        return counts(list(self.projects.values()))

    def spend(self) -> Usage:
        return total_spend(list(self.projects.values()))

    def placed_tasks(self) -> list[tuple[str, str]]:
        """Tasks with a running run placed on another host (its writes raise no event here)."""
        return sorted(self._placed)

    def live_tasks(self) -> list[tuple[str, str]]:
        """Tasks whose liveness can change without a file event (a supervisor dies)."""
        return [(t.project, t.task) for t in self.tasks() if t.status in LIVE_STATUSES]

    def still_running(self) -> int:
        """Tasks that go on after the console quits."""
        return sum(1 for t in self.tasks() if t.status in STILL_RUNNING and t.loop_alive)

    def latest_run(self) -> NodeRef | None:
        """The run that started last (single-pane dashboards show it)."""
        best: tuple[int, TaskView, RunView] | None = None
        for task in self.tasks():
            for run in task.runs:
                start = run.info.start_time or 0
                if best is None or start > best[0]:
                    best = (start, task, run)
        if best is None:
            return None
        return NodeRef.of_run(best[1].project, best[1].task, best[2].run_id)

    # -- updates -------------------------------------------------------------------------

    def replace(self, projects: list[ProjectView]) -> RootRead:
        """A full read of the root."""
        first = not self.loaded
        self.loaded = True
        new = {p.id: p for p in sorted(projects, key=lambda p: p.id)}
        for project in new.values():
            project.tasks.sort(key=lambda t: t.task)
        change = RootRead(first=first)
        if not first:
            change.gone_projects = [pid for pid in self.projects if pid not in new]
            change.new_projects = [pid for pid in new if pid not in self.projects]
            for pid, old_project in self.projects.items():
                keep = {t.task for t in new[pid].tasks} if pid in new else set()
                for task in old_project.tasks:
                    change.old[(pid, task.task)] = task
                    if pid in new and task.task not in keep:
                        change.gone_tasks.append((pid, task.task))
        self.projects = new
        self._placed = {(t.project, t.task) for p in new.values() for t in p.tasks
                        if _placed_running(t)}
        return change

    def update_task(self, task: TaskView) -> TaskRead:
        """One task read again (a new task is inserted in id order)."""
        project = self.projects.get(task.project)
        new_project = project is None
        if project is None:
            project = ProjectView(task.project, "", [])
            self.projects[task.project] = project
            self.projects = dict(sorted(self.projects.items()))
        if _placed_running(task):
            self._placed.add((task.project, task.task))
        else:
            self._placed.discard((task.project, task.task))
        for index, existing in enumerate(project.tasks):
            if existing.task == task.task:
                project.tasks[index] = task
                return TaskRead(task, existing, new_project)
        project.tasks.append(task)
        project.tasks.sort(key=lambda t: t.task)
        return TaskRead(task, None, new_project)

    def remove_task(self, project: str, task: str) -> TaskView | None:
        proj = self.projects.get(project)
        if proj is None:
            return None
        old = self.task(project, task)
        proj.tasks = [t for t in proj.tasks if t.task != task]
        self._placed.discard((project, task))
        return old


def _placed_running(task: TaskView) -> bool:
    return any(r.info.status == "running" and r.info.executor not in ("", "local")
               for r in task.runs)
