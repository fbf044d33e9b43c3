"""`conductor status --tmux`: the one-line summary, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conductor.bus import Message, MessageBus
from conductor.store import Layout, RunInfo, write_run_info
from conductor.store.loopstate import STUCK, LoopState, write_loop_state
from conductor.timefmt import now_ns

PY = sys.executable


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
