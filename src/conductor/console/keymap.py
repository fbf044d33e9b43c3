"""Key bindings as data: one table of named actions, keys remappable from the config.

Every binding has an id (the action id users put in the config's ``keymap:`` section); the help
screen, the footer and the command palette are all generated from :data:`ACTIONS`, so a key
added here shows up everywhere and a remapped key is shown as remapped.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class ActionSpec:
    """One console action. ``control`` actions change tasks and vanish in read-only mode."""
    id: str
    keys: str
    action: str
    description: str
    group: str
    control: bool = False
    show: bool = True
    key_display: str | None = None


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("new_task", "n", "new_task", "New task", "Tasks", control=True),
    ActionSpec("start_task", "s", "start_task", "Start/resume task", "Tasks", control=True),
    ActionSpec("stop_task", "x", "stop_task", "Stop task", "Tasks", control=True),
    ActionSpec("stop_run", "X", "stop_run", "Stop run", "Tasks", control=True, show=False),
    ActionSpec("restart_task", "r", "restart_task", "Restart task", "Tasks", control=True),
    ActionSpec("post_message", "m", "post_message", "Post message", "Tasks", control=True),
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
    ActionSpec("next_pane", "tab", "focus_next", "Next pane", "View", show=False),
    ActionSpec("previous_pane", "shift+tab", "focus_previous", "Previous pane", "View",
               show=False),
    ActionSpec("rescan", "ctrl+r", "rescan", "Re-read the runs root", "View", show=False),
    ActionSpec("change_theme", "T", "change_theme", "Change theme", "View", show=False),
    ActionSpec("help", "question_mark", "help", "Help", "App", key_display="?"),
    ActionSpec("command_palette", "colon", "command_palette", "Commands", "App",
               key_display=":"),
    ActionSpec("quit", "q", "quit", "Quit", "App"),
)

MOVES: tuple[tuple[str, str], ...] = (
    ("j / down", "move down (tree, feed, logs)"),
    ("k / up", "move up"),
    ("g / home", "first line"),
    ("G / end", "last line (logs: follow again)"),
    ("l / right, h / left", "expand / collapse in the tree"),
    ("enter", "open: expand a node, show a whole bus message"),
    ("/  n  N  w", "in a log: search, next, previous match, wrap"),
    ("ctrl+p", "command palette"),
)

CONTROL_ACTIONS = frozenset(spec.action for spec in ACTIONS if spec.control)
BY_ID = {spec.id: spec for spec in ACTIONS}


def bindings(*, read_only: bool = False) -> list[Binding]:
    """The app's bindings (control keys left out in read-only mode)."""
    return [Binding(spec.keys, spec.action, spec.description, show=spec.show, id=spec.id,
                    key_display=spec.key_display)
            for spec in ACTIONS if not (read_only and spec.control)]


def split_keymap(keymap: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The config's keymap cut into what Textual accepts and the action ids nobody knows."""
    known: dict[str, str] = {}
    unknown: list[str] = []
    widget_ids = WIDGET_BINDING_IDS
    for action_id, keys in keymap.items():
        keys = ",".join(k.strip() for k in keys.split(",") if k.strip())
        if action_id in BY_ID or action_id in widget_ids:
            known[action_id] = keys
        else:
            unknown.append(action_id)
    return known, unknown


WIDGET_BINDING_IDS = frozenset({
    "tree.down", "tree.up", "tree.top", "tree.bottom", "tree.expand", "tree.collapse",
    "feed.down", "feed.up", "feed.top", "feed.bottom", "feed.open",
    "log.line_down", "log.line_up", "log.left", "log.right", "log.top", "log.end",
    "log.page_up", "log.page_down", "log.search", "log.search_next", "log.search_previous",
    "log.wrap", "log.close_search",
})


def display_keys(keys: str) -> str:
    """``question_mark,f1`` as ``? / f1`` for the help screen."""
    names = {"question_mark": "?", "colon": ":", "slash": "/", "escape": "esc"}
    return " / ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


def effective_keys(keymap: dict[str, str]) -> dict[str, str]:
    """Action id -> the keys in force after the config's overrides."""
    return {spec.id: keymap.get(spec.id, spec.keys) for spec in ACTIONS}
