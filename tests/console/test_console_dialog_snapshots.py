"""Snapshots of the dialogs on the fixed runs root: where the focus is, and the reply dialog
with the question it answers.

Update with ``pytest tests/console/test_console_dialog_snapshots.py --snapshot-update`` and
review the SVGs under ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

import time

import pytest

from conductor.console.app import ConductorApp
from conductor.console.screens.new_task import NewTaskScreen
from conductor.console.screens.post import PostMessageScreen
from conductor.console.widgets.run_tree import NodeRef

from .fixed_root import T1, build_fixed_root, frozen_clock, hold_loop_lock, pretend_runs_alive
from .live import select, settle, until

RUN_1 = "20260621-0002100000-102-0001"


@pytest.fixture
def fixed_app(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    layout = build_fixed_root(root)
    pretend_runs_alive(monkeypatch)
    lock = hold_loop_lock(layout.task_dir("webapp", T1))
    config = tmp_path / "config.yaml"
    config.write_text("agents:\n  sim:\n    type: command\n    command: [true]\n")

    def make(**kwargs) -> ConductorApp:
        return ConductorApp(root, clock=frozen_clock, watch=False, root_label="/srv/runs",
                            state_path=str(tmp_path / "state.json"), config_path=str(config),
                            **kwargs)
    yield make
    lock.close()


async def on_run(pilot) -> None:
    app = pilot.app
    await settle(pilot)
    await select(pilot, app, NodeRef("run", "webapp", T1, RUN_1))
    await settle(pilot)
    await pilot.wait_for_scheduled_animations()
    await settle(pilot)


async def new_task_dialog(pilot) -> NewTaskScreen:
    await on_run(pilot)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, NewTaskScreen)
                and pilot.app.screen.focused is not None
                and pilot.app.screen.focused.id == "new-prompt", 10, "new task dialog")
    dialog = pilot.app.screen
    dialog.query_one("#new-task").value = "task-20260621-010000-snap"
    prompt = dialog.query_one("#new-prompt")
    prompt.cursor_blink = False  # a steady cursor is drawn however long the steps took
    prompt.text = "Fix the flaky test."
    return dialog


class TestDialogFocus:
    def test_new_task_focus_on_the_prompt(self, snap_compare, fixed_app):
        async def run_before(pilot):
            await new_task_dialog(pilot)
            await pilot.pause()
        assert snap_compare(fixed_app(), terminal_size=(100, 30), run_before=run_before)

    def test_new_task_focus_on_the_create_button(self, snap_compare, fixed_app):
        async def run_before(pilot):
            dialog = await new_task_dialog(pilot)
            dialog.query_one("#new-create").focus()
            await pilot.pause()
        assert snap_compare(fixed_app(), terminal_size=(100, 30), run_before=run_before)


class TestReplyDialog:
    def test_reply_dialog_shows_its_question(self, snap_compare, fixed_app):
        async def run_before(pilot):
            app = pilot.app
            await on_run(pilot)
            await until(pilot, lambda: any(m.type == "QUESTION" for m in app.feed.shown), 5,
                        "question in the feed")
            app.feed.list.focus()
            app.feed.list.move_cursor(
                next(i for i, m in enumerate(app.feed.shown) if m.type == "QUESTION"))
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, PostMessageScreen)
                        and app.screen.focused is not None, 10, "reply dialog")
            app.screen.focused.cursor_blink = False
            await pilot.press(*"Use Postgres.")
            await pilot.pause()
        assert snap_compare(fixed_app(view="bus"), terminal_size=(100, 30),
                            run_before=run_before)
