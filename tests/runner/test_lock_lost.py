"""A task lock lost on a network file system (issue 14), with real supervisor processes.

No NFS here: the fault is injected at the boundary, in the supervisor's own process, by
tests/runner/lockfault/sitecustomize.py — its lock probe finds the flock released and its
descriptor answering EIO, as NFSv4 answers after a lease lapsed. What happens next is real:
the supervisor re-opens the file and takes the lock again, or finds another real loop holding
it, stops its run through the executor seam and exits non-zero.
"""

import errno
import fcntl
import os
import signal
import subprocess
import sys
import threading

from conductor import locking
from conductor.config.model import AgentConfig
from conductor.runner import supervisor
from conductor.runner.ralph import LockLost, TaskRequest, run_task
from conductor.store.loopstate import read_loop_state

from .helpers import PROJECT, TASK, bus, runs, task_dir, wait_for
from .test_executor import fake  # noqa: F401 - the fake remote executor, for this test only

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


def start_faulty_loop(stubs, tmp_path, prompt, interval=0.05):
    """A supervisor whose lock probe the test can fail by writing ``trigger``; its watchdog
    probes every ``interval`` seconds."""
    trigger = tmp_path / "lock-fault"
    env = dict(stubs.env)
    env["PYTHONPATH"] = LOCKFAULT + os.pathsep + env["PYTHONPATH"]
    env["LOCKFAULT_TRIGGER"] = str(trigger)
    env["LOCKFAULT_INTERVAL"] = str(interval)
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


def test_the_lock_is_checked_before_every_attempt(stubs, tmp_path):
    """The watchdog never wakes here (an hour apart): the probe before the second attempt finds
    the fault, takes the lock again, and only then starts that attempt."""
    go = tmp_path / "go"
    loop, trigger = start_faulty_loop(
        stubs, tmp_path, f"STUB: first wait-file {go}\nSTUB: first exit 1\nSTUB: done-after 2",
        interval=3600)
    try:
        agent_running(stubs, loop)
        trigger.write_text("eio")
        go.touch()
        _out, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
    finally:
        _kill(loop)
    kinds = [(m.type, m.body.split("\n")[0]) for m in bus(stubs.root)
             if m.type in ("WARN", "RUN_START", "RUN_CRASH", "RUN_STOP")]
    assert kinds == [
        ("RUN_START", "run started"), ("RUN_CRASH", "run stopped with code 1"),
        ("WARN", f"lost the task lock (EIO on {LOCK}) and took it again; going on"),
        ("RUN_START", "run started"), ("RUN_STOP", "run stopped with code 0")]
    assert [i.status for i in runs(stubs.root)] == ["failed", "completed"]


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
        assert [(i.run_id, i.status, i.error_summary) for i in mine] == [
            (first.run_id, "failed", "stopped by operator (agent terminated (SIGTERM))")]
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
    # what `status` shows of the task (the loop's words, cut to the column)
    res = stubs.run("status", "--root", stubs.root, "--project", PROJECT)
    assert res.stdout.splitlines()[1].endswith(
        f"  failed: lost the task lock (EIO on {LOCK}): could not take it again (EIO on {LOCK}), "
        "so another loop may own th…")


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


# ---- a placed run, in process: the stop goes through its executor ------------------------------


def test_a_lost_lock_stops_a_placed_run_through_its_executor(fake, runs_root, tmp_path,  # noqa: F811
                                                              subprocess_env, monkeypatch):
    lose = threading.Event()

    def still_held(fd, record=b""):  # the server let the lease lapse, and stays unreachable
        if lose.is_set():
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, record)

    real = locking.still_held
    monkeypatch.setattr(locking, "still_held", still_held)
    monkeypatch.setattr(locking, "try_exclusive",
                        lambda fd: errno.EIO if lose.is_set() else 0)
    monkeypatch.setattr(supervisor, "PROBE_INTERVAL", 0.05)
    monkeypatch.setattr(supervisor, "RETAKE_PAUSE", 0.01)
    script = tmp_path / "agent.py"
    script.write_text("import time\ntime.sleep(60)\n")
    req = TaskRequest(root=runs_root, project=PROJECT, task=TASK, prompt="go",
                      agent=AgentConfig(name="scripted", type="command",
                                        command=[sys.executable, str(script)]),
                      executor="fake", placed_poll=0.05, restart_delay=0.01,
                      environ=subprocess_env)
    ended = {}

    def loop():
        try:
            run_task(req)
        except LockLost as exc:
            ended["error"] = str(exc)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        wait_for(lambda: [i for i in runs(runs_root) if i.host_pid > 0], what="the placed agent")
        lose.set()
        thread.join(timeout=60)
    finally:
        if thread.is_alive():
            for proc in fake.jobs.values():
                os.killpg(proc.pid, signal.SIGKILL)
            thread.join()
    line = (f"lost the task lock (EIO on {LOCK}): could not take it again (EIO on {LOCK}), so "
            "another loop may own this task now; not starting more runs")
    assert ended == {"error": line}
    # stopped through the executor (forced, as `task stop --force`), and never started again
    assert [entry for entry in fake.log if entry[0] != "observe"] == [
        ("start", "fake-1"), ("stop", "fake-1", True)]
    (info,) = runs(runs_root)
    assert (info.status, info.error_summary) == ("failed", "agent terminated (SIGTERM)")
    assert lines(runs_root, "ERROR") == [line]
    assert read_loop_state(task_dir(runs_root)).reason == line


# ---- the probe itself ---------------------------------------------------------------------------

def test_the_probe_keeps_a_held_lock_and_sees_a_replaced_file_taken_by_another(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(supervisor, "PROBE_INTERVAL", 3600.0)  # the test probes, not the watchdog
    monkeypatch.setattr(supervisor, "RETAKE_PAUSE", 0.01)
    td = tmp_path / "runs" / PROJECT / TASK
    td.mkdir(parents=True)
    lost = []
    lock = supervisor.SupervisorLock(str(td), TASK, on_lost=lambda *a: lost.append(a))
    lock.acquire()
    try:
        record = (td / LOCK).read_bytes()
        mtime = os.stat(td / LOCK).st_mtime_ns
        assert lock.verify() and lock.verify()
        # on a local file system the probe writes nothing (an inotify watcher is not woken)
        assert ((td / LOCK).read_bytes(), os.stat(td / LOCK).st_mtime_ns) == (record, mtime)
        assert lost == []
        # another loop locks a new file of that name beside ours
        os.rename(td / LOCK, td / "old.lock")
        fd = os.open(td / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, b"pid: 999\n")
            assert lock.verify() is False
        finally:
            os.close(fd)
    finally:
        lock.release()
    assert lost == [(f"lost the task lock ({LOCK} was replaced by another file): another loop "
                     "holds it now (pid 999); not starting more runs", True)]
    assert lock.verify() is False  # once lost, lost: no second report
    assert len(lost) == 1


def test_on_a_network_file_system_the_probe_writes_the_record_again(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "PROBE_INTERVAL", 3600.0)
    monkeypatch.setattr(locking, "fs_type", lambda fd: "nfs4")
    td = tmp_path / "runs" / PROJECT / TASK
    td.mkdir(parents=True)
    with supervisor.SupervisorLock(str(td), TASK, on_lost=lambda *a: None) as lock:
        record = (td / LOCK).read_bytes()
        with open(td / LOCK, "r+b") as f:  # what the server has differs: the probe's write shows
            f.write(b"x" * len(record))
        assert lock.verify()
        assert (td / LOCK).read_bytes() == record
