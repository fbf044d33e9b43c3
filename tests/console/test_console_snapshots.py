"""Snapshots of the console on the fixed runs root: frozen clock, fixed ids, no live updates.

Update with ``pytest tests/console/test_console_snapshots.py --snapshot-update`` and review the
SVGs under ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

import time

import pytest

from conductor.console.app import ConductorApp
from conductor.console.screens.help import HelpScreen
from conductor.console.screens.new_task import NewTaskScreen
from conductor.console.widgets.run_tree import NodeRef

from .fixed_root import T1, build_fixed_root, frozen_clock, pretend_runs_alive, hold_loop_lock
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

    def make(**kwargs) -> ConductorApp:
        return ConductorApp(root, clock=frozen_clock, watch=False, root_label="/srv/runs",
                            state_path=str(tmp_path / "state.json"), **kwargs)
    yield make
    lock.close()


async def on_run(pilot) -> None:
    app = pilot.app
    await settle(pilot)
    await select(pilot, app, NodeRef("run", "webapp", T1, RUN_1))
    await settle(pilot)  # the selection's loads are workers: done when they are
    await pilot.wait_for_scheduled_animations()
    await settle(pilot)


class TestMainScreen:
    def test_main_screen(self, snap_compare, fixed_app):
        assert snap_compare(fixed_app(), terminal_size=(160, 45), run_before=on_run)

    def test_layout_80x24(self, snap_compare, fixed_app):
        assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=on_run)

    def test_bus_feed_every_type(self, snap_compare, fixed_app):
        async def run_before(pilot):
            await on_run(pilot)
            await until(pilot, lambda: len(pilot.app.feed.shown) == 11, 5, "bus")
        assert snap_compare(fixed_app(view="bus"), terminal_size=(120, 20),
                            run_before=run_before)


class TestDialogs:
    def test_new_task_dialog_with_validation_error(self, snap_compare, fixed_app, tmp_path):
        config = tmp_path / "config.yaml"
        config.write_text("agents:\n  sim:\n    type: command\n    command: [true]\n")

        async def run_before(pilot):
            await on_run(pilot)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(pilot.app.screen, NewTaskScreen)
                        and pilot.app.screen.focused is not None
                        and pilot.app.screen.focused.id == "new-prompt", 10, "new task dialog")
            dialog = pilot.app.screen
            dialog.query_one("#new-task").value = "task-20260621-010000-bad id"
            prompt = dialog.query_one("#new-prompt")
            # a blinking cursor is drawn or not depending on how long the steps took (a
            # loaded machine missed it): a steady one is always drawn, as the snapshot has it
            prompt.cursor_blink = False
            prompt.text = "Fix the flaky test."
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "task id" in dialog.error_text, 5, "error")
            await pilot.pause()  # the refresh that shows it
        app = fixed_app(config_path=str(config))
        assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)

    def test_help_screen(self, snap_compare, fixed_app):
        async def run_before(pilot):
            await on_run(pilot)
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), 10, "help")
            await pilot.pause()
        assert snap_compare(fixed_app(), terminal_size=(120, 50), run_before=run_before)
