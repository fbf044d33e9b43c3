"""A task's executor chosen again (issue 14): TASK-EXECUTOR is written by the loop once it holds
the task's lock, only for an executor chosen explicitly; `task resume --executor` and
orchestrator.restart_task(executor=) move a task to another executor (stub Slurm that runs its
jobs); an unknown name is one line naming it and the known names, and nothing is written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conductor import orchestrator
from conductor.errors import ConductorError
from conductor.runner.ralph import TaskRequest, run_task
from conductor.store import Layout, scan_root
from conductor.store import task_executor
from conductor.store.supervision import loop_alive

from console.live import stop_everything, write_agent
from waiting import wait_for

from .test_slurm_executor import PROJECT, TASK, Stub

RUN_AGENT = os.path.join(os.path.dirname(sys.executable), "run-agent")
UNKNOWN = 'Error: unknown executor "kubernetes" (known: local, slurm)\n'


@pytest.fixture
def stub(tmp_path, monkeypatch, subprocess_env):
    """Stub Slurm commands first on PATH that run each job at once, as slurmd would."""
    (tmp_path / "slurm").mkdir()
    found = Stub(tmp_path / "slurm")
    found.set(run=True)
    path = f"{found.bin}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("SLURM_STUB_STATE", found.path)
    monkeypatch.delenv("CONDUCTOR_EXECUTOR", raising=False)
    subprocess_env.update(PATH=path, SLURM_STUB_STATE=found.path)
    return found


def _record(root: str) -> bytes | None:
    try:
        with open(os.path.join(Layout(root).task_dir(PROJECT, TASK), "TASK-EXECUTOR"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _runs(root: str) -> list:
    """The task's run records, oldest first."""
    return [r.info for p in scan_root(root) for t in p.tasks for r in t.runs if not r.orphan]


def _run_agent(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([RUN_AGENT, *args], env=env, capture_output=True, text=True,
                          timeout=60)


def _local_task(root: str, config: str, env: dict) -> None:
    """A task that ran once, locally, to DONE, with no TASK-EXECUTOR (the config's pick)."""
    done = _run_agent("task", "--root", root, "--project", PROJECT, "--task", TASK,
                      "--config", config, "--agent", "sim", "--prompt", "go", env=env)
    assert done.returncode == 0, done.stderr
    assert [(i.executor, i.status) for i in _runs(root)] == [("local", "completed")]
    assert _record(root) is None  # a mere default is never recorded


def test_the_loop_writes_the_record_while_it_holds_the_tasks_lock(runs_root, tmp_path,
                                                                  monkeypatch, subprocess_env):
    config, _script = write_agent(tmp_path)
    from conductor.config import load_config, select_agent
    agent = select_agent(load_config(config), "sim")
    held = []
    real = task_executor.write_task_executor

    def spy(root, task_dir, name):
        held.append((loop_alive(task_dir), name))
        real(root, task_dir, name)
    monkeypatch.setattr(task_executor, "write_task_executor", spy)
    run_task(TaskRequest(root=runs_root, project=PROJECT, task=TASK, agent=agent, prompt="go",
                         environ=subprocess_env, restart_delay=0, record_executor=True))
    assert held == [(True, "local")]
    assert _record(runs_root) == b"local\n"


def test_a_start_refused_because_a_loop_runs_leaves_the_record_byte_for_byte(
        stub, runs_root, tmp_path, subprocess_env):
    """A real loop on Slurm (its job stays queued, so the loop waits); a second start with
    --executor local is refused with the lock's one line, and the record is untouched."""
    stub.set(run=False)
    config, _script = write_agent(tmp_path)
    task_dir = Layout(runs_root).task_dir(PROJECT, TASK)
    try:
        started = orchestrator.start_task(runs_root, PROJECT, TASK, agent="sim", prompt="go",
                                          config_path=config, executor="slurm")
        wait_for(lambda: stub.calls("sbatch"), 30, 0.1, "the loop's first sbatch")
        assert _record(runs_root) == b"slurm\n"
        before = os.stat(os.path.join(task_dir, "TASK-EXECUTOR"))
        done = _run_agent("task", "--root", runs_root, "--project", PROJECT, "--task", TASK,
                          "--config", config, "--agent", "sim", "--prompt", "go",
                          "--executor", "local", env=subprocess_env)
        assert done.returncode == 1
        assert done.stderr == (f"Error: task {TASK} already has a running loop (pid "
                               f"{started.pid}); stop it first (run-agent task stop)\n")
        assert _record(runs_root) == b"slurm\n"
        after = os.stat(os.path.join(task_dir, "TASK-EXECUTOR"))
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert loop_alive(task_dir)
    finally:
        stop_everything(runs_root)
    assert _record(runs_root) == b"slurm\n"


def test_task_resume_with_executor_moves_the_task_to_slurm(stub, runs_root, tmp_path,
                                                           subprocess_env):
    config, _script = write_agent(tmp_path)
    _local_task(runs_root, config, subprocess_env)
    done = _run_agent("task", "resume", "--root", runs_root, "--project", PROJECT, "--task",
                      TASK, "--config", config, "--agent", "sim", "--executor", "slurm",
                      env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert _record(runs_root) == b"slurm\n"
    first, second = _runs(runs_root)
    assert (second.executor, second.executor_job_id, second.status) == (
        "slurm", "101", "completed")
    run_info = os.path.join(Layout(runs_root).runs_dir(PROJECT, TASK), second.run_id,
                            "run-info.yaml")
    with open(run_info) as f:
        assert "executor: slurm\n" in f.read()
    assert len(stub.calls("sbatch")) == 1
    # and again without the flag: the record places it on Slurm
    done = _run_agent("task", "resume", "--root", runs_root, "--project", PROJECT, "--task",
                      TASK, "--config", config, "--agent", "sim", env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert [i.executor for i in _runs(runs_root)] == ["local", "slurm", "slurm"]
    assert _record(runs_root) == b"slurm\n"


@pytest.mark.parametrize("verb", [["task", "resume"], ["resume"]])
def test_an_unknown_executor_is_one_line_and_nothing_is_written(runs_root, tmp_path,
                                                                subprocess_env, verb):
    config, _script = write_agent(tmp_path)
    _local_task(runs_root, config, subprocess_env)
    task_dir = Layout(runs_root).task_dir(PROJECT, TASK)
    listing = sorted(os.listdir(task_dir))
    done = _run_agent(*verb, "--root", runs_root, "--project", PROJECT, "--task", TASK,
                      "--config", config, "--agent", "sim", "--executor", "kubernetes",
                      env=subprocess_env)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", UNKNOWN)
    assert sorted(os.listdir(task_dir)) == listing  # DONE kept, no TASK-EXECUTOR
    assert len(_runs(runs_root)) == 1


def test_resume_with_executor_needs_agent(runs_root, tmp_path, subprocess_env):
    config, _script = write_agent(tmp_path)
    _local_task(runs_root, config, subprocess_env)
    done = _run_agent("resume", "--root", runs_root, "--project", PROJECT, "--task", TASK,
                      "--executor", "slurm", env=subprocess_env)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("Error: --executor needs --agent (resume runs the loop only with "
                           "--agent)\n")
    assert _record(runs_root) is None


def test_restart_task_refuses_an_unknown_executor_before_stopping_anything(runs_root, tmp_path,
                                                                         subprocess_env):
    config, _script = write_agent(tmp_path)
    _local_task(runs_root, config, subprocess_env)
    task_dir = Layout(runs_root).task_dir(PROJECT, TASK)
    listing = sorted(os.listdir(task_dir))
    with pytest.raises(ConductorError) as err:
        orchestrator.restart_task(runs_root, PROJECT, TASK, agent="sim", config_path=config,
                                  executor="kubernetes")
    assert f"Error: {err.value}\n" == UNKNOWN
    assert sorted(os.listdir(task_dir)) == listing


def test_restart_task_with_executor_records_it_and_places_the_new_run(stub, runs_root, tmp_path,
                                                                      subprocess_env):
    config, _script = write_agent(tmp_path)
    _local_task(runs_root, config, subprocess_env)
    try:
        started = orchestrator.restart_task(runs_root, PROJECT, TASK, agent="sim",
                                            config_path=config, executor="slurm")
        assert started.pid > 0
        wait_for(lambda: [i.status for i in _runs(runs_root)] == ["completed", "completed"],
                 30, 0.1, "the restarted run's end")
        wait_for(lambda: not loop_alive(Layout(runs_root).task_dir(PROJECT, TASK)), 30, 0.1,
                 "the loop's end")
    finally:
        stop_everything(runs_root)
    assert _record(runs_root) == b"slurm\n"
    assert [i.executor for i in _runs(runs_root)] == ["local", "slurm"]
