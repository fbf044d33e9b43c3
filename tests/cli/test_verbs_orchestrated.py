"""Every CLI control verb goes through the orchestrator's shared function (the console's too),
and what the user sees stays: exit code, printed lines, files on disk."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from conductor import orchestrator
from conductor.bus import MessageBus
from conductor.cli.main import main
from conductor.orchestrator import post
from conductor.store import Layout, RunInfo, write_run_info

P = "proj"
T = "task-20260220-153045-verbs"
RUN = "20260220-1530450000-100-1"
CHILD = "20260220-1530460000-100-2"

pytestmark = pytest.mark.usefixtures("utc_isolated")


@pytest.fixture
def calls(monkeypatch):
    """Wrap the orchestrator's verbs: each call's name is recorded, then the real one runs."""
    seen: list[str] = []
    for name in ("stop_task", "stop_run", "stop_run_dir", "delete_task", "cancel_task",
                 "resumable_task_dir", "clear_stop_markers"):
        monkeypatch.setattr(orchestrator, name, spy(seen, name, getattr(orchestrator, name)))
    # `bus post` takes it from the light module (no dataclasses, subprocess on its path)
    monkeypatch.setattr(post, "post_to_bus", spy(seen, "post_to_bus", post.post_to_bus))
    return seen


def spy(seen: list[str], name: str, real):
    def call(*args, **kwargs):
        seen.append(name)
        return real(*args, **kwargs)
    return call


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def task_dir(root: str, task: str = T) -> str:
    d = Layout(root).ensure_task_dir(P, task)
    with open(os.path.join(d, "TASK.md"), "w") as f:
        f.write("do it\n")
    return d


def make_run(root: str, run_id: str, *, status: str = "completed", parent: str = "",
             pid: int = 0, start: int | None = None) -> str:
    run_dir = os.path.join(task_dir(root), "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=P, task_id=T, agent="claude", pid=pid, pgid=pid,
        parent_run_id=parent, start_time=start or time.time_ns(), status=status))
    return run_dir


@pytest.fixture
def live_agent(root):
    """A live run whose agent is a `sleep` leading its own process group."""
    start = time.time_ns()
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped once stopped
    run_dir = make_run(root, RUN, status="running", pid=proc.pid, start=start)
    yield proc, run_dir
    if proc.poll() is None:
        proc.kill()


def marker(root: str) -> str | None:
    path = os.path.join(Layout(root).task_dir(P, T), "STOP-REQUESTED")
    return open(path).read() if os.path.exists(path) else None


def test_task_stop(capsys, calls, root):
    task_dir(root)
    code, out, err = run(capsys, "task", "stop", "--root", root, "--project", P, "--task", T,
                         "--no-restart")
    assert (code, out, err) == (0, f"Stopped task {P}/{T} (STOP-REQUESTED written; the loop "
                                   "will not restart it)\n", "")
    assert marker(root) == "permanent\n"
    assert calls == ["stop_task"]


def test_stop_run_by_task_stops_the_task_too(capsys, calls, root, live_agent):
    proc, _run_dir = live_agent
    code, out, err = run(capsys, "stop", "--root", root, "--project", P, "--task", T,
                         "--grace", "5s")
    assert (code, out, err) == (0, f"Stopped run {RUN} (PID {proc.pid})\n", "")
    assert proc.wait(timeout=10) != 0
    assert marker(root) is not None  # the one marker rule: the task was named
    assert calls == ["stop_run"]


def test_stop_by_run_dir_marks_the_task_only_for_its_root_run(capsys, calls, root):
    child = make_run(root, CHILD, parent=RUN)
    code, out, err = run(capsys, "stop", "--root", root, "--run-dir", child)
    assert (code, out, err) == (0, "", f"run {CHILD} is not running (status: completed)\n")
    assert marker(root) is None  # a child run: the loop is left alone
    top = make_run(root, RUN)
    code, out, err = run(capsys, "stop", "--root", root, "--run-dir", top)
    assert (code, out, err) == (0, "", f"run {RUN} is not running (status: completed)\n")
    assert marker(root) is not None  # the task's root run: the task stops too
    os.remove(os.path.join(Layout(root).task_dir(P, T), "STOP-REQUESTED"))
    code, out, err = run(capsys, "stop", "--root", root, "--run-dir", child, "--project", P,
                         "--task", T)
    assert (code, marker(root) is not None) == (0, True)  # the task is named: it stops too
    assert calls == ["stop_run_dir"] * 3


def test_task_delete_refuses_a_live_task_and_force_stops_it_first(capsys, calls, root, live_agent):
    proc, _run_dir = live_agent
    code, out, err = run(capsys, "task", "delete", "--root", root, "--project", P, "--task", T)
    assert (code, out) == (1, "")
    assert err == (f"Error: task {T} is running (run {RUN} is alive); stop it first "
                   "(run-agent task stop) or use --force to stop and delete it\n")
    assert os.path.isdir(Layout(root).task_dir(P, T))
    code, out, err = run(capsys, "task", "delete", "--root", root, "--project", P, "--task", T,
                         "--force", "--grace", "5s")
    assert (code, out, err) == (0, f"Stopped run {RUN} (PID {proc.pid})\nDeleted task: {T}\n", "")
    assert not os.path.exists(Layout(root).task_dir(P, T))
    assert proc.wait(timeout=10) != 0
    assert calls == ["delete_task", "delete_task"]


def test_task_cancel(capsys, calls, root):
    task_dir(root)
    code, out, err = run(capsys, "task", "cancel", "--root", root, "--project", P, "--task", T,
                         "--reason", "not needed")
    assert (code, out, err) == (0, f"task {P}/{T} marked as cancelled\nreason: not needed\n", "")
    assert os.path.isfile(os.path.join(Layout(root).task_dir(P, T), "CANCELLED"))
    assert calls == ["cancel_task"]


def test_resume_without_agent_clears_the_markers(capsys, calls, root):
    d = task_dir(root)
    for name in ("DONE", "STOP-REQUESTED", "CANCELLED"):
        open(os.path.join(d, name), "w").close()
    code, out, err = run(capsys, "resume", "--root", root, "--project", P, "--task", T)
    assert (code, out, err) == (0, f"Resumed task {T} (restart counter reset)\n", "")
    assert sorted(os.listdir(d)) == ["TASK.md", "runs"]
    assert calls == ["resumable_task_dir", "clear_stop_markers"]


def test_task_resume_refuses_a_task_without_task_md(capsys, calls, root):
    d = Layout(root).ensure_task_dir(P, T)
    code, out, err = run(capsys, "task", "resume", "--root", root, "--project", P, "--task", T,
                         "--agent", "claude")
    assert (code, out, err) == (1, "", f"Error: TASK.md not found in task directory {d}\n")
    code, out, err = run(capsys, "task", "resume", "--root", root, "--project", P, "--task",
                         "task-20260220-153045-other", "--agent", "claude")
    missing = Layout(root).task_dir(P, "task-20260220-153045-other")
    assert (code, err) == (1, f"Error: task directory not found: {missing}\n")
    assert calls == ["resumable_task_dir", "resumable_task_dir"]


def test_bus_post(capsys, calls, root):
    task_dir(root)
    code, out, err = run(capsys, "bus", "post", "--root", root, "--project", P, "--task", T,
                         "--type", "FACT", "--body", "it works")
    assert code == 0 and err == "" and out.startswith("msg_id: MSG-")
    [msg] = MessageBus(Layout(root).task_bus(P, T)).read_all()
    assert (msg.type, msg.project_id, msg.task_id, msg.body) == ("FACT", P, T, "it works")
    assert out == f"msg_id: {msg.msg_id}\n"
    assert calls == ["post_to_bus"]


def test_the_consoles_stop_run_only_leaves_the_loop_alone(root):
    """The console's "stop run" (only=True) never marks the task; the CLI's rule does."""
    make_run(root, RUN)
    result = orchestrator.stop_run(root, P, T, RUN)
    assert (result.message, result.notice, result.task_stopped) == (
        "", f"run {RUN} is not running (status: completed)", False)
    assert marker(root) is None
    result = orchestrator.stop_run(root, P, T, RUN, only=False)
    assert result.task_stopped and marker(root) is not None


def test_stop_task_result_reads_as_the_outcomes(root):
    task_dir(root)
    result = orchestrator.stop_task(root, P, T)
    assert list(result) == result.outcomes == [] and not result.refused
    assert result.summary == (f"Stopped task {P}/{T} (STOP-REQUESTED written; the loop will not "
                              "restart it)")
