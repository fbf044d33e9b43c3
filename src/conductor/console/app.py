"""The operator console: a live view of a runs root, with keys to start, stop and restart tasks.

Structure (after harlequin): the data layer knows nothing of Textual; the app holds the model
(:class:`.model.RootModel`, rendered by the run tree), the refresh scheduler
(:class:`.scheduler.RefreshScheduler`) and the controller (:class:`.controller.Controller`,
control verbs with typed results). Disk reads and orchestrator calls run in thread workers and
come back as messages (:mod:`.messages`); bindings are a table (:mod:`.keymap`). Live updates
come from :class:`conductor.watch.RootWatcher`: the scheduler maps each batch of events to the
tasks to re-read and the files the panes follow. Tasks run as detached supervisors, so the
console can quit, crash or lose its SSH link and nothing stops.
"""

from __future__ import annotations

import functools
import gc
import os
import time
from importlib import resources
from typing import TYPE_CHECKING, Callable, Iterable

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, Tree
from textual.worker import Worker, WorkerState

from ..errors import ConductorError
from ..defaults import CONSOLE_GRACE
from ..timefmt import now_ns
from . import keymap as km
from .controller import ActionResult, Controller
from .follow import SCOPES, follow_target, scope_label, title_text
from .messages import ActionFinished, PaneError, RootScanned, TaskScanned, TaskVanished
from .model import NodeRef, RootModel
from .scheduler import Following, RefreshScheduler
from .status import ProjectView, RunView, TaskView, read_root, read_task
from .widgets.bus_feed import BusFeed
from .widgets.detail import TABS, DetailTabs, Selection
from .widgets.first_run import FirstRun, first_run_facts
from .widgets.header import StatusHeader
from .text import neutralise
from .widgets.line_list import LineList
from .widgets.run_tree import RunTree
from .widgets.view_title import ViewTitle

if TYPE_CHECKING:
    from ..bus import Message as BusMessage

VIEWS = ("tree", "logs", "bus")
TOASTS = ("all", "none")
SELECTED_TASK_POLL = 3.0
RUNNING_TASKS_POLL = 10.0
HEARTBEAT_REFRESH = 5.0
# runs placed on other hosts (issue 14): inotify never sees those hosts' writes, so while a
# shown task has a running placed run it is re-read this often (docs/scale-out.md)
PLACED_RUNS_POLL = 5.0
SELECT_DEBOUNCE = 0.06
RESCAN_DEBOUNCE = 0.3
FILTER_DEBOUNCE = 0.15
TREE_WIDTH_DEFAULT, TREE_WIDTH_MIN, TREE_WIDTH_MAX, TREE_WIDTH_STEP = 45, 20, 80, 5  # % of the width
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
    updates (``live`` false) give the same screen every time."""

    # State that drives the panes: the node the detail tabs and the bus feed show, and
    # whether the feed shows the project's bus whatever is selected.
    selected: var[NodeRef | None] = var(None, init=False)
    bus_project_scope: var[bool] = var(False, init=False)

    CSS_PATH = stylesheet_path()
    TITLE = "conductor"
    BINDINGS = km.bindings()

    def __init__(self, root: str, *, config_path: str | None = None, config=None,
                 project: str | None = None, read_only: bool = False, view: str | None = None,
                 poll: bool = False, clock: Callable[[], int] | None = None, watch: bool = True,
                 state_path: str | None = None, root_label: str | None = None,
                 environ=None, follow: str = "root", follow_task: str | None = None,
                 toasts: str | None = None) -> None:
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
        if follow not in SCOPES:
            raise ConductorError(f"--follow must be one of {', '.join(SCOPES)}, got {follow!r}")
        if toasts is not None and toasts not in TOASTS:
            raise ConductorError(f"--toasts must be one of {', '.join(TOASTS)}, got {toasts!r}")
        # a dashboard of several panes: only the tree raises toasts, unless --toasts all
        self.toasts = toasts or ("all" if view in (None, "tree") else "none")
        self.follow = follow  # --view logs|bus: the newest running run of this scope
        self.follow_task = follow_task
        self._followed: NodeRef | None = None
        self.poll = poll
        self.clock = clock or now_ns
        self.live = watch  # not ``self.watch``: that is DOMNode.watch()
        from .state import load_state, state_path as default_state_path
        self.state_path = state_path or default_state_path(env)
        self.keys = km.effective_keys(self.config.keymap if self.config else {})
        self.model = RootModel()
        self.scheduler = RefreshScheduler(project)
        self.controller = Controller(self.root, self._config_file(),
                                     agents=self.config.agents if self.config else None)
        self.live_mode = "off" if not watch else ("polling" if poll else "starting")
        self.quit_message = ""
        self.last_error = ""
        self._watcher = None
        self._fast = None  # FollowWatcher: the followed files' fast path (inotify only)
        self._fast_armed: frozenset[str] = frozenset()
        self._select_timer: Timer | None = None
        self._rescan_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._pending_select: NodeRef | None = None
        self._first_run = None  # FirstRunFacts, read with an empty root
        self._tree_percent: int | None = None  # set by the split keys (None: the stylesheet's)
        if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
            self.animation_level = "none"
        self._state = load_state(self.state_path)  # theme, tree columns and width
        theme = self._state.get("theme") or (self.config.theme if self.config else "")
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
        header.mode = self.live_mode
        yield header
        yield Input(placeholder="filter: id, agent or status words (enter keeps, esc clears)",
                    id="filter", compact=True)
        with Horizontal(id="main", classes=f"-view-{self.view}" if self.view else ""):
            yield FirstRun("", id="first-run")
            yield RunTree(self.model, clock=self.clock, id="tree")
            with Vertical(id="right"):
                title = ViewTitle(id="view-title")
                title.display = self.following_runs
                yield title
                yield DetailTabs(clock=self.clock, id="detail",
                                 start_failures=self.controller.start_failures)
                yield BusFeed(id="bus")
        yield Static("", id="status-line", markup=False)
        yield Footer()

    @property
    def loaded(self) -> bool:
        """The first full read of the root is in."""
        return self.model.loaded

    @property
    def run_tree(self) -> RunTree:
        """The run tree (not ``tree``: that is DOMNode.tree)."""
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
            self.run_tree.focus()
        if self._unknown_keymap:
            self.report_error("keymap: unknown action id(s): " + ", ".join(self._unknown_keymap))
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self._restore_layout()
        self._read_root()
        if self.live:
            self._watch_root()
            self.set_interval(SELECTED_TASK_POLL, self._poll_selected)
            self.set_interval(RUNNING_TASKS_POLL, self._poll_running)
            self.set_interval(HEARTBEAT_REFRESH, self._refresh_heartbeats)
        # with or without the watcher: no event ever comes for another host's writes
        self.set_interval(self.placed_poll, self._poll_placed)

    # -- reading the root ----------------------------------------------------------------

    @work(thread=True, group="scan", exclusive=True, exit_on_error=False)
    def _read_root(self) -> None:
        started = time.perf_counter()
        projects = read_root(self.root, project=self.project_filter, now_ns=self.clock())
        facts = None if any(p.tasks for p in projects) else first_run_facts(self.root)
        self.post_message(RootScanned(projects, time.perf_counter() - started, facts))

    @while_running
    def on_root_scanned(self, message: RootScanned) -> None:
        change = self.model.replace(message.projects)
        if message.first_run is not None:
            self._first_run = message.first_run
            self.query_one(FirstRun).show(message.first_run, agents=self._agent_names())
        self.run_tree.apply_root(change, focus_project=self.project_filter)
        self.scheduler.ready()
        self._update_counts()
        for task in self.model.tasks():
            old = change.old.get((task.project, task.task))
            self._announce(old.status if old else None, task)
        if change.first and self.run_tree.cursor_line < 0 and self.run_tree.last_line >= 0:
            self.run_tree.cursor_line = 0
        self._follow_newest(select=False)
        self._flush_dirty()
        self._apply_pending_select()
        self._update_selection(force=True)
        if change.first:
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
        if self._terminal_title:  # the title the terminal had before ours (pushed below)
            self._write_to_terminal("\x1b[23;2t")

    # the terminal's title: the alerts summary (issue 13), as `status --tmux` prints it
    _terminal_title = ""

    def _set_terminal_title(self) -> None:
        """OSC 2 through the driver, as Textual writes its own OSC 52 (copy_to_clipboard):
        Textual has no public call for the terminal's title (App.title is the header's).
        The terminal's own title is pushed first (XTWINOPS 22) and restored on exit."""
        from ..alerts.summary import count, line
        text = line(count(t.status for t in self.model.tasks()))
        title = f"conductor {text}" if text else "conductor"
        if title == self._terminal_title:
            return
        push = "" if self._terminal_title else "\x1b[22;2t"
        self._terminal_title = title
        self._write_to_terminal(f"{push}\x1b]2;{title}\x07")

    def _write_to_terminal(self, data: str) -> None:
        driver = self._driver  # private: the one way to the terminal (see above)
        if driver is not None:
            try:
                driver.write(data)
            except (OSError, ValueError):
                pass

    def mark_dirty(self, project: str, task: str) -> None:
        """Re-read this task soon (with the others marked meanwhile)."""
        self.scheduler.mark(project, task)

    @while_running
    def _flush_dirty(self) -> None:
        keys = self.scheduler.take()
        if keys:
            self._read_tasks(keys)

    @work(thread=True, group="task-read", exit_on_error=False)
    def _read_tasks(self, keys: list[tuple[str, str]]) -> None:
        try:
            for project, task in keys:
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
        self.scheduler.finished()
        self._flush_dirty()

    @while_running
    def on_task_scanned(self, message: TaskScanned) -> None:
        read = self.model.update_task(message.task)
        self.run_tree.apply_task(read)
        self._announce(read.old.status if read.old else None, read.task)
        self._update_counts()
        self._apply_pending_select()
        if self._follow_newest():
            return
        sel = self.selected
        if sel is not None and sel.same_task(read.task.project, read.task.task):
            self._update_selection(refresh=True)

    @while_running
    def on_task_vanished(self, message: TaskVanished) -> None:
        self.model.remove_task(message.project, message.task)
        self.run_tree.drop_task(message.project, message.task)
        self._update_counts()
        self._follow_newest()

    def _update_counts(self) -> None:
        self.header.set_counts(self.model.counts(), self.model.spend())
        self._set_terminal_title()
        # a first run: the next steps in place of an empty tree, until a task appears
        empty = self._first_run is not None and not any(True for _ in self.model.tasks())
        if self.view in (None, "tree") and self.query_one(FirstRun).display != empty:
            self.query_one(FirstRun).display = empty
            self.run_tree.display = not empty

    # -- single-pane dashboards: follow the newest running run ---------------------------

    @property
    def following_runs(self) -> bool:
        """A logs or bus dashboard: the pane follows a run rather than a cursor."""
        return self.view in ("logs", "bus")

    def _follow_newest(self, *, select: bool = True) -> bool:
        """Point a logs/bus dashboard at the newest running run of its scope (re-evaluated at
        every change of the model); True when the selection moved (and was shown, if
        ``select``). The title says what the pane shows either way."""
        if not self.following_runs:
            return False
        target = follow_target(self.model, self.follow, self.project_filter, self.follow_task)
        moved = False
        if target is None:
            self._followed = None
        elif target != self._followed:
            if self.run_tree.select_ref(target):
                self._followed = target
                moved = True
                if select:
                    self._update_selection(force=True)
        self._show_view_title()
        return moved

    def _show_view_title(self) -> None:
        if not self.following_runs:
            return
        project, task, run = self.current()
        scope = scope_label(self.follow, self.project_filter, self.follow_task)
        following = self._followed is not None and run is not None and \
            (project.id, task.id, run.run_id) == (self._followed.project, self._followed.task,
                                                  self._followed.run)
        self.query_one(ViewTitle).show(title_text(project.id if project else "",
                                                  task.task if task else "", run, scope,
                                                  following or self._followed is None))

    def _agent_names(self) -> list[str]:
        return sorted(self.config.agents) if self.config else []

    def _announce(self, old_status: str | None, task: TaskView) -> None:
        """A toast and the bell when a task finishes, fails or asks something."""
        if old_status is None or old_status == task.status or task.status not in NOTIFY_STATUSES:
            return
        if self.toasts == "none":  # one pane of a dashboard speaks (--toasts)
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
        self._show_live_mode(watcher)
        self._watch_followed(watcher)
        try:
            async for batch in watcher.batches():
                self._show_live_mode(watcher)
                self.apply_events(batch)
        finally:
            watcher.stop()

    @while_running
    def _show_live_mode(self, watcher) -> None:
        mode = getattr(watcher, "mode", "?")
        reason = getattr(watcher, "reason", "")
        text = f"{mode} ({reason})" if reason and mode == "polling" else mode
        if text != self.live_mode:
            self.live_mode = text
            self.header.mode = text
        if mode != "inotify" and self._fast is not None:
            self._fast.stop()  # polled (network FS, watch limit): no fast path

    @work(group="watch", exit_on_error=False)  # not exclusive: it runs beside _watch_root
    async def _watch_followed(self, watcher) -> None:
        """The fast path for the files the panes follow (``FollowWatcher``, a thread): off
        when the root is polled, since other machines' writes raise no inotify event."""
        from ..watch import INOTIFY, FollowWatcher, follow_available
        if self.poll or watcher.mode != INOTIFY or not follow_available():
            return
        fast = FollowWatcher(self.root)
        self._fast = fast
        self._retarget()
        try:
            async for item in fast.batches():
                self._fast_armed = item.armed
                if item.events:
                    self.apply_events(item.events, fast=True)
        finally:
            fast.stop()
            if self._fast is fast:
                self._fast, self._fast_armed = None, frozenset()

    def _retarget(self, follow: Following | None = None) -> None:
        """Point the fast path at what the panes follow now (a no-op when unchanged)."""
        if self._fast is not None:
            self._fast.target((follow or self.following()).targets())

    def following(self) -> Following:
        """What the panes follow now, as they declare it."""
        project, task = self.bus_scope() or ("", None)
        run = self.detail.selection.run
        return Following(logs=self.detail.followed_files(), bus=self.feed.path or None,
                         bus_project=project, bus_task=task,
                         selected_run=run.run_id if run else None, fast=self._fast_armed)

    @while_running
    def apply_events(self, batch, *, fast: bool = False) -> None:
        """Map one batch of watch events to the few reads it needs (``fast``: from the
        followed files' fast path, whose reads the root watcher's events then skip)."""
        follow = self.following()
        if fast:
            plan = self.scheduler.route_fast(batch, follow)
        else:
            plan = self.scheduler.route(batch, follow)
            self._retarget(follow)
        for path in plan.logs:
            self.detail.refresh_logs(path)
        if plan.outputs:
            now = self.clock()
            for project, task, run in plan.outputs:
                self.run_tree.note_output(project, task, run, now)
        if plan.bus:
            self.feed.poll()
        if plan.rescan:
            self._schedule_rescan()
        self._flush_dirty()

    def _schedule_rescan(self) -> None:
        if self._rescan_timer is not None:
            self._rescan_timer.stop()
        self._rescan_timer = self.set_timer(RESCAN_DEBOUNCE, self._read_root)

    @while_running
    def _poll_selected(self) -> None:
        """Fallback for missed events: re-read the selected task every few seconds."""
        sel = self.selected
        if sel is not None and sel.task:
            self.mark_dirty(sel.project, sel.task)
            self._flush_dirty()
        self.detail.refresh_logs()

    @while_running
    def _poll_running(self) -> None:
        """Liveness changes leave no file event (a supervisor dies): re-check live tasks."""
        self.scheduler.mark_all(self.model.live_tasks())
        self._flush_dirty()

    placed_poll = PLACED_RUNS_POLL

    @while_running
    def _poll_placed(self) -> None:
        """Re-read the tasks with a running run placed on another host (record's executor is
        not local): their files change without a watch event here."""
        placed = self.model.placed_tasks()
        for project, task in placed:
            self.mark_dirty(project, task)
        if placed:
            self._flush_dirty()

    @while_running
    def _refresh_heartbeats(self) -> None:
        self.run_tree.refresh_heartbeats()

    # -- selection -----------------------------------------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if self._select_timer is not None:
            self._select_timer.stop()
        self._select_timer = self.set_timer(SELECT_DEBOUNCE, self._update_selection)

    def _apply_pending_select(self) -> None:
        if self._pending_select is not None and self.run_tree.select_ref(self._pending_select):
            self._pending_select = None
            self._update_selection()

    def current(self) -> tuple[ProjectView | None, TaskView | None, RunView | None]:
        node = self.run_tree.cursor_node
        picked = self.model.resolve(node.data if node is not None else None)
        return picked.project, picked.task, picked.run

    @while_running
    def _update_selection(self, *, force: bool = False, refresh: bool = False) -> None:
        node = self.run_tree.cursor_node
        self.selected = node.data if node is not None else None
        project, task, run = self.current()
        sel = Selection(project, task, run)
        if refresh:
            self.detail.refresh_selection(sel)
        else:
            self.detail.show(sel, force=force)
        self._show_bus()
        self._show_view_title()

    def bus_scope(self) -> tuple[str, str | None] | None:
        """(project, task) of the bus the feed shows, task None for the project's bus."""
        sel = self.selected
        if sel is None:
            return None
        if sel.kind == "project" or self.bus_project_scope or not sel.task:
            return sel.project, None
        return sel.project, sel.task

    def _show_bus(self) -> None:
        scope = self.bus_scope()
        if scope is None:
            self.feed.show_bus(None, "")
            return
        from ..store import Layout
        layout = Layout(self.root)
        project, task = scope
        try:
            if task is None:
                self.feed.show_bus(layout.project_bus(project), f"project {project}")
            else:
                self.feed.show_bus(layout.task_bus(project, task), f"task {task}")
        except ConductorError as exc:
            self.report_error(str(exc))
        self._retarget()

    # -- actions: view -------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        if tab in TABS:
            self.detail.active = tab

    def action_toggle_raw(self) -> None:
        raw = self.detail.toggle_raw()
        self.set_status("stdout: raw lines" if raw else "stdout: readable (claude/codex/gemini)")

    def watch_bus_project_scope(self) -> None:
        self._show_bus()

    def action_toggle_scope(self) -> None:
        self.bus_project_scope = not self.bus_project_scope
        self.set_status("bus: project scope" if self.bus_project_scope else
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
        if box.has_class("-open") or self.run_tree.filter_text:
            box.value = ""
            box.remove_class("-open")
            self._apply_filter("")
            self.run_tree.focus()

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
        self.run_tree.focus()

    @while_running
    def _apply_filter(self, text: str) -> None:
        if text.strip() == self.run_tree.filter_text:
            return
        self.run_tree.set_filter(text)
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

    def on_key(self, event: events.Key) -> None:
        """A printable key nobody handled while a dialog's text field has the focus was typed
        as the dialog opened: it had been sent to the widget focused before (the tree), whose
        bindings no longer apply. It goes into the field, so a prompt typed right after `n`
        keeps its beginning (it was lost). A key sent to the field itself never gets here."""
        if not event.is_printable or len(self.screen_stack) < 2:
            return
        from textual.widgets import TextArea  # only with a dialog open: not at start-up
        field = self.screen.focused
        if (isinstance(field, (Input, TextArea)) and not getattr(event, "handed_on", False)
                and not field.disabled and not getattr(field, "read_only", False)):
            event.stop()
            key = events.Key(event.key, event.character)
            key.handed_on = True  # once: a key the field leaves comes back, and is dropped
            field.post_message(key)

    async def on_bus_feed_reply_requested(self, event: BusFeed.ReplyRequested) -> None:
        """Enter on a QUESTION in the feed: the reply dialog, showing the question."""
        if self.read_only:
            from .screens import MessageScreen
            self.push_screen(MessageScreen(event.question))
        else:
            await self.action_post_message(question=event.question)

    async def action_quit(self) -> None:
        from ..words import count, plural, program
        running = self.model.still_running()
        reopen = f"reopen with: {program()}"
        if running:
            self.quit_message = (f"conductor: {count(running, 'task')} "
                                 f"{plural(running, 'is', 'are')} still running; "
                                 f"{plural(running, 'it keeps', 'they keep')} running without "
                                 f"the console; {reopen}")
        else:
            self.quit_message = f"conductor: console closed; tasks are not affected; {reopen}"
        self.notify(self.quit_message)
        if self._watcher is not None:
            self._watcher.stop()
        if self._fast is not None:
            self._fast.stop()
        self.exit(message=self.quit_message)

    def _remember_theme(self, theme) -> None:
        self._save_theme(theme.name)

    @work(thread=True, group="state", exit_on_error=False)
    def _save_theme(self, name: str) -> None:
        from .state import save_state
        save_state(self.state_path, {"theme": name})

    # -- actions: tree columns, zoom, split (remembered in the state file) ----------------

    def _restore_layout(self) -> None:
        from .widgets.run_tree import agent_names_by_type
        tree = self.run_tree
        tree.agent_names = agent_names_by_type(self.config.agents if self.config else None)
        if isinstance(self._state.get("tree_columns"), str):
            tree.set_columns(self._state["tree_columns"])
        width = self._state.get("tree_width")
        if isinstance(width, int) and not isinstance(width, bool) and self.view is None:
            self._set_tree_width(width)
        self.watch(self.screen, "maximized", self._zoomed)

    def _set_tree_width(self, percent: int) -> int:
        """The tree's width as an inline style (``#tree`` in the stylesheet is the default)."""
        self._tree_percent = percent = max(TREE_WIDTH_MIN, min(TREE_WIDTH_MAX, percent))
        self.run_tree.styles.width = f"{percent}%"
        self.run_tree.styles.max_width = "100%"
        return percent

    def _zoomed(self, widget) -> None:
        """A zoomed tree takes the stylesheet's full width (an inline width would win)."""
        if widget is self.run_tree:
            self.run_tree.styles.width = self.run_tree.styles.max_width = None
        elif self._tree_percent is not None:
            self._set_tree_width(self._tree_percent)

    def action_tree_columns(self) -> None:
        tree = self.run_tree
        tree.set_columns(tree.next_columns())
        self.set_status(f"tree columns: {tree.columns_name} "
                        f"({', '.join(sorted(tree.columns)) or 'slug, status, agent only'})")
        self._save_layout({"tree_columns": tree.columns_name})

    def action_zoom(self) -> None:
        screen = self.screen
        if screen is not self.screen_stack[0]:
            return
        if screen.maximized is not None:
            screen.minimize()
        elif self.focused is not None:
            screen.maximize(self.focused)

    def _resize_tree(self, step: int) -> None:
        if self.view is not None:
            return
        percent = self._set_tree_width((self._tree_percent or TREE_WIDTH_DEFAULT) + step)
        self.set_status(f"tree width {percent}%")
        self._save_layout({"tree_width": percent})

    def action_tree_narrower(self) -> None:
        self._resize_tree(-TREE_WIDTH_STEP)

    def action_tree_wider(self) -> None:
        self._resize_tree(TREE_WIDTH_STEP)

    @work(thread=True, group="state", exit_on_error=False)
    def _save_layout(self, updates: dict) -> None:
        from .state import save_state
        save_state(self.state_path, updates)

    # -- actions: control ----------------------------------------------------------------

    def _selected_task(self, action: str) -> TaskView | None:
        _project, task, _run = self.current()
        if task is None:
            self.report_error(f"{action}: select a task or a run first")
        return task

    async def action_new_task(self) -> None:
        from .screens import NewTaskScreen
        project, _task, _run = self.current()
        agents = self._agent_names()
        if not agents:  # said at once, not after the whole prompt was typed
            found = self._first_run.on_path if self._first_run is not None else ()
            self.report_error("new task: no agents configured: open the console with --config FILE "
                              "(docs/configuration.md)"
                              + (f"; agent CLIs on PATH: {', '.join(found)}" if found else ""))
            return
        default = self.config.defaults.agent if self.config else ""
        screen = NewTaskScreen(projects=sorted(self.run_tree.projects),
                               project=project.id if project else (self.project_filter or ""),
                               agents=agents, agent=default or (agents[0] if agents else ""),
                               create=self._create_task)

        def done(text: str | None) -> None:
            if text:
                self.set_status(text)
                self.notify(text, title="new task")
        # awaited: no key is handled until the dialog is up with its field focused, so the
        # keys typed right after `n` go into that field (they were lost before)
        await self.push_screen(screen, done)

    def _create_task(self, req) -> str:
        """Runs in the dialog's thread: write TASK.md, then launch the detached supervisor. A
        failure is raised for the dialog to show."""
        result = self.controller.new_task(req)
        if not result.ok:
            raise ConductorError(result.message)
        self.call_from_thread(self._after_create, req.project, req.task)
        return result.message

    @while_running
    def _after_create(self, project: str, task: str) -> None:
        self._pending_select = NodeRef.of_task(project, task)
        self.mark_dirty(project, task)
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
        agent = self.controller.agent_for(task)
        self._control("start", lambda: self.controller.start(task.project, task.task,
                                                             agent=agent))

    def action_stop_task(self) -> None:
        task = self._selected_task("stop")
        if task is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._control("stop", lambda: self.controller.stop(task.project, task.task))
        self._confirm(f"Stop task {task.task}?\nSTOP-REQUESTED is written, its runs get SIGTERM "
                      f"(SIGKILL after {CONSOLE_GRACE:g} s) and the loop does not restart it.", confirmed, "Stop")

    def action_stop_run(self) -> None:
        _project, task, run = self.current()
        if task is None or run is None:
            self.report_error("stop run: select a run first")
            return
        if run.status != "running":
            self.report_error(f"stop run: {run.run_id} is not running ({run.status})")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._control("stop run", lambda: self.controller.stop_run(
                    task.project, task.task, run.run_id))
        self._confirm(f"Stop run {run.run_id} only?\nThe task's loop goes on and may start "
                      "another attempt.", confirmed, "Stop run")

    def action_restart_task(self) -> None:
        task = self._selected_task("restart")
        if task is None:
            return
        agent = self.controller.agent_for(task)

        def go(yes: bool | None = True) -> None:
            if yes:
                self._control("restart", lambda: self.controller.restart(
                    task.project, task.task, agent=agent))
        if task.loop_alive or task.status in ("running", "loop-dead", "needs-you"):
            self._confirm(f"Restart task {task.task}?\nIt is running: it is stopped first, then "
                          "started again with the restart prefix.", go, "Restart")
        else:
            go()

    def action_restart_task_with(self) -> None:
        """`R`: the restart dialog, with the executor the task's runs go to from now on."""
        task = self._selected_task("restart")
        if task is not None:
            self._open_restart_dialog(task, self.controller.agent_for(task))

    @work(thread=True, group="restart-dialog", exclusive=True, exit_on_error=False)
    def _open_restart_dialog(self, task: TaskView, agent: str | None) -> None:
        """Where the task runs now is read here (its TASK-EXECUTOR), off the event loop."""
        from ..executor.registry import names
        from .screens.restart import RestartScreen
        now = self.controller.executor_now(task.project, task.task, agent, self.config)
        screen = RestartScreen(task.task, running=task.loop_alive or task.status in (
            "running", "loop-dead", "needs-you"), grace=CONSOLE_GRACE, agent=agent,
            names=list(names()), current=now.name, source=now.source, error=now.error)

        def chosen(choice) -> None:
            if choice is not None:
                self._control("restart", lambda: self.controller.restart(
                    task.project, task.task, agent=agent, executor=choice.executor))
        self.call_from_thread(self.push_screen, screen, chosen)

    async def action_post_message(self, question: BusMessage | None = None) -> None:
        from .screens import PostMessageScreen
        project, task, _run = self.current()
        if project is None:
            self.report_error("post: select a project, task or run first")
            return
        sel = self.selected
        to_task = None if (self.bus_project_scope or sel is None or sel.kind == "project") \
            else (task.task if task else None)

        def send(req) -> None:
            if req is None:
                return
            self._control("post", lambda: self.controller.post(
                req.project, req.task, req.type, req.body, shown_task=task.task if task else ""))
        # awaited, as the new-task dialog: keys typed right after `m` go into the body
        await self.push_screen(PostMessageScreen(project.id, to_task, question=question), send)

    # -- actions: housekeeping (delete, archive, duplicate, copy) ------------------------

    def action_delete_task(self) -> None:
        task = self._selected_task("delete")
        if task is None:
            return
        live = task.loop_alive or task.status in ("running", "loop-dead", "needs-you")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._control("delete", lambda: self.controller.delete(
                    task.project, task.task, force=live))
        first = (f"Task {task.task} is running: stop it and delete it?" if live
                 else f"Delete task {task.task}?")
        archive = km.display_keys(self.keys.get("archive_task", "a"))
        self._confirm(f"{first}\nIts directory and every run in it are removed for good "
                      f"({archive} archives a stopped task instead).", confirmed, "Delete")

    def action_merge_branch(self) -> None:
        """The Changes tab's task branch into its base (the pane asks git, then confirms)."""
        self.detail.changes.merge()

    def action_discard_branch(self) -> None:
        self.detail.changes.discard()

    def action_archive_task(self) -> None:
        task = self._selected_task("archive")
        if task is not None:
            self._control("archive", lambda: self.controller.archive(task.project, task.task))

    def action_archived_tasks(self) -> None:
        """The archive (of the console's project, or all): pick a task, confirm, restore it."""
        from .screens.archive import ArchiveScreen

        def chosen(item) -> None:
            if item is None:
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._pending_select = NodeRef.of_task(item.project, item.task)
                    self._control("restore", lambda: self.controller.restore(
                        item.project, item.task))
            self._confirm(f"Restore task {item.task}?\nIt moves back from the archive to "
                          f"project {item.project}; it is not started.", confirmed, "Restore")
        self.push_screen(ArchiveScreen(self.root, project=self.project_filter,
                                       now_ns=self.clock()), chosen)

    def action_duplicate_task(self) -> None:
        """The new-task dialog, pre-filled with the selected task's prompt, agent and deps."""
        from ..store import read_task_prompt
        from .screens import NewTaskScreen
        task = self._selected_task("duplicate")
        if task is None:
            return
        try:
            prompt = read_task_prompt(task.path) or ""
        except (ConductorError, OSError) as exc:
            self.report_error(f"duplicate: {exc}")
            return
        agents = sorted(self.config.agents) if self.config else []
        agent = self.controller.agent_for(task) or \
            (self.config.defaults.agent if self.config else "")
        self.push_screen(NewTaskScreen(
            projects=sorted(self.run_tree.projects), project=task.project, agents=agents,
            agent=agent or (agents[0] if agents else ""), create=self._create_task,
            prompt=prompt, depends_on=list(task.depends_on or [])), self._task_created)

    def _task_created(self, text: str | None) -> None:
        if text:
            self.set_status(text)
            self.notify(text, title="new task")

    def _copied_node(self):
        """The view of the node under the cursor (a task node is the task, not its latest
        run), with its kind; (None, "") and an error when nothing is selected."""
        project, task, run = self.current()
        cursor = self.run_tree.cursor_node  # not ``selected``: that lags behind by a debounce
        kind = cursor.data.kind if cursor is not None and cursor.data is not None else ""
        node = {"run": run, "task": task, "project": project}.get(kind)
        if node is None:
            self.report_error("copy: select a project, task or run first")
        return node, kind

    def action_copy_id(self) -> None:
        node, kind = self._copied_node()
        if node is not None:
            self._copy(f"{kind} id", node.run_id if kind == "run" else node.id)

    def action_copy_path(self) -> None:
        node, kind = self._copied_node()
        if node is not None:
            self._copy(f"{kind} path", node.path, tail=True)

    def action_copy_line(self) -> None:
        from .widgets.log_view import LogView
        from .widgets.readable_log import ReadableLog
        view = self.focused  # either renderer of a log pane
        got = view.current_line() if isinstance(view, (LogView, ReadableLog)) else None
        if got is None:
            self.report_error("copy line: no line shown in this log pane yet")
        else:
            self._copy(f"line {got[0] + 1:,}", got[1])

    def _copy(self, what: str, text: str, *, tail: bool = False) -> None:
        """To the terminal's clipboard with OSC 52 (tmux passes it on with set-clipboard).
        The words show a long text's start (its end for a path, ``tail``)."""
        self.copy_to_clipboard(text)
        shown = text if len(text) <= 72 else "…" + text[-71:] if tail else text[:71] + "…"
        shown = neutralise(shown)
        self.set_status(f"copied {what}: {shown}")
        self.notify(f"copied {what}: {shown}", title="clipboard", timeout=4)

    def _confirm(self, question: str, then: Callable[[bool | None], None], yes: str) -> None:
        from .screens import ConfirmScreen
        self.push_screen(ConfirmScreen(question, yes=yes), then)

    def _control(self, action: str, call: Callable[[], ActionResult]) -> None:
        """Run a controller method off the event loop; its result comes back as a message."""
        self.set_status(f"{action}: working…")
        self._run_control(call)

    @work(thread=True, group="control", exit_on_error=False)
    def _run_control(self, call: Callable[[], ActionResult]) -> None:
        self.post_message(ActionFinished(call()))

    @while_running
    def on_action_finished(self, message: ActionFinished) -> None:
        result = message.result
        if result.ok:
            self.set_status(result.text)
            self.notify(result.text, title=result.action)
        else:
            self.report_error(result.text)
            if result.worktree_refused:  # unmerged work on the task's worktree branch
                self._offer_worktree_force(result)
        self.mark_dirty(result.project, result.task)
        self._flush_dirty()

    def _offer_worktree_force(self, result: ActionResult) -> None:
        """A delete or archive refused for the task's worktree: say why, offer to force it."""
        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            if result.action == "delete":
                self._control("delete", lambda: self.controller.delete(
                    result.project, result.task, force=True, worktree_force=True))
            else:
                self._control("archive", lambda: self.controller.archive(
                    result.project, result.task, force=True))
        self._confirm(f"{result.message}.\n{result.action.capitalize()} anyway? The worktree "
                      "and its branch are removed, with that work.", confirmed,
                      f"{result.action.capitalize()} anyway")

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


def run_console(root: str, config_path: str | None = None, project: str | None = None,
                read_only: bool = False, view: str | None = None, poll: bool = False,
                follow: str = "root", follow_task: str | None = None,
                toasts: str | None = None) -> None:
    """Open the console on ``root`` until the operator quits; tasks keep running after."""
    app = ConductorApp(root, config_path=config_path, project=project, read_only=read_only,
                       view=view, poll=poll, follow=follow, follow_task=follow_task,
                       toasts=toasts)
    app.run()
