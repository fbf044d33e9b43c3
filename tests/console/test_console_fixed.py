"""The console on a fixed runs root (no processes): tree, statuses, filter, help, bus feed,
read-only mode, keymap, themes, hostile text, packaging and the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from conductor.console import keymap as km
from conductor.console.app import ConductorApp, stylesheet_path
from conductor.console.screens import (HelpScreen, MessageScreen, NewTaskScreen,
                                       TypeFilterScreen)
from conductor.console.status import LOOKS, heartbeat
from conductor.store.taskview import build_view
from conductor.console.widgets.run_tree import NodeRef
from conductor.store import scan_task
from conductor.timefmt import NS

from .fixed_root import (BASE_NS, T1, T2, T3, T4, T5, T6, build_fixed_root,
                         frozen_clock, hold_loop_lock, pretend_runs_alive)
from .live import select, settle, until
from .screen_text import screen_text

SIZE = (160, 45)
RUN_1 = "20260621-0002100000-102-0001"


@pytest.fixture
def fixed(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    layout = build_fixed_root(root)
    pretend_runs_alive(monkeypatch)
    lock = hold_loop_lock(layout.task_dir("webapp", T1))
    yield root, tmp_path
    lock.close()


def app_for(root, tmp_path, **kwargs) -> ConductorApp:
    kwargs.setdefault("state_path", str(tmp_path / "state.json"))
    return ConductorApp(root, clock=frozen_clock, watch=False, **kwargs)


def run(coro):
    asyncio.run(coro)


def statuses(app) -> dict[str, str]:
    return {t.task: t.status for p in app.model.projects.values() for t in p.tasks}


def test_every_task_status_is_derived_from_disk(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert statuses(app) == {T1: "running", T2: "completed", T3: "stopped",
                                     T4: "waiting", T5: "loop-dead", T6: "needs-you"}
            assert app.header.counts == {"running": 1, "needs-you": 1, "waiting": 1, "stopped": 1,
                                         "completed": 1, "loop-dead": 1}
            task = app.run_tree.task_view("webapp", T1)
            assert [r.attempt for r in task.roots] == [1, 2]
            assert [c.run_id for c in task.roots[1].children] == ["20260621-0003000000-103-0001"]
            assert task.waiting_on == [] and app.run_tree.task_view("webapp", T4).waiting_on == [T5]

    run(scenario())


def test_run_tree_nests_children_and_counts_attempts(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef("run", "webapp", T1, "20260621-0003000000-103-0001"))
            await settle(pilot)
            label = lambda run: app.run_tree.node_for(NodeRef("run", "webapp", T1, run)).label.plain  # noqa: E731
            assert label("20260621-0000000000-101-0001") == \
                "✘ 20260621-0000000000-101-0001  claude  try 1/2  2m00s  exit 1"
            # Running for 59m50s, stdout written 10 s before the frozen clock: live.
            assert label(RUN_1) == f"● {RUN_1}  claude  try 2/2  57m50s  ♥ live"
            child = app.run_tree.node_for(NodeRef("run", "webapp", T1, "20260621-0003000000-103-0001"))
            assert child.parent.data.run == RUN_1
            assert label("20260621-0003000000-103-0001").endswith("codex  child  3m40s")
            assert "try 2/2" in screen_text(app)

    run(scenario())


def test_heartbeat_and_status_rules():
    now = 10_000 * NS
    assert heartbeat(now - 59 * NS, now) == "live"
    assert heartbeat(now - 60 * NS, now) == "stale"
    assert heartbeat(now - 299 * NS, now) == "stale"
    assert heartbeat(now - 300 * NS, now) == "silent"
    assert heartbeat(None, now) == "silent"
    assert set(LOOKS) >= {"running", "completed", "failed", "stopped", "waiting", "queued",
                          "needs-you", "loop-dead"}


def test_task_statuses_for_fresh_tasks(tmp_path):
    from .fixed_root import write_task
    from conductor.store import Layout
    layout = Layout(str(tmp_path))
    write_task(layout, "p", T5, "x")
    snap = scan_task(layout, "p", T5)
    assert build_view(snap, now_ns=BASE_NS).status == "queued"
    assert build_view(snap, now_ns=BASE_NS, waiting_on=[T2]).status == "waiting"
    assert build_view(snap, now_ns=BASE_NS, last_bus_type="QUESTION").status == "needs-you"
    view = build_view(snap, loop_alive=True, now_ns=BASE_NS)
    assert view.status == "running"  # a live loop between attempts


def test_filter_by_agent_status_and_id(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("slash")
            await pilot.press(*"gemini", "enter")
            await until(pilot, lambda: app.run_tree.filter_text == "gemini", 5, "filter")
            shown = {n.data.task for n in app.run_tree._by_key.values()
                     if n.data.kind == "task"}
            assert shown == {T5}
            assert "filter: gemini" in screen_text(app)
            await pilot.press("slash")
            app.query_one("#filter").value = ""
            await pilot.press(*"stopped", "enter")
            await until(pilot, lambda: app.run_tree.filter_text == "stopped", 5, "filter")
            assert {n.data.task for n in app.run_tree._by_key.values()
                    if n.data.kind == "task"} == {T3}
            await pilot.press("escape")
            await until(pilot, lambda: app.run_tree.filter_text == "", 5, "cleared")
            assert app.run_tree.node_for(NodeRef("task", "webapp", T2)) is not None

    run(scenario())


def test_help_lists_every_key_from_the_binding_table(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")
            await settle(pilot)
            from rich.console import Console
            from conductor.console.screens.help import help_table
            console = Console(width=120, record=True)
            console.print(help_table(app.keys, read_only=False))
            text = console.export_text()
            assert "Keys" in screen_text(app) and "new_task" in screen_text(app)
            for spec in km.ACTIONS:
                assert spec.id in text
                assert spec.description in text
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, HelpScreen), 5, "closed")

    run(scenario())


def test_read_only_has_no_control_keys(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp, read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n", "x", "r", "m", "s")
            await settle(pilot)
            assert app.screen is app.screen_stack[0]
            footer = screen_text(app).splitlines()[-1]
            assert "New task" not in footer and "Stop task" not in footer
            assert "Help" in footer
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "New task" not in titles and "Help" in titles
            assert not os.path.exists(os.path.join(root, "webapp", T1, "STOP-REQUESTED"))

    run(scenario())


def test_keymap_from_config_remaps_keys(fixed):
    root, tmp = fixed
    config = tmp / "config.yaml"
    config.write_text("agents:\n  sim:\n    type: command\n    command: [true]\n"
                      "keymap:\n  new_task: ctrl+n\n  help: f1\n")

    async def scenario():
        app = app_for(root, tmp, config_path=str(config))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await settle(pilot)
            assert not isinstance(app.screen, NewTaskScreen)
            await pilot.press("ctrl+n")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 5, "dialog")
            await pilot.press("escape")
            await pilot.press("f1")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")

    run(scenario())


def test_command_palette_lists_every_action(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            titles = {c.title for c in app.get_system_commands(app.screen)}
            wanted = {s.description for s in km.ACTIONS
                      if s.action not in ("command_palette", "change_theme")}
            assert wanted <= titles
            await pilot.press("colon")
            from textual.command import CommandPalette
            await until(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "palette")

    run(scenario())


def test_bus_feed_scope_open_and_type_filter(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef("task", "webapp", T1))
            await until(pilot, lambda: len(app.feed.shown) == 11, 5, "task bus")
            # Hostile bytes in a body never reach the terminal.
            assert "\x1b" not in screen_text(app) and "␛[31m" in screen_text(app)
            await pilot.press("p")
            await until(pilot, lambda: [m.body for m in app.feed.shown] == ["project kickoff"],
                        5, "project bus")
            await pilot.press("p")
            await until(pilot, lambda: len(app.feed.shown) == 11, 5, "task bus again")
            app.feed.list.focus()
            await pilot.press("g", "j", "enter")
            await until(pilot, lambda: isinstance(app.screen, MessageScreen), 5, "message")
            assert app.screen.msg.body == "read 12 files"
            await pilot.press("escape")
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TypeFilterScreen), 5, "types")
            app.screen.query_one("#types-list").select("QUESTION")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: [m.type for m in app.feed.shown] == ["QUESTION"], 5,
                        "filtered")

    run(scenario())


def test_bus_feed_is_live_and_bounded(fixed):
    root, tmp = fixed
    from .fixed_root import post
    from conductor.store import Layout

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef("task", "webapp", T2))
            await settle(pilot)
            app.feed.messages = type(app.feed.messages)(app.feed.messages, maxlen=5)
            app.feed.list.max_lines = 5
            for seq in range(8):
                post(Layout(root), "webapp", T2, "PROGRESS", f"step {seq}", 100 + seq)
            app.feed.poll()
            await until(pilot, lambda: [m.body for m in app.feed.shown][-1:] == ["step 7"], 5,
                        "new messages")
            assert len(app.feed.shown) == 5

    run(scenario())


def test_detail_tabs_show_output_prompt_task_and_info(fixed):
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef("task", "webapp", T2))
            await settle(pilot)
            await pilot.press("1")
            await settle(pilot)
            assert "Docs written" in screen_text(app)
            await pilot.press("5")
            await settle(pilot)
            assert "Write the user docs." in screen_text(app)
            await pilot.press("6")
            await settle(pilot)
            text = screen_text(app)
            assert "20260621-0001000000-201-0001" in text and "exit code" in text
            assert "14m00s" in text  # 60 s .. 900 s
            await select(pilot, app, NodeRef("run", "webapp", T1, RUN_1))
            await pilot.press("2")
            await settle(pilot)
            assert "⚙ Read: src/app.py" in screen_text(app)
            await pilot.press("v")
            await settle(pilot)
            assert '{"type":"assistant"' in screen_text(app)

    run(scenario())


def test_theme_choice_is_remembered_outside_the_runs_root(fixed):
    root, tmp = fixed
    state = tmp / "state.json"

    async def first():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.theme = "nord"
            await settle(pilot)

    async def second():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.theme == "nord"

    run(first())
    import json
    assert json.loads(state.read_text())["theme"] == "nord"
    run(second())
    assert not any(name.endswith(".json") for name in os.listdir(root))


def test_animations_are_off_over_ssh(fixed):
    root, tmp = fixed
    app = ConductorApp(root, watch=False, state_path=str(tmp / "s.json"),
                       environ={"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"})
    assert app.animation_level == "none"


def test_stylesheet_ships_inside_the_package():
    path = stylesheet_path()
    assert path.endswith(os.path.join("conductor", "styles", "console.tcss"))
    with open(path) as fh:
        packaged = fh.read()
    top = os.path.join(os.path.dirname(__file__), "..", "..", "styles", "console.tcss")
    with open(top) as fh:
        assert fh.read() == packaged


def test_console_command_rejects_a_bad_view(subprocess_env):
    result = subprocess.run([sys.executable, "-m", "conductor", "console", "--view", "nope"],
                            env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ('Error: invalid argument for "--view" flag: must be one of tree, '
                             'logs, bus\n')


def test_callbacks_that_fire_during_shutdown_do_nothing(fixed):
    """A debounce timer can fire after Textual removed the widgets (seen in CI): no crash."""
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
        assert not app.is_running
        app._apply_filter("gemini")
        app._update_selection(force=True)
        app._poll_running()
        app.apply_events([])

    run(scenario())
