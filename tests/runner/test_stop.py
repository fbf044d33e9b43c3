"""Stopping runs and tasks: process groups, --force, STOP-REQUESTED, resume (spec 4.8, 4.12)."""

import os
import subprocess
import sys

from .helpers import PROJECT, TASK, runs, task_dir, wait_for


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def start_loop(stubs, prompt, *extra):
    return subprocess.Popen([sys.executable, "-m", "conductor", "task", "--root", stubs.root, "--project",
                             PROJECT, "--task", TASK, "--agent", "codex", "--prompt", prompt,
                             "--restart-delay", "10ms", *extra], env=stubs.env, cwd=stubs.base)


def agent_running(stubs, loop):
    return wait_for(lambda: [i for i in runs(stubs.root)
                             if i.status == "running" and i.pid != loop.pid and _alive(i.pid)])[-1]


def test_sigterm_ignoring_agent_needs_force_and_grandchildren_die(stubs, tmp_path):
    pidfile = tmp_path / "gc.pid"
    loop = start_loop(stubs, f"STUB: ignore-term\nSTUB: grandchild {pidfile}\nSTUB: sleep 60")
    try:
        info = agent_running(stubs, loop)
        wait_for(lambda: pidfile.exists() and pidfile.read_text())
        grandchild = int(pidfile.read_text())
        res = stubs.run("stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--grace", "1s")
        assert res.returncode == 1
        assert res.stderr.strip() == (f"Error: run {info.run_id} (PID {info.pid}) did not stop within 1s; "
                                      "use --force to send SIGKILL")
        assert _alive(info.pid)
        res = stubs.run("stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--grace", "1s",
                        "--force")
        assert res.returncode == 0, res.stderr
        assert res.stdout == f"Stopped run {info.run_id} (PID {info.pid})\n"
        assert not _alive(info.pid) and not _alive(grandchild)
        assert loop.wait(timeout=30) == 1  # the loop saw STOP-REQUESTED and did not restart
    finally:
        if loop.poll() is None:
            loop.kill()
    assert len(runs(stubs.root)) == 1
    assert runs(stubs.root)[0].error_summary == "stopped by operator (agent killed (OOM or signal))"


def test_stop_messages_for_runs_that_are_not_running(stubs):
    assert stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--agent", "codex",
                     "--prompt", "STUB: done").returncode == 0
    run_dir = os.path.dirname(runs(stubs.root)[0].prompt_path)
    res = stubs.run("stop", "--root", stubs.root, "--run-dir", run_dir)
    assert (res.returncode, res.stderr) == (0, f"run {runs(stubs.root)[0].run_id} is not running (status: completed)\n")
    res = stubs.run("stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK)
    assert res.stderr == f"Error: no running runs found for project {PROJECT} task {TASK}\n"
    empty = os.path.join(task_dir(stubs.root), "runs", "20260101-0000000000-1-0001")
    os.makedirs(empty)
    res = stubs.run("stop", "--root", stubs.root, "--run-dir", empty)
    assert res.stderr == ("run-info.yaml missing for run 20260101-0000000000-1-0001; "
                          "status is unknown — nothing to stop\n")


def test_resume_starts_again_with_the_prefix(stubs):
    loop = start_loop(stubs, "STUB: sleep 60")
    try:
        agent_running(stubs, loop)
        assert stubs.run("task", "stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                         "--grace", "5s").returncode == 0
        assert loop.wait(timeout=30) == 1
    finally:
        if loop.poll() is None:
            loop.kill()
    # `task` would clear STOP-REQUESTED itself; `resume` clears it and DONE, and prefixes attempt 1
    with open(os.path.join(task_dir(stubs.root), "TASK.md"), "w") as f:
        f.write("STUB: done\n")
    res = stubs.run("task", "resume", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "codex", "--restart-delay", "10ms")
    assert res.returncode == 0, res.stderr
    assert res.stderr.startswith(f"Resuming task: {TASK}\n")
    last = runs(stubs.root)[-1]
    assert last.status == "completed"
    assert "\n---\n\nContinue working on the following:\n\nSTUB: done\n" in open(last.prompt_path).read()
    assert not os.path.exists(os.path.join(task_dir(stubs.root), "STOP-REQUESTED"))


def test_top_level_resume_clears_markers(stubs):
    td = task_dir(stubs.root)
    os.makedirs(td)
    for name in ("TASK.md", "DONE", "STOP-REQUESTED"):
        open(os.path.join(td, name), "w").write("x\n")
    res = stubs.run("resume", "--root", stubs.root, "--project", PROJECT, "--task", TASK)
    assert (res.returncode, res.stdout) == (0, f"Resumed task {TASK} (restart counter reset)\n")
    assert sorted(os.listdir(td)) == ["TASK.md"]
