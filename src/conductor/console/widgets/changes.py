"""The Changes tab: what the selected task changed in its working dir, and the diff.

A task with a worktree (``WORKTREE.json``) shows its branch against the recorded base commit,
and can be merged into its base (``M``) or discarded (``ctrl+d``); any other run's git working
dir is shown read-only against ``HEAD``. Every git call runs in a thread worker
(:mod:`conductor.vcs`); the diff arrives a page at a time, the next page when the cursor
reaches the end. While the tab is visible it is refreshed on the task's events and every
:data:`CHANGES_POLL` seconds (a ``git diff --raw --numstat`` plus a ``ls-files``); answers for
a selection the pane has left are dropped by a generation number. ``c`` on a diff line asks
for a review comment and posts it to the task's bus as a USER message anchored ``file:line``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from ...errors import ConductorError
from ..controller import ActionResult
from ..messages import ActionFinished, PaneError, ReportsWorkerErrors
from ..status import RunView, TaskView
from ..text import neutralise
from .line_list import LineList
from .scrolling import VimKeys

CHANGES_POLL = 2.0
"""Seconds between re-reads of the stat list while the tab is visible."""
POLL_SHARE = 0.1
"""At most this share of the time is spent in polls: after a refresh that took t seconds the
next poll waits at least t / POLL_SHARE (a huge repository is polled less often)."""
DIFF_PAGE = 1000
"""Diff lines read per page (the next page is read when the cursor reaches the end)."""
STATUS_STYLES = {"M": "yellow", "A": "green", "D": "red", "?": "green", "T": "magenta"}


@dataclass
class ChangesRead(Message):
    """The target, its stat list and (when asked) the first diff page of ``path``."""
    generation: int
    target: object = None  # ChangeTarget
    files: list = field(default_factory=list)
    fingerprint: tuple = ()
    path: str | None = None
    page: object = None  # DiffPage, or None when the diff was not read
    rows: list = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    reader: object = None  # the DiffReader positioned after the page, while there is more


@dataclass
class DiffRead(Message):
    generation: int
    path: str | None
    page: object  # DiffPage
    rows: list
    append: bool
    reader: object = None
    shown: int = 0  # the diff shown when the page was asked for (an append onto it)


@dataclass
class MergePlanned(Message):
    generation: int
    plan: object = None
    error: str = ""


class FileList(VimKeys, LineList, keys="changes_files"):
    """The changed files; moving the cursor shows a file's diff."""


class DiffList(VimKeys, LineList, keys="changes_diff"):
    """The selected file's diff, one row per line; ``c`` comments on the line."""

    def action_comment(self) -> None:
        self.post_message(ChangesPane.CommentWanted(self.cursor))


def file_row(change) -> Text:
    text = Text(f"{change.status} ", style=STATUS_STYLES.get(change.status, "white"))
    text.append(neutralise(change.path))
    if change.added is None:
        text.append("  binary", style="bright_black")
    else:
        text.append(f"  +{change.added}", style="green")
        text.append(f" −{change.deleted}", style="red")
    return text


def diff_rows(lines) -> list[Text]:
    """Each diff line highlighted by Rich's ``diff`` lexer (agent text neutralised first)."""
    if not lines:
        return []
    code = "\n".join(neutralise(line.text) for line in lines)
    syntax = Syntax("", "diff", theme="ansi_dark", background_color="default")
    text = syntax.highlight(code)
    text.rstrip()
    rows = text.split("\n", allow_blank=True)
    while len(rows) < len(lines):
        rows.append(Text(""))
    return list(rows)[:len(lines)]


def totals(files) -> str:
    added = sum(f.added or 0 for f in files)
    deleted = sum(f.deleted or 0 for f in files)
    return f"{len(files)} file{'s' if len(files) != 1 else ''} +{added} −{deleted}"


class ChangesPane(ReportsWorkerErrors, Vertical):
    """A title, the changed files and the diff of the one under the cursor."""

    PANE_LABEL = "changes"
    DEFAULT_CSS = """
    ChangesPane #changes-title { height: 1; color: $text-muted; padding: 0 1; }
    ChangesPane #changes-files { height: auto; max-height: 30%; min-height: 1;
                                 border-bottom: hkey $panel-lighten-2; }
    ChangesPane #changes-diff { height: 1fr; }
    """

    class CommentWanted(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.showing = False
        self.for_task: TaskView | None = None
        self.cwd: str | None = None
        self.target = None
        self.files: list = []
        self.lines: list = []  # the DiffLines shown
        self.more = False
        self.path: str | None = None  # the file whose diff is shown
        self.error = ""
        self.last_seconds = 0.0  # the last refresh's cost (git calls), for the figures
        self._key: tuple | None = None
        self._generation = 0
        self._fingerprint: tuple = ()
        self._busy = False
        self._again = False
        self._paging = False
        self._read_at = 0.0  # monotonic time the last refresh finished
        self._reader = None  # the shown diff's DiffReader, positioned after its last line
        self._shown = 0  # counts the diffs shown (a page read for an older one is dropped)

    def compose(self):
        yield Static("", id="changes-title", markup=False)
        yield FileList(id="changes-files")
        yield DiffList(id="changes-diff", max_lines=1_000_000)

    def on_mount(self) -> None:
        self.set_interval(CHANGES_POLL, self._poll)

    @property
    def file_list(self) -> FileList:
        return self.query_one(FileList)

    @property
    def diff_list(self) -> DiffList:
        return self.query_one(DiffList)

    # -- selection and refresh -----------------------------------------------------------

    def show(self, task: TaskView | None, run: RunView | None) -> None:
        """Point the pane at a task (its worktree) or a run's working dir; read when visible,
        else when the tab is shown."""
        if run is None and task is not None:
            run = task.latest
        cwd = run.info.cwd if run is not None else None
        key = (task.path if task else None, cwd)
        self.for_task = task
        if key != self._key:
            self._key, self.cwd = key, cwd
            self._generation += 1
            self.target, self.files, self.lines, self.path = None, [], [], None
            self._fingerprint = ()
            self._busy = False
            self._keep_reader(None)
            self.error = ""
            self.file_list.set_rows([])
            self.diff_list.set_rows([])
            self._title("reading…" if task else "select a task or a run")
            if self.showing:
                self.refresh_changes()
        else:  # the task was read again (its files changed): as often as a poll may
            self._poll()

    def set_visible(self, visible: bool) -> None:
        self.showing = visible
        if visible:
            self.refresh_changes()

    def _poll(self) -> None:
        if not (self.showing and self.is_attached):
            return
        if time.monotonic() - self._read_at >= self.last_seconds / POLL_SHARE:
            self.refresh_changes()

    def refresh_changes(self) -> None:
        """Re-read the stat list (and the diff when anything changed), one read at a time."""
        if self.for_task is None:
            return
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._read(self._generation, self.for_task.path, self.cwd, self.path, self._fingerprint)

    @work(thread=True, group="changes", exit_on_error=False)
    def _read(self, generation: int, task_dir: str, cwd: str | None, path: str | None,
              seen: tuple) -> None:
        from ...vcs.changes import changed_files, fingerprint, resolve_target
        started = time.perf_counter()
        try:
            target = resolve_target(task_dir, cwd)
            files = changed_files(target)
            marks = fingerprint(target, files)
            page = rows = reader = None
            if marks != seen:
                paths = [f.path for f in files]
                path = path if path in paths else (paths[0] if paths else None)
                if path is not None:
                    page, reader = self._first_page(
                        target, path, 0, [f.path for f in files if f.untracked])
                    rows = diff_rows(page.lines)
        except ConductorError as exc:
            self.post_message(ChangesRead(generation, error=str(exc),
                                          seconds=time.perf_counter() - started))
            return
        self.post_message(ChangesRead(generation, target, files, marks, path, page, rows or [],
                                      seconds=time.perf_counter() - started, reader=reader))

    @staticmethod
    def _first_page(target, path: str | None, start: int, untracked: list[str]):
        """(the page at ``start``, the reader kept for the next page, or None at the end)."""
        from ...vcs.changes import DiffReader
        reader = DiffReader(target, path, untracked)
        if start:
            reader.read(start, keep=False)
        page = reader.read(DIFF_PAGE)
        if page.more:
            return page, reader
        reader.close()
        return page, None

    def _drop_reader(self, reader) -> None:
        """A reader nobody will read on: git is stopped now, reaped in a thread."""
        if reader is not None:
            reader.kill()
            self._close_reader(reader)

    @work(thread=True, group="changes-close", exit_on_error=False)
    def _close_reader(self, reader) -> None:
        reader.close()

    def _keep_reader(self, reader) -> None:
        if reader is not self._reader:
            self._drop_reader(self._reader)
        self._reader = reader

    def on_unmount(self) -> None:
        if self._reader is not None:
            self._reader.kill()

    def on_changes_read(self, message: ChangesRead) -> None:
        message.stop()
        if message.generation != self._generation:
            self._drop_reader(message.reader)
            return
        self._busy = False
        self.last_seconds = message.seconds
        self._read_at = time.monotonic()
        if message.error:
            if message.error != self.error:
                self.error = message.error
                self._title(message.error, style="red")
                self.post_message(PaneError(f"{self.PANE_LABEL}: {message.error}"))
        elif message.fingerprint != self._fingerprint:
            self.error = ""
            self.target, self._fingerprint = message.target, message.fingerprint
            if message.page is not None or not message.files:
                self._show_diff(message.path, message.page, message.rows, append=False)
                self._keep_reader(message.reader)
            self._show_files(message.files)  # after: its cursor is on the file shown
            self._title()
        if self._again:
            self._again = False
            self.refresh_changes()

    def _show_files(self, files: list) -> None:
        cursor = next((i for i, f in enumerate(files) if f.path == self.path), 0)
        self.files = files
        rows = [file_row(f) for f in files]
        if [r.plain for r in rows] != [self.file_list.row_text(i)
                                       for i in range(self.file_list.row_count)]:
            self.file_list.set_rows(rows)
        if files:
            self.file_list.move_cursor(cursor)

    def _show_diff(self, path: str | None, page, rows: list, *, append: bool) -> None:
        same = self.lines and path == self.path  # a refresh keeps the cursor where it was
        self.path = path
        self.more = bool(page is not None and page.more)
        if append:
            self.lines.extend(page.lines)
            self.diff_list.append_rows(rows)
            return
        top = self.diff_list.cursor if same else 0
        self._shown += 1
        self.lines = list(page.lines) if page is not None else []
        self.diff_list.set_rows(rows)
        if self.lines:
            self.diff_list.move_cursor(min(max(top, 0), len(self.lines) - 1))

    def _title(self, text: str | None = None, *, style: str = "") -> None:
        if text is None:
            if self.target is None:
                text = ""
            elif self.target.kind == "none":
                text = self.target.describe()
            else:
                text = f"{self.target.describe()} · {totals(self.files)}"
                if self.more:
                    text += f" · diff: first {len(self.lines):,} lines (more below)"
        self.query_one("#changes-title", Static).update(Text(neutralise(text), style=style))

    # -- choosing a file, paging -----------------------------------------------------------

    def on_line_list_cursor_moved(self, event: LineList.CursorMoved) -> None:
        event.stop()
        if event.line_list is self.file_list:
            if 0 <= event.index < len(self.files) and self.files[event.index].path != self.path:
                self._page(self.files[event.index].path, 0, append=False)
        elif event.line_list is self.diff_list and self.more and not self._paging and \
                event.index >= len(self.lines) - 1:
            self._page(self.path, len(self.lines), append=True)

    def _page(self, path: str | None, start: int, *, append: bool) -> None:
        if self.target is None:
            return
        self._paging = append
        untracked = [f.path for f in self.files if f.untracked]
        reader = self._reader
        if append and reader is not None and reader.path == path and reader.index == start:
            self._reader = None  # the worker holds it now, and hands it back with the page
        else:
            reader = None
        self._read_page(self._generation, self.target, path, start, untracked, append, reader,
                        self._shown)

    @work(thread=True, group="changes-diff", exit_on_error=False)
    def _read_page(self, generation: int, target, path: str | None, start: int,
                   untracked: list[str], append: bool, reader, shown: int) -> None:
        if reader is None:
            page, reader = self._first_page(target, path, start, untracked)
        else:
            page = reader.read(DIFF_PAGE)
            if not page.more:
                reader.close()
                reader = None
        self.post_message(DiffRead(generation, path, page, diff_rows(page.lines), append,
                                   reader, shown))

    def on_diff_read(self, message: DiffRead) -> None:
        message.stop()
        if message.append:
            self._paging = False
        if message.generation != self._generation or \
                (message.append and (message.path, message.shown) != (self.path, self._shown)):
            self._drop_reader(message.reader)
            return
        self._show_diff(message.path, message.page, message.rows, append=message.append)
        self._keep_reader(message.reader)
        self._title()

    # -- review comments -------------------------------------------------------------------

    def comment_at(self, index: int):
        """(the diff line, its snippet) at ``index``, or None when it is no line of a file."""
        from ...vcs.changes import snippet
        if not 0 <= index < len(self.lines):
            return None
        line = self.lines[index]
        if line.kind not in ("context", "add", "del") or not line.path:
            return None
        return line, snippet(self.lines, index)

    def on_changes_pane_comment_wanted(self, message: CommentWanted) -> None:
        message.stop()
        if getattr(self.app, "read_only", False):
            self.post_message(PaneError("review comment: the console is read-only"))
            return
        got = self.comment_at(message.index)
        task = self.for_task
        if got is None or task is None:
            self.post_message(PaneError("review comment: put the cursor on a line of a file's "
                                        "diff (an added, removed or context line)"))
            return
        from ...vcs.changes import anchor
        from ..screens.review import ReviewCommentScreen
        line, around = got

        def send(comment: str | None) -> None:
            if comment:
                self._post_comment(task.project, task.task, line, around, comment)
        shown = [("> " if other is line else "  ") + other.text for other in around]
        self.app.push_screen(ReviewCommentScreen(anchor(line), shown), send)

    @work(thread=True, group="changes-post", exit_on_error=False)
    def _post_comment(self, project: str, task: str, line, around, comment: str) -> None:
        from ...vcs.changes import anchor, review_message
        result = self.app.controller.post(project, task, "USER",
                                          review_message(line, around, comment),
                                          shown_task=task)
        if result.ok:
            result = ActionResult("review comment", True,
                                  f"review comment on {anchor(line)} {result.message}",
                                  project, task)
        self.post_message(ActionFinished(result))

    # -- merge and discard -------------------------------------------------------------------

    def _worktree(self, action: str):
        target = self.target
        if target is None or self.for_task is None:
            self.post_message(PaneError(f"{action}: open the Changes tab (7) on a task first"))
            return None
        if target.record is None:
            self.post_message(PaneError(f"{action}: {self.for_task.task} has no worktree of its "
                                        "own: its working dir is shown read-only"))
            return None
        return target.record

    def merge(self) -> None:
        """Ask git what a merge would be, confirm it (saying which), then merge."""
        record = self._worktree("merge")
        if record is not None:
            self._plan(self._generation, record)

    @work(thread=True, group="changes-merge", exit_on_error=False)
    def _plan(self, generation: int, record) -> None:
        from ...vcs.merge import plan_merge
        try:
            self.post_message(MergePlanned(generation, plan_merge(record)))
        except ConductorError as exc:
            self.post_message(MergePlanned(generation, error=f"merge: {exc}"))

    def on_merge_planned(self, message: MergePlanned) -> None:
        message.stop()
        task, target = self.for_task, self.target
        if message.generation != self._generation or task is None or target is None:
            return
        plan = message.plan
        if message.error or plan is None:
            self.post_message(PaneError(message.error))
            return
        if plan.kind == "nothing":
            self.post_message(PaneError(f"merge: {plan.question()}"))
            return
        from ..screens import ConfirmScreen
        record = target.record

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act("merge", task, lambda: self._merge_words(record, plan.kind))
        self.app.push_screen(ConfirmScreen(plan.question(), yes="Merge"), confirmed)

    @staticmethod
    def _merge_words(record, kind: str) -> str:
        from ...vcs.merge import merge_branch
        plan = merge_branch(record, kind)
        how = "fast-forwarded" if plan.kind == "fast-forward" else "merged with a merge commit"
        return f"merge: {record.branch} {how} into {plan.base_branch}"

    def discard(self) -> None:
        record = self._worktree("discard")
        task = self.for_task
        if record is None or task is None:
            return
        if task.loop_alive or task.status in ("running", "loop-dead", "needs-you"):
            self.post_message(PaneError(f"discard: {task.task} is running in that worktree: "
                                        "stop it first"))
            return
        from ..screens import ConfirmScreen

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act("discard", task, lambda: self._discard_words(record))
        self.app.push_screen(ConfirmScreen(
            f"Discard {record.branch}?\nThe worktree {record.path} is removed with its "
            "uncommitted changes, and the branch is deleted with its commits not merged.",
            yes="Discard"), confirmed)

    @staticmethod
    def _discard_words(record) -> str:
        from ...vcs.merge import discard
        discard(record)
        return f"discard: removed the worktree {os.path.basename(record.path)} and deleted " \
               f"{record.branch}"

    @work(thread=True, group="changes-merge", exit_on_error=False)
    def _act(self, action: str, task: TaskView, call) -> None:
        try:
            result = ActionResult(action, True, call(), task.project, task.task)
        except ConductorError as exc:
            result = ActionResult(action, False, str(exc), task.project, task.task)
        self.post_message(ActionFinished(result))
        self.app.call_from_thread(self._after_action)

    def _after_action(self) -> None:
        self._fingerprint = ()
        self.refresh_changes()

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState
        if event.state == WorkerState.ERROR:
            if event.worker.group == "changes":
                self._busy = False
            if event.worker.group == "changes-diff":
                self._paging = False
        super().on_worker_state_changed(event)
