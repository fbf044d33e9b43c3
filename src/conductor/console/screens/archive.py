"""The archive: the tasks `a` moved to ``<root>/.archive``, listed newest first; one is chosen
to be restored (the app confirms, then runs the orchestrator's ``restore_task``)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from ..keymap import widget_bindings
from ..status import Archived, list_archived
from ..text import neutralise
from ..widgets.run_tree import format_age, split_task_id


def archived_row(item: Archived, now_ns: int) -> Text:
    """``webapp  fix-login  archived 3h05m ago  06-21 00:00``: the project, the slug, when."""
    slug, date, _created = split_task_id(item.task)
    text = Text(neutralise(item.project), style="bold")
    text.append(f"  {neutralise(slug)}")
    text.append(f"  archived {format_age(now_ns - item.when_ns)} ago", style="bright_black")
    if date:
        text.append(f"  {date}", style="dim")
    return text


class ArchiveScreen(ModalScreen[Archived | None]):
    """Archived tasks; enter (or r) picks one to restore, escape closes."""

    BINDINGS = widget_bindings("archive")
    DEFAULT_CSS = """
    #archive-list { height: auto; max-height: 20; }
    """

    def __init__(self, root: str, *, project: str | None = None, now_ns: int) -> None:
        super().__init__()
        self.root = root
        self.project = project
        self.now_ns = now_ns
        self.items: list[Archived] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="archive-box", classes="dialog"):
            yield Static("Archived tasks", classes="dialog-title", markup=False)
            yield Static("reading the archive…", id="archive-note", markup=False)
            yield OptionList(id="archive-list")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Restore (enter)", id="archive-restore")
                yield Button("Close (esc)", id="archive-close")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self._read()

    @work(thread=True, exit_on_error=False)
    def _read(self) -> None:
        items = list_archived(self.root, project=self.project)
        self.app.call_from_thread(self._show, items)

    def _show(self, items: list[Archived]) -> None:
        self.items = items
        note = self.query_one("#archive-note", Static)
        if not items:
            note.update("The archive is empty (a archives a stopped task).")
            return
        note.update(f"{len(items)} archived; enter restores the highlighted one.")
        options = self.query_one(OptionList)
        options.add_options([Option(archived_row(item, self.now_ns), id=f"{i}")
                             for i, item in enumerate(items)])
        options.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._pick(event.option_index)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "archive-restore":
            self.action_restore()
        else:
            self.action_close()

    def action_restore(self) -> None:
        self._pick(self.query_one(OptionList).highlighted)

    def _pick(self, index: int | None) -> None:
        if index is not None and 0 <= index < len(self.items):
            self.dismiss(self.items[index])

    def action_close(self) -> None:
        self.dismiss(None)
