"""Every key comes from the one table in console/keymap.py: the app's, each pane's and each
dialog's bindings; remapping any id changes the key that works, and help lists every id."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.geometry import Size

import conductor.console as console_pkg
from conductor.bus import Message as BusMessage
from conductor.console import keymap as km
from conductor.console.app import ConductorApp
from conductor.console.screens import (ConfirmScreen, HelpScreen, MessageScreen,
                                       NewTaskScreen, PostMessageScreen, TypeFilterScreen)
from conductor.console.screens.help import help_table
from conductor.console.widgets.bus_feed import FeedList
from conductor.console.widgets.line_list import LineList
from conductor.console.widgets.log_view import LogPane, LogView
from conductor.console.widgets.readable_log import ReadableLog
from conductor.console.model import RootModel
from conductor.console.widgets.run_tree import RunTree

SRC = Path(console_pkg.__file__).parent


def console_classes() -> list[type]:
    """Every DOM class defined in the console package (widgets, screens, the app)."""
    for info in pkgutil.walk_packages([str(SRC)], "conductor.console."):
        importlib.import_module(info.name)
    seen: list[type] = []
    stack = [DOMNode]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("conductor.console.") and cls not in seen:
            seen.append(cls)
    return seen


def test_every_binding_of_every_console_class_comes_from_the_keymap():
    declared: set[str] = set()
    for cls in console_classes():
        for binding in cls.__dict__.get("BINDINGS", []):
            assert isinstance(binding, Binding), f"{cls.__name__}: {binding!r} has no id"
            assert binding.id in km.BY_ID, f"{cls.__name__}: {binding.id!r} not in the keymap"
            assert binding == km.BY_ID[binding.id].binding(), cls.__name__
            declared.add(binding.id)
    # ... and every id in the table is a binding somewhere (nothing listed that does nothing)
    assert declared == set(km.BY_ID)
    for path in SRC.rglob("*.py"):
        if path.name != "keymap.py":
            assert "Binding(" not in path.read_text(), f"hand-written binding in {path}"


def test_vim_moves_are_written_once_and_shared_by_the_scrolling_widgets():
    for cls, scope in ((LogView, "log"), (ReadableLog, "log"), (FeedList, "feed"),
                       (RunTree, "tree")):
        ids = {b.id for b in cls.BINDINGS}
        assert {f"{scope}.{x}" for x in ("top",)} <= ids
        keys = {b.key for b in cls.BINDINGS}
        assert {"g,home", "G,end"} <= keys
    # both renderers of a log pane have the same keys, under the same ids
    assert ReadableLog.BINDINGS == LogView.BINDINGS
    # the readable view's old ids still work in a config: they name the log pane's
    assert km.split_keymap({"readable.down": "ctrl+j", "readable.page_up": "b"}) == (
        {"log.line_down": "ctrl+j", "log.page_up": "b"}, [])


# -- live: remap every id, then look at the bindings in force -----------------------------

def remapped() -> dict[str, str]:
    return {spec.id: f"ctrl+shift+f{n}" for n, spec in enumerate(km.ALL, 1)}


class Panes(App):
    BINDINGS = km.bindings()

    def __init__(self, log: str) -> None:
        super().__init__()
        self.log_path = log

    def compose(self) -> ComposeResult:
        yield RunTree(RootModel(), clock=lambda: 0, id="tree")
        yield FeedList(id="feed")
        yield ReadableLog(id="readable")
        yield LogPane(self.log_path, id="pane")


def check_in_force(app: App, scopes: tuple[str, ...], keymap: dict[str, str]) -> None:
    active = app.screen.active_bindings
    for scope in scopes:
        for spec in km.WIDGET_KEYS[scope]:
            new = keymap[spec.id]
            assert new in active, f"{spec.id}: {new} not in force"
            assert active[new].binding.action == spec.action, spec.id
            for old in spec.keys.split(","):
                found = active.get(old)
                assert found is None or found.binding.id != spec.id, f"{spec.id}: {old} kept"


def test_remapping_every_id_changes_the_live_binding(tmp_path):
    log = tmp_path / "out.txt"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    keymap = remapped()

    async def main():
        app = Panes(str(log))
        async with app.run_test(size=(100, 40)) as pilot:
            app.set_keymap(keymap)
            for selector, scopes in (("#tree", ("tree",)), ("#feed", ("feed",)),
                                     ("#readable", ("log",)),
                                     ("#log-view", ("log", "log_pane"))):
                app.query_one(selector).focus()
                await pilot.pause()
                check_in_force(app, scopes, keymap)
            for spec in km.ACTIONS:
                assert app.screen.active_bindings[keymap[spec.id]].binding.action == spec.action
            msg = BusMessage(msg_id="m1", ts=0, type="INFO", project_id="p", task_id="t",
                             run_id="", body="hello")
            dialogs = ((HelpScreen(km.effective_keys(keymap), read_only=False), "help"),
                       (MessageScreen(msg), "message"), (ConfirmScreen("sure?"), "confirm"),
                       (PostMessageScreen("p", "t"), "post"),
                       (TypeFilterScreen(frozenset()), "types"),
                       (NewTaskScreen(projects=["p"], project="p", agents=["a"], agent="a",
                                      create=lambda request: ""), "new"))
            for screen, scope in dialogs:
                await app.push_screen(screen)
                await pilot.pause()
                check_in_force(app, (scope,), keymap)
                app.pop_screen()
                await pilot.pause()

    asyncio.run(main())


def test_a_remapped_readable_key_moves_the_readable_view():
    class One(App):
        def compose(self) -> ComposeResult:
            yield ReadableLog(id="readable")

    async def main():
        app = One()
        async with app.run_test(size=(60, 10)) as pilot:
            app.set_keymap(km.split_keymap({"log.top": "ctrl+t"})[0])
            view = app.query_one(ReadableLog)
            view.set_rows([Text(f"row {n}") for n in range(50)])
            view.focus()
            await pilot.pause()
            await pilot.press("G")
            await pilot.pause()
            assert view.scroll_offset.y > 0
            await pilot.press("g")  # the default key no longer moves it
            await pilot.pause()
            assert view.scroll_offset.y > 0
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert view.scroll_offset.y == 0

    asyncio.run(main())


def test_help_lists_every_id_with_the_keys_in_force():
    keys = km.effective_keys({"readable.down": "ctrl+j", "log.search": "f3", "quit": "ctrl+q"})
    assert keys["log.line_down"] == "ctrl+j"  # an old id, renamed
    out = Console(width=160, record=True)
    out.print(help_table(keys, read_only=False))
    text = out.export_text()
    for spec in km.ALL:
        assert spec.id in text, spec.id
    lines = {line.split()[-1]: line for line in text.splitlines() if line.strip()}
    assert lines["log.line_down"].split()[0] == "ctrl+j"
    assert lines["log.search"].split()[0] == "f3"
    read_only = Console(width=160, record=True)
    read_only.print(help_table(keys, read_only=True))
    assert "new_task" not in read_only.export_text()


def test_the_keys_section_of_the_docs_names_every_id():
    # the checkout's docs (the package under test may be installed elsewhere)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "console.md").read_text()
    keys = docs[docs.index("## Keys"):docs.index("## Live updates")]
    for spec in km.ALL:
        assert f"`{spec.id}`" in keys, spec.id


def test_read_only_app_keeps_the_table_and_refuses_control_actions():
    app = ConductorApp("/nonexistent", read_only=True, watch=False)
    assert [b.id for b in app.BINDINGS] == [s.id for s in km.ACTIONS]
    for spec in km.ACTIONS:
        assert app.check_action(spec.action, ()) is (not spec.control)


# -- the one private Textual API the widgets use ------------------------------------------

def test_scrollbar_update_without_layout_keeps_the_scrollbar_right():
    """scrolling.set_virtual_size calls Widget._scroll_update (private, see its comment):
    pin that it exists and that an append through it sizes the scrollbar and the scroll
    range as a full layout would."""
    from textual.widget import Widget
    assert "virtual_size" in inspect.signature(Widget._scroll_update).parameters

    class One(App):
        def compose(self) -> ComposeResult:
            yield LineList(cursor=False)

    async def main():
        app = One()
        async with app.run_test(size=(40, 10)) as pilot:
            rows = app.query_one(LineList)
            rows.set_rows([Text(f"row {n}") for n in range(20)])
            await pilot.pause()
            rows.append_rows([Text(f"more {n}") for n in range(80)])  # the no-layout path
            await pilot.pause()
            assert rows.virtual_size == Size(7, 100)
            assert rows.vertical_scrollbar.window_virtual_size == 100
            assert rows.max_scroll_y == 100 - rows.scrollable_content_region.height
            assert rows.scroll_offset.y == rows.max_scroll_y

    asyncio.run(main())
