"""`R`: restart a task on another executor (issue 14). The dialog starts at where the task runs
now (its TASK-EXECUTOR, else the config's pick); choosing slurm restarts it through
orchestrator.restart_task(executor=), the new loop records slurm under the task's lock and the
new run is a Slurm job (stub Slurm commands that run their jobs, as slurmd would)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from textual.widgets import Select, Static

from conductor.console.app import ConductorApp
from conductor.console.screens.restart import RestartScreen
from conductor.console.widgets.run_tree import NodeRef
from conductor.store import Layout, scan_root
from conductor.store.supervision import loop_alive
from executor_slurm.test_slurm_executor import Stub

from .live import select, settle, until
from .test_console_live import env  # noqa: F401 - a temporary root and an agent config

SIZE = (160, 45)
PROJECT, TASK = "placed", "task-20261130-230000-moveme"


@pytest.fixture
def stub(tmp_path, monkeypatch):
    (tmp_path / "slurm").mkdir()
    found = Stub(tmp_path / "slurm")
    found.set(run=True)  # each job runs at once
    monkeypatch.setenv("PATH", f"{found.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STUB_STATE", found.path)
    monkeypatch.delenv("CONDUCTOR_EXECUTOR", raising=False)
    return found


def _runs(root: str) -> list:
    return [r.info for p in scan_root(root) if p.id == PROJECT for t in p.tasks for r in t.runs
            if not r.orphan]


def _record_path(root: str) -> str:
    return os.path.join(Layout(root).task_dir(PROJECT, TASK), "TASK-EXECUTOR")


def _local_task(root: str, config: str) -> None:
    """The task ran once, locally, to DONE; no TASK-EXECUTOR (the config picked local)."""
    run_agent = os.path.join(os.path.dirname(sys.executable), "run-agent")
    done = subprocess.run([run_agent, "task", "--root", root, "--project", PROJECT, "--task",
                           TASK, "--config", config, "--agent", "sim", "--prompt", "go"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [(i.executor, i.status) for i in _runs(root)] == [("local", "completed")]
    assert not os.path.exists(_record_path(root))


async def _dialog(pilot) -> RestartScreen:
    app = pilot.app
    await settle(pilot)
    await select(pilot, app, NodeRef.of_task(PROJECT, TASK))
    await pilot.press("R")
    await until(pilot, lambda: isinstance(app.screen, RestartScreen), 10, "restart dialog")
    await pilot.pause()
    return app.screen


def test_restart_on_slurm_records_it_and_the_new_run_is_a_slurm_job(env, stub):  # noqa: F811
    root, config = env
    _local_task(root, config)

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await _dialog(pilot)
            chosen = dialog.query_one("#restart-executor", Select)
            assert chosen.value == "local"
            assert [str(o[0]) for o in chosen._options] == ["local", "slurm"]
            assert str(dialog.query_one("#restart-source", Static).render()) == \
                "now: local (the default)"
            chosen.value = "slurm"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is not dialog, 10, "dialog closed")
            await until(pilot, lambda: str(app.query_one("#status-line").render()).startswith(
                f"restart: {TASK} on slurm: start"), 30, "the restart's status line")
            await until(pilot, lambda: [i.status for i in _runs(root)] == ["completed"] * 2,
                        30, "the restarted run's end")
            await until(pilot, lambda: not loop_alive(Layout(root).task_dir(PROJECT, TASK)),
                        30, "the loop's end")
    asyncio.run(scenario())
    with open(_record_path(root), "rb") as f:
        assert f.read() == b"slurm\n"
    first, second = _runs(root)
    assert (second.executor, second.executor_job_id) == ("slurm", "101")
    run_info = os.path.join(Layout(root).runs_dir(PROJECT, TASK), second.run_id,
                            "run-info.yaml")
    with open(run_info) as f:
        assert "executor: slurm\n" in f.read()
    assert len(stub.calls("sbatch")) == 1


def test_the_dialog_starts_at_the_tasks_record_and_unchanged_records_nothing(env):  # noqa: F811
    """A task recorded on slurm: the dialog says so; back to local is a choice, and cancel
    leaves everything as it was."""
    root, config = env
    _local_task(root, config)
    with open(_record_path(root), "w") as f:
        f.write("slurm\n")

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await _dialog(pilot)
            assert dialog.query_one("#restart-executor", Select).value == "slurm"
            assert str(dialog.query_one("#restart-source", Static).render()) == \
                "now: slurm (TASK-EXECUTOR)"
            assert dialog.choice().executor is None  # unchanged: the record decides
            dialog.query_one("#restart-executor", Select).value = "local"
            assert dialog.choice().executor == "local"
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is not dialog, 10, "dialog closed")
    asyncio.run(scenario())
    with open(_record_path(root), "rb") as f:
        assert f.read() == b"slurm\n"
    assert len(_runs(root)) == 1


def test_a_hostile_record_is_said_in_the_dialog(env, tmp_path):  # noqa: F811
    root, config = env
    _local_task(root, config)
    os.symlink(tmp_path / "elsewhere", _record_path(root))

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await _dialog(pilot)
            text = str(dialog.query_one("#restart-error", Static).render())
            assert text.startswith(f"{_record_path(root)}: ") and "symbolic link" in text
            assert dialog.query_one("#restart-executor", Select).value == "local"
            assert dialog.choice().executor == "local"  # recorded anew by the restart
            await pilot.press("escape")
    asyncio.run(scenario())
    assert os.path.islink(_record_path(root))
