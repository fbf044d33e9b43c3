"""`conductor status --tmux`: the one-line summary, byte for byte."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conductor.bus import Message, MessageBus
from conductor.store import Layout, RunInfo, write_run_info
from conductor.store.loopstate import STUCK, LoopState, write_loop_state
from conductor.timefmt import now_ns
from waiting import wait_for

PY = sys.executable
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "src"))


def _run(layout: Layout, project: str, task: str, run_id: str, status: str, pid: int = 0,
         start: int | None = None) -> None:
    run_dir = os.path.join(layout.runs_dir(project, task), run_id)
    os.makedirs(run_dir)
    start = start or now_ns() - 10**9
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=project, task_id=task, agent="claude", pid=pid, pgid=pid,
        start_time=start, end_time=None if status == "running" else start + 10**9,
        exit_code=-1 if status == "running" else (0 if status == "completed" else 1),
        status=status, cwd="/"))


@pytest.fixture
def root(tmp_path: Path):
    """Tasks in every state the summary counts, two of them with a live (sleeping) agent."""
    layout = Layout(str(tmp_path / "runs"))
    sleepers = []
    locks = []
    try:
        for task in ("task-20261130-000001-live", "task-20261130-000002-lost"):
            layout.ensure_task_dir("alpha", task)
            started = now_ns()
            sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
            sleepers.append(sleeper)
            _run(layout, "alpha", task, "20261130-0000010000-1-0001", "running",
                 pid=sleeper.pid, start=started)
        live_dir = layout.task_dir("alpha", "task-20261130-000001-live")
        lock = open(os.path.join(live_dir, "TASK-LOOP.lock"), "a+")
        import fcntl
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        locks.append(lock)
        layout.ensure_task_dir("alpha", "task-20261130-000003-done")
        _run(layout, "alpha", "task-20261130-000003-done", "20261130-0000030000-1-0001", "completed")
        open(os.path.join(layout.task_dir("alpha", "task-20261130-000003-done"), "DONE"), "w").close()
        layout.ensure_task_dir("beta", "task-20261130-000004-broke")
        _run(layout, "beta", "task-20261130-000004-broke", "20261130-0000040000-1-0001", "failed")
        asks = layout.ensure_task_dir("beta", "task-20261130-000005-asks")
        _run(layout, "beta", "task-20261130-000005-asks", "20261130-0000050000-1-0001", "completed")
        MessageBus(os.path.join(asks, "TASK-MESSAGE-BUS.md")).append(
            Message(type="QUESTION", project_id="beta", task_id="task-20261130-000005-asks",
                    body="which key?"))
        stuck = layout.ensure_task_dir("beta", "task-20261130-000006-stuck")
        _run(layout, "beta", "task-20261130-000006-stuck", "20261130-0000060000-1-0001", "failed")
        write_loop_state(stuck, LoopState(state=STUCK, reason="same failure", since=now_ns(),
                                          failures=3))
        yield layout.root
    finally:
        for lock in locks:
            lock.close()
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def _tmux(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CONDUCTOR_ROOT"}
    return subprocess.run([PY, "-m", "conductor", "status", "--tmux", *args],
                          capture_output=True, env=env, timeout=60)


def test_summary_bytes(root: str) -> None:
    result = _tmux("--root", root)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == "\u26a11 ?1 \u27181 \u29bb1 \u26201\n".encode()
    assert _tmux("--root", root, "--ascii").stdout == b"R1 Q1 F1 S1 L1\n"
    assert _tmux("--root", root, "--project", "beta").stdout == "?1 \u27181 \u29bb1\n".encode()


def test_nothing_on_is_no_output(tmp_path: Path) -> None:
    os.makedirs(tmp_path / "runs")
    result = _tmux("--root", str(tmp_path / "runs"))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    missing = _tmux("--root", str(tmp_path / "absent"))
    assert (missing.returncode, missing.stdout) == (0, b"")


def test_status_without_project_still_needs_it(tmp_path: Path) -> None:
    result = subprocess.run([PY, "-m", "conductor", "status", "--root", str(tmp_path)],
                            capture_output=True, timeout=60)
    assert (result.returncode, result.stderr) == (1, b'Error: required flag(s) "project" not set\n')


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_real_tmux_shows_the_recipe_and_the_console_title(root: str, tmp_path: Path) -> None:
    """tmux 3.x with docs/alerts.md's recipe: the status line of an attached client shows the
    summary, and the console run in a pane sets that pane's title (OSC 2) to the same line.
    The client is attached inside a second tmux server, whose pane is the screen we read."""
    inner, outer = f"conductor-alerts-in-{os.getpid()}", f"conductor-alerts-out-{os.getpid()}"
    env = {"PYTHONPATH": SRC, "HOME": str(tmp_path), "TERM": "xterm-256color",
           "LANG": "C.UTF-8", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "CONDUCTOR_CONSOLE_STATE": str(tmp_path / "state.json")}
    prefix = "env -i " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    status = f"{prefix} {shlex.quote(PY)} -m conductor status --tmux --root {shlex.quote(root)}"
    console = f"{prefix} {shlex.quote(PY)} -m conductor console --root {shlex.quote(root)}"
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g status-interval 1\nset -g status-right-length 80\n"
                    f"set -g status-right '[#({status})]'\n")
    expected = "\u26a11 ?1 \u27181 \u29bb1 \u26201"
    tenv = {**os.environ, "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    tenv.pop("TMUX", None)

    def tmux(server: str, *args: str) -> str:
        return subprocess.run(["tmux", "-L", server, *args], capture_output=True, text=True,
                              timeout=30, env=tenv).stdout

    try:
        tmux(inner, "-f", str(conf), "new-session", "-d", "-s", "alerts", "-x", "150",
             "-y", "40", console)
        tmux(outer, "-f", "/dev/null", "new-session", "-d", "-s", "screen", "-x", "160",
             "-y", "45", f"env LANG=C.UTF-8 TERM=xterm-256color tmux -L {inner} attach -t alerts")
        wait_for(lambda: f"[{expected}]" in tmux(outer, "capture-pane", "-p", "-t", "screen"),
                 timeout=60, what="the summary in the status line")
        wait_for(lambda: tmux(inner, "display-message", "-p", "-t", "alerts",
                              "#{pane_title}").strip() == f"conductor {expected}",
                 timeout=60, what="the console's pane title")
    finally:
        tmux(outer, "kill-server")
        tmux(inner, "kill-server")
