"""Stops and finishes that meet a hostile or full disk, with real processes.

* A STOP-REQUESTED planted as a link, a directory or a FIFO, or a disk with no room for it,
  never keeps ``task stop`` from stopping the agent (signals come first; the marker is written
  after, by rename, and a failure is one warning naming the file), and the loop, told directly,
  does not restart the task.
* A full disk while the agent runs: the job still ends, says which files it could not write,
  leaves no half-written output.md, and views read the run failed.
* A run dir swapped for a link while the agent runs: the runner writes nothing through it.
"""

from __future__ import annotations

import json
import os

import pytest

from conductor.bus import MessageBus

from .conftest import PROJECT, TASK, pid_gone, wait_for
from .test_faults import _fill, tiny_disk  # noqa: F401 (a fixture)


def _loop(rig, root: str, prompt: str = "STUB: sleep 60"):
    return rig.spawn("task", "--root", root, "--project", PROJECT, "--task", TASK, "--agent",
                     "codex", "--prompt", prompt, "--restart-delay", "10ms")


def _runs(root: str):
    from conductor.store import read_run_info
    runs_dir = os.path.join(root, PROJECT, TASK, "runs")
    out = []
    for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        path = os.path.join(runs_dir, name, "run-info.yaml")
        if os.path.exists(path):
            out.append(read_run_info(path))
    return out


def _agent(root: str):
    """The recorded agent, once it has printed its first line."""
    for info in _runs(root):
        if info.status == "running" and info.pid > 0:
            try:
                if os.path.getsize(info.stdout_path) > 0:
                    return info
            except OSError:
                pass
    return None


def _list(rig, root: str) -> list[dict]:
    res = rig.run("list", "--root", root, "--project", PROJECT, "--task", TASK, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["runs"]


@pytest.mark.parametrize("planted", ["symlink", "directory", "fifo"])
def test_task_stop_stops_the_agent_whatever_is_planted_at_stop_requested(rig, tmp_path, planted):
    root = rig.root
    loop = _loop(rig, root)
    try:
        agent = wait_for(lambda: _agent(root), what="agent started")
        marker = os.path.join(root, PROJECT, TASK, "STOP-REQUESTED")
        sentinel = tmp_path / "outside.txt"
        sentinel.write_text("not yours\n")
        if planted == "symlink":
            os.symlink(sentinel, marker)
        elif planted == "directory":
            os.mkdir(marker)
        else:
            os.mkfifo(marker)
        res = rig.run("task", "stop", "--root", root, "--project", PROJECT, "--task", TASK,
                      "--grace", "10s")
        assert res.returncode == 0
        assert res.stdout.startswith(f"Stopped run {agent.run_id} (PID {agent.pid})\n")
        if planted == "directory":
            assert res.stderr == (f"warning: stop marker not written: {marker}: is a directory, "
                                  "expected a regular file\n")
            assert res.stdout.endswith(f"Stopped task {PROJECT}/{TASK} (STOP-REQUESTED not "
                                       "written; the loop, if any, was told directly not to "
                                       "restart it)\n")
        else:
            assert res.stderr == ""
            assert os.path.isfile(marker) and not os.path.islink(marker)  # replaced, by rename
        assert sentinel.read_text() == "not yours\n"
        assert pid_gone(agent.pid)
        assert loop.wait(timeout=30) == 1  # not restarted
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    [run] = _runs(root)
    assert (run.status, run.error_summary) == ("failed",
                                               "stopped by operator (agent terminated (SIGTERM))")


def test_task_stop_on_a_full_disk_still_stops_and_the_loop_does_not_restart(rig, tiny_disk):  # noqa: F811 (the fixture)
    root = str(tiny_disk / "runs")
    loop = _loop(rig, root)
    try:
        agent = wait_for(lambda: _agent(root), what="agent started")
        _fill(tiny_disk)
        res = rig.run("task", "stop", "--root", root, "--project", PROJECT, "--task", TASK,
                      "--grace", "10s")
        marker = os.path.join(root, PROJECT, TASK, "STOP-REQUESTED")
        assert (res.returncode, res.stderr) == (
            0, f"warning: stop marker not written: {marker}: write: no space left on device\n")
        assert res.stdout == (f"Stopped run {agent.run_id} (PID {agent.pid})\n"
                              f"Stopped task {PROJECT}/{TASK} (STOP-REQUESTED not written; the "
                              "loop, if any, was told directly not to restart it)\n")
        assert pid_gone(agent.pid)
        assert loop.wait(timeout=30) == 1
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    assert [r["status"] for r in _list(rig, root)] == ["failed"]  # one attempt, read failed
    assert not os.path.lexists(os.path.join(root, PROJECT, TASK, "STOP-REQUESTED"))


def test_full_disk_while_the_agent_runs_ends_the_job_naming_the_files(rig, tiny_disk, tmp_path):  # noqa: F811 (the fixture)
    root = str(tiny_disk / "runs")
    gate = tmp_path / "gate"
    job = rig.spawn("job", "--root", root, "--project", PROJECT, "--task", TASK, "--agent",
                    "codex", "--prompt", f"STUB: wait-file {gate}")
    try:
        agent = wait_for(lambda: _agent(root), what="agent started")
        _fill(tiny_disk)
        gate.touch()
        assert job.wait(timeout=30) == 1
    finally:
        gate.touch()
        if job.poll() is None:
            job.kill()
            job.wait()
    run_dir = os.path.dirname(agent.prompt_path)
    errors = [line for line in (rig.logs / f"{rig._count}.err").read_text().splitlines()
              if line.startswith("Error: ")]
    assert len(errors) == 1
    assert f"{agent.output_path}: write: no space left on device" in errors[0]
    assert ("could not record the run's end (exit code " in errors[0]
            and f"{os.path.join(run_dir, 'run-info.yaml')}: write: no space left on device"
            in errors[0])
    assert not os.path.exists(agent.output_path)  # never half-written
    assert not [n for n in os.listdir(run_dir) if n.endswith(".tmp")]
    assert [r["status"] for r in _list(rig, root)] == ["failed"]


def test_run_dir_swapped_for_a_link_while_the_agent_runs_gets_nothing_written(rig, tmp_path):
    root = rig.root
    gate = tmp_path / "gate"
    job = rig.spawn("job", "--root", root, "--project", PROJECT, "--task", TASK, "--agent",
                    "codex", "--prompt", f"STUB: wait-file {gate}")
    outside = tmp_path / "outside"
    try:
        agent = wait_for(lambda: _agent(root), what="agent started")
        run_dir = os.path.dirname(agent.prompt_path)
        os.rename(run_dir, outside)
        os.symlink(outside, run_dir)
        before = sorted(os.listdir(outside))
        record = (outside / "run-info.yaml").read_bytes()
        gate.touch()
        assert job.wait(timeout=30) == 1
    finally:
        gate.touch()
        if job.poll() is None:
            job.kill()
            job.wait()
    why = (f"run {agent.run_id}: run dir {run_dir} was replaced or turned into a link while "
           "the agent ran; writing nothing through it")
    err = (rig.logs / f"{rig._count}.err").read_text()
    assert err == f"{why}\nError: agent execution failed: {why}\n"
    assert sorted(os.listdir(outside)) == before  # no output.md, nothing new
    assert (outside / "run-info.yaml").read_bytes() == record
    crash = MessageBus(os.path.join(root, PROJECT, TASK, "TASK-MESSAGE-BUS.md")).read_all()[-1]
    assert crash.type == "RUN_CRASH" and crash.body.endswith(f"error: {why}")


def test_task_delete_refuses_a_live_task_and_force_stops_it_first(rig):
    root = rig.root
    loop = _loop(rig, root)
    try:
        agent = wait_for(lambda: _agent(root), what="agent started")
        task_dir = os.path.join(root, PROJECT, TASK)
        res = rig.run("task", "delete", "--root", root, "--project", PROJECT, "--task", TASK)
        assert (res.returncode, res.stdout, res.stderr) == (
            1, "", f"Error: task {TASK} is running (its loop is alive; run {agent.run_id} is "
                   "alive); stop it first (run-agent task stop) or use --force to stop and "
                   "delete it\n")
        assert os.path.isdir(task_dir) and not pid_gone(agent.pid)
        res = rig.run("task", "delete", "--root", root, "--project", PROJECT, "--task", TASK,
                      "--force")
        assert (res.returncode, res.stderr) == (0, "")
        assert res.stdout == (f"Stopped run {agent.run_id} (PID {agent.pid})\n"
                              f"Deleted task: {TASK}\n")
        assert not os.path.exists(task_dir)
        assert pid_gone(agent.pid)
        assert loop.wait(timeout=30) == 1  # the loop is gone too: nothing runs unlisted
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()


def test_a_link_planted_at_output_md_is_replaced_never_followed(rig, tmp_path):
    root = rig.root
    gate = tmp_path / "gate"
    target = tmp_path / "outside" / "output.md"  # dangling: its directory does not exist
    job = rig.spawn("job", "--root", root, "--project", PROJECT, "--task", TASK, "--agent",
                    "claude", "--prompt", f"STUB: say the answer\nSTUB: wait-file {gate}")
    try:
        agent = wait_for(lambda: _agent(root), what="agent started")
        os.symlink(target, agent.output_path)
        gate.touch()
        assert job.wait(timeout=30) == 0
    finally:
        gate.touch()
        if job.poll() is None:
            job.kill()
            job.wait()
    assert not os.path.islink(agent.output_path)
    assert open(agent.output_path).read() == "the answer\n"
    assert not os.path.lexists(target) and not os.path.exists(target.parent)
