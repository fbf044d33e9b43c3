"""A task moved to Slurm by a restart (issue 14): it ran locally to DONE, then
`run-agent task resume --executor slurm` runs it again through the real one-node Slurm; the loop
records slurm in TASK-EXECUTOR under the task's lock and the new run is a real Slurm job."""

from __future__ import annotations

import os
import subprocess
import sys

from conductor.store import Layout, scan_root

PROJECT, TASK = "proj", "task-20261130-230000-moved"
RUN_AGENT = os.path.join(os.path.dirname(sys.executable), "run-agent")
AGENT = """\
import os, pathlib
pathlib.Path(os.environ["JRUN_TASK_FOLDER"], "DONE").write_text("")
print("done on", os.uname().nodename)
"""


def _run_agent(env, *args):
    return subprocess.run([RUN_AGENT, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_task_resume_with_executor_moves_a_local_task_to_slurm(slurm_env, tmp_path, runs_root):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    config = tmp_path / "config.yaml"
    config.write_text(f"agents:\n  cmd:\n    type: command\n    command: [{sys.executable}, "
                      f"{script}]\ndefaults:\n  agent: cmd\nslurm:\n  cpus: 1\n"
                      "  time: '5:00'\n")
    where = ["--config", str(config), "--root", runs_root, "--project", PROJECT, "--task", TASK]
    done = _run_agent(slurm_env, "task", *where, "--prompt", "go")
    assert done.returncode == 0, done.stderr
    record = os.path.join(Layout(runs_root).task_dir(PROJECT, TASK), "TASK-EXECUTOR")
    assert not os.path.exists(record)  # local was the config's pick: nothing recorded
    done = _run_agent(slurm_env, "task", "resume", *where, "--executor", "slurm")
    assert done.returncode == 0, done.stderr
    with open(record, "rb") as f:
        assert f.read() == b"slurm\n"
    infos = [r.info for p in scan_root(runs_root) for t in p.tasks for r in t.runs]
    infos.sort(key=lambda i: i.start_time)
    assert [(i.executor, i.status, i.exit_code) for i in infos] == [
        ("local", "completed", 0), ("slurm", "completed", 0)]
    job = infos[1]
    assert job.executor_job_id.isdigit() and job.process_ownership == "external"
    with open(job.stdout_path) as f:
        assert f.read().startswith("done on ")
