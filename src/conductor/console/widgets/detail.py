"""The detail tabs for the selected run (or task, or project): Output, Stdout, Stderr, Prompt,
Task, Info, Changes. Logs are file-backed panes; small files are read in a thread and rendered once."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import work
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static, TabbedContent, TabPane

from ...store import OUTPUT, PROMPT, STDERR, STDOUT, TASK_MD, TASK_STATE
from ...store.loopview import clock_time
from ...store.usage import Usage, format_cost, format_tokens
from ...timefmt import format_rfc3339nano
from ...words import count
from ..messages import FileRead, ReportsWorkerErrors
from ..status import ProjectView, RunView, TaskView, heartbeat, is_placed, look
from ..text import read_text_head, safe_text
from .changes import ChangesPane
from .log_view import LogPane
from .run_tree import format_age

TABS = ("output", "stdout", "stderr", "prompt", "task", "info", "changes")
TAB_TITLES = {"output": "1 Output", "stdout": "2 Stdout", "stderr": "3 Stderr",
              "prompt": "4 Prompt", "task": "5 Task", "info": "6 Info", "changes": "7 Changes"}


@dataclass
class Selection:
    """What the detail pane shows: a project, a task (with its latest run) or one run."""
    project: ProjectView | None = None
    task: TaskView | None = None
    run: RunView | None = None


def run_file(run: RunView, name: str) -> str:
    """The path of a run's file: the one its run-info records when that lies inside the run
    dir, else the fixed name there (an agent can write run-info, so a recorded path elsewhere
    is never opened)."""
    given = {STDOUT: run.info.stdout_path, STDERR: run.info.stderr_path,
             OUTPUT: run.info.output_path, PROMPT: run.info.prompt_path}.get(name, "")
    fixed = os.path.join(run.path, name)
    if not given:
        return fixed
    full = os.path.normpath(os.path.join(run.path, given))
    return full if full.startswith(os.path.abspath(run.path).rstrip(os.sep) + os.sep) else fixed


def _table(rows: list[tuple[str, Text]] | Text) -> Table | Text:
    if isinstance(rows, Text):
        return rows
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _text_key(text: Text) -> tuple:
    return (text.plain, str(text.style), tuple(text.spans))


def _rows_key(rows: list[tuple[str, Text]] | Text) -> tuple:
    """What the Info tab would show, comparable: an unchanged tab is not drawn again."""
    if isinstance(rows, Text):
        return (_text_key(rows),)
    return tuple((key, _text_key(value)) for key, value in rows)


def tokens_text(usage: Usage) -> str:
    """``12.3k in / 1.2k out / 10.0k cached``, or ``-`` without tokens."""
    if not (usage.input_tokens or usage.output_tokens or usage.cached_tokens):
        return "-"
    return (f"{format_tokens(usage.input_tokens)} in / {format_tokens(usage.output_tokens)} out"
            f" / {format_tokens(usage.cached_tokens)} cached")


def usage_text(usage: Usage) -> str:
    """A task's totals on one line: ``$0.120 · 12.3k in / 1.2k out / 10.0k cached · 5 turns``."""
    if not usage:
        return "-"
    parts = [format_cost(usage.cost_usd)] if usage.cost_usd is not None else []
    if usage.input_tokens or usage.output_tokens or usage.cached_tokens:
        parts.append(tokens_text(usage))
    if usage.turns:
        parts.append(count(usage.turns, "turn"))
    return " · ".join(parts)


def _when(ns: int | None, now_ns: int) -> str:
    return f"{clock_time(ns, now_ns)} ({format_rfc3339nano(ns)})" if ns else "-"


def info_rows(sel: Selection, now_ns: int, *, start_failure: str = "",
              worktree: list[tuple[str, str]] | None = None) -> list[tuple[str, Text]] | Text:
    """The Info tab as (key, value) rows, or one line of text when nothing is selected.
    ``start_failure``: the error of the task's last start from this console, if it failed."""
    table: list[tuple[str, Text]] = []

    def row(key: str, value) -> None:
        table.append((key, value if isinstance(value, Text) else Text(safe_text(str(value)))))

    if sel.project is not None and sel.task is None:
        row("project", sel.project.id)
        row("path", sel.project.path)
        row("tasks", len(sel.project.tasks))
        return table
    task = sel.task
    if task is None:
        return Text("Nothing selected. Move in the run tree (j/k) to pick a task or a run.")
    st = look(task.status)
    row("task", task.task)
    row("project", task.project)
    detail = task.detail(now_ns)
    row("task status", Text(f"{st.glyph} {task.status}: {safe_text(detail)}" if detail
                            else f"{st.glyph} {st.label}", style=st.style))
    row("supervisor", "alive" if task.loop_alive else "not running")
    if start_failure:
        row("start failed", Text(safe_text(start_failure), style="red"))
    row("task dir", task.path)
    for key, value in worktree or ():  # the task's git worktree (WORKTREE.json, issue 13)
        row(key, value)
    if task.depends_on:
        row("depends on", ", ".join(task.depends_on))
    if task.waiting_on:
        row("waiting on", ", ".join(task.waiting_on))
    row("attempts", len(task.roots))
    row("usage", usage_text(task.usage))
    words = task.loop_words(now_ns)
    if words is not None and task.loop_state is not None:
        state = task.loop_state
        row("loop", Text(safe_text(words.text), style=look(words.status).style))
        if state.reason and state.reason.strip() != words.detail:
            row("loop reason", Text(safe_text(state.reason)))
        if state.since:
            row("loop since", _when(state.since, now_ns))
        if state.until:
            row("loop until", _when(state.until, now_ns))
    run = sel.run
    if run is None:
        return table
    info = run.info
    rst = look(run.status)
    row("", "")
    row("run", run.run_id)
    if run.error:  # first, so a damaged record is explained without scrolling
        row("status", Text(f"{rst.glyph} {run.status} (run-info unreadable)", style=rst.style))
        row("run-info problem", Text(safe_text(run.error), style="red"))
    else:
        row("status", Text(f"{rst.glyph} {run.status} (run-info: {info.status})",
                           style=rst.style))
    if run.status == "running":
        row("heartbeat", heartbeat(run.last_output_ns, now_ns, placed=is_placed(info)))
    row("agent", info.agent)
    if info.agent_version:
        row("agent version", info.agent_version)
    if info.parent_run_id:
        row("parent run", info.parent_run_id)
    if info.previous_run_id:
        row("previous run", info.previous_run_id)
    row("pid / pgid", f"{info.pid} / {info.pgid}")
    if (getattr(info, "executor", "") or "local") != "local":  # issue 14: a placed run
        row("executor", " ".join(x for x in (info.executor, "job", info.executor_job_id or "-",
                                             f"({info.executor_cluster})"
                                             if info.executor_cluster else "") if x))
        row("host", f"{info.host or '-'}" + (f" (pid {info.host_pid})" if info.host_pid else ""))
    row("started", format_rfc3339nano(info.start_time) if info.start_time else "-")
    row("ended", format_rfc3339nano(info.end_time) if info.end_time else "-")
    if info.start_time:
        end = info.end_time if info.end_time else now_ns
        row("duration", format_age(end - info.start_time))
    row("exit code", info.exit_code)
    if info.failure:
        row("failure", Text(safe_text(info.failure), style="red"))
    if info.error_summary:
        row("error", Text(safe_text(info.error_summary), style="red"))
    if info.limit_reset:
        row("limit reset", _when(info.limit_reset, now_ns))
    if info.model:
        row("model", info.model)
    if info.session_id:
        row("session id", info.session_id)
    usage = run.usage
    row("tokens", tokens_text(usage))
    row("cost", format_cost(usage.cost_usd) or "-")
    if usage.turns:
        row("turns", usage.turns)
    row("command line", info.commandline or "-")
    row("cwd", info.cwd or "-")
    row("run dir", run.path)
    for label, name in (("prompt", PROMPT), ("output", OUTPUT), ("stdout", STDOUT),
                        ("stderr", STDERR)):
        row(label, run_file(run, name))
    return table


class DetailTabs(ReportsWorkerErrors, Vertical):
    """The tabs; :meth:`show` points them at a selection."""

    PANE_LABEL = "detail"

    def __init__(self, *, clock, id: str | None = None,
                 start_failures: dict[tuple[str, str], str] | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        # (project, task) -> its last failed start's error (the controller's, shared)
        self.start_failures = {} if start_failures is None else start_failures
        self.selection = Selection()
        self._raw_stdout = False
        self._generation = 0
        self._key: tuple | None = None
        self._info_shown: tuple | None = None
        self._file_shown: dict[str, tuple[str, str]] = {}
        self._worktree: list[tuple[str, str]] = []  # Info's worktree rows, read in a thread

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    @active.setter
    def active(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def compose(self):
        with TabbedContent(initial="stdout", id="tabs"):
            yield from self._panes()

    @property
    def changes(self) -> ChangesPane:
        """The Changes tab's pane (it runs git only while its tab is shown)."""
        return self.query_one(ChangesPane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.changes.set_visible(event.pane.id == "changes")

    def _panes(self):
        with TabPane(TAB_TITLES["output"], id="output"):
            with VerticalScroll(id="output-scroll"):
                yield Static("", id="output-note", markup=False)
                yield Markdown("", id="output-md")
        with TabPane(TAB_TITLES["stdout"], id="stdout"):
            # one pane, two renderers; the mode (raw_stdout) is this widget's, not the run's
            yield LogPane(readable=not self.raw_stdout, id="stdout-log")
        with TabPane(TAB_TITLES["stderr"], id="stderr"):
            yield LogPane(id="stderr-log")
        with TabPane(TAB_TITLES["prompt"], id="prompt"):
            yield LogPane(id="prompt-log")
        with TabPane(TAB_TITLES["task"], id="task"):
            with VerticalScroll(id="task-scroll"):
                yield Markdown("", id="task-md")
        with TabPane(TAB_TITLES["info"], id="info"):
            with VerticalScroll(id="info-scroll"):
                yield Static("", id="info-body")
        with TabPane(TAB_TITLES["changes"], id="changes"):
            yield ChangesPane(id="changes-pane")

    # -- selection -----------------------------------------------------------------------

    def show(self, sel: Selection, *, force: bool = False) -> None:
        """Point every tab at the selection; files are only re-opened when the run changed."""
        key = (sel.project.id if sel.project else None, sel.task.task if sel.task else None,
               sel.run.run_id if sel.run else None)
        self.selection = sel
        self.update_info()
        self.changes.show(sel.task, sel.run)  # reads only while its tab is shown
        if key == self._key and not force:
            return
        self._key = key
        self._generation += 1
        self._worktree = []
        self._file_shown.pop("worktree", None)
        run = sel.run
        self._set_logs(run)
        self._load_small(self._generation, run, sel.task)

    def refresh_selection(self, sel: Selection) -> None:
        """The same selection, re-read (a run changed): new info, output.md and task files."""
        self.show(sel)
        self._generation += 1
        self._load_small(self._generation, sel.run, sel.task)

    def _set_logs(self, run: RunView | None) -> None:
        agent = (run.info.agent if run else "").strip().lower()
        # a run placed by another executor writes on its node: no event tells of it here
        remote = run is not None and run.info.executor not in ("", "local")
        self.query_one("#stdout-log", LogPane).set_path(run_file(run, STDOUT) if run else None,
                                                        agent, remote=remote)
        self.query_one("#stderr-log", LogPane).set_path(run_file(run, STDERR) if run else None,
                                                        remote=remote)
        self.query_one("#prompt-log", LogPane).set_path(run_file(run, PROMPT) if run else None,
                                                        remote=remote)

    def toggle_raw(self) -> bool:
        """Stdout raw <-> readable (for every run from now on); returns whether raw is now
        shown. The focus stays on the stdout pane's renderer when it was there."""
        self.raw_stdout = not self.raw_stdout
        return self.raw_stdout

    @property
    def raw_stdout(self) -> bool:
        """The stdout pane's mode: raw lines (True) or readable (False, the default)."""
        return self._raw_stdout

    @raw_stdout.setter
    def raw_stdout(self, raw: bool) -> None:
        self._raw_stdout = raw
        if self.is_mounted:
            self.query_one("#stdout-log", LogPane).set_readable(not raw)

    def update_info(self) -> None:
        """Draw the Info tab; a task re-read that changed nothing shown draws nothing (every
        drawn change costs a layout of the whole screen)."""
        task = self.selection.task
        failure = self.start_failures.get((task.project, task.task), "") if task else ""
        more = {"worktree": self._worktree} if self._worktree and task else {}
        rows = (info_rows(self.selection, self.clock(), start_failure=failure, **more)
                if failure else info_rows(self.selection, self.clock(), **more))
        key = _rows_key(rows)
        if key == self._info_shown:
            return
        self._info_shown = key
        self.query_one("#info-body", Static).update(_table(rows))

    def refresh_logs(self, path: str | None = None) -> None:
        """A log grew (``path``) or a timer fired (None): read the new bytes."""
        for pane_id in ("#stdout-log", "#stderr-log", "#prompt-log"):
            pane = self.query_one(pane_id, LogPane)
            if path is None or pane.log_view.path == path:
                pane.log_view.refresh_file()
            shown = pane.readable_view
            if shown is not None and (path is None or shown.path == path):
                shown.refresh_file()  # reads only while shown

    def log_paths(self) -> set[str]:
        paths = {self.query_one(p, LogPane).log_view.path
                 for p in ("#stdout-log", "#stderr-log", "#prompt-log")}
        return {p for p in paths if p}

    def followed_files(self) -> frozenset[str]:
        """The files this pane shows and reads again when they grow: the app routes a
        ``log_grew`` event for one of them to :meth:`refresh_logs`."""
        return frozenset(self.log_paths())

    # -- small files ---------------------------------------------------------------------

    @work(thread=True, group="detail-files", exclusive=True, exit_on_error=False)
    def _load_small(self, generation: int, run: RunView | None, task: TaskView | None) -> None:
        if run is not None:
            text, note = read_text_head(run_file(run, OUTPUT))
            self.post_message(FileRead(generation, "output", text or "", note))
        else:
            self.post_message(FileRead(generation, "output", "", "no run selected"))
        if task is not None:
            prompt, pnote = read_text_head(os.path.join(task.path, TASK_MD))
            state, _ = read_text_head(os.path.join(task.path, TASK_STATE))
            body = "## TASK.md\n\n" + (safe_text(prompt) if prompt is not None else f"*{pnote}*")
            body += "\n\n## TASK_STATE.md\n\n" + (safe_text(state) if state else "*empty*")
            self.post_message(FileRead(generation, "task", body))
            from ...worktree.record import info_rows as worktree_rows
            self.post_message(FileRead(generation, "worktree", "\n".join(
                f"{key}\t{value}" for key, value in worktree_rows(task.path))))
        else:
            self.post_message(FileRead(generation, "task", "*select a task*"))

    def on_file_read(self, message: FileRead) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        # Every task re-read (each bus message, each run-info write) reads these files again;
        # re-rendering unchanged Markdown would re-mount its blocks: skip what is already shown.
        shown = (message.text, message.note)
        if self._file_shown.get(message.slot) == shown:
            return
        self._file_shown[message.slot] = shown
        if message.slot == "output":
            note = self.query_one("#output-note", Static)
            note.update(f"output.md: {message.note}" if message.note else "")
            note.display = bool(message.note)
            self.query_one("#output-md", Markdown).update(safe_text(message.text))
        elif message.slot == "task":
            self.query_one("#task-md", Markdown).update(message.text)
        elif message.slot == "worktree":
            self._worktree = [(k, v) for k, _, v in (line.partition("\t")
                                                     for line in message.text.splitlines())]
            self.update_info()
