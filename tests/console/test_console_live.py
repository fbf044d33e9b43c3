"""Pilot tests: each control key against a real runs root, real supervisors, `command` agents."""

from __future__ import annotations

import asyncio
import os

import pytest

from conductor.bus import MessageBus
from conductor.console.app import ConductorApp
from conductor.console.screens import ConfirmScreen, NewTaskScreen, PostMessageScreen
from conductor.console.widgets.run_tree import NodeRef
from conductor.store.supervision import loop_alive
from conductor.store import Layout, read_run_info

from .live import (running_runs, select, settle, start_task, stop_everything, until, write_agent)

SIZE = (160, 45)
P = "proj"
LONG = "task-20260101-000000-long-job"


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    config, _ = write_agent(tmp_path)
    monkeypatch.setenv("CONDUCTOR_CONSOLE_STATE", str(tmp_path / "state.json"))
    for key in [k for k in os.environ if k.startswith("JRUN_")]:
        monkeypatch.delenv(key)
    yield str(root), config
    stop_everything(str(root))


def make_app(root, config, **kwargs) -> ConductorApp:
    return ConductorApp(root, config_path=config, **kwargs)


def run(coro):
    asyncio.run(coro)


def test_new_task_dialog_creates_and_starts_a_task(env):
    root, config = env

    async def scenario():
        app = make_app(root, config)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 10, "dialog")
            dialog = app.screen
            dialog.query_one("#new-project").value = "newproj"
            task_id = dialog.query_one("#new-task").value
            dialog.query_one("#new-prompt").text = "Say hello and finish."
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), 20, "close")
            task_dir = Layout(root).task_dir("newproj", task_id)
            with open(os.path.join(task_dir, "TASK.md")) as fh:
                assert fh.read() == "Say hello and finish.\n"
            await until(pilot, lambda: app.run_tree.node_for(NodeRef("task", "newproj", task_id))
                        is not None, 20, "task node")
            view = lambda: app.run_tree.task_view("newproj", task_id)  # noqa: E731
            await until(pilot, lambda: view() and view().status == "completed", 40, "completed")
            assert view().runs and view().runs[0].info.agent == "command"
            assert os.path.exists(os.path.join(task_dir, "DONE"))
            assert app.header.counts["completed"] == 1
            await until(pilot, lambda: app.selected == NodeRef("task", "newproj", task_id),
                        10, "new task selected")

    run(scenario())


@pytest.mark.parametrize("field,value,error", [
    ("#new-project", "Bad Project!", "project: "),
    ("#new-task", "not-a-task-id", "task id: "),
    ("#new-cwd", "/no/such/dir", "working dir: /no/such/dir: not a directory"),
    ("#new-prompt", "", "prompt: type a prompt or give a prompt file"),
])
def test_new_task_invalid_input_is_shown_in_the_dialog_and_nothing_is_written(
        env, field, value, error):
    root, config = env

    async def scenario():
        app = make_app(root, config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 10, "dialog")
            dialog = app.screen
            dialog.query_one("#new-project").value = "good"
            dialog.query_one("#new-prompt").text = "a prompt"
            widget = dialog.query_one(field)
            if field == "#new-prompt":
                widget.text = value
            else:
                widget.value = value
            await pilot.press("ctrl+s")
            await until(pilot, lambda: error in dialog.error_text, 10, "error shown")
            await settle(pilot)
            assert app.screen is dialog
            assert os.listdir(root) == []

    run(scenario())


def test_stop_with_x_then_resume_with_s(env):
    root, config = env
    start_task(root, config, P, LONG, "Keep working @LONG@")

    async def scenario():
        app = make_app(root, config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: running_runs(app, P, LONG), 30, "a running run")
            first = running_runs(app, P, LONG)[0].run_id
            await select(pilot, app, NodeRef("task", P, LONG))
            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "confirm")
            await pilot.press("y")
            task_dir = Layout(root).task_dir(P, LONG)
            await until(pilot, lambda: not loop_alive(task_dir), 30, "loop gone")
            assert os.path.exists(os.path.join(task_dir, "STOP-REQUESTED"))
            info = read_run_info(os.path.join(task_dir, "runs", first, "run-info.yaml"))
            assert info.status == "failed"
            assert len(os.listdir(os.path.join(task_dir, "runs"))) == 1  # not restarted
            view = lambda: app.run_tree.task_view(P, LONG)  # noqa: E731
            await until(pilot, lambda: view().status == "stopped", 20, "task shown stopped")
            assert view().runs[0].status == "stopped"

            await pilot.press("s")
            await until(pilot, lambda: len(view().runs) == 2 and view().runs[1].status
                        == "running", 30, "resumed run")
            assert not os.path.exists(os.path.join(task_dir, "STOP-REQUESTED"))
            second = view().runs[1]
            with open(os.path.join(second.path, "prompt.md")) as fh:
                assert "Continue working on the following:" in fh.read()

    run(scenario())


def test_stop_run_with_shift_x_stops_only_that_run(env):
    root, config = env
    start_task(root, config, P, LONG, "Keep working @LONG@")

    async def scenario():
        app = make_app(root, config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: running_runs(app, P, LONG), 30, "a running run")
            first = running_runs(app, P, LONG)[0].run_id
            await select(pilot, app, NodeRef("run", P, LONG, first))
            await pilot.press("X")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "confirm")
            await pilot.press("y")
            task_dir = Layout(root).task_dir(P, LONG)
            view = lambda: app.run_tree.task_view(P, LONG)  # noqa: E731
            await until(pilot, lambda: view().run(first).status != "running", 30, "run stopped")
            assert not os.path.exists(os.path.join(task_dir, "STOP-REQUESTED"))
            # The loop lives on and starts the next attempt.
            await until(pilot, lambda: len(view().runs) >= 2, 30, "next attempt")
            assert loop_alive(task_dir)

    run(scenario())


def test_restart_with_r_confirms_and_starts_with_the_restart_prefix(env):
    root, config = env
    start_task(root, config, P, LONG, "Keep working @LONG@")

    async def scenario():
        app = make_app(root, config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: running_runs(app, P, LONG), 30, "a running run")
            first = running_runs(app, P, LONG)[0].run_id
            await select(pilot, app, NodeRef("task", P, LONG))
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "confirm")
            await pilot.press("y")
            view = lambda: app.run_tree.task_view(P, LONG)  # noqa: E731
            await until(pilot, lambda: any(r.status == "running" and r.run_id != first
                                           for r in view().runs), 40, "restarted run")
            assert view().run(first).status in ("failed", "stopped")
            new = [r for r in view().runs if r.run_id != first][-1]
            with open(os.path.join(new.path, "prompt.md")) as fh:
                assert "Continue working on the following:" in fh.read()
            assert view().status == "running"

    run(scenario())


def test_post_message_with_m_writes_to_the_task_bus(env):
    root, config = env
    start_task(root, config, P, LONG, "Keep working @LONG@")

    async def scenario():
        app = make_app(root, config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.run_tree.task_view(P, LONG) is not None, 20, "task")
            await select(pilot, app, NodeRef("task", P, LONG))
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, PostMessageScreen), 10, "dialog")
            app.screen.query_one("#post-type").value = "DECISION"
            await pilot.press(*"use postgres")
            await pilot.press("ctrl+s")
            bus = Layout(root).task_bus(P, LONG)
            await until(pilot, lambda: any(m.type == "DECISION" and m.body == "use postgres"
                                           for m in MessageBus(bus).read_all()), 20, "posted")
            await until(pilot, lambda: any(m.body == "use postgres" for m in app.feed.shown),
                        20, "message in the feed")

    run(scenario())


def test_quit_says_tasks_keep_running_and_they_do(env):
    root, config = env
    start_task(root, config, P, LONG, "Keep working @LONG@")

    async def scenario():
        app = make_app(root, config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: running_runs(app, P, LONG), 30, "a running run")
            await pilot.press("q")
            await until(pilot, lambda: app.quit_message != "", 10, "quit")
        assert app.quit_message.startswith("conductor: 1 task is still running; it keeps running")
        assert loop_alive(Layout(root).task_dir(P, LONG))

    run(scenario())
