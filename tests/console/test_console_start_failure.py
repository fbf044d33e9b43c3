"""A start that fails says so (issue 12): `r` on a completed task in a console opened without
--config starts a supervisor that exits at once (`Error: agent is empty`). The status line and
a toast show that error, the Info tab keeps it, and the task stays completed with its DONE."""

from __future__ import annotations

import asyncio
import os

from conductor.console.messages import ActionFinished
from conductor.console.model import NodeRef
from conductor.store import Layout

from .fixed_root import T2
from .live import select, settle, until
from .screen_text import screen_text
from .test_console_fixed import SIZE, app_for, fixed, statuses  # noqa: F401 - the fixture


def test_r_on_a_completed_task_whose_supervisor_fails_shows_the_error_and_keeps_done(fixed):  # noqa: F811
    root, tmp = fixed
    task_dir = Layout(root).task_dir("webapp", T2)
    done = os.path.join(task_dir, "DONE")
    done_bytes = open(done, "rb").read()
    runs_before = sorted(os.listdir(os.path.join(task_dir, "runs")))
    seen: list = []

    async def scenario():
        app = app_for(root, tmp)  # no config: the started loop has no agent
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task("webapp", T2))
            assert statuses(app)[T2] == "completed"
            await pilot.press("r")  # a completed task: no confirmation asked
            await until(pilot, lambda: any(isinstance(m, ActionFinished) for m in seen), 20,
                        "the restart's result")
            await settle(pilot)
            result = next(m.result for m in seen if isinstance(m, ActionFinished))
            assert (result.action, result.ok, result.task) == ("restart", False, T2)
            line = app.query_one("#status-line")
            assert str(line.render()) == "restart: Error: agent is empty"
            assert line.has_class("-error")
            assert app.last_error == "restart: Error: agent is empty"
            toasts = [n.message for n in app._notifications]
            assert "restart: Error: agent is empty" in toasts
            assert statuses(app)[T2] == "completed"
            app.detail.active = "info"
            await until(pilot, lambda: "start failed" in screen_text(app), 10, "the Info row")
            [row] = [r for r in screen_text(app).splitlines() if "start failed" in r]
            assert row.split("start failed", 1)[1].strip().startswith("Error: agent is empty")

    asyncio.run(scenario())
    assert open(done, "rb").read() == done_bytes  # DONE was never deleted
    assert sorted(os.listdir(os.path.join(task_dir, "runs"))) == runs_before  # no run made


def test_a_start_that_works_reports_the_supervisor_holding_the_lock(stubs, monkeypatch):
    from conductor import orchestrator
    from conductor.console.controller import Controller
    from conductor.store.supervision import holder_pid, loop_alive
    from waiting import wait_for
    for key in ("PATH", "STUB_RECORD", "STUB_FIXTURES"):
        monkeypatch.setenv(key, stubs.env[key])
    project, task = "proj", "task-20260220-153045-stubbed"
    task_dir = orchestrator.new_task(stubs.root, project, task, "STUB: tick 0.2 100")
    open(os.path.join(task_dir, "DONE"), "w").close()
    controller = Controller(stubs.root)
    controller.start_failures[(project, task)] = "Error: an earlier start failed"
    result = controller.start(project, task, agent="codex")
    try:
        assert result.ok, result.text
        assert result.pid == holder_pid(task_dir) and loop_alive(task_dir)
        assert result.text == f"start: {task} started (supervisor pid {result.pid})"
        assert controller.start_failures == {}  # the Info tab no longer shows the old failure
        wait_for(lambda: not os.path.exists(os.path.join(task_dir, "DONE")))
    finally:
        orchestrator.stop_task(stubs.root, project, task, grace=5.0)
    wait_for(lambda: not loop_alive(task_dir), timeout=20)
