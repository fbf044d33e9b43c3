"""Signals go only to process groups we started (spec 4.8, 9 #16).

Every process signalled or spared here is a sacrificial one this test starts itself; each test
checks they are all alive after a stop aimed at them, and kills them in ``finally``.
"""

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest

from conductor.store import RunInfo, write_run_info
from conductor.timefmt import NS, now_ns
from .helpers import PROJECT, TASK, runs, task_dir, wait_for

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def victims():
    """Sacrificial processes: two that lead their own groups, one in this test's group."""
    procs = {"a": subprocess.Popen(SLEEP, start_new_session=True),
             "b": subprocess.Popen(SLEEP, start_new_session=True),
             "c": subprocess.Popen(SLEEP)}
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def _alive(proc) -> bool:
    return proc.poll() is None


def _created(pid: int) -> int:
    return int(psutil.Process(pid).create_time() * NS)


def _forge(root: str, run_id: str, *, pid: int, pgid: int, start: int | None,
           task: str = TASK) -> str:
    run_dir = os.path.join(task_dir(root, task), "runs", run_id)
    os.makedirs(run_dir)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        version=1, run_id=run_id, project_id=PROJECT, task_id=task, agent="codex",
        process_ownership="managed", pid=pid, pgid=pgid, start_time=start, exit_code=-1,
        status="running"))
    return run_dir


def _list(stubs, task=TASK) -> dict[str, dict]:
    res = stubs.run("list", "--root", stubs.root, "--project", PROJECT, "--task", task, "--json")
    assert res.returncode == 0, res.stderr
    return {r["run_id"]: r for r in json.loads(res.stdout)["runs"]}


def test_forged_records_direct_no_signal(stubs, victims):
    a, b, c = victims["a"].pid, victims["b"].pid, victims["c"].pid
    own = os.getpgrp()
    cases = {
        # pid alive and started when the record says, but the group named is someone else's
        "20260101-0000000000-1-0001": (dict(pid=a, pgid=b, start=_created(a)),
                                       f"pid {a} does not lead process group {b}"),
        # pid alive and leading its group, but started a minute before the "run"
        "20260101-0000000000-1-0002": (dict(pid=a, pgid=a, start=_created(a) + 60 * NS),
                                       f"pid {a} is not the run's agent (it started 60s away "
                                       "from the run's start time)"),
        # this test's own group, named through a member of it
        "20260101-0000000000-1-0003": (dict(pid=c, pgid=own, start=_created(c)),
                                       f"pid {c} does not lead process group {own}"),
    }
    if psutil.pid_exists(own):  # the group of the test (and of the stop command) by its leader
        cases["20260101-0000000000-1-0004"] = (
            dict(pid=own, pgid=own, start=_created(own)),
            f"process group {own} is this command's own")
    for run_id, (fields, _) in cases.items():
        _forge(stubs.root, run_id, **fields)
    for run_id, (_, why) in cases.items():
        res = stubs.run("stop", "--root", stubs.root, "--run-dir", os.path.join(task_dir(stubs.root), "runs", run_id),
                        "--grace", "1s")
        assert (res.returncode, res.stdout, res.stderr) == (
            1, "", f"Error: run {run_id}: {why}; not signalling\n")
        assert all(_alive(p) for p in victims.values())
    res = stubs.run("task", "stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--grace", "1s")
    assert res.returncode == 1
    assert res.stderr == "".join(f"run {r}: {why}; not signalling\n"
                                 for r, (_, why) in sorted(cases.items(),
                                                           key=lambda kv: kv[1][0]["start"]))
    assert res.stdout == (f"Stopped task {PROJECT}/{TASK} (STOP-REQUESTED written; the loop will "
                          "not restart it)\n")
    assert all(_alive(p) for p in victims.values())
    assert all(r["status"] == "running" for r in _list(stubs).values())  # their processes live


@pytest.mark.parametrize("pid, pgid", [(0, 0), (-1, -1), (0, -7)])
def test_pidless_running_records_read_failed_and_are_not_signalled(stubs, victims, pid, pgid):
    run_id = "20260101-0000000000-1-0001"
    run_dir = _forge(stubs.root, run_id, pid=pid, pgid=pgid, start=now_ns())
    res = stubs.run("stop", "--root", stubs.root, "--run-dir", run_dir, "--grace", "1s")
    assert (res.returncode, res.stdout, res.stderr) == (
        0, "", f"run {run_id} (PID {pid}) is no longer alive\n")
    row = _list(stubs)[run_id]
    assert (row["status"], row["exit_code"]) == ("failed", -1)
    assert all(_alive(p) for p in victims.values())


def _kill_agents(stubs) -> None:
    """Cleanup after a failed assertion: the agents our jobs recorded (their own groups)."""
    for info in runs(stubs.root):
        if info.pid > 0 and info.pgid == info.pid != os.getpgrp():
            try:
                os.killpg(info.pgid, signal.SIGKILL)
            except OSError:
                pass


def _job(stubs, prompt, wait_file, **popen):
    env = dict(stubs.env, STUB_VERSION_WAIT_FILE=str(wait_file))
    return subprocess.Popen([sys.executable, "-m", "conductor", "job", "--root", stubs.root,
                             "--project", PROJECT, "--task", TASK, "--agent", "codex",
                             "--prompt", prompt], env=env, cwd=stubs.base,
                            stderr=subprocess.PIPE, text=True, **popen)


def test_stop_during_the_pre_spawn_window_spares_the_callers_group(stubs, victims, tmp_path):
    # the job runs in this test's process group, as a job started from a shell or the console
    # does: before its agent exists, a stop must reach nobody
    gate = tmp_path / "version-may-answer"
    job = _job(stubs, "STUB: sleep 60", gate)
    try:
        info = wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0])
        assert (info.pid, info.pgid, info.runner_pid) == (0, 0, job.pid)
        run_dir = os.path.join(task_dir(stubs.root), "runs", info.run_id)
        res = stubs.run("stop", "--root", stubs.root, "--run-dir", run_dir, "--grace", "300ms")
        assert (res.returncode, res.stderr) == (
            1, f"Error: run {info.run_id}: its agent has not been started yet (runner pid "
               f"{job.pid}); not signalling\n")
        assert _list(stubs)[info.run_id]["status"] == "running"  # being set up, not dead
        assert job.poll() is None and all(_alive(p) for p in victims.values())
        gate.touch()
        agent = wait_for(lambda: runs(stubs.root)[0].pid > 0 and runs(stubs.root)[0])
        assert agent.pid == agent.pgid != os.getpgrp()
        res = stubs.run("stop", "--root", stubs.root, "--run-dir", run_dir, "--grace", "10s")
        assert (res.returncode, res.stdout) == (0, f"Stopped run {info.run_id} (PID {agent.pid})\n")
        assert job.wait(timeout=30) == 1
        assert runs(stubs.root)[0].error_summary == "stopped by operator (agent terminated (SIGTERM))"
        assert all(_alive(p) for p in victims.values())
    finally:
        gate.touch()
        if job.poll() is None:
            job.kill()
        job.wait()
        _kill_agents(stubs)


def test_task_stop_during_the_pre_spawn_window_keeps_the_agent_from_starting(stubs, victims,
                                                                             tmp_path):
    gate = tmp_path / "version-may-answer"
    env = dict(stubs.env, STUB_VERSION_WAIT_FILE=str(gate))
    loop = subprocess.Popen([sys.executable, "-m", "conductor", "task", "--root", stubs.root,
                             "--project", PROJECT, "--task", TASK, "--agent", "codex",
                             "--prompt", "STUB: sleep 60", "--restart-delay", "10ms"],
                            env=env, cwd=stubs.base, start_new_session=True)
    try:
        info = wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0])
        assert (info.pid, info.pgid, info.runner_pid) == (0, 0, loop.pid)
        res = stubs.run("task", "stop", "--root", stubs.root, "--project", PROJECT, "--task",
                        TASK, "--grace", "5s")
        assert (res.returncode, res.stderr) == (
            0, f"run {info.run_id}: its agent has not been started yet; the loop was told not "
               "to start it\n")
        gate.touch()
        assert loop.wait(timeout=30) == 1
        [run] = runs(stubs.root)
        assert (run.status, run.pid, run.error_summary) == (
            "failed", 0, "stopped by operator before the agent started")
        assert not stubs.records()  # the agent never ran
        assert all(_alive(p) for p in victims.values())
    finally:
        gate.touch()
        if loop.poll() is None:
            loop.kill()
        loop.wait()
        _kill_agents(stubs)


def test_a_job_killed_before_spawning_reads_failed(stubs, tmp_path):
    gate = tmp_path / "version-may-answer"
    job = _job(stubs, "STUB: say x", gate, start_new_session=True)
    try:
        info = wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0])
        assert _list(stubs)[info.run_id]["status"] == "running"
        job.send_signal(signal.SIGKILL)
        job.wait()
        row = _list(stubs)[info.run_id]
        assert (row["status"], row["exit_code"]) == ("failed", -1)
    finally:
        gate.touch()  # lets the orphaned `codex --version` probe end
        if job.poll() is None:
            job.kill()
        job.wait()
    # the orphaned probe was in the job's session: wait until nothing of it is left
    wait_for(lambda: not _group_has_live_members(job.pid))


def _group_has_live_members(pgid: int) -> bool:
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


LOCK_HOLDER = ("import fcntl, os, sys, time\n"
               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
               "fcntl.flock(fd, fcntl.LOCK_EX)\n"
               "open(sys.argv[2], 'w').close()\n"
               "time.sleep(60)\n")


def test_only_a_verified_supervisor_is_told_to_stop(stubs, victims, tmp_path):
    td = task_dir(stubs.root)
    os.makedirs(os.path.join(td, "runs"))
    lock = os.path.join(td, "TASK-LOOP.lock")
    # a lock file whose text names a sacrificial process, held by nobody
    with open(lock, "w") as f:
        f.write(f"pid: {victims['c'].pid}\nstarted: 2026-01-01T00:00:00Z\n")
    res = stubs.run("task", "stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK)
    assert (res.returncode, res.stderr) == (0, "")
    assert all(_alive(p) for p in victims.values())
    # the lock really held, but by a process that is no supervisor (and has no SIGUSR1 handler)
    ready = tmp_path / "locked"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, lock, str(ready)],
                              start_new_session=True)
    try:
        wait_for(ready.exists)
        res = stubs.run("task", "stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK)
        assert (res.returncode, res.stderr) == (0, "")
        assert holder.poll() is None and all(_alive(p) for p in victims.values())
    finally:
        holder.kill()
        holder.wait()
