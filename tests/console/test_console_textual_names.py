"""No accidental name collisions with Textual: a name our widgets, screens, app or messages
define (a method, a class attribute, or an attribute set in ``self.NAME = ...``) that Textual's
base class already has must be an intended override listed here (``ConductorApp.watch`` once
shadowed ``DOMNode.watch()``, ``StatusHeader.loading`` hid the header behind a spinner,
``ConductorApp.tree`` shadowed ``DOMNode.tree``).

Private Textual API: none is used by these modules; the one reliance on a side effect
(``Tree.last_line`` builds the lines ``move_cursor`` reads) is pinned by
test_console_fixed.py's run selection under a collapsed task."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap

from textual.message import Message
from textual.widgets import Static

from conductor.console import app, messages
from conductor.console.screens import confirm, message, new_task, post, type_filter
from conductor.console.widgets import detail, header, run_tree

MODULES = (app, messages, confirm, message, new_task, post, type_filter, detail, header,
           run_tree)

# Textual hooks and settings we mean to override, and the reactives we mean to set.
INTENDED = {
    "BINDINGS", "CSS_PATH", "DEFAULT_CSS", "TITLE", "compose", "on_mount", "on_unmount",
    "check_action", "get_system_commands", "action_quit", "can_replace",
    "process_label", "get_label_width", "action_cursor_top", "action_cursor_bottom",
    "show_root", "guide_depth", "cursor_line", "theme",
}


def textual_base(cls: type) -> type | None:
    for base in cls.__mro__[1:]:
        if base.__module__.split(".")[0] == "textual":
            return base
    return None


def our_names(cls: type) -> set[str]:
    """What ``cls`` itself defines: class-level names and ``self.X =`` in its methods."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    names = set()
    for stmt in tree.body[0].body:  # the class body: methods and class attributes
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(stmt.name)
        for target in stmt.targets if isinstance(stmt, ast.Assign) else \
                [stmt.target] if isinstance(stmt, ast.AnnAssign) else []:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names.add(leaf.id)
    names = {n for n in names if not (n.startswith("__") and n.endswith("__"))}
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == "self":
                names.add(target.attr)
    if dataclasses.is_dataclass(cls):
        names |= {f.name for f in dataclasses.fields(cls)}
    return names


def our_textual_classes():
    for module in MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and textual_base(cls) is not None:
                yield cls


def test_no_name_of_ours_overrides_textual_by_accident():
    classes = list(our_textual_classes())
    assert {c.__name__ for c in classes} >= {"ConductorApp", "RunTree", "StatusHeader",
                                             "DetailTabs", "TaskScanned", "ConfirmScreen"}
    clashes = []
    for cls in classes:
        base = textual_base(cls)
        textual_names = set(dir(base))
        for name in sorted(our_names(cls) & textual_names - INTENDED):
            clashes.append(f"{cls.__name__}.{name} (also {base.__name__}.{name})")
    assert clashes == []


class _Shadowing(Static):
    def __init__(self) -> None:
        super().__init__()
        self.loading = True
        self.watch = None

    def tree(self) -> None:
        pass


def test_the_check_finds_a_shadowing_name():
    assert our_names(_Shadowing) & set(dir(Static)) == {"loading", "watch", "tree"}


def test_the_renamed_names_stay_ours():
    assert "watch" not in vars(app.ConductorApp) and "tree" not in vars(app.ConductorApp)
    assert "loading" not in vars(header.StatusHeader)
    assert "reading" in vars(header.StatusHeader)


def test_messages_are_dataclasses():
    for _, cls in inspect.getmembers(messages, inspect.isclass):
        if issubclass(cls, Message) and cls.__module__ == messages.__name__:
            assert dataclasses.is_dataclass(cls), cls.__name__
