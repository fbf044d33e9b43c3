"""The console SIGKILLed in the middle of an action (the real `conductor` command in tmux).

The console runs each action (stop, restart) in a thread; a kill can land before the action
starts, while it stops the runs, or between stopping and starting again. Whatever the moment,
afterwards: every bus message is complete, each run's status is the truth, every live process
belongs to the task's supervisor or to a run recorded as running, and a new console restarts
the task with `r`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time

import psutil
import pytest

from console.tmux import Tmux, kill_console
from conductor import orchestrator
from conductor.bus import MessageBus
from conductor.store.supervision import loop_alive
from conductor.store import process_alive, read_run_info

from .conftest import PROJECT, TASK, pid_gone, wait_for

SLUG = TASK.split("-", 3)[3]  # what the tree shows of the task id (slug first)

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))


def _console_command(rig, tmp_path, config: str) -> str:
    env = dict(rig.env, TERM="xterm-256color", LANG="C.UTF-8", PYTHONPATH=SRC,
               CONDUCTOR_CONSOLE_STATE=str(tmp_path / "state.json"))
    return " ".join(["env", "-i", *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                     shlex.quote(sys.executable), "-m", "conductor", "console",
                     "--root", shlex.quote(rig.root), "--config", shlex.quote(config),
                     "--project", PROJECT])


def _live_runs(rig):
    """Run records that say running and whose process is alive."""
    out = []
    for _path, info in rig.run_infos():
        if info.status == "running" and process_alive(info.pid, info.pgid, info.start_time):
            out.append(info)
    return out


def _owner(proc: psutil.Process, runs) -> str | None:
    """Who owns a live process: the task's supervisor, or a run recorded as running."""
    try:
        cmd = proc.cmdline()
        pgid = os.getpgid(proc.pid)
    except (psutil.Error, ProcessLookupError):
        return "gone"
    if cmd[1:4] == ["-m", "conductor", "task"]:
        return "supervisor"
    if cmd[1:4] == ["-m", "conductor", "console"]:
        return "console"
    for info in runs:
        if pgid == (info.pgid or info.pid):
            return f"run {info.run_id}"
    return None


def _assert_truthful(rig, console_open: bool) -> None:
    task_dir = rig.task_dir()
    # 1. every message on the bus is complete and readable
    bus = MessageBus(os.path.join(task_dir, "TASK-MESSAGE-BUS.md")).read_all()
    assert bus and all(m.msg_id and m.type for m in bus)
    # 2. a record that says running has a live process; views correct the others
    for path, info in rig.run_infos():
        if info.status == "running" and not process_alive(info.pid, info.pgid, info.start_time):
            proc = rig.run("list", "--root", rig.root, "--project", PROJECT, "--task", TASK)
            assert info.run_id in proc.stdout and "running" not in \
                [line.split()[1] for line in proc.stdout.splitlines()[1:]
                 if line.startswith(info.run_id)], proc.stdout
    # 3. nothing left running that nobody owns
    runs = _live_runs(rig)
    owners = {p.pid: _owner(p, runs) for p in rig.live()}
    unowned = [pid for pid, owner in owners.items() if owner is None]
    assert not unowned, [psutil.Process(pid).cmdline() for pid in unowned]
    assert list(owners.values()).count("console") == int(console_open)
    # 4. at most one supervisor
    supervisors = [p for p in rig.live() if _owner(p, runs) == "supervisor"]
    assert len(supervisors) <= 1 and bool(supervisors) == loop_alive(task_dir)


def _wait_truthful(rig, console_open: bool, timeout: float = 40.0) -> None:
    """Until :func:`_assert_truthful` holds (a process the console started may be between
    starting and recording itself); at the deadline its failure is the test's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _assert_truthful(rig, console_open)
            return
        except AssertionError:
            time.sleep(0.1)
    _assert_truthful(rig, console_open)


@pytest.mark.parametrize("key,confirm,delay,ignore_term", [
    ("r", "Restart task", 0.0, False),  # killed as the restart begins
    ("r", "Restart task", 0.6, False),  # killed around the new start
    ("x", "Stop task", 1.5, True),      # killed in the stop's grace period: TERM sent, no KILL
], ids=["restart-at-once", "restart-later", "stop-in-grace-period"])
def test_console_killed_mid_action_leaves_a_truthful_task_that_a_new_console_restarts(
        rig, tmp_path, key, confirm, delay, ignore_term):
    config = tmp_path / "config.yaml"
    config.write_text("agents:\n  claude:\n    type: claude\n")
    orchestrator.new_task(rig.root, PROJECT, TASK,
                          ("STUB: ignore-term\n" if ignore_term else "") +
                          "STUB: post PROGRESS working\nSTUB: tick 0.2 3000")
    orchestrator.start_task(rig.root, PROJECT, TASK, agent="claude", config_path=str(config),
                            environ=rig.env)
    wait_for(lambda: _live_runs(rig), timeout=30, what="agent running")
    [first] = _live_runs(rig)

    tmux = Tmux(f"kill-{key}-{int(delay * 100)}")
    command = _console_command(rig, tmp_path, str(config))
    try:
        tmux.start(command)
        tmux.wait_screen("● 1 running")
        tmux.wait_screen(SLUG)  # the task's row is in the tree; keys are handled in order
        tmux.keys("j", key)  # from the project to the task, then the action
        tmux.wait_screen(f"{confirm} {TASK}")
        tmux.keys("y")
        # Fault injection: the kill lands at a chosen moment of the action. Which moment it
        # really hits varies with load; the checks below hold whichever it is.
        time.sleep(delay)
        kill_console(tmux)  # returns once the console's processes are dead
        # what the console had started (a supervisor, a stop's TERM) finishes on its own
        _wait_truthful(rig, console_open=False)
        if ignore_term:  # the console died before it could escalate to SIGKILL
            assert os.path.exists(os.path.join(rig.task_dir(), "STOP-REQUESTED"))
            assert [i.run_id for i in _live_runs(rig)] == [first.run_id]

        # a new console shows the task and `r` brings it back to running
        tmux.start(command)
        tmux.wait_screen(SLUG)
        # runs so far: the killed console's restart may have started one already
        before = {info.run_id for _path, info in rig.run_infos()}
        tmux.keys("j", "r")  # from the project to the task, then restart
        # a confirmation is asked only while the task runs; otherwise it restarts at once
        if f"Restart task {TASK}" in tmux.wait_screen(f"Restart task {TASK}", "restart: "):
            tmux.keys("y")
        # done, not just begun ("restart: working…" shows first)
        tmux.wait_screen(f"restart: {TASK} started (supervisor pid ")
        wait_for(lambda: loop_alive(rig.task_dir()) and
                 [i for i in _live_runs(rig) if i.run_id not in before],
                 timeout=40, what="a new run after r")
        tmux.wait_screen("● 1 running")
        _assert_truthful(rig, console_open=True)
        assert pid_gone(first.pid)
    finally:
        tmux.kill()
        orchestrator.stop_task(rig.root, PROJECT, TASK, force=True, grace=2.0)
        wait_for(lambda: not rig.live(), timeout=30, what="everything stopped")
    statuses = [read_run_info(p).status for p, _ in rig.run_infos()]
    assert "running" not in statuses
