"""The operator console: a live view of a runs root, with keys to start, stop and restart tasks.

Structure (after harlequin): the data layer knows nothing of Textual; disk reads and orchestrator
calls run in thread workers and come back as messages (:mod:`.messages`); bindings are a table
(:mod:`.keymap`). Live updates come from :class:`conductor.watch.RootWatcher`: each batch of
events re-reads only the tasks and panes it names. Tasks run as detached supervisors, so the
console can quit, crash or lose its SSH link and nothing stops.
"""

from __future__ import annotations

import functools
import gc
import os
import time
from importlib import resources
from typing import Callable, Iterable

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, Tree
from textual.worker import Worker, WorkerState

from ..defaults import CONSOLE_GRACE
from ..errors import ConductorError
from ..timefmt import now_ns
from . import keymap as km
from .messages import (ActionDone, ActionFailed, PaneError, RootScanned, TaskScanned,
                       TaskVanished)
from .status import (ProjectView, RunView, TaskView, counts, read_root, read_task,
                     total_spend)
from .widgets.bus_feed import BusFeed
from .widgets.detail import TABS, DetailTabs, Selection
from .widgets.header import StatusHeader
from .text import neutralise
from .widgets.line_list import LineList
from .widgets.run_tree import NodeRef, RunTree

VIEWS = ("tree", "logs", "bus")
SELECTED_TASK_POLL = 3.0
RUNNING_TASKS_POLL = 10.0
HEARTBEAT_REFRESH = 5.0
SELECT_DEBOUNCE = 0.06
RESCAN_DEBOUNCE = 0.3
FILTER_DEBOUNCE = 0.15
NOTIFY_STATUSES = {"completed": ("finished", "information"), "failed": ("failed", "error"),
                   "needs-you": ("asks a QUESTION", "warning"),
                   "loop-dead": ("lost its supervisor", "error"),
                   "stuck": ("is stuck (identical failures)", "error")}


def while_running(method):
    """Skip a timer, interval or worker-message callback that fires while the app shuts down.

    Textual tears the screens down before it stops the app's timers, so a debounce timer that
    fires in between would find no widgets.
    """
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if not self.is_running:
            return None
        return method(self, *args, **kwargs)
    return guarded


def stylesheet_path() -> str:
    """The packaged stylesheet (``conductor/styles/console.tcss``, shipped in the wheel)."""
    return str(resources.files("conductor").joinpath("styles", "console.tcss"))


def _load_config(config_path: str | None):
    from ..config import find_config, load_config
    path = find_config(config_path)
    return load_config(path) if path else None


class ConductorApp(App[None]):
    """The console. ``clock`` (ns) and ``watch`` exist for tests: a frozen clock and no live
    updates give the same screen every time."""

    CSS_PATH = stylesheet_path()
    TITLE = "conductor"
    BINDINGS = km.bindings()

    def __init__(self, root: str, *, config_path: str | None = None, config=None,
                 project: str | None = None, read_only: bool = False, view: str | None = None,
                 poll: bool = False, clock: Callable[[], int] | None = None, watch: bool = True,
                 state_path: str | None = None, root_label: str | None = None,
                 environ=None) -> None:
        super().__init__()
        env = os.environ if environ is None else environ
        self.root = os.path.abspath(os.path.expanduser(root))
        self.root_label = root_label or self.root
        self.config_path = config_path
        self.config = config if config is not None else _load_config(config_path)
        from ..secrets import collect, remember
        remember(collect(self.config, env))  # every pane draws agent text with these as ***
        self.project_filter = project
        self.read_only = read_only
        if view is not None and view not in VIEWS:
            raise ConductorError(f"--view must be one of {', '.join(VIEWS)}, got {view!r}")
        self.view = view
        self.poll = poll
        self.clock = clock or now_ns
        self.watch = watch
        from .state import load_state, state_path as default_state_path
        self.state_path = state_path or default_state_path(env)
        self.keys = km.effective_keys(self.config.keymap if self.config else {})
        self.loaded = False
        self.watch_mode = "off" if not watch else ("polling" if poll else "starting")
        self.quit_message = ""
        self.last_error = ""
        self._watcher = None
        self._dirty: set[tuple[str, str]] = set()
        self._reading_tasks = False
        self._select_timer: Timer | None = None
        self._rescan_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._pending_select: NodeRef | None = None
        self._selected: NodeRef | None = None
        self._bus_project_scope = False
        if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
            self.animation_level = "none"
        theme = load_state(self.state_path).get("theme") or (self.config.theme if self.config else "")
        if theme and theme in self.available_themes:
            self.theme = theme
        self._install_bindings()

    # -- bindings ------------------------------------------------------------------------

    def _install_bindings(self) -> None:
        """Apply the config's keymap to the table's bindings (``BINDINGS``, widgets' too)."""
        known, unknown = km.split_keymap(self.config.keymap if self.config else {})
        self._unknown_keymap = unknown
        if known:
            self.set_keymap(known)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.read_only and action in km.CONTROL_ACTIONS:
            return False
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for spec in km.ACTIONS:
            if spec.action in ("command_palette", "change_theme") or \
                    (self.read_only and spec.control):
                continue
            keys = km.display_keys(self.keys.get(spec.id, spec.keys))
            yield SystemCommand(spec.description, f"{keys}  ·  {spec.id}",
                                lambda action=spec.action: self.run_action(action))

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        header = StatusHeader(self.root_label, id="header")
        header.read_only = self.read_only
        header.mode = self.watch_mode
        yield header
        yield Input(placeholder="filter: id, agent or status words (enter keeps, esc clears)",
                    id="filter", compact=True)
        with Horizontal(id="main", classes=f"-view-{self.view}" if self.view else ""):
            yield RunTree(clock=self.clock, id="tree")
            with Vertical(id="right"):
                yield DetailTabs(clock=self.clock, id="detail")
                yield BusFeed(id="bus")
        yield Static("", id="status-line", markup=False)
        yield Footer()

    @property
    def tree(self) -> RunTree:
        return self.query_one(RunTree)

    @property
    def detail(self) -> DetailTabs:
        return self.query_one(DetailTabs)

    @property
    def feed(self) -> BusFeed:
        return self.query_one(BusFeed)

    @property
    def header(self) -> StatusHeader:
        return self.query_one(StatusHeader)

    def on_mount(self) -> None:
        if self.view == "bus":
            self.feed.list.focus()
        elif self.view == "logs":
            self.detail.active = "stdout"
        else:
            self.tree.focus()
        if self._unknown_keymap:
            self.report_error("keymap: unknown action id(s): " + ", ".join(self._unknown_keymap))
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self._read_root()
        if self.watch:
            self._watch_root()
            self.set_interval(SELECTED_TASK_POLL, self._poll_selected)
            self.set_interval(RUNNING_TASKS_POLL, self._poll_running)
            self.set_interval(HEARTBEAT_REFRESH, self._refresh_heartbeats)

    # -- reading the root ----------------------------------------------------------------

    @work(thread=True, group="scan", exclusive=True, exit_on_error=False)
    def _read_root(self) -> None:
        started = time.perf_counter()
        projects = read_root(self.root, project=self.project_filter, now_ns=self.clock())
        self.post_message(RootScanned(projects, time.perf_counter() - started))

    @while_running
    def on_root_scanned(self, message: RootScanned) -> None:
        first = not self.loaded
        old = {} if first else {t.key: t.status for p in self.tree.projects.values()
                                for t in p.tasks}
        self.tree.set_projects(message.projects, focus_project=self.project_filter)
        self.loaded = True
        self._update_counts()
        if not first:
            for project in message.projects:
                for task in project.tasks:
                    self._announce(old.get(task.key), task)
        if first and self.tree.cursor_line < 0 and self.tree.last_line >= 0:
            self.tree.cursor_line = 0
        if self.view in ("logs", "bus"):
            self._follow_latest(message.projects)
        if self._dirty:
            self._flush_dirty()
        self._apply_pending_select()
        self._update_selection(force=True)
        if first:
            # The views of a large root (10,000 runs: ~125,000 objects) live as long as the
            # console, and every full garbage collection walked them all (70-150 ms, a few
            # times a minute while the screen changes): that set the tail of every key and
            # append latency. Frozen, the collector skips them. Acyclic objects are still freed
            # by reference counting when a later read replaces them; frozen reference cycles
            # (the first screen's tree nodes, start-up garbage) are not, a bounded cost paid
            # once. Measured in docs/performance.md.
            gc.freeze()

    def on_unmount(self) -> None:
        gc.unfreeze()  # an app run in a longer process (tests) gives its objects back

    def _follow_latest(self, projects: list[ProjectView]) -> None:
        """Single-pane dashboards have no tree to move in: show the run that started last."""
        best: tuple[int, TaskView, RunView] | None = None
        for project in projects:
            for task in project.tasks:
                for run in task.runs:
                    start = run.info.start_time or 0
                    if best is None or start > best[0]:
                        best = (start, task, run)
        if best is not None:
            self.tree.select_ref(NodeRef("run", best[1].project, best[1].task, best[2].run_id))

    def _mark_dirty(self, project: str, task: str) -> None:
        if project and task:
            self._dirty.add((project, task))

    @while_running
    def _flush_dirty(self) -> None:
        if not self._dirty or self._reading_tasks or not self.loaded:
            return
        keys, self._dirty = sorted(self._dirty), set()
        self._reading_tasks = True
        self._read_tasks(keys)

    @work(thread=True, group="task-read", exit_on_error=False)
    def _read_tasks(self, keys: list[tuple[str, str]]) -> None:
        try:
            for project, task in keys:
                if self.project_filter and project != self.project_filter:
                    continue
                try:
                    view = read_task(self.root, project, task, now_ns=self.clock())
                except ConductorError:
                    continue
                if not os.path.isdir(view.path):
                    self.post_message(TaskVanished(project, task))
                else:
                    self.post_message(TaskScanned(view))
        finally:
            self.call_from_thread(self._tasks_read)

    @while_running
    def _tasks_read(self) -> None:
        self._reading_tasks = False
        self._flush_dirty()

    @while_running
    def on_task_scanned(self, message: TaskScanned) -> None:
        task = message.task
        old = self.tree.task_view(task.project, task.task)
        self.tree.update_task(task)
        self._announce(old.status if old else None, task)
        self._update_counts()
        self._apply_pending_select()
        sel = self._selected
        if sel is not None and sel.project == task.project and sel.task == task.task:
            self._update_selection(refresh=True)

    @while_running
    def on_task_vanished(self, message: TaskVanished) -> None:
        self.tree.remove_task(message.project, message.task)
        self._update_counts()

    def _update_counts(self) -> None:
        projects = list(self.tree.projects.values())
        self.header.set_counts(counts(projects), total_spend(projects))

    def _announce(self, old_status: str | None, task: TaskView) -> None:
        """A toast and the bell when a task finishes, fails or asks something."""
        if old_status is None or old_status == task.status or task.status not in NOTIFY_STATUSES:
            return
        what, severity = NOTIFY_STATUSES[task.status]
        self.notify(f"{task.task} {what}", title=task.project, severity=severity,
                    timeout=8 if severity == "information" else 15)
        self.bell()

    # -- live updates --------------------------------------------------------------------

    @work(group="watch", exclusive=True, exit_on_error=False)
    async def _watch_root(self) -> None:
        from ..watch import RootWatcher
        watcher = RootWatcher(self.root, force_polling=self.poll)
        self._watcher = watcher
        self._set_mode(watcher)
        try:
            async for batch in watcher.batches():
                self._set_mode(watcher)
                self.apply_events(batch)
        finally:
            watcher.stop()

    @while_running
    def _set_mode(self, watcher) -> None:
        mode = getattr(watcher, "mode", "?")
        reason = getattr(watcher, "reason", "")
        text = f"{mode} ({reason})" if reason and mode == "polling" else mode
        if text != self.watch_mode:
            self.watch_mode = text
            self.header.set_mode(text)

    @while_running
    def apply_events(self, batch) -> None:
        """Map one batch of watch events to the few reads it needs."""
        rescan = False
        log_paths = self.detail.log_paths()
        readable = self.detail.query_one("#stdout-readable").path
        now = self.clock()
        for event in batch:
            kind = event.kind
            if kind in ("rescan", "project_changed"):
                rescan = True
            elif kind in ("run_changed", "task_changed"):
                self._mark_dirty(event.project, event.task)
            elif kind == "log_grew":
                if event.path in log_paths or event.path == readable:
                    self.detail.refresh_logs(event.path)
                if event.run:
                    self.tree.note_output(event.project, event.task, event.run, now)
                if event.file == "output.md" and self._is_selected_run(event):
                    self._mark_dirty(event.project, event.task)
            elif kind == "bus_grew":
                if self.feed.path and (event.path == self.feed.path or
                                       os.path.basename(self.feed.path) == event.file and
                                       self._same_scope(event)):
                    self.feed.poll()
                if event.task:
                    self._mark_dirty(event.project, event.task)
        if rescan:
            self._schedule_rescan()
        self._flush_dirty()

    def _same_scope(self, event) -> bool:
        sel = self._selected
        if sel is None or sel.project != event.project:
            return False
        return self._bus_project_scope or sel.kind == "project" or sel.task == event.task

    def _is_selected_run(self, event) -> bool:
        sel = self.detail.selection
        return sel.run is not None and sel.run.run_id == event.run

    def _schedule_rescan(self) -> None:
        if self._rescan_timer is not None:
            self._rescan_timer.stop()
        self._rescan_timer = self.set_timer(RESCAN_DEBOUNCE, self._read_root)

    @while_running
    def _poll_selected(self) -> None:
        """Fallback for missed events: re-read the selected task every few seconds."""
        sel = self._selected
        if sel is not None and sel.task:
            self._mark_dirty(sel.project, sel.task)
            self._flush_dirty()
        self.detail.refresh_logs()

    @while_running
    def _poll_running(self) -> None:
        """Liveness changes leave no file event (a supervisor dies): re-check live tasks."""
        for project in self.tree.projects.values():
            for task in project.tasks:
                if task.status in ("running", "loop-dead", "queued", "waiting", "needs-you"):
                    self._mark_dirty(task.project, task.task)
        self._flush_dirty()

    @while_running
    def _refresh_heartbeats(self) -> None:
        self.tree.refresh_heartbeats()

    # -- selection -----------------------------------------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if self._select_timer is not None:
            self._select_timer.stop()
        self._select_timer = self.set_timer(SELECT_DEBOUNCE, self._update_selection)

    def _apply_pending_select(self) -> None:
        if self._pending_select is not None and self.tree.select_ref(self._pending_select):
            self._pending_select = None
            self._update_selection()

    def current(self) -> tuple[ProjectView | None, TaskView | None, RunView | None]:
        node = self.tree.cursor_node
        ref = node.data if node is not None else None
        if ref is None:
            return None, None, None
        project = self.tree.projects.get(ref.project)
        task = self.tree.task_view(ref.project, ref.task) if ref.task else None
        run = task.run(ref.run) if task is not None and ref.run else None
        if task is not None and run is None and ref.kind == "task":
            run = task.latest
        return project, task, run

    @while_running
    def _update_selection(self, *, force: bool = False, refresh: bool = False) -> None:
        node = self.tree.cursor_node
        self._selected = node.data if node is not None else None
        project, task, run = self.current()
        sel = Selection(project, task, run)
        if refresh:
            self.detail.refresh_selection(sel)
        else:
            self.detail.show(sel, force=force)
        self._show_bus()

    def _show_bus(self) -> None:
        sel = self._selected
        if sel is None:
            self.feed.show_bus(None, "")
            return
        from ..store import Layout
        layout = Layout(self.root)
        try:
            if sel.kind == "project" or self._bus_project_scope or not sel.task:
                self.feed.show_bus(layout.project_bus(sel.project), f"project {sel.project}")
            else:
                self.feed.show_bus(layout.task_bus(sel.project, sel.task), f"task {sel.task}")
        except ConductorError as exc:
            self.report_error(str(exc))

    # -- actions: view -------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        if tab in TABS:
            self.detail.active = tab

    def action_toggle_raw(self) -> None:
        raw = self.detail.toggle_raw()
        self.set_status("stdout: raw lines" if raw else "stdout: readable (claude/codex/gemini)")

    def action_toggle_scope(self) -> None:
        self._bus_project_scope = not self._bus_project_scope
        self._show_bus()
        self.set_status("bus: project scope" if self._bus_project_scope else
                        "bus: task scope (project bus when a project is selected)")

    def action_bus_types(self) -> None:
        from .screens import TypeFilterScreen

        def apply(types) -> None:
            if types is not None:
                self.feed.set_types(frozenset(types))
        self.push_screen(TypeFilterScreen(self.feed.types), apply)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-open")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("-open") or self.tree.filter_text:
            box.value = ""
            box.remove_class("-open")
            self._apply_filter("")
            self.tree.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        if self._filter_timer is not None:
            self._filter_timer.stop()
        value = event.value
        self._filter_timer = self.set_timer(FILTER_DEBOUNCE, lambda: self._apply_filter(value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter(event.value)
        event.input.remove_class("-open")
        self.tree.focus()

    @while_running
    def _apply_filter(self, text: str) -> None:
        if text.strip() == self.tree.filter_text:
            return
        self.tree.set_filter(text)
        self.header.set_filter(text.strip())

    def action_rescan(self) -> None:
        self._read_root()
        self.set_status("re-reading the runs root")

    def action_help(self) -> None:
        from .screens import HelpScreen
        self.push_screen(HelpScreen(self.keys, read_only=self.read_only))

    def on_line_list_chosen(self, event: LineList.Chosen) -> None:
        msg = self.feed.selected_message()
        if msg is not None and event.line_list is self.feed.list:
            from .screens import MessageScreen
            self.push_screen(MessageScreen(msg))

    async def action_quit(self) -> None:
        running = sum(1 for p in self.tree.projects.values() for t in p.tasks
                      if t.status in ("running", "needs-you", "queued", "waiting")
                      and t.loop_alive)
        if running:
            self.quit_message = (f"conductor: {running} task{'s' if running != 1 else ''} "
                                 "still running; they keep running without the console.")
        else:
            self.quit_message = "conductor: console closed; tasks are not affected."
        self.notify(self.quit_message)
        if self._watcher is not None:
            self._watcher.stop()
        self.exit(message=self.quit_message)

    def _remember_theme(self, theme) -> None:
        self._save_theme(theme.name)

    @work(thread=True, group="state", exit_on_error=False)
    def _save_theme(self, name: str) -> None:
        from .state import save_state
        save_state(self.state_path, {"theme": name})

    # -- actions: control ----------------------------------------------------------------

    def _selected_task(self, action: str) -> TaskView | None:
        _project, task, _run = self.current()
        if task is None:
            self.report_error(f"{action}: select a task or a run first")
        return task

    def _agent_for(self, task: TaskView) -> str | None:
        """The config agent to run a task again with: run-info records the agent *type*, so
        the one agent of that type, else the config's default (None)."""
        agents = self.config.agents if self.config else {}
        latest = task.latest
        if latest is None:
            return None
        if latest.agent in agents:
            return latest.agent
        same = [name for name, agent in agents.items() if agent.type == latest.agent]
        return same[0] if len(same) == 1 else None

    def action_new_task(self) -> None:
        from .screens import NewTaskScreen
        project, _task, _run = self.current()
        agents = sorted(self.config.agents) if self.config else []
        default = self.config.defaults.agent if self.config else ""
        screen = NewTaskScreen(projects=sorted(self.tree.projects),
                               project=project.id if project else (self.project_filter or ""),
                               agents=agents, agent=default or (agents[0] if agents else ""),
                               create=self._create_task)

        def done(text: str | None) -> None:
            if text:
                self.set_status(text)
                self.notify(text, title="new task")
        self.push_screen(screen, done)

    def _create_task(self, req) -> str:
        """Runs in the dialog's thread: write TASK.md, then launch the detached supervisor."""
        from .. import orchestrator
        from .screens.new_task import budget_args
        extra = budget_args(req)  # checked by the dialog already
        orchestrator.new_task(self.root, req.project, req.task, req.prompt,
                              depends_on=req.depends_on or None)
        result = orchestrator.start_task(self.root, req.project, req.task, agent=req.agent,
                                         config_path=self._config_file(),
                                         cwd=os.path.expanduser(req.cwd) if req.cwd else None,
                                         extra_args=extra or None)
        self.call_from_thread(self._after_create, req.project, req.task)
        return f"started {req.task} (supervisor pid {result.pid})"

    @while_running
    def _after_create(self, project: str, task: str) -> None:
        self._pending_select = NodeRef("task", project, task)
        self._mark_dirty(project, task)
        self._flush_dirty()

    def _config_file(self) -> str | None:
        return self.config.path if self.config and self.config.path else self.config_path

    def action_start_task(self) -> None:
        task = self._selected_task("start")
        if task is None:
            return
        if task.loop_alive:
            self.report_error(f"start: {task.task} is already running (r restarts it)")
            return
        from .. import orchestrator
        self._control("start", task, orchestrator.resume_task, self.root, task.project, task.task,
                      agent=self._agent_for(task), config_path=self._config_file())

    def action_stop_task(self) -> None:
        task = self._selected_task("stop")
        if task is None:
            return
        from .. import orchestrator

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._control("stop", task, orchestrator.stop_task, self.root, task.project,
                              task.task, force=True, grace=CONSOLE_GRACE)
        self._confirm(f"Stop task {task.task}?\nSTOP-REQUESTED is written, its runs get SIGTERM "
                      "(SIGKILL after 5 s) and the loop does not restart it.", confirmed, "Stop")

    def action_stop_run(self) -> None:
        _project, task, run = self.current()
        if task is None or run is None:
            self.report_error("stop run: select a run first")
            return
        if run.status != "running":
            self.report_error(f"stop run: {run.run_id} is not running ({run.status})")
            return
        from .. import orchestrator

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._control("stop run", task, orchestrator.stop_run, self.root, task.project,
                              task.task, run.run_id, force=True, grace=CONSOLE_GRACE)
        self._confirm(f"Stop run {run.run_id} only?\nThe task's loop goes on and may start "
                      "another attempt.", confirmed, "Stop run")

    def action_restart_task(self) -> None:
        task = self._selected_task("restart")
        if task is None:
            return
        from .. import orchestrator

        def go(yes: bool | None = True) -> None:
            if yes:
                self._control("restart", task, orchestrator.restart_task, self.root,
                              task.project, task.task, grace=CONSOLE_GRACE, agent=self._agent_for(task),
                              config_path=self._config_file())
        if task.loop_alive or task.status in ("running", "loop-dead", "needs-you"):
            self._confirm(f"Restart task {task.task}?\nIt is running: it is stopped first, then "
                          "started again with the restart prefix.", go, "Restart")
        else:
            go()

    def action_post_message(self) -> None:
        from .screens import PostMessageScreen
        project, task, _run = self.current()
        if project is None:
            self.report_error("post: select a project, task or run first")
            return
        sel = self._selected
        to_task = None if (self._bus_project_scope or sel is None or sel.kind == "project") \
            else (task.task if task else None)
        last = self.feed.messages[-1].type if self.feed.messages else ""

        def send(req) -> None:
            if req is None:
                return
            from .. import orchestrator
            self._control("post", task, orchestrator.post_message, self.root, req.project,
                          req.task, req.type, req.body)
        self.push_screen(PostMessageScreen(project.id, to_task,
                                           msg_type="USER" if last == "QUESTION" else "USER"),
                         send)

    def _confirm(self, question: str, then: Callable[[bool | None], None], yes: str) -> None:
        from .screens import ConfirmScreen
        self.push_screen(ConfirmScreen(question, yes=yes), then)

    def _control(self, action: str, task: TaskView | None, fn, *args, **kwargs) -> None:
        self.set_status(f"{action}: working…")
        self._run_control(action, task.project if task else "", task.task if task else "",
                          fn, args, kwargs)

    @work(thread=True, group="control", exit_on_error=False)
    def _run_control(self, action: str, project: str, task: str, fn, args, kwargs) -> None:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is shown, none is swallowed
            self.post_message(ActionFailed(action, str(exc) or type(exc).__name__, project, task))
            return
        self.post_message(ActionDone(action, _describe(action, result, task), project, task))

    @while_running
    def on_action_done(self, message: ActionDone) -> None:
        self.set_status(message.text)
        self.notify(message.text, title=message.action)
        self._mark_dirty(message.project, message.task)
        self._flush_dirty()

    @while_running
    def on_action_failed(self, message: ActionFailed) -> None:
        self.report_error(f"{message.action}: {message.error}")
        self._mark_dirty(message.project, message.task)
        self._flush_dirty()

    @while_running
    def on_pane_error(self, message: PaneError) -> None:
        self.report_error(message.text)

    @while_running
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_error(f"{event.worker.name}: {event.worker.error}")

    # -- status line ---------------------------------------------------------------------

    def set_status(self, text: str) -> None:
        self.query_one("#status-line", Static).update(Text(text))
        self.query_one("#status-line", Static).remove_class("-error")

    def report_error(self, text: str) -> None:
        """Every failure ends here: a toast and the one-line status, never nothing."""
        text = neutralise(" ".join(text.split("\n")))  # one line, no terminal escapes
        self.last_error = text
        line = self.query_one("#status-line", Static)
        line.update(Text(text))
        line.add_class("-error")
        self.notify(text, severity="error", timeout=10)


def _describe(action: str, result, task: str) -> str:
    if action == "stop":
        stopped = sum(1 for o in result or [] if getattr(o, "stopped", False))
        notes = "".join(f"; {o.notice}" for o in result or [] if getattr(o, "notice", ""))
        return f"stop: {task} stop requested; {stopped} run(s) stopped{notes}"
    if action == "stop run":
        return f"stop run: {getattr(result, 'message', '') or getattr(result, 'notice', '')}"
    if action in ("start", "restart"):
        return f"{action}: {task} started (supervisor pid {getattr(result, 'pid', '?')})"
    if action == "post":
        return f"posted {getattr(result, 'type', '')} {getattr(result, 'msg_id', '')}"
    return f"{action}: done"


def run_console(root: str, config_path: str | None = None, project: str | None = None,
                read_only: bool = False, view: str | None = None, poll: bool = False) -> None:
    """Open the console on ``root`` until the operator quits; tasks keep running after."""
    app = ConductorApp(root, config_path=config_path, project=project, read_only=read_only,
                       view=view, poll=poll)
    app.run()
