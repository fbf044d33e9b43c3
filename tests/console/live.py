"""Helpers for tests against a real runs root with real supervisors and `command` agents."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from waiting import wait_for as _wait_for

AGENT_SOURCE = r'''
import os, subprocess, sys, time
prompt = sys.stdin.read()
task_dir = os.environ["JRUN_TASK_FOLDER"]
run_dir = os.environ["JRUN_RUN_FOLDER"]
def post(kind, body):
    subprocess.run(["run-agent", "bus", "post", "--type", kind, "--body", body], check=False)
print("agent started", flush=True)
if "@LONG@" in prompt:
    i = 0
    while True:
        i += 1
        print(f"working line {i}", flush=True)
        time.sleep(0.2)
if "@ASK@" in prompt:
    post("QUESTION", "which database should I use?")
print("doing the quick job", flush=True)
post("PROGRESS", "quick job half done")
with open(os.path.join(run_dir, "output.md"), "w") as fh:
    fh.write("# Result\n\nAll done.\n")
open(os.path.join(task_dir, "DONE"), "w").close()
print("finished", flush=True)
'''


def write_agent(tmp_path) -> tuple[str, str]:
    """The agent script and a config.yaml whose `sim` agent runs it. Returns (config, script)."""
    script = tmp_path / "sim_agent.py"
    script.write_text(AGENT_SOURCE)
    config = tmp_path / "config.yaml"
    config.write_text("agents:\n  sim:\n    type: command\n    command: [%s, %s]\n"
                      "defaults:\n  agent: sim\n" % (sys.executable, script))
    return str(config), str(script)


async def until(pilot, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` while letting the app run; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """:func:`waiting.wait_for`, polling every 0.1 s, with ``what`` as the third argument."""
    return _wait_for(predicate, timeout, 0.1, what)


def stop_everything(root: str) -> None:
    """Teardown: stop every task under ``root`` (force) and wait for their loops to go."""
    from conductor import orchestrator
    from conductor.store.supervision import loop_alive
    from conductor.store import scan_root
    if not os.path.isdir(root):
        return
    for project in scan_root(root):
        for task in project.tasks:
            try:
                orchestrator.stop_task(root, project.id, task.id, force=True, grace=1.0)
            except Exception:  # noqa: BLE001 - best effort in teardown
                pass
            deadline = time.monotonic() + 15
            while loop_alive(task.path) and time.monotonic() < deadline:
                time.sleep(0.1)


def run_app(coro_fn):
    return asyncio.run(coro_fn())


def start_task(root: str, config: str, project: str, task: str, prompt: str) -> None:
    """A task started as the console would (new_task + a detached supervisor)."""
    from conductor import orchestrator
    orchestrator.new_task(root, project, task, prompt)
    orchestrator.start_task(root, project, task, agent="sim", config_path=config)


def running_runs(app, project: str, task: str):
    view = app.run_tree.task_view(project, task)
    return [r for r in (view.runs if view else []) if r.status == "running"]


async def settle(pilot, rounds: int = 3) -> None:
    """Let the finite workers finish (never the watcher, which runs for the app's life)."""
    for _ in range(rounds):
        workers = [w for w in pilot.app.workers if w.group != "watch" and not w.is_finished]
        if workers:
            await pilot.app.workers.wait_for_complete(workers)
        await pilot.pause()


async def select(pilot, app, ref) -> None:
    """Put the tree cursor on ``ref`` and wait until the app has taken it as its selection."""
    await until(pilot, lambda: app.run_tree.select_ref(ref), 20, f"node {ref}")
    await until(pilot, lambda: app.selected == ref, 10, f"selection {ref}")
