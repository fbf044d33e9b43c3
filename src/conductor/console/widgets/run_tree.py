"""The run tree: projects > tasks > runs, child runs under their parent run.

It renders the app's :class:`~conductor.console.model.RootModel` and never changes it: the app
updates the model, then hands the tree what changed (:meth:`RunTree.apply_root`,
:meth:`RunTree.apply_task`, :meth:`RunTree.drop_task`). Nodes are indexed by ``NodeRef.key``.

Lazy, as the measurements advise (notes/textual-perf.md): a project's tasks become nodes only
when the project is expanded, a task's runs only when the task is. So 10,000 runs cost nothing
until looked at. Labels are pre-built ``Text`` (no markup parsing, so ids and agent names can
never be read as markup) and a status change is a ``set_label`` on one node.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState

from ...store.usage import Usage, format_usage
from ...timefmt import NS
from ...words import count
from ..model import NodeRef, RootModel, RootRead, TaskRead
from ..status import (HEARTBEAT_LOOKS, PeekReader, ProjectView, RunView, TaskView, heartbeat,
                      is_placed, look)
from ..text import neutralise
from .scrolling import VimKeys


def format_age(ns: int) -> str:
    """A short duration: 45s, 3m12s, 2h05m, 3d04h."""
    secs = max(0, ns // NS)
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    if secs < 86400:
        return f"{secs // 3600}h{secs % 3600 // 60:02d}m"
    return f"{secs // 86400}d{secs % 86400 // 3600:02d}h"


USAGE_STYLE = "magenta"


def _usage(text: Text, usage: Usage) -> None:
    """The usage cell: cost when the agent reports one, else tokens; nothing without usage."""
    cell = format_usage(usage)
    if cell:
        text.append(f"  {cell}", style=USAGE_STYLE)


def _glyph(status: str) -> Text:
    st = look(status)
    return Text(st.glyph + " ", style=st.style)


COLUMNS = ("age", "duration", "usage", "peek")
"""The optional columns: ``age`` (a task's age instead of its date), ``duration`` (a run's),
``usage`` (cost, else tokens), ``peek`` (the last line the agent said in the task's newest
run, read off the event loop). The slug, the status word and the agent always show."""

COLUMN_SETS: dict[str, frozenset[str]] = {
    "usual": frozenset({"duration", "usage"}),
    "all": frozenset({"age", "duration", "usage", "peek"}),
    "bare": frozenset(),
}
"""What the columns key cycles through, in order; ``usual`` is the default."""

DEFAULT_COLUMNS = "usual"

_TASK_ID = re.compile(r"task-([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{2})([0-9]{2})([0-9]{2})-(.+)\Z",
                      re.ASCII | re.DOTALL)

PEEK_MARK = "›"
PEEK_STYLE = "italic"
PEEK_MIN_INTERVAL = 0.5  # seconds between two peek reads while logs grow

# The status word after the slug, when the task has no detail to say instead: the store's
# status words (the header's and the filter's), two-word states spaced.
TASK_WORDS = {"running": "running", "completed": "completed", "failed": "failed",
              "needs-you": "needs you", "loop-dead": "loop dead", "stopped": "stopped",
              "cancelled": "cancelled", "waiting": "waiting", "queued": "queued"}
_WORD_STYLES = {"needs-you": "bold magenta", "loop-dead": "bold red"}


@functools.lru_cache(maxsize=8192)  # labels are rebuilt often; ids never change
def split_task_id(task_id: str) -> tuple[str, str, int | None]:
    """``(slug, "MM-DD HH:MM", created ns)`` of a ``task-YYYYMMDD-HHMMSS-slug`` id (UTC, as
    ids are made); an id without that prefix is its own slug, with no date."""
    m = _TASK_ID.match(task_id)
    if not m:
        return task_id, "", None
    from datetime import datetime, timezone
    try:
        when = datetime(*(int(g) for g in m.groups()[:6]), tzinfo=timezone.utc)
    except ValueError:
        return task_id, "", None
    return m[7], f"{m[2]}-{m[3]} {m[4]}:{m[5]}", int(when.timestamp()) * NS


def agent_name(agent: str, names: dict[str, str] | None) -> str:
    """The configured agent's name for a run-info's agent type, when the config names
    exactly one agent of that type; else the type as recorded."""
    return (names or {}).get(agent, agent)


def agent_names_by_type(agents) -> dict[str, str]:
    """type -> name for the config's agents whose type only one agent has."""
    by_type: dict[str, list[str]] = {}
    for name, agent in (agents or {}).items():
        kind = (getattr(agent, "type", "") or "").strip().lower()
        if kind:
            by_type.setdefault(kind, []).append(name)
    return {kind: names[0] for kind, names in by_type.items() if len(names) == 1}


def run_label(run: RunView, now_ns: int, columns: frozenset[str] = COLUMN_SETS[DEFAULT_COLUMNS],
              names: dict[str, str] | None = None) -> Text:
    info = run.info
    text = _glyph(run.status)
    text.append(neutralise(run.run_id))
    if info.agent:
        text.append(f"  {neutralise(agent_name(info.agent, names))}", style="cyan")
    if "usage" in columns:
        _usage(text, run.usage)
    if (getattr(info, "executor", "") or "local") != "local":  # issue 14: where it runs
        where = f"{info.executor} {info.executor_job_id}".strip()
        text.append(f"  {neutralise(where)}" + (f"@{neutralise(info.host)}" if info.host else ""),
                    style="magenta")
    if run.is_root and run.attempts > 1:
        text.append(f"  try {run.attempt}/{run.attempts}", style="bright_black")
    elif not run.is_root:
        text.append("  child", style="bright_black")
    if info.start_time and "duration" in columns:
        end = info.end_time if info.end_time and run.status != "running" else now_ns
        text.append(f"  {format_age(end - info.start_time)}", style="bright_black")
    if run.status == "running":
        beat = heartbeat(run.last_output_ns, now_ns, placed=is_placed(info))
        hb = HEARTBEAT_LOOKS[beat]
        text.append(f"  {hb.glyph} {beat}", style=hb.style)
    elif run.status in ("failed", "stopped") and info.exit_code not in (-1, 0):
        text.append(f"  exit {info.exit_code}", style="red")
    if run.status in ("failed", "stopped") and info.failure:
        text.append(f"  {neutralise(info.failure)}", style="red")
    return text


def task_label(task: TaskView, now_ns: int, columns: frozenset[str] = COLUMN_SETS[DEFAULT_COLUMNS],
               names: dict[str, str] | None = None, peek: str = "") -> Text:
    """Slug first (what fits in 80 columns is the name and the state), then the status word
    or detail, the agent's name, the optional columns, the date dim (or the age), and last
    the peek (``› the agent's last line``) when that column is on."""
    slug, date, created = split_task_id(task.task)
    text = _glyph(task.status)
    text.append(neutralise(slug), style="bold" if task.status == "needs-you" else "")
    detail = task.detail(now_ns)
    if task.status == "stuck":
        text.append(f"  stuck: {neutralise(detail)}" if detail else "  stuck",
                    style=look("stuck").style)
    elif detail:
        text.append(f"  {neutralise(detail)}", style=look(task.status).style)
    elif task.status == "waiting" and task.waiting_on:
        text.append("  waits on " + ", ".join(neutralise(split_task_id(d)[0])
                                              for d in task.waiting_on),
                    style="cyan")
    else:
        word = TASK_WORDS.get(task.status, task.status)
        text.append(f"  {word}", style=_WORD_STYLES.get(task.status, look(task.status).style))
    if task.agent:
        text.append(f"  {neutralise(agent_name(task.agent, names))}", style="cyan")
    if "usage" in columns:
        _usage(text, task.usage)
    attempts = len(task.roots)
    if attempts > 1:
        text.append(f"  ×{attempts}", style="bright_black")
    if "age" in columns and created is not None:
        text.append(f"  {format_age(now_ns - created)}", style="bright_black")
    elif date:
        text.append(f"  {date}", style="dim")
    if "peek" in columns and peek:
        text.append(f"  {PEEK_MARK} {peek}", style=PEEK_STYLE)
    return text


def project_label(project: ProjectView) -> Text:
    text = Text(neutralise(project.id), style="bold")
    tally: dict[str, int] = {}
    for task in project.tasks:
        tally[task.status] = tally.get(task.status, 0) + 1
    text.append(f"  {count(len(project.tasks), 'task')}",
                style="bright_black")
    for status in ("running", "needs-you", "failed", "stuck", "loop-dead", "completed"):
        if tally.get(status):
            st = look(status)
            text.append(f"  {st.glyph}{tally[status]}", style=st.style)
    total = Usage()
    for task in project.tasks:
        total = total + task.usage
    _usage(text, total)
    return text


def _run_text(run: RunView, task: TaskView, names: dict[str, str] | None = None) -> str:
    return " ".join((run.run_id, run.info.agent, agent_name(run.info.agent, names), run.status,
                     task.task)).lower()


def _task_text(task: TaskView, names: dict[str, str] | None = None) -> str:
    """What the filter matches: the id, the agents, and the status in both vocabularies
    (``done`` finds ``completed``, ``blocked`` finds ``waiting``) with the loop state's word."""
    from ...store.taskview import words
    agents = {r.info.agent for r in task.runs}
    agents |= {agent_name(a, names) for a in agents}
    loop = (task.loop_state.state,) if task.loop_state is not None else ()
    return " ".join((task.task, *words(task.status), *loop, *sorted(agents))).lower()


def _relabel(node: TreeNode[NodeRef], label: Text) -> None:
    """``set_label`` only when the text or its styles changed: every call repaints the node's
    line, and task re-reads relabel every run of the task."""
    old = node.label
    if not isinstance(old, Text) or label.plain != old.plain or label.spans != old.spans \
            or label.style != old.style:
        node.set_label(label)


def _filter_changed(old: TaskView | None, task: TaskView) -> bool:
    """Under a filter, whether a re-read task may show other nodes (rebuild the tree)."""
    return old is None or _task_text(old) != _task_text(task) or \
        [r.run_id for r in old.runs] != [r.run_id for r in task.runs]


def matches(text: str, terms: list[str]) -> bool:
    return all(term in text for term in terms)


class RunTree(VimKeys, Tree[NodeRef], keys="tree"):
    """Projects > tasks > runs, built lazily; updated one node at a time."""

    def __init__(self, model: RootModel, *, clock: Callable[[], int],
                 id: str | None = None) -> None:
        super().__init__("runs", id=id)
        self.show_root = False
        self.guide_depth = 3
        self.clock = clock
        self.model = model
        self._by_key: dict[tuple, TreeNode[NodeRef]] = {}
        self._filled: set[tuple] = set()
        self._terms: list[str] = []
        self.columns_name = DEFAULT_COLUMNS
        self.agent_names: dict[str, str] = {}  # run-info agent type -> configured name
        # the peek column: (project, task) -> the newest run's last line, read in a thread
        self.peeks: dict[tuple[str, str], str] = {}
        self._peek_reader = PeekReader()
        self._peek_busy = False
        self._peek_wanted: set[tuple[str, str]] | None = set()  # None: every built task
        self._peek_timer = None

    # -- labels --------------------------------------------------------------------------

    @property
    def columns(self) -> frozenset[str]:
        return COLUMN_SETS[self.columns_name]

    def _task_label(self, task: TaskView, now: int) -> Text:
        return task_label(task, now, self.columns, self.agent_names,
                          self.peeks.get((task.project, task.task), ""))

    def _run_label(self, run: RunView, now: int) -> Text:
        return run_label(run, now, self.columns, self.agent_names)

    def set_columns(self, name: str) -> None:
        """Show another set of optional columns (a name of :data:`COLUMN_SETS`): every built
        node is relabelled."""
        if name not in COLUMN_SETS or name == self.columns_name:
            return
        self.columns_name = name
        self.schedule_peeks()
        now = self.clock()
        for node in self._by_key.values():
            ref = node.data
            task = self.task_view(ref.project, ref.task) if ref.kind != "project" else None
            if ref.kind == "task" and task is not None:
                _relabel(node, self._task_label(task, now))
            elif ref.kind == "run" and task is not None:
                run = task.run(ref.run)
                if run is not None:
                    _relabel(node, self._run_label(run, now))

    def next_columns(self) -> str:
        """The name after the current one in :data:`COLUMN_SETS`' order."""
        order = list(COLUMN_SETS)
        return order[(order.index(self.columns_name) + 1) % len(order)]

    # -- rendering cost ------------------------------------------------------------------

    def process_label(self, label) -> Text:
        if isinstance(label, Text):
            return label
        return Text(str(label).split("\n", 1)[0])

    def get_label_width(self, node: TreeNode[NodeRef]) -> int:
        return node.label.cell_len + 2

    # -- model ---------------------------------------------------------------------------

    @property
    def filter_text(self) -> str:
        return " ".join(self._terms)

    @property
    def projects(self) -> dict[str, ProjectView]:
        """The model's projects (read only: the app updates the model)."""
        return self.model.projects

    def task_view(self, project: str, task: str) -> TaskView | None:
        return self.model.task(project, task)

    def node_for(self, ref: NodeRef) -> TreeNode[NodeRef] | None:
        return self._by_key.get(ref.key)

    def apply_root(self, change: RootRead, *, focus_project: str | None = None) -> None:
        """A full read went into the model: the first builds the tree, later ones update it
        in place (nodes of tasks that did not change keep their state)."""
        self._apply_root(change, focus_project)
        self.schedule_peeks()

    def _apply_root(self, change: RootRead, focus_project: str | None) -> None:
        projects = list(self.model.projects.values())
        if change.first:
            self._rebuild(expand=focus_project or (projects[0].id if len(projects) == 1 else None))
            return
        if self._terms:
            if change.gone_projects or change.gone_tasks or change.new_projects or any(
                    _filter_changed(change.old.get((t.project, t.task)), t)
                    for p in projects for t in p.tasks):
                self._rebuild(expand=None)
            else:
                for project in projects:
                    for task in project.tasks:
                        self._relabel_task(task, change.old.get((task.project, task.task)))
                    self._relabel_project(project.id)
            return
        for pid in change.gone_projects:
            self._drop_project(pid)
        for pid, tid in change.gone_tasks:
            self.drop_task(pid, tid)
        for pid in change.new_projects:
            self._add_project_node(self.model.projects[pid])
        for project in projects:
            for task in project.tasks:
                self._apply_task(project, task, change.old.get((task.project, task.task)))
            self._relabel_project(project.id)

    def apply_task(self, read: TaskRead) -> None:
        """One task went into the model: relabel its node, rebuild its runs only if their set
        changed."""
        self._apply_one_task(read)
        self.schedule_peeks((read.task.project, read.task.task))

    def _apply_one_task(self, read: TaskRead) -> None:
        task = read.task
        project = self.model.projects[task.project]
        if self._terms:
            if _filter_changed(read.old, task):
                self._rebuild(expand=None)
            else:
                self._relabel_task(task, read.old)
            return
        if read.new_project:
            self._add_project_node(project)
        self._apply_task(project, task, read.old)
        self._relabel_project(task.project)

    def _apply_task(self, project: ProjectView, task: TaskView, old: TaskView | None) -> None:
        pnode = self._by_key.get(NodeRef.of_project(task.project).key)
        if pnode is not None and pnode.data.key in self._filled:
            tnode = self._by_key.get(NodeRef.of_task(task.project, task.task).key)
            if tnode is None:
                self._insert_task_node(pnode, project, task)
            else:
                self._relabel_task(task, old)

    def set_filter(self, text: str) -> None:
        self._terms = text.lower().split()
        self._rebuild(expand=None)
        self.schedule_peeks()

    def _rebuild(self, expand: str | None) -> None:
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        expanded = {k for k, n in self._by_key.items() if n.is_expanded}
        self.clear()
        self._by_key.clear()
        self._filled.clear()
        for project in self.projects.values():
            if self._terms and not self._visible_tasks(project):
                continue
            node = self.root.add(project_label(project), NodeRef.of_project(project.id),
                                 allow_expand=True)
            self._by_key[node.data.key] = node
            if self._terms or project.id == expand or node.data.key in expanded:
                node.expand()
                self._fill_project(node)
        if self._terms:
            return
        for key in expanded:
            node = self._by_key.get(key)
            if node is not None and node.data.kind == "task":
                node.expand()
                self._fill_task(node)
        if cursor is not None:
            self.select_ref(cursor)

    def _visible_tasks(self, project: ProjectView) -> list[tuple[TaskView, list[RunView] | None]]:
        """Tasks shown under the filter; the list is the runs to show (None: all)."""
        if not self._terms:
            return [(t, None) for t in project.tasks]
        out = []
        for task in project.tasks:
            if matches(_task_text(task, self.agent_names), self._terms):
                out.append((task, None))
                continue
            runs = [r for r in task.runs
                    if matches(_run_text(r, task, self.agent_names), self._terms)]
            if runs:
                out.append((task, runs))
        return out

    def _fill_project(self, node: TreeNode[NodeRef]) -> None:
        key = node.data.key
        if key in self._filled:
            return
        self._filled.add(key)
        project = self.projects[node.data.project]
        now = self.clock()
        for task, runs in self._visible_tasks(project):
            child = node.add(self._task_label(task, now), NodeRef.of_task(project.id, task.task),
                             allow_expand=bool(task.runs))
            self._by_key[child.data.key] = child
            if runs is not None:
                child.expand()
                self._fill_task(child, only=runs)

    def _fill_task(self, node: TreeNode[NodeRef], only: list[RunView] | None = None) -> None:
        key = node.data.key
        if key in self._filled and only is None:
            return
        self._filled.add(key)
        task = self.task_view(node.data.project, node.data.task)
        if task is None:
            return
        now = self.clock()
        if only is not None:
            for run in only:
                self._add_run(node, task, run, now, nested=False)
            return
        for run in task.roots:
            self._add_run(node, task, run, now, nested=True)

    def _add_run(self, parent: TreeNode[NodeRef], task: TaskView, run: RunView, now: int,
                 *, nested: bool) -> None:
        ref = NodeRef.of_run(task.project, task.task, run.run_id)
        label = self._run_label(run, now)
        if nested and run.children:
            node = parent.add(label, ref, expand=True)
            self._by_key[ref.key] = node
            for child in run.children:
                self._add_run(node, task, child, now, nested=True)
        else:
            self._by_key[ref.key] = parent.add_leaf(label, ref)

    # -- incremental updates -------------------------------------------------------------

    def _shape(self, task: TaskView | None) -> list:
        if task is None:
            return []
        return [(r.run_id, r.info.parent_run_id if r.depth else "") for r in task.runs]

    def _relabel_task(self, task: TaskView, old: TaskView | None) -> None:
        tnode = self._by_key.get(NodeRef.of_task(task.project, task.task).key)
        if tnode is None:
            return
        now = self.clock()
        _relabel(tnode, self._task_label(task, now))
        tnode.allow_expand = bool(task.runs)
        if tnode.data.key not in self._filled:
            return
        if self._shape(old) != self._shape(task) or self._terms:
            for run in (old.runs if old else []):
                self._by_key.pop(NodeRef.of_run(task.project, task.task, run.run_id).key, None)
            tnode.remove_children()
            self._filled.discard(tnode.data.key)
            self._fill_task(tnode)
            return
        for run in task.runs:
            node = self._by_key.get(NodeRef.of_run(task.project, task.task, run.run_id).key)
            if node is not None:
                _relabel(node, self._run_label(run, now))

    def _insert_task_node(self, pnode: TreeNode[NodeRef], project: ProjectView,
                          task: TaskView) -> None:
        after = None
        for other in project.tasks:
            if other.task >= task.task:
                break
            node = self._by_key.get(NodeRef.of_task(project.id, other.task).key)
            if node is not None:
                after = node
        ref = NodeRef.of_task(project.id, task.task)
        label = self._task_label(task, self.clock())
        if after is None:
            node = pnode.add(label, ref, before=0, allow_expand=bool(task.runs)) \
                if pnode.children else pnode.add(label, ref, allow_expand=bool(task.runs))
        else:
            node = pnode.add(label, ref, after=after, allow_expand=bool(task.runs))
        self._by_key[ref.key] = node

    def _add_project_node(self, project: ProjectView) -> None:
        after = None
        for pid in self.projects:
            if pid == project.id:
                break
            after = self._by_key.get(NodeRef.of_project(pid).key) or after
        ref = NodeRef.of_project(project.id)
        if after is None and self.root.children:
            node = self.root.add(project_label(project), ref, before=0, allow_expand=True)
        elif after is None:
            node = self.root.add(project_label(project), ref, allow_expand=True)
        else:
            node = self.root.add(project_label(project), ref, after=after, allow_expand=True)
        self._by_key[ref.key] = node

    def drop_task(self, project: str, task: str) -> None:
        """A task left the model: remove its node and its runs' nodes."""
        key = NodeRef.of_task(project, task).key
        node = self._by_key.pop(key, None)
        for ref in [n.data for n in self._by_key.values()
                    if n.data.kind == "run" and n.data.same_task(project, task)]:
            del self._by_key[ref.key]
        self._filled.discard(key)
        self.peeks.pop((project, task), None)
        if node is not None:
            node.remove()

    def _drop_project(self, project: str) -> None:
        node = self._by_key.pop(NodeRef.of_project(project).key, None)
        for ref in [n.data for n in self._by_key.values() if n.data.project == project]:
            del self._by_key[ref.key]
        self._filled = {k for k in self._filled if NodeRef(*k).project != project}
        if node is not None:
            node.remove()

    def _relabel_project(self, project: str) -> None:
        node = self._by_key.get(NodeRef.of_project(project).key)
        view = self.projects.get(project)
        if node is not None and view is not None:
            _relabel(node, project_label(view))

    def refresh_heartbeats(self) -> None:
        """Ages and heartbeats move with the clock: relabel the visible running runs."""
        now = self.clock()
        for project in self.projects.values():
            for task in project.tasks:
                if task.loop_state is not None and task.loop_state.until is not None:
                    node = self._by_key.get(NodeRef.of_task(task.project, task.task).key)
                    if node is not None:  # "retry in 40s" counts down
                        _relabel(node, self._task_label(task, now))
                if task.status not in ("running", "loop-dead", "needs-you"):
                    continue
                for run in task.runs:
                    if run.status != "running":
                        continue
                    ref = NodeRef.of_run(task.project, task.task, run.run_id)
                    node = self._by_key.get(ref.key)
                    if node is not None:
                        _relabel(node, self._run_label(run, now))
        self.schedule_peeks()

    def note_output(self, project: str, task: str, run: str, when_ns: int) -> None:
        """A log grew: the run is live now (no disk read needed for the heartbeat); the
        task's peek is read again (at most every :data:`PEEK_MIN_INTERVAL`)."""
        self.schedule_peeks((project, task))
        view = self.task_view(project, task)
        found = view.run(run) if view else None
        if found is None or found.status != "running":
            return
        found.last_output_ns = when_ns
        node = self._by_key.get(NodeRef.of_run(project, task, run).key)
        if node is not None:
            # Logs grow many times a second; the label (age, heartbeat) changes once a second.
            _relabel(node, self._run_label(found, self.clock()))

    # -- the peek column ------------------------------------------------------------------

    def schedule_peeks(self, key: tuple[str, str] | None = None) -> None:
        """Read the peek of one task (``key``), or of every task that has a node, in a thread
        (one read at a time, the next at most :data:`PEEK_MIN_INTERVAL` after it); nothing
        when the peek column is off. Labels change when the reads are in."""
        if "peek" not in self.columns or not self.is_mounted:
            return
        if key is None:
            self._peek_wanted = None
        elif self._peek_wanted is not None:
            self._peek_wanted.add(key)
        if not self._peek_busy and self._peek_timer is None:
            self._start_peeks()

    def _start_peeks(self) -> None:
        self._peek_timer = None
        wanted, self._peek_wanted = self._peek_wanted, set()
        if "peek" not in self.columns:
            return
        targets: list[tuple[tuple[str, str], RunView]] = []
        for project in self.projects.values():
            if NodeRef.of_project(project.id).key not in self._filled:
                continue  # lazy: a collapsed project's tasks have no nodes, so no peeks
            for task in project.tasks:
                key = (task.project, task.task)
                if (wanted is not None and key not in wanted) or task.latest is None or \
                        NodeRef.of_task(*key).key not in self._by_key:
                    continue
                targets.append((key, task.latest))
        if not targets:
            return
        self._peek_busy = True
        reader = self._peek_reader

        def read() -> dict[tuple[str, str], str]:
            return {key: reader.peek(run) for key, run in targets}
        self.run_worker(read, thread=True, group="peek", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "peek" or event.state not in (
                WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        event.stop()
        self._peek_busy = False
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, dict):
            self._apply_peeks(worker.result)
        if (self._peek_wanted is None or self._peek_wanted) and self.is_mounted:
            self._peek_timer = self.set_timer(PEEK_MIN_INTERVAL, self._start_peeks)

    def _apply_peeks(self, peeks: dict[tuple[str, str], str]) -> None:
        now = self.clock()
        for key, text in peeks.items():
            if self.peeks.get(key, "") == text:
                continue
            self.peeks[key] = text
            task = self.task_view(*key)
            node = self._by_key.get(NodeRef.of_task(*key).key)
            if task is not None and node is not None:
                _relabel(node, self._task_label(task, now))

    # -- navigation ----------------------------------------------------------------------

    def select_ref(self, ref: NodeRef) -> bool:
        """Move the cursor to a node, expanding (and so building) what leads to it."""
        pnode = self._by_key.get(NodeRef.of_project(ref.project).key)
        if pnode is None:
            return False
        if ref.kind != "project":
            if not pnode.is_expanded:
                pnode.expand()
            self._fill_project(pnode)
        if ref.kind == "run":
            tnode = self._by_key.get(NodeRef.of_task(ref.project, ref.task).key)
            if tnode is None:
                return False
            if not tnode.is_expanded:
                tnode.expand()
            self._fill_task(tnode)
        node = self._by_key.get(ref.key)
        if node is None:
            return False
        parent = node.parent
        while parent is not None and parent is not self.root:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        # move_cursor() reads node.line, which is -1 until the tree's lines are built again
        # (on idle): the public last_line builds them now. Pinned by
        # test_console_model.py::test_select_ref_lands_on_a_run_in_a_collapsed_task.
        self.last_line  # noqa: B018
        self.move_cursor(node)
        return True

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        data = event.node.data
        if data is None:
            return
        if data.kind == "project":
            self._fill_project(event.node)
            self.schedule_peeks()
        elif data.kind == "task":
            self._fill_task(event.node)

    def action_cursor_top(self) -> None:
        self.cursor_line = 0
        self.scroll_to_line(0, animate=False)

    def action_cursor_bottom(self) -> None:
        self.cursor_line = self.last_line
        self.scroll_to_line(self.last_line, animate=False)

    def action_expand_or_down(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.action_cursor_down()

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)
