"""Operator verbs: a detached supervisor survives its starter; stop/restart/resume/post."""

import os
import subprocess
import sys

from .helpers import PROJECT, TASK, bus, runs, task_dir, wait_for

from conductor import orchestrator
from conductor.store.supervision import loop_alive

STARTER = """
import sys
from conductor.orchestrator import start_task
r = start_task(sys.argv[1], sys.argv[2], sys.argv[3], agent="codex", prompt="STUB: tick 0.2 100")
print(r.pid, flush=True)
"""


def test_supervisor_outlives_the_process_that_started_it(stubs):
    starter = subprocess.run([sys.executable, "-c", STARTER, stubs.root, PROJECT, TASK], env=stubs.env,
                             capture_output=True, text=True, timeout=60)
    assert starter.returncode == 0, starter.stderr
    supervisor = int(starter.stdout)
    td = task_dir(stubs.root)
    try:
        wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0].status == "running")
        assert loop_alive(td)
        assert os.getsid(supervisor) == supervisor  # its own session: no terminal can hang it up
        out = runs(stubs.root)[0].stdout_path
        wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 20)
    finally:
        orchestrator.stop_task(stubs.root, PROJECT, TASK, grace=5.0)
    wait_for(lambda: not loop_alive(td), timeout=20)
    assert os.path.exists(os.path.join(td, "TASK-LOOP.log"))


def test_restart_stops_then_starts_with_prefix_and_post_message(stubs, monkeypatch):
    monkeypatch.setenv("PATH", stubs.env["PATH"])
    td = orchestrator.new_task(stubs.root, PROJECT, TASK, "STUB: tick 0.2 100")
    assert open(os.path.join(td, "TASK.md")).read() == "STUB: tick 0.2 100\n"
    orchestrator.start_task(stubs.root, PROJECT, TASK, agent="codex", environ=stubs.env)
    try:
        first = wait_for(lambda: [i for i in runs(stubs.root) if i.status == "running"])[0]
        orchestrator.restart_task(stubs.root, PROJECT, TASK, agent="codex", environ=stubs.env)
        second = wait_for(lambda: [i for i in runs(stubs.root) if i.status == "running" and i.run_id != first.run_id
                                   and os.path.exists(i.stdout_path)])[0]  # spawned: prompt.md complete
        assert "Continue working on the following:" in open(second.prompt_path).read()
        assert [i.status for i in runs(stubs.root)][0] == "failed"
        msg = orchestrator.post_message(stubs.root, PROJECT, TASK, "USER", "operator says hi")
        # (the runner may append the new run's RUN_START after it: find ours by its id)
        [posted] = [m for m in bus(stubs.root) if m.msg_id == msg.msg_id]
        assert (posted.type, posted.body) == ("USER", "operator says hi")
    finally:
        orchestrator.stop_task(stubs.root, PROJECT, TASK, grace=5.0)
    wait_for(lambda: not loop_alive(td), timeout=20)
    assert all(i.status != "running" for i in runs(stubs.root))


def test_new_task_validates_before_writing(stubs):
    import pytest
    from conductor.errors import ConductorError
    for project, task, prompt in [("Bad Project", TASK, "x"), (PROJECT, "task-1", "x"),
                                  (PROJECT, TASK, "   "), ("../etc", TASK, "x")]:
        with pytest.raises(ConductorError):
            orchestrator.new_task(stubs.root, project, task, prompt)
    assert not os.path.exists(stubs.root)


# -- a start reports what really happened (issue 12) ---------------------------------------

MARKERS = {"DONE": b"", "CANCELLED": b"reason: parked\n", "STOP-REQUESTED": b""}


def _parked_task(root, env_path):
    """A finished task with every marker resume clears, and an older error in its loop log."""
    td = orchestrator.new_task(root, PROJECT, TASK, "STUB: tick 0.2 100")
    for name, data in MARKERS.items():
        with open(os.path.join(td, name), "wb") as f:
            f.write(data)
    with open(os.path.join(td, "TASK-LOOP.log"), "w") as f:
        f.write("Error: an older start's error, not this one's\n")
    return td


def _markers(td):
    return {name: open(os.path.join(td, name), "rb").read()
            for name in MARKERS if os.path.exists(os.path.join(td, name))}


def test_a_resume_whose_supervisor_exits_fails_with_its_error_and_keeps_the_markers(stubs):
    import pytest
    td = _parked_task(stubs.root, stubs.env["PATH"])
    # no --config and no --agent: the real `run-agent task` exits with "Error: agent is empty"
    with pytest.raises(orchestrator.StartFailed) as caught:
        orchestrator.resume_task(stubs.root, PROJECT, TASK, environ=stubs.env)
    assert str(caught.value) == "Error: agent is empty"
    assert caught.value.returncode != 0
    assert _markers(td) == MARKERS  # DONE, CANCELLED and STOP-REQUESTED exactly as they were
    assert runs(stubs.root) == [] and not loop_alive(td)


def test_a_restart_with_an_agent_missing_from_the_config_fails_and_keeps_the_markers(stubs):
    import pytest
    td = _parked_task(stubs.root, stubs.env["PATH"])
    config = os.path.join(stubs.base, "config.yaml")
    with open(config, "w") as f:
        f.write("agents:\n  codex:\n    type: codex\n")
    with pytest.raises(orchestrator.StartFailed) as caught:
        orchestrator.restart_task(stubs.root, PROJECT, TASK, agent="ghost", config_path=config,
                                  environ=stubs.env)
    line = str(caught.value)
    assert line.startswith("Error: ") and "ghost" in line, line
    assert "older" not in line  # only what this start wrote is read
    assert _markers(td) == MARKERS
    assert runs(stubs.root) == [] and not loop_alive(td)


def test_a_resume_that_starts_reports_the_supervisor_holding_the_lock(stubs):
    from conductor.store.supervision import holder_pid
    td = _parked_task(stubs.root, stubs.env["PATH"])
    started = orchestrator.resume_task(stubs.root, PROJECT, TASK, agent="codex", environ=stubs.env)
    try:
        assert started.confirmed and loop_alive(td)
        assert started.pid == holder_pid(td)
        # the supervisor cleared the markers itself once it held the lock, and runs the task
        assert _markers(td) == {}
        wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0].status == "running")
        [record] = wait_for(stubs.records)
        assert orchestrator.CLEAR_MARKERS_ENV not in record["env"]  # the loop's, not the agent's
    finally:
        orchestrator.stop_task(stubs.root, PROJECT, TASK, grace=5.0)
    wait_for(lambda: not loop_alive(td), timeout=20)
