"""A task started with --executor X keeps X across restarts (TASK-EXECUTOR in its task dir):
the precedence flag > task record > $CONDUCTOR_EXECUTOR > agent > defaults > local, a restart
through the orchestrator submitting to Slurm again (stub Slurm commands), and a hostile record
as one line naming the file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conductor import orchestrator
from conductor.cli.runner_cmd import pick_executor
from conductor.config.model import AgentConfig
from conductor.errors import ConductorError
from conductor.store import Layout, scan_root
from conductor.store.task_executor import read_task_executor, write_task_executor
from waiting import wait_for

from .test_slurm_executor import PROJECT, TASK, Stub


class _Args:
    def __init__(self, executor=None) -> None:
        self.executor = executor


class _Defaults:
    def __init__(self, executor: str) -> None:
        self.executor = executor


class _Config:
    def __init__(self, executor: str) -> None:
        self.defaults = _Defaults(executor)
        self.slurm = None


def _task_dir(root: str) -> str:
    path = Layout(root).task_dir(PROJECT, TASK)
    os.makedirs(path)
    return path


def test_the_precedence_flag_record_environment_agent_defaults(runs_root):
    task_dir = _task_dir(runs_root)
    record = (runs_root, task_dir)
    agent = AgentConfig(name="a", type="command", command=["true"], executor="local")
    config = _Config("slurm")
    assert pick_executor(_Args(), None, None, {}, record)[0] == "local"
    assert pick_executor(_Args(), None, config, {}, record)[0] == "slurm"
    assert pick_executor(_Args(), agent, config, {}, record)[0] == "local"
    assert pick_executor(_Args(), agent, config, {"CONDUCTOR_EXECUTOR": "slurm"}, record)[0] \
        == "slurm"
    write_task_executor(runs_root, task_dir, "local")
    assert pick_executor(_Args(), agent, config, {"CONDUCTOR_EXECUTOR": "slurm"}, record)[0] \
        == "local"
    assert pick_executor(_Args("slurm"), agent, config, {}, record)[0] == "slurm"
    with open(os.path.join(task_dir, "TASK-EXECUTOR"), "rb") as f:
        assert f.read() == b"local\n"


def _run_agent_task(runs_root, env) -> subprocess.CompletedProcess:
    run_agent = os.path.join(os.path.dirname(sys.executable), "run-agent")
    return subprocess.run([run_agent, "task", "--root", runs_root, "--project", PROJECT,
                           "--task", TASK, "--agent", "codex", "--prompt", "go"],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("plant, what", [
    ("link", "symbolic link"), ("fifo", "FIFO"), ("dir", "directory"),
    ("garbage", "executor: not an executor name"), ("unknown", 'unknown executor "kubernetes"'),
])
def test_a_hostile_record_is_one_line_naming_the_file(runs_root, subprocess_env, tmp_path,
                                                      plant, what):
    task_dir = _task_dir(runs_root)
    path = os.path.join(task_dir, "TASK-EXECUTOR")
    if plant == "link":
        (tmp_path / "elsewhere").write_text("slurm\n")
        os.symlink(tmp_path / "elsewhere", path)
    elif plant == "fifo":
        os.mkfifo(path)
    elif plant == "dir":
        os.mkdir(path)
    else:
        with open(path, "wb") as f:
            f.write(b"kubernetes\n" if plant == "unknown" else b"\xff\x00slurm; rm -rf /\n")
    done = _run_agent_task(runs_root, subprocess_env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"Error: {path}: ") and done.stderr.count("\n") == 1
    assert what in done.stderr, done.stderr
    with pytest.raises(ConductorError) as err:
        if plant != "unknown":
            read_task_executor(runs_root, task_dir)
        else:
            pick_executor(_Args(), None, None, {}, (runs_root, task_dir))
    assert str(err.value) == done.stderr.removeprefix("Error: ").rstrip("\n")


@pytest.fixture
def stub(tmp_path, monkeypatch):
    (tmp_path / "slurm").mkdir()
    found = Stub(tmp_path / "slurm")  # jobs stay queued: nothing runs, the loop waits
    monkeypatch.setenv("PATH", f"{found.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STUB_STATE", found.path)
    monkeypatch.delenv("CONDUCTOR_EXECUTOR", raising=False)
    for key in [k for k in os.environ if k.startswith("JRUN_")]:
        monkeypatch.delenv(key)
    return found


def _executors(root: str) -> list[str]:
    return sorted((r.run_id, r.info.executor) for p in scan_root(root) for t in p.tasks
                  for r in t.runs if not r.orphan)


def _job_ids(root: str) -> list[str]:
    """The Slurm job ids in the task's records (a stop before a run's id is recorded has no
    job to cancel yet)."""
    return sorted(r.info.executor_job_id for p in scan_root(root) for t in p.tasks
                  for r in t.runs if not r.orphan and r.info.executor_job_id)


def test_a_restart_runs_the_task_on_the_executor_it_was_started_with(stub, runs_root, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("agents:\n  cmd:\n    type: command\n    command: [true]\n")
    try:
        orchestrator.start_task(runs_root, PROJECT, TASK, agent="cmd", prompt="go",
                                config_path=str(config), executor="slurm")
        wait_for(lambda: len(_executors(runs_root)) == 1, 30, 0.1, "the first Slurm run")
        # submitted (a job id in the record): a stop before that has no job to cancel yet
        wait_for(lambda: _job_ids(runs_root) == ["101"], 30, 0.1, "the first job's id")
        task_dir = Layout(runs_root).task_dir(PROJECT, TASK)
        assert read_task_executor(runs_root, task_dir) == "slurm"
        # no --executor now, and nothing in the config says slurm: the record does
        orchestrator.restart_task(runs_root, PROJECT, TASK, grace=2.0, agent="cmd",
                                  config_path=str(config))
        wait_for(lambda: len(_executors(runs_root)) == 2, 30, 0.1, "the restarted Slurm run")
        assert [e for _run, e in _executors(runs_root)] == ["slurm", "slurm"]
        wait_for(lambda: len(stub.calls("sbatch")) == 2, 30, 0.1, "the second sbatch")
        wait_for(lambda: _job_ids(runs_root) == ["101", "102"], 30, 0.1, "the second job's id")
    finally:
        from console.live import stop_everything
        stop_everything(runs_root)


def test_a_start_refused_for_a_running_loop_leaves_the_record(runs_root, subprocess_env):
    import fcntl
    task_dir = _task_dir(runs_root)
    write_task_executor(runs_root, task_dir, "slurm")
    with open(os.path.join(task_dir, "TASK-LOOP.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a loop runs the task
        run_agent = os.path.join(os.path.dirname(sys.executable), "run-agent")
        done = subprocess.run([run_agent, "task", "--root", runs_root, "--project", PROJECT,
                               "--task", TASK, "--agent", "codex", "--prompt", "go",
                               "--executor", "local"], env=subprocess_env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    assert "already" in done.stderr, done.stderr
    assert read_task_executor(runs_root, task_dir) == "slurm"
