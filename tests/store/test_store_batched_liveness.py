"""Listing many tasks asks each executor once for all of their running runs (issue 14: one
``squeue`` per listing of a Slurm root, never one per run or per task)."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout

import pytest

from conductor.console.status import read_root
from conductor.executor import registry
from conductor.store import Layout

from . import counting_executor as counting
from .test_store_taskview import NOW, P, write_run

TASKS = [f"task-20260101-00000{i}-job{i}" for i in range(4)]


@pytest.fixture
def root(tmp_path):
    registry.register("counting", counting.__name__)
    counting.CALLS.clear()
    counting.ENDED_JOBS.clear()
    layout = Layout(str(tmp_path / "runs"))
    for i, task in enumerate(TASKS):
        os.makedirs(layout.task_dir(P, task))
        write_run(layout, task, 10, "completed")  # an older, finished run: never asked about
        write_run(layout, task, 20 + i, "running", pid=0, executor="counting",
                  executor_job_id=str(1000 + i))
    yield layout
    registry._MODULES.pop("counting", None)
    registry._LOADED.pop("counting", None)


def test_the_console_read_asks_the_executor_once_for_every_task(root):
    counting.ENDED_JOBS.add("1002")
    projects = read_root(root.root, project=None, now_ns=NOW)
    assert counting.CALLS == [4]
    states = {t.id: t.newest.status for t in projects[0].tasks}
    assert states[TASKS[2]] == "failed"  # its job ended while the record said running
    assert {states[t] for t in TASKS if t != TASKS[2]} == {"running"}


@pytest.mark.parametrize("verb", ["list", "status"])
def test_list_and_status_ask_the_executor_once(root, verb):
    from conductor.cli.main import main
    out = io.StringIO()
    with redirect_stdout(out):
        code = main([verb, "--root", root.root, "--project", P])
    assert code == 0, out.getvalue()
    assert counting.CALLS == [4]
    for task in TASKS:
        assert task in out.getvalue()
