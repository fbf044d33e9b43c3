"""The node's side of a lost run: the placing side lost sight of the node (a partition, a
dead slurmd), recorded the run lost and started the next attempt elsewhere, while the runner
and its agent live on. The runner's next heartbeat sees the record ended, stops its agent, and
keeps the record: no second agent beside the next attempt, no late "completed"."""

from __future__ import annotations

import os
import threading

from .helpers import PROJECT, TASK, runs, wait_for
from .test_executor import _alive, agent
from conductor.bus import MessageBus
from conductor.record import replace
from conductor.runner.job import JobRequest, run_job
from conductor.store import Layout, update_run_info
from conductor.timefmt import now_ns

LOST = "run lost: NODE_FAIL (the node failed) (its runner recorded no end)"


def test_a_runner_whose_run_was_recorded_lost_stops_its_agent_and_keeps_the_record(
        tmp_path, runs_root, subprocess_env):
    box = {}
    req = JobRequest(root=runs_root, project=PROJECT, task=TASK, prompt="go",
                     agent=agent(tmp_path, "sleep"), environ=subprocess_env,
                     placed_by="slurm", heartbeat=0.1)
    node = threading.Thread(target=lambda: box.setdefault("result", run_job(req)), daemon=True)
    node.start()
    (info,) = wait_for(lambda: [i for i in runs(runs_root) if i.host_pid > 0])
    assert _alive(info.host_pid)

    def lost(old):  # what the placing side writes (runner.placed._ended)
        return replace(old, status="failed", end_time=now_ns(), exit_code=-1,
                       error_summary=LOST)

    update_run_info(os.path.join(runs_root, PROJECT, TASK, "runs", info.run_id,
                                 "run-info.yaml"), lost)
    node.join(timeout=30)
    assert not node.is_alive()
    assert not _alive(info.host_pid)  # stopped by its own runner, at its next heartbeat
    (after,) = runs(runs_root)
    assert (after.status, after.exit_code, after.error_summary) == ("failed", -1, LOST)
    result = box["result"]
    assert (result.status, result.error_summary) == ("failed", LOST)
    bus = MessageBus(Layout(runs_root).task_bus(PROJECT, TASK)).read_all()
    assert [m.type for m in bus] == ["RUN_START", "WARN"]  # no RUN_STOP, no RUN_CRASH
    assert bus[1].body == (
        f"run {info.run_id} was recorded failed by the side that placed it ({LOST}) while its "
        f"agent still ran on {info.host}; the agent was ended by signal 15 and the record was "
        "kept")
