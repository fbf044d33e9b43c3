"""A task lock lost on a network file system (issue 14), with real supervisor processes.

No NFS here: the fault is injected at the boundary, in the supervisor's own process, by
tests/runner/lockfault/sitecustomize.py — its lock probe finds the flock released and its
descriptor answering EIO, as NFSv4 answers after a lease lapsed. What happens next is real:
the supervisor re-opens the file and takes the lock again, or finds another real loop holding
it, stops its run through the executor seam and exits non-zero.
"""

import os
import subprocess
import sys

from conductor.store.loopstate import read_loop_state

from .helpers import PROJECT, TASK, bus, runs, task_dir, wait_for

LOCKFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lockfault")
LOCK = "TASK-LOOP.lock"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _task_argv(stubs, prompt):
    return [sys.executable, "-m", "conductor", "task", "--root", stubs.root, "--project", PROJECT,
            "--task", TASK, "--agent", "codex", "--prompt", prompt, "--restart-delay", "10ms"]


def start_faulty_loop(stubs, tmp_path, prompt):
    """A supervisor whose lock probe the test can fail by writing ``trigger``."""
    trigger = tmp_path / "lock-fault"
    env = dict(stubs.env)
    env["PYTHONPATH"] = LOCKFAULT + os.pathsep + env["PYTHONPATH"]
    env["LOCKFAULT_TRIGGER"] = str(trigger)
    loop = subprocess.Popen(_task_argv(stubs, prompt), env=env, cwd=stubs.base,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return loop, trigger


def agent_running(stubs, loop):
    return wait_for(lambda: [i for i in runs(stubs.root) if i.status == "running"
                             and i.runner_pid == loop.pid and i.pid > 0 and _alive(i.pid)],
                    what="the loop's agent")[-1]


def lines(root, kind):
    return [m.body for m in bus(root) if m.type == kind]


def _kill(*procs):
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_lost_lock_taken_again_warns_once_and_the_run_reaches_done(stubs, tmp_path):
    go = tmp_path / "go"
    loop, trigger = start_faulty_loop(stubs, tmp_path, f"STUB: wait-file {go}\nSTUB: done")
    try:
        agent_running(stubs, loop)
        trigger.write_text("eio")
        wait_for(lambda: lines(stubs.root, "WARN"), what="the WARN line")
        # the lock is the loop's again: a second loop is refused
        res = stubs.run(*_task_argv(stubs, "STUB: done")[3:])
        assert (res.returncode, res.stderr) == (1, f"Error: task {TASK} already has a running loop "
                                                   f"(pid {loop.pid}); stop it first (run-agent task stop)\n")
        go.touch()
        _out, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
    finally:
        _kill(loop)
    assert lines(stubs.root, "WARN") == [
        f"lost the task lock (EIO on {LOCK}) and took it again; going on"]
    assert lines(stubs.root, "ERROR") == []
    assert [i.status for i in runs(stubs.root)] == ["completed"]
    assert read_loop_state(task_dir(stubs.root)) is None


def test_a_lock_another_loop_took_stops_the_run_and_the_loop(stubs, tmp_path):
    go = tmp_path / "go"
    loop, trigger = start_faulty_loop(stubs, tmp_path, "STUB: sleep 120")
    other = None
    try:
        first = agent_running(stubs, loop)
        trigger.write_text("taken")
        wait_for(lambda: os.path.exists(f"{trigger}.released"), what="the lock released")
        # another host's loop starts on the task while the first one is cut off
        other = subprocess.Popen(_task_argv(stubs, f"STUB: wait-file {go}\nSTUB: done"),
                                 env=stubs.env, cwd=stubs.base)
        _out, err = loop.communicate(timeout=60)
        line = (f"lost the task lock (EIO on {LOCK}): another loop holds it now (pid {other.pid}); "
                "not starting more runs")
        assert (loop.returncode, err) == (1, f"Error: {line}\n")
        assert not _alive(first.pid)  # its run was stopped before it exited
        mine = [i for i in runs(stubs.root) if i.runner_pid == loop.pid]
        assert [(i.run_id, i.status) for i in mine] == [(first.run_id, "failed")]
        # one agent runs now: the other loop's
        running = wait_for(lambda: [i for i in runs(stubs.root) if i.status == "running"])
        assert [i.runner_pid for i in running] == [other.pid]
        assert lines(stubs.root, "ERROR") == [line]
        # the task's loop state is the other loop's to write: left as it has it
        assert read_loop_state(task_dir(stubs.root)) is None
        go.touch()
        assert other.wait(timeout=60) == 0
    finally:
        _kill(loop, other)
    assert len(stubs.records()) == 2  # one agent per loop: the first loop started no second
    assert sorted(i.status for i in runs(stubs.root)) == ["completed", "failed"]


def test_a_lock_that_cannot_be_taken_again_fails_the_loop(stubs, tmp_path):
    loop, trigger = start_faulty_loop(stubs, tmp_path, "STUB: sleep 120")
    try:
        first = agent_running(stubs, loop)
        trigger.write_text("dead")
        _out, err = loop.communicate(timeout=60)
    finally:
        _kill(loop)
    line = (f"lost the task lock (EIO on {LOCK}): could not take it again (EIO on {LOCK}), so "
            "another loop may own this task now; not starting more runs")
    assert (loop.returncode, err) == (1, f"Error: {line}\n")
    assert not _alive(first.pid)
    assert [(i.run_id, i.status) for i in runs(stubs.root)] == [(first.run_id, "failed")]
    assert lines(stubs.root, "ERROR") == [line]
    state = read_loop_state(task_dir(stubs.root))
    assert (state.state, state.reason) == ("failed", line)
    assert len(stubs.records()) == 1


def test_a_removed_lock_file_is_taken_again(stubs, tmp_path):
    """A real fault, no injection: TASK-LOOP.lock removed under a running loop (another loop
    could lock a new file of that name beside it). The probe sees it and takes a new one."""
    go = tmp_path / "go"
    loop, _trigger = start_faulty_loop(stubs, tmp_path, f"STUB: wait-file {go}\nSTUB: done")
    try:
        agent_running(stubs, loop)
        os.unlink(os.path.join(task_dir(stubs.root), LOCK))
        wait_for(lambda: lines(stubs.root, "WARN"), what="the WARN line")
        res = stubs.run(*_task_argv(stubs, "STUB: done")[3:])
        assert res.returncode == 1 and "already has a running loop" in res.stderr
        go.touch()
        _out, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
    finally:
        _kill(loop)
    assert lines(stubs.root, "WARN") == [
        f"lost the task lock ({LOCK} was removed) and took it again; going on"]
    assert [i.status for i in runs(stubs.root)] == ["completed"]
