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

from .fixed_root import (SPEND, T1, U1, U1_RUN, U2, U2_RUNS, U3, build_fixed_root,
                         build_usage_root, frozen_clock, hold_loop_lock, pretend_runs_alive)
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


@pytest.fixture
def usage_app(tmp_path, monkeypatch):
    """The usage scene: a limit wait, a budget question, a stuck task, a backoff, tokens
    without a cost and a fatal loop end; the waiting supervisors look alive."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    _layout, live = build_usage_root(root)
    locks = [hold_loop_lock(d) for d in live]
    # The Info tab shows task and run dirs: under the root label, as the header shows the root,
    # so the drawing does not depend on where pytest put the tree.
    from rich.text import Text
    from conductor.console.widgets import detail
    real_rows = detail.info_rows

    def rows_under_label(sel, now_ns):
        rows = real_rows(sel, now_ns)
        if isinstance(rows, Text):
            return rows
        return [(key, Text(value.plain.replace(root, "/srv/runs"), style=value.style))
                if root in value.plain else (key, value) for key, value in rows]
    monkeypatch.setattr(detail, "info_rows", rows_under_label)

    def make(**kwargs) -> ConductorApp:
        return ConductorApp(root, clock=frozen_clock, watch=False, root_label="/srv/runs",
                            state_path=str(tmp_path / "state.json"), **kwargs)
    yield make
    for lock in locks:
        lock.close()


def on_info(ref: NodeRef):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await select(pilot, pilot.app, ref)
        await settle(pilot)
        await pilot.press("6")
        await until(pilot, lambda: pilot.app.detail.active == "info", 5, "info tab")
        await settle(pilot)
        await pilot.wait_for_scheduled_animations()
        await settle(pilot)
    return run_before


class TestUsage:
    def test_budget_question_usage_column_and_spend(self, snap_compare, usage_app):
        """Every loop state in the tree, the usage column, the header's spend, and the Info
        tab of a run of the task whose budget question waits (needs-you)."""
        assert snap_compare(usage_app(), terminal_size=(160, 45),
                            run_before=on_info(NodeRef("run", SPEND, U2, U2_RUNS[1])))

    def test_limit_wait_info(self, snap_compare, usage_app):
        assert snap_compare(usage_app(), terminal_size=(130, 45),
                            run_before=on_info(NodeRef("run", SPEND, U1, U1_RUN)))

    def test_stuck_task_info(self, snap_compare, usage_app):
        assert snap_compare(usage_app(), terminal_size=(130, 40),
                            run_before=on_info(NodeRef("task", SPEND, U3)))
