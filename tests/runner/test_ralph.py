"""The Ralph loop, `run-agent task` (spec 4.6-4.10, 8.2), and what we fixed from spec 9."""

import os
import subprocess
import sys
import time

from .helpers import PROJECT, TASK, bus, runs, task_dir, wait_for


def task(stubs, prompt=None, *extra, task_id=TASK, agent="codex"):
    args = ["task", "--root", stubs.root, "--project", PROJECT, "--task", task_id, "--agent", agent,
            "--restart-delay", "10ms", "--child-poll-interval", "50ms"]
    if prompt is not None:
        args += ["--prompt", prompt]
    return stubs.run(*args, *extra)


def loop_messages(root, task_id=TASK):
    return [(m.type, m.body) for m in bus(root, task_id) if not m.run_id]


def test_done_on_first_run_gives_one_run(stubs):
    res = task(stubs, "STUB: say hi\nSTUB: done")
    assert res.returncode == 0, res.stderr
    assert len(runs(stubs.root)) == 1
    assert open(runs(stubs.root)[0].output_path).read() == "hi\n"
    assert loop_messages(stubs.root)[:2] == [
        ("INFO", "starting root agent (restart #0)"),
        ("INFO", "task completed (DONE marker present, no active children)")]


def test_restarts_until_done_with_restart_prefix(stubs):
    res = task(stubs, "STUB: done-after 2")
    assert res.returncode == 0, res.stderr
    first, second = runs(stubs.root)
    assert second.previous_run_id == first.run_id
    assert "Continue working on the following:" not in open(first.prompt_path).read()
    assert "\n---\n\nContinue working on the following:\n\nSTUB: done-after 2\n" in open(second.prompt_path).read()
    starts = [b for k, b in loop_messages(stubs.root) if b.startswith("starting root agent")]
    assert starts == ["starting root agent (restart #0)", "starting root agent (restart #1)"]


def test_max_attempts_exceeded(stubs):
    res = task(stubs, "STUB: exit 1", "--max-restarts", "2")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == "Error: max restarts exceeded"
    assert len(runs(stubs.root)) == 2
    msgs = loop_messages(stubs.root)
    assert ("WARNING", "root agent failed on restart #0: agent execution failed: agent reported failure") in msgs
    assert msgs[-1] == ("ERROR", "task failed: max restarts (2) exceeded")
    assert task(stubs, "x", "--max-restarts", "0").stderr.strip().endswith(
        "Error: --max-restarts must be at least 1 (it counts attempts)")


def test_task_md_rules(stubs):
    res = task(stubs, None)
    assert res.returncode == 1 and res.stderr.strip().endswith("Error: TASK.md not found and no prompt provided")
    os.makedirs(task_dir(stubs.root), exist_ok=True)
    with open(os.path.join(task_dir(stubs.root), "TASK.md"), "w") as f:
        f.write("  STUB: say from task md\nSTUB: done\n\n")
    assert task(stubs, None).returncode == 0
    assert open(runs(stubs.root)[0].output_path).read() == "from task md\n"
    os.remove(os.path.join(task_dir(stubs.root), "DONE"))
    assert task(stubs, "STUB: say explicit\nSTUB: done").returncode == 0
    assert open(runs(stubs.root)[-1].output_path).read() == "explicit\n"
    assert open(os.path.join(task_dir(stubs.root), "TASK.md")).read() == "  STUB: say from task md\nSTUB: done\n\n"


def test_chain_spawned_without_scope_flags(stubs):
    res = task(stubs, "STUB: child codex child gemini say deep\nSTUB: say root\nSTUB: done", agent="claude")
    assert res.returncode == 0, res.stderr
    by_agent = {i.agent: i for i in runs(stubs.root)}
    assert set(by_agent) == {"claude", "codex", "gemini"}
    assert all(i.status == "completed" for i in by_agent.values())
    assert by_agent["claude"].parent_run_id == ""
    assert by_agent["codex"].parent_run_id == by_agent["claude"].run_id
    assert by_agent["gemini"].parent_run_id == by_agent["codex"].run_id
    assert open(by_agent["gemini"].output_path).read() == "deep\n"


def test_done_with_running_children_waits_for_them(stubs):
    res = task(stubs, "STUB: child-bg codex sleep 2\nSTUB: done")
    assert res.returncode == 0, res.stderr
    child = [i for i in runs(stubs.root) if i.parent_run_id][0]
    assert child.status == "completed" and child.end_time is not None
    msgs = loop_messages(stubs.root)
    assert ("INFO", f"waiting for 1 children to complete: [{child.run_id}]") in msgs
    assert ("INFO", "task completed (all children finished)") in msgs


def test_done_before_start_runs_no_agent_but_waits_for_live_child(stubs):
    td = task_dir(stubs.root)
    os.makedirs(td)
    open(os.path.join(td, "TASK.md"), "w").write("x\n")
    child = subprocess.Popen([sys.executable, "-m", "conductor", "job", "--root", stubs.root, "--project",
                              PROJECT, "--task", TASK, "--agent", "codex", "--prompt", "STUB: sleep 1.5",
                              "--parent-run-id", "elsewhere"], env=stubs.env, cwd=stubs.base)
    wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0].pid > 0)
    open(os.path.join(td, "DONE"), "w").close()
    started = time.monotonic()
    assert task(stubs, None).returncode == 0
    assert time.monotonic() - started >= 0.2
    assert child.wait(timeout=30) == 0
    assert len(runs(stubs.root)) == 1 and runs(stubs.root)[0].status == "completed"


def test_child_wait_timeout_reports_the_remaining_child(stubs):
    res = task(stubs, "STUB: child-bg codex sleep 20\nSTUB: done", "--child-wait-timeout", "1s")
    assert res.returncode == 0
    child = [i for i in runs(stubs.root) if i.parent_run_id][0]
    assert ("WARNING", f"timeout waiting for children after 1s: [{child.run_id}]") in loop_messages(stubs.root)
    assert child.pgid > 0
    os.killpg(child.pgid, 15)


def test_stale_children_of_earlier_attempts_are_not_waited_for(stubs):
    # attempt 1 leaves a long child behind and fails; attempt 2 writes DONE: only attempt 2's
    # children count (upstream waited for every child in the task, spec 9 #18)
    res = task(stubs, "STUB: first child-bg codex sleep 30\nSTUB: first sleep 2\nSTUB: done-after 2",
               "--child-wait-timeout", "20s")
    assert res.returncode == 0
    stale = [i for i in runs(stubs.root) if i.parent_run_id]
    assert stale and stale[0].status == "running"  # the stale child really was there
    assert not any(b.startswith("waiting for") for _, b in loop_messages(stubs.root))
    for info in runs(stubs.root):
        if info.parent_run_id and info.status == "running" and info.pgid > 0:
            os.killpg(info.pgid, 15)


def test_completion_fact_propagates_once(stubs):
    assert task(stubs, "STUB: post FACT result is 7\nSTUB: done").returncode == 0
    from conductor.bus import MessageBus
    project_bus = MessageBus(os.path.join(stubs.root, PROJECT, "PROJECT-MESSAGE-BUS.md"))
    [fact] = project_bus.read_all()
    assert fact.type == "FACT" and fact.task_id == TASK
    assert fact.meta["kind"] == "task_completion_propagation"
    assert fact.meta["task_fact_count"] == "1"
    assert fact.body.startswith("task completion propagated to project scope\n\n")
    assert [p.kind for p in fact.parents] == ["source_run_event", "source_fact"]
    # a second loop on the same DONE state does not post again
    assert task(stubs, None).returncode == 0
    assert len(project_bus.read_all()) == 1
    assert loop_messages(stubs.root)[-1][1].startswith("task completion facts already propagated (key=")


def test_dependencies_gate_the_start(stubs):
    dep = "task-20260220-153045-depend"
    res = task(stubs, "STUB: done", "--depends-on", dep, "--dependency-timeout", "500ms",
               "--dependency-poll-interval", "100ms")
    assert res.returncode == 1
    assert res.stderr.strip().endswith(f"Error: timed out waiting for dependencies: {dep}")
    assert open(os.path.join(task_dir(stubs.root), "TASK-CONFIG.yaml")).read() == f"depends_on:\n    - {dep}\n"
    assert ("PROGRESS", f"task blocked by dependencies: {dep}") in loop_messages(stubs.root)
    assert runs(stubs.root) == []
    waiter = subprocess.Popen([sys.executable, "-m", "conductor", "task", "--root", stubs.root,
                               "--project", PROJECT, "--task", TASK, "--agent", "codex",
                               "--dependency-poll-interval", "100ms", "--restart-delay", "10ms"],
                              env=stubs.env, cwd=stubs.base)
    blocked = ("PROGRESS", f"task blocked by dependencies: {dep}")
    # the waiter says it is blocked (the first run said so once already), then keeps waiting
    wait_for(lambda: loop_messages(stubs.root).count(blocked) == 2 or waiter.poll() is not None)
    assert waiter.poll() is None and runs(stubs.root) == []
    assert task(stubs, "STUB: done", task_id=dep).returncode == 0
    assert waiter.wait(timeout=30) == 0
    assert ("FACT", "dependencies satisfied; starting task") in loop_messages(stubs.root)
    assert len(runs(stubs.root)) == 1


def test_dependency_cycle_and_self_dependency_are_rejected(stubs):
    a, b = "task-20260220-153045-aaaa", "task-20260220-153045-bbbb"
    os.makedirs(os.path.join(stubs.root, PROJECT, b))
    open(os.path.join(stubs.root, PROJECT, b, "TASK-CONFIG.yaml"), "w").write(f"depends_on:\n    - {a}\n")
    res = task(stubs, "x", "--depends-on", b, task_id=a)
    assert res.stderr.strip().endswith(f"Error: dependency cycle detected: {a} -> {b} -> {a}")
    res = task(stubs, "x", "--depends-on", a, task_id=a)
    assert res.stderr.strip().endswith(f'Error: task "{a}" cannot depend on itself')


def test_one_supervisor_per_task_and_stop_requested_is_honoured(stubs):
    loop = subprocess.Popen([sys.executable, "-m", "conductor", "task", "--root", stubs.root, "--project",
                             PROJECT, "--task", TASK, "--agent", "codex", "--prompt", "STUB: sleep 30",
                             "--restart-delay", "10ms"], env=stubs.env, cwd=stubs.base)
    try:
        wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0].pid > 0)
        second = task(stubs, "x")
        assert second.returncode == 1
        assert second.stderr.strip().endswith(
            f"Error: task {TASK} already has a running loop (pid {loop.pid}); stop it first (run-agent task stop)")
        res = stubs.run("task", "stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--grace", "5s")
        assert res.returncode == 0, res.stderr
        assert loop.wait(timeout=30) == 1
    finally:
        if loop.poll() is None:
            loop.kill()
    [info] = runs(stubs.root)
    assert info.status == "failed" and info.error_summary == "stopped by operator (agent terminated (SIGTERM))"
    assert os.path.exists(os.path.join(task_dir(stubs.root), "STOP-REQUESTED"))
    assert loop_messages(stubs.root)[-1] == ("INFO", "task stopped by operator (STOP-REQUESTED present); not restarting")
