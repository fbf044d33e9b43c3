"""Every key binding of the console as data: one table, keys remappable from the config.

Every binding has an id (what users put in the config's ``keymap:`` section). The app's own
actions are :data:`ACTIONS`; each widget's and dialog's bindings are :data:`WIDGET_KEYS`,
keyed by a scope (``log``, ``readable``, ``feed``, ``tree``, ``confirm``, …), and a widget's
``BINDINGS`` is :func:`widget_bindings` of its scope: no binding is written anywhere else. So
every id can be remapped (Textual applies the config's keymap by id to the app's and each
widget's bindings), and the help screen, the footer and the command palette show what is in
force. The vim-style moves (``j``/``k``/``g``/``G``/PageUp/PageDown) are written once, in
:data:`VIM_MOVES`, and :func:`vim` maps them to each scrolling widget's own actions.

This module has no state; :func:`effective_keys` gives the keys after a config's overrides.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class ActionSpec:
    """One binding. ``control`` actions change tasks and vanish in read-only mode."""
    id: str
    keys: str
    action: str
    description: str
    group: str
    control: bool = False
    show: bool = True
    key_display: str | None = None
    priority: bool = False

    def binding(self) -> Binding:
        return Binding(self.keys, self.action, self.description, show=self.show, id=self.id,
                       key_display=self.key_display, priority=self.priority)


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("new_task", "n", "new_task", "New task", "Tasks", control=True),
    ActionSpec("start_task", "s", "start_task", "Start/resume task", "Tasks", control=True),
    ActionSpec("stop_task", "x", "stop_task", "Stop task", "Tasks", control=True),
    ActionSpec("stop_run", "X", "stop_run", "Stop run", "Tasks", control=True, show=False),
    ActionSpec("restart_task", "r", "restart_task", "Restart task", "Tasks", control=True),
    ActionSpec("restart_task_with", "R", "restart_task_with",
               "Restart task on another executor (dialog)", "Tasks", control=True, show=False),
    ActionSpec("post_message", "m", "post_message", "Post message", "Tasks", control=True),
    ActionSpec("duplicate_task", "N", "duplicate_task", "Duplicate task (new-task dialog)",
               "Tasks", control=True, show=False),
    ActionSpec("archive_task", "a", "archive_task", "Archive task (A restores it)",
               "Tasks", control=True, show=False),
    ActionSpec("delete_task", "D", "delete_task", "Delete task", "Tasks", control=True,
               show=False),
    ActionSpec("merge_branch", "M", "merge_branch",
               "Merge task branch into base (Changes)", "Tasks", control=True,
               show=False),
    ActionSpec("discard_branch", "ctrl+d", "discard_branch",
               "Discard task worktree+branch (Changes)", "Tasks", control=True,
               show=False),
    ActionSpec("archived_tasks", "A", "archived_tasks", "Archived tasks (restore one)", "Tasks",
               control=True, show=False),
    ActionSpec("copy_id", "y", "copy_id", "Copy run/task id (OSC 52)", "Copy", show=False),
    ActionSpec("copy_path", "Y", "copy_path", "Copy run/task dir path (OSC 52)", "Copy",
               show=False),
    ActionSpec("filter", "slash", "filter", "Filter runs", "View", key_display="/"),
    ActionSpec("clear_filter", "escape", "clear_filter", "Clear filter", "View", show=False),
    ActionSpec("toggle_scope", "p", "toggle_scope", "Bus scope task/project", "Bus", show=False),
    ActionSpec("bus_types", "t", "bus_types", "Filter bus by type", "Bus", show=False),
    ActionSpec("toggle_raw", "v", "toggle_raw", "Stdout raw/readable", "View", show=False),
    ActionSpec("tab_output", "1", "show_tab('output')", "Output tab", "View", show=False),
    ActionSpec("tab_stdout", "2", "show_tab('stdout')", "Stdout tab", "View", show=False),
    ActionSpec("tab_stderr", "3", "show_tab('stderr')", "Stderr tab", "View", show=False),
    ActionSpec("tab_prompt", "4", "show_tab('prompt')", "Prompt tab", "View", show=False),
    ActionSpec("tab_task", "5", "show_tab('task')", "Task tab", "View", show=False),
    ActionSpec("tab_info", "6", "show_tab('info')", "Info tab", "View", show=False),
    ActionSpec("tab_changes", "7", "show_tab('changes')", "Changes tab", "View", show=False),
    ActionSpec("next_pane", "tab", "focus_next", "Next pane", "View", show=False),
    ActionSpec("previous_pane", "shift+tab", "focus_previous", "Previous pane", "View",
               show=False),
    ActionSpec("rescan", "ctrl+r", "rescan", "Re-read the runs root", "View", show=False),
    ActionSpec("tree_columns", "C", "tree_columns", "Tree columns (cycle)", "View", show=False),
    ActionSpec("zoom", "z", "zoom", "Zoom the focused pane", "View", show=False),
    ActionSpec("tree_narrower", "left_square_bracket", "tree_narrower", "Narrower tree",
               "View", show=False, key_display="["),
    ActionSpec("tree_wider", "right_square_bracket", "tree_wider", "Wider tree", "View",
               show=False, key_display="]"),
    ActionSpec("change_theme", "T", "change_theme", "Change theme", "View", show=False),
    ActionSpec("help", "question_mark", "help", "Help", "App", key_display="?"),
    ActionSpec("command_palette", "colon", "command_palette", "Commands", "App",
               key_display=":"),
    # Textual adds ctrl+p itself only when no binding runs the palette; this is that binding
    # (same key, words and priority, so the footer's right-hand "^p palette" stays), with an id.
    ActionSpec("palette", "ctrl+p", "command_palette", "palette", "App", show=False,
               priority=True),
    ActionSpec("quit", "q", "quit", "Quit", "App"),
)

VIM_MOVES: tuple[tuple[str, str, str], ...] = (
    ("down", "j,down", "Down"),
    ("up", "k,up", "Up"),
    ("top", "g,home", "Top"),
    ("bottom", "G,end", "Bottom"),
    ("page_down", "pagedown", "Page down"),
    ("page_up", "pageup", "Page up"),
)
"""The vim-style moves, written once: (move, default keys, description)."""


def vim(scope: str, group: str, *, actions: dict[str, str] | None = None,
        ids: dict[str, str] | None = None, keys: dict[str, str] | None = None,
        shown: dict[str, str] | None = None, moves: tuple[str, ...] | None = None,
        ) -> tuple[ActionSpec, ...]:
    """:data:`VIM_MOVES` for one widget: ``actions`` names the widget's action for a move
    (default: the move's name), ``ids`` the id suffix (default: the move's name), ``keys``
    narrows the keys (the tree leaves arrows to Textual's Tree), ``shown`` puts a move in the
    footer with that description, ``moves`` picks a subset."""
    actions, ids, keys, shown = actions or {}, ids or {}, keys or {}, shown or {}
    return tuple(
        ActionSpec(f"{scope}.{ids.get(move, move)}", keys.get(move, default),
                   actions.get(move, move), shown.get(move, description), group,
                   show=move in shown)
        for move, default, description in VIM_MOVES if moves is None or move in moves)


def _spec(id: str, keys: str, action: str, description: str, group: str, *,
          show: bool = False, key_display: str | None = None) -> ActionSpec:
    return ActionSpec(id, keys, action, description, group, show=show, key_display=key_display)


WIDGET_KEYS: dict[str, tuple[ActionSpec, ...]] = {
    "tree": vim("tree", "Tree",
                actions={"down": "cursor_down", "up": "cursor_up", "top": "cursor_top",
                         "bottom": "cursor_bottom"},
                keys={"down": "j", "up": "k"}, moves=("down", "up", "top", "bottom")) + (
        _spec("tree.expand", "l,right", "expand_or_down", "Expand", "Tree"),
        _spec("tree.collapse", "h,left", "collapse_or_parent", "Collapse", "Tree"),
    ),
    "feed": vim("feed", "Bus feed") + (
        _spec("feed.open", "enter", "choose", "Open message", "Bus feed", show=True),
    ),
    # Both renderers of a log pane (the raw LogView, the readable ReadableLog) use these.
    "log": vim("log", "Log (stdout, stderr)",
               actions={"down": "line_down", "up": "line_up", "bottom": "end"},
               ids={"down": "line_down", "up": "line_up", "bottom": "end"},
               shown={"bottom": "End/follow"}) + (
        _spec("log.left", "h,left", "column_left", "Left", "Log (stdout, stderr)"),
        _spec("log.right", "l,right", "column_right", "Right", "Log (stdout, stderr)"),
        _spec("log.search", "slash", "search", "Search", "Log (stdout, stderr)", show=True),
        _spec("log.search_next", "n", "search_next", "Next match", "Log (stdout, stderr)"),
        _spec("log.search_previous", "N", "search_previous", "Previous match",
              "Log (stdout, stderr)"),
        _spec("log.wrap", "w", "toggle_wrap", "Wrap", "Log (stdout, stderr)", show=True),
        _spec("log.copy_line", "c", "app.copy_line", "Copy line (match, else last shown)",
              "Log (stdout, stderr)"),
    ),
    "log_pane": (
        _spec("log.close_search", "escape", "close_search", "Close search",
              "Log (stdout, stderr)"),
    ),
    "help": (_spec("help.close", "escape,q,question_mark", "close", "Close", "Dialogs",
                   show=True),),
    "message": (_spec("message.close", "escape,q,enter", "close", "Close", "Dialogs",
                      show=True),),
    "confirm": (
        _spec("confirm.yes", "y", "answer(True)", "Yes", "Dialogs", show=True),
        _spec("confirm.no", "n,escape", "answer(False)", "No", "Dialogs", show=True),
    ),
    "post": (
        _spec("post.cancel", "escape", "cancel", "Cancel", "Dialogs", show=True),
        _spec("post.submit", "ctrl+s", "submit", "Post", "Dialogs", show=True),
    ),
    "new": (
        _spec("new.cancel", "escape", "cancel", "Cancel", "Dialogs", show=True),
        _spec("new.submit", "ctrl+s", "submit", "Create", "Dialogs", show=True),
    ),
    "types": (
        _spec("types.cancel", "escape", "cancel", "Cancel", "Dialogs", show=True),
        _spec("types.apply", "ctrl+s", "apply", "Apply", "Dialogs", show=True),
    ),
    "changes_files": vim("changes_files", "Changes (files)"),
    "changes_diff": vim("changes_diff", "Changes (diff)") + (
        _spec("changes.comment", "c", "comment", "Review comment on this line",
              "Changes (diff)", show=True),
    ),
    "review": (
        _spec("review.cancel", "escape", "cancel", "Cancel", "Dialogs", show=True),
        _spec("review.submit", "ctrl+s", "submit", "Send", "Dialogs", show=True),
    ),
    "restart": (
        _spec("restart.cancel", "escape", "cancel", "Cancel", "Dialogs", show=True),
        _spec("restart.submit", "ctrl+s", "submit", "Restart", "Dialogs", show=True),
    ),
    "archive": (
        _spec("archive.restore", "r", "restore", "Restore (enter on a row too)", "Dialogs",
              show=True),
        _spec("archive.close", "escape,q", "close", "Close", "Dialogs", show=True),
    ),
}

ALL: tuple[ActionSpec, ...] = ACTIONS + tuple(
    spec for specs in WIDGET_KEYS.values() for spec in specs)
"""Every binding of the console, app first, in the help screen's order."""

RENAMED: dict[str, str] = {
    "readable.down": "log.line_down", "readable.up": "log.line_up", "readable.top": "log.top",
    "readable.bottom": "log.end", "readable.page_down": "log.page_down",
    "readable.page_up": "log.page_up",
}
"""Old ids a config may still use -> the id they became. The readable stdout view had its own
moves; it is now a renderer of the log pane, with the log pane's keys (``log.*``)."""

CONTROL_ACTIONS = frozenset(spec.action for spec in ACTIONS if spec.control)
BY_ID = {spec.id: spec for spec in ALL}
assert len(BY_ID) == len(ALL), "binding ids must be unique"


def bindings() -> list[Binding]:
    """The app's bindings. Read-only mode keeps them and refuses control actions in
    ``check_action`` (which also hides them from the footer)."""
    return [spec.binding() for spec in ACTIONS]


def widget_bindings(scope: str) -> list[Binding]:
    """A widget's (or dialog's) ``BINDINGS``, from its scope in :data:`WIDGET_KEYS`."""
    return [spec.binding() for spec in WIDGET_KEYS[scope]]


def split_keymap(keymap: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The config's keymap cut into what Textual accepts and the action ids nobody knows."""
    known: dict[str, str] = {}
    unknown: list[str] = []
    for action_id, keys in keymap.items():
        keys = ",".join(k.strip() for k in keys.split(",") if k.strip())
        if action_id in RENAMED:
            known.setdefault(RENAMED[action_id], keys)  # the new id, when given too, wins
        elif action_id in BY_ID:
            known[action_id] = keys
        else:
            unknown.append(action_id)
    return known, unknown


def display_keys(keys: str) -> str:
    """``question_mark,f1`` as ``? / f1`` for the help screen."""
    names = {"question_mark": "?", "colon": ":", "slash": "/", "escape": "esc",
             "left_square_bracket": "[", "right_square_bracket": "]"}
    return " / ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


def effective_keys(keymap: dict[str, str]) -> dict[str, str]:
    """Binding id -> the keys in force after the config's overrides (every id, widgets too)."""
    known, _ = split_keymap(keymap)
    return {spec.id: known.get(spec.id, spec.keys) for spec in ALL}
