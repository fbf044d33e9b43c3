"""Housekeeping keys on the fixed root: delete (confirm; a live task is stopped first), archive
(moved under the root's .archive, a live task refused), duplicate (the new-task dialog
pre-filled) and copy with OSC 52 (what the app writes to the terminal, and the toast)."""

from __future__ import annotations

import asyncio
import base64
import os

from textual.widgets import Input, Select, TextArea

from conductor.console.controller import ActionResult
from conductor.console.screens import ConfirmScreen, NewTaskScreen
from conductor.console.widgets.log_view import LogView
from conductor.console.widgets.run_tree import NodeRef

from .fixed_root import (T1, T2, T3, T4, T5)
from .live import select, settle, until
from .test_console_fixed import app_for, fixed  # noqa: F401 - the fixed root, its T1 supervised

SIZE = (160, 45)
P = "webapp"
RUN_1 = "20260621-0002100000-102-0001"


def tasks_shown(app) -> set[str]:
    return {t.task for p in app.model.projects.values() for t in p.tasks}


def status_line(app) -> str:
    return str(app.query_one("#status-line").render())


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def question(app) -> str:
    return str(app.screen.query_one("#confirm-question").render())


def test_delete_asks_then_removes_a_stopped_task(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T3))
            await pilot.press("D")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
            assert question(app) == (f"Delete task {T3}?\nIts directory and every run in it "
                                     "are removed for good (a archives a stopped task "
                                     "instead).")
            await pilot.press("n")  # no: nothing happens
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 5, "closed")
            assert os.path.isdir(os.path.join(root, P, T3))
            await pilot.press("D")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
            await pilot.press("y")
            await until(pilot, lambda: T3 not in tasks_shown(app), 10, "task gone")
            assert not os.path.exists(os.path.join(root, P, T3))
            assert status_line(app) == f"deleted {T3}"
            assert f"deleted {T3}" in toasts(app)

    asyncio.run(scenario())


def test_delete_of_a_running_task_asks_to_stop_it_first(fixed, monkeypatch):  # noqa: F811
    root, tmp = fixed
    calls = []

    def fake_delete(self, project, task, *, force=False):
        calls.append((project, task, force))
        return ActionResult("delete", True, f"deleted {task} (stopped first)", project, task)

    # the "supervisor" is this test's own lock: the real verb would signal the lock holder
    monkeypatch.setattr("conductor.console.controller.Controller.delete", fake_delete)

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T1))
            await pilot.press("D")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
            assert question(app).startswith(f"Task {T1} is running: stop it and delete it?\n")
            await pilot.press("y")
            await until(pilot, lambda: calls, 5, "delete called")
            await until(pilot, lambda: status_line(app) == f"deleted {T1} (stopped first)", 5,
                        "status")
            assert calls == [(P, T1, True)]

    asyncio.run(scenario())


def test_archive_moves_a_stopped_task_and_refuses_a_live_one(fixed):  # noqa: F811
    root, tmp = fixed
    target = os.path.join(root, ".archive", P, T2)

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T2))
            await pilot.press("a")
            await until(pilot, lambda: T2 not in tasks_shown(app), 10, "task gone")
            assert os.path.isfile(os.path.join(target, "TASK.md"))
            assert status_line(app) == (
                f"archived {T2} to {target} (run-agent task restore --project {P} "
                f"--task {T2} brings it back)")
            assert ".archive" not in app.model.projects  # the archive is no project
            await select(pilot, app, NodeRef.of_task(P, T1))
            await pilot.press("a")
            await until(pilot, lambda: app.last_error.startswith("archive:"), 5, "refusal")
            assert app.last_error == (f"archive: task {T1} is running (its loop is alive); "
                                      "stop it first (run-agent task stop), then archive it")
            assert os.path.isdir(os.path.join(root, P, T1))

    asyncio.run(scenario())


def test_duplicate_opens_the_new_task_dialog_pre_filled(fixed):  # noqa: F811
    root, tmp = fixed
    config = tmp / "config.yaml"
    config.write_text("agents:\n  gem:\n    type: gemini\n  sim:\n    type: command\n"
                      "    command: [true]\ndefaults:\n  agent: sim\n")

    async def scenario():
        app = app_for(root, tmp, config_path=str(config))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T5))  # its run used gemini
            await pilot.press("N")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 5, "dialog")
            dialog = app.screen
            assert dialog.query_one("#new-prompt", TextArea).text == "Refactor the models."
            assert dialog.query_one("#new-agent", Select).value == "gem"
            assert dialog.query_one("#new-project", Input).value == P
            assert dialog.query_one("#new-task", Input).value not in (T5, "")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), 5, "closed")
            await select(pilot, app, NodeRef.of_task(P, T4))  # no run yet; two dependencies
            await pilot.press("N")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 5, "dialog")
            dialog = app.screen
            assert dialog.query_one("#new-prompt", TextArea).text == "Deploy to staging."
            assert dialog.query_one("#new-deps", Input).value == f"{T2},{T5}"
            assert dialog.query_one("#new-agent", Select).value == "sim"

    asyncio.run(scenario())


def test_copy_keys_write_osc_52_and_say_so(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            written: list[str] = []
            real_write = app._driver.write
            app._driver.write = lambda data: (written.append(data), real_write(data))[1]

            def osc52(text: str) -> str:
                return "\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\a"

            await settle(pilot)
            ref = NodeRef("run", P, T1, RUN_1)
            await select(pilot, app, ref)
            await pilot.press("y")
            await until(pilot, lambda: osc52(RUN_1) in written, 5, "run id copied")
            assert status_line(app) == f"copied run id: {RUN_1}"
            assert f"copied run id: {RUN_1}" in toasts(app)
            await pilot.press("Y")
            run_dir = os.path.join(root, P, T1, "runs", RUN_1)
            await until(pilot, lambda: osc52(run_dir) in written, 5, "path copied")
            assert app.clipboard == run_dir
            shown = run_dir if len(run_dir) <= 72 else "…" + run_dir[-71:]
            assert status_line(app) == f"copied run path: {shown}"
            await select(pilot, app, NodeRef.of_task(P, T2))
            await pilot.press("y")
            await until(pilot, lambda: osc52(T2) in written, 5, "task id copied")
            assert status_line(app) == f"copied task id: {T2}"
            # a log pane: the stderr tab's last line shown
            await select(pilot, app, ref)
            await pilot.press("3")
            view = app.query_one("#stderr-log LogView", LogView)
            await until(pilot, lambda: view.current_line() is not None, 10, "stderr read")
            view.focus()
            await pilot.press("c")
            await until(pilot, lambda: osc52("warning: slow network") in written, 5, "line")
            assert status_line(app) == "copied line 1: warning: slow network"

    asyncio.run(scenario())


def test_read_only_refuses_delete_archive_and_duplicate_but_copies(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp, read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T3))
            await pilot.press("D", "a", "N")
            await settle(pilot)
            assert app.screen is app.screen_stack[0]
            assert os.path.isdir(os.path.join(root, P, T3))
            assert not os.path.exists(os.path.join(root, ".archive"))
            await pilot.press("y")
            await until(pilot, lambda: app.clipboard == T3, 5, "copied")

    asyncio.run(scenario())
