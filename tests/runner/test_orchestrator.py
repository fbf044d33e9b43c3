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
