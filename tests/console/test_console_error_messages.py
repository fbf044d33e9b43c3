"""Error paths, asserted on the messages the app receives (``run_test(message_hook=…)``): a
failure travels as a typed message and ends on the status line, never nowhere."""

from __future__ import annotations

import asyncio
import os
import shutil

from conductor.console.messages import ActionFinished, PaneError
from conductor.console.model import NodeRef
from conductor.store import Layout

from .fixed_root import T2, T6
from .live import select, settle, until


async def let_run(pilot, rounds: int = 5) -> None:
    """Let the app run a few frames without waiting on workers (one is meant to fail here,
    and ``settle`` would re-raise its error)."""
    for _ in range(rounds):
        await pilot.pause(0.05)
from .test_console_fixed import SIZE, app_for, fixed  # noqa: F401 - the fixture


def test_a_failed_restart_arrives_as_a_not_ok_result_and_is_shown(fixed):  # noqa: F811
    root, tmp = fixed
    seen: list = []

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task("webapp", T2))
            shutil.rmtree(Layout(root).task_dir("webapp", T2))  # gone since the console read it
            app.action_restart_task()  # a completed task: no confirmation asked
            await until(pilot, lambda: any(isinstance(m, ActionFinished) for m in seen), 20,
                        "the restart's result")
            await settle(pilot)
            result = next(m.result for m in seen if isinstance(m, ActionFinished))
            assert (result.action, result.ok, result.task) == ("restart", False, T2)
            assert result.text == f"restart: task not found: webapp/{T2}"
            assert app.last_error == result.text
            assert app.query_one("#status-line").has_class("-error")

    asyncio.run(scenario())


def test_a_pane_whose_reader_fails_posts_a_pane_error(fixed):  # noqa: F811
    root, tmp = fixed
    seen: list = []
    bus = Layout(root).project_bus("infra")
    outside = tmp / "outside.md"
    outside.write_text("not under the root\n")
    if os.path.lexists(bus):
        os.unlink(bus)
    os.symlink(outside, bus)  # an agent planted a link where the project's bus lives

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            await until(pilot, lambda: app.model.loaded, 20, "the first read")
            await select(pilot, app, NodeRef.of_task("infra", T6))
            await until(pilot, lambda: any(isinstance(m, PaneError) for m in seen), 20,
                        "the feed's error")
            await let_run(pilot)
            errors = [m.text for m in seen if isinstance(m, PaneError)]
            assert errors and all("PROJECT-MESSAGE-BUS.md" in text for text in errors), errors
            assert app.last_error.endswith(errors[-1].split(": ", 1)[-1])
            assert app.query_one("#status-line").has_class("-error")

    asyncio.run(scenario())
