"""The console over runs placed on a real Slurm: the tree and Info show the executor, the job
and the host, and the console's stop goes through scancel."""

from __future__ import annotations

import asyncio
import os
import threading

from conductor.console.app import ConductorApp
from conductor.console.widgets.detail import info_rows
from conductor.console.widgets.run_tree import NodeRef
from conductor.store import read_run_info

from console.live import select, settle, until
from slurm_real.test_slurm_real import PROJECT, _place, _task


def test_the_console_shows_where_a_slurm_run_executes_and_stops_it(slurm_env, tmp_path,
                                                                   runs_root):
    box = {}
    task = _task(40)
    thread = threading.Thread(daemon=True, target=lambda: box.setdefault(
        "result", _place(runs_root, tmp_path, slurm_env, "ignore-term", task)))
    thread.start()
    task_dir = os.path.join(runs_root, PROJECT, task)
    from waiting import wait_for
    wait_for(lambda: os.path.exists(os.path.join(task_dir, "ready")), timeout=60,
             what="the agent running in its Slurm job")
    (run_id,) = os.listdir(os.path.join(task_dir, "runs"))
    info = read_run_info(os.path.join(task_dir, "runs", run_id, "run-info.yaml"))
    job, host = info.executor_job_id, info.host

    async def scenario():
        app = ConductorApp(runs_root, watch=False, state_path=str(tmp_path / "state.json"))
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            ref = NodeRef("run", PROJECT, task, run_id)
            await select(pilot, app, ref)
            await settle(pilot)
            assert f"  slurm {job}@{host}" in app.run_tree.node_for(ref).label.plain
            rows = {k: v.plain for k, v in info_rows(app.detail.selection, 0) if k}
            assert rows["executor"] == f"slurm job {job} (conductor-test)"
            assert rows["host"] == f"{host} (pid {info.host_pid})"
            assert rows["pid / pgid"] == "0 / 0"
            result = await asyncio.to_thread(app.controller.stop_run, PROJECT, task, run_id)
            assert result.ok, result.message
            await until(pilot, lambda: not thread.is_alive(), 60, "the placed run to end")

    asyncio.run(scenario())
    thread.join(timeout=30)
    final = read_run_info(os.path.join(task_dir, "runs", run_id, "run-info.yaml"))
    assert final.status == "failed" and final.end_time
