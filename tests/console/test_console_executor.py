"""Pilot tests of the executor per task (issue 14): the new-task dialog's executor choice
reaches ``run-agent task --executor`` (a Slurm job is submitted, through stub Slurm commands)."""

from __future__ import annotations

import asyncio
import os

import pytest
from textual.widgets import Select

from conductor.console.app import ConductorApp
from conductor.console.screens import NewTaskScreen
from conductor.store import scan_root
from executor_slurm.test_slurm_executor import Stub

from .live import settle, until
from .test_console_live import env  # noqa: F401 - a temporary root and an agent config

SIZE = (160, 45)


@pytest.fixture
def stub(tmp_path, monkeypatch):
    (tmp_path / "slurm").mkdir()
    found = Stub(tmp_path / "slurm")  # sbatch & co. first on PATH; jobs stay queued
    monkeypatch.setenv("PATH", f"{found.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STUB_STATE", found.path)
    monkeypatch.delenv("CONDUCTOR_EXECUTOR", raising=False)
    return found


def _runs(root: str, project: str) -> list:
    return [r for p in scan_root(root) if p.id == project for t in p.tasks for r in t.runs]


def test_the_dialog_offers_the_executors_with_the_configs_as_default(env, tmp_path):  # noqa: F811
    root, config = env
    with open(config, "a") as f:
        f.write("  executor: slurm\n")  # under defaults:

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 10, "dialog")
            chosen = app.screen.query_one("#new-executor", Select)
            assert chosen.value == "slurm"
            assert [str(o[0]) for o in chosen._options] == ["local", "slurm"]

    asyncio.run(scenario())


async def _new_task(pilot, app, project: str, prompt: str, executor: str | None) -> str:
    """Fill the new-task dialog (the executor field starts at the config's local), submit it;
    the task id."""
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 10, "dialog")
    dialog = app.screen
    assert dialog.query_one("#new-executor", Select).value == "local"
    dialog.query_one("#new-project").value = project
    task_id = dialog.query_one("#new-task").value
    dialog.query_one("#new-prompt").text = prompt
    if executor is not None:
        dialog.query_one("#new-executor", Select).value = executor
    await pilot.press("ctrl+s")
    await until(pilot, lambda: app.screen is not dialog, 30, "dialog closed")
    return task_id


def test_slurm_chosen_in_the_dialog_submits_the_tasks_run_to_slurm(env, stub):  # noqa: F811
    root, config = env

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            task_id = await _new_task(pilot, app, "placed", "run me on the cluster", "slurm")
            await until(pilot, lambda: stub.calls("sbatch"), 30, "sbatch")
            (argv,) = stub.calls("sbatch")
            assert any(task_id in a for a in argv), argv
            # the job's id in the run's record (a stop before it has no job to cancel yet)
            await until(pilot, lambda: [r for r in _runs(root, "placed")
                                        if not r.orphan and r.info.executor_job_id],
                        30, "the run's record")
            (run,) = _runs(root, "placed")
            assert run.info.executor == "slurm" and run.info.executor_job_id == "101"
            # chosen: recorded, so restarts and resumes place the task's runs there too
            record = os.path.join(root, "placed", task_id, "TASK-EXECUTOR")
            await until(pilot, lambda: os.path.exists(record), 30, "TASK-EXECUTOR")
            assert open(record).read() == "slurm\n"

    asyncio.run(scenario())


def test_the_configs_own_pick_left_as_it_is_is_not_recorded(env, stub):  # noqa: F811
    """As `run-agent task` without --executor: a task started with the executor the config
    picks anyway follows the config later; nothing is written to TASK-EXECUTOR."""
    root, config = env

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            task_id = await _new_task(pilot, app, "kept", "STUB: ok", None)
            await until(pilot, lambda: [r for r in _runs(root, "kept") if not r.orphan],
                        30, "the task's first run")
            assert not os.path.lexists(os.path.join(root, "kept", task_id, "TASK-EXECUTOR"))

    asyncio.run(scenario())
