"""Implementation of the operator verbs (see the package docstring)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from ..bus import Message, MessageBus
from ..errors import ConductorError, UsageError
from ..ids import validate_component, validate_project_id, validate_task_id
from ..runner import stop as _stop
from ..store.supervision import loop_alive as _loop_alive
from ..store import safefs
from ..store import (Cancellation, Layout, clear_cancelled, clear_done, clear_stop_requested,
                     write_cancelled, write_depends_on, write_task_md_if_missing)

LOOP_LOG = "TASK-LOOP.log"


@dataclass
class StartResult:
    pid: int
    task_dir: str
    log_path: str


def _task_dir(root: str, project: str, task: str) -> str:
    validate_project_id(project)
    validate_component("task", task)
    return Layout(root).task_dir(project, task)


def loop_alive(root: str, project: str, task: str) -> bool:
    return _loop_alive(_task_dir(root, project, task))


def new_task(root: str, project: str, task: str, prompt: str, *,
             depends_on: list[str] | None = None) -> str:
    """Create a task's directory and TASK.md (validated first; nothing is written on bad input)."""
    validate_project_id(project)
    validate_task_id(task)
    if not prompt.strip():
        raise UsageError("prompt is empty")
    layout = Layout(root)
    task_dir = layout.task_dir(project, task)
    if safefs.lstat(layout.root, os.path.join(task_dir, "TASK.md")) is not None:
        raise UsageError(f"task {task} already exists in project {project}")
    if depends_on:
        from ..runner.deps import check_depends_on, find_cycle
        deps = check_depends_on(task, depends_on)
        cycle = find_cycle(layout.project_dir(project), task, deps)
        if cycle:
            raise UsageError("dependency cycle detected: " + " -> ".join(cycle))
    task_dir = layout.ensure_task_dir(project, task)
    write_task_md_if_missing(task_dir, prompt.strip())
    if depends_on:
        write_depends_on(task_dir, depends_on)
    return task_dir


def start_task(root: str, project: str, task: str, *, agent: str | None = None,
               config_path: str | None = None, prompt: str | None = None, cwd: str | None = None,
               depends_on: list[str] | None = None, resume: bool = False,
               extra_args: list[str] | None = None, environ: dict | None = None) -> StartResult:
    """Launch ``run-agent task`` detached; it survives the caller's exit."""
    task_dir = _task_dir(root, project, task)
    if _loop_alive(task_dir):
        raise UsageError(f"task {task} already has a running loop")
    root = Layout(root).root
    safefs.makedirs(root, task_dir)
    argv = [sys.executable, "-m", "conductor", "task", "--root", os.path.abspath(root),
            "--project", project, "--task", task]
    if agent:
        argv += ["--agent", agent]
    if config_path:
        argv += ["--config", os.path.abspath(config_path)]
    if prompt:
        argv += ["--prompt", prompt]
    if cwd:
        argv += ["--cwd", os.path.abspath(cwd)]
    if depends_on:
        argv += ["--depends-on", ",".join(depends_on)]
    if resume:
        argv.append("--resume")
    argv += extra_args or []
    log_path = os.path.join(task_dir, LOOP_LOG)
    # through safefs: a link planted at TASK-LOOP.log is refused (one line), never written
    # through, and a FIFO there never blocks the console
    log = safefs.open_append(root, log_path)
    env = dict(os.environ if environ is None else environ)
    for key in [k for k in env if k.startswith("JRUN_")]:
        del env[key]  # a console started inside a run must not make tasks its children
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=task_dir, env=env, start_new_session=True, close_fds=True)
    finally:
        os.close(log)
    _reap_later(proc)
    return StartResult(proc.pid, task_dir, log_path)


def _reap_later(proc: subprocess.Popen) -> None:
    """Collect the supervisor's exit status if it ends while we live (no zombies in the console)."""
    import threading
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()


def stop_run(root: str, project: str, task: str, run_id: str, *, force: bool = True,
             grace: float = 5.0) -> _stop.StopOutcome:
    """Stop one run only; the task's loop (if any) goes on and may restart its root agent."""
    validate_component("run", run_id)
    run_dir = Layout(root).run_dir(project, task, run_id)
    return _stop.stop_run(run_dir, grace=grace, force=force)


def stop_task(root: str, project: str, task: str, *, force: bool = True,
              grace: float = 5.0) -> list[_stop.StopOutcome]:
    _task_dir(root, project, task)
    return _stop.stop_task(Layout(root), project, task, grace=grace, force=force)


def cancel_task(root: str, project: str, task: str, reason: str) -> Cancellation:
    """Write CANCELLED (``task cancel``). The loop starts no further attempt; a run in
    progress finishes (``task stop`` ends it now). ``resume`` clears the marker."""
    validate_project_id(project)
    validate_component("task", task)
    if not reason.strip():
        raise UsageError("--reason is empty")
    if any(not ch.isprintable() for ch in reason):
        raise UsageError("--reason must be one line of printable text")
    task_dir = Layout(root).task_dir(project, task)
    if not os.path.isdir(task_dir) or os.path.islink(task_dir):
        raise UsageError(f"task not found: {project}/{task}")
    return write_cancelled(task_dir, reason)


def wait_loop_gone(task_dir: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _loop_alive(task_dir):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def resume_task(root: str, project: str, task: str, **kwargs) -> StartResult:
    """Clear DONE and STOP-REQUESTED and start the loop again with the restart prefix."""
    task_dir = _task_dir(root, project, task)
    if not safefs.is_file(Layout(root).root, os.path.join(task_dir, "TASK.md")):
        raise UsageError(f"TASK.md not found in task directory {task_dir}")
    clear_done(task_dir)
    clear_stop_requested(task_dir)
    clear_cancelled(task_dir)
    return start_task(root, project, task, resume=True, **kwargs)


def restart_task(root: str, project: str, task: str, *, grace: float = 5.0, **kwargs) -> StartResult:
    """Stop the task if it runs (loop and runs), then start it again with the restart prefix."""
    task_dir = _task_dir(root, project, task)
    _stop.stop_task(Layout(root), project, task, grace=grace, force=True)
    if not wait_loop_gone(task_dir, timeout=grace + 10.0):
        raise ConductorError(f"task {task}: the old loop did not exit; try again")
    return resume_task(root, project, task, **kwargs)


def post_message(root: str, project: str, task: str | None, msg_type: str, body: str, *,
                 run_id: str = "") -> Message:
    validate_project_id(project)
    layout = Layout(root)
    if task:
        validate_component("task", task)
        path = layout.task_bus(project, task)
        if not safefs.is_dir(layout.root, os.path.dirname(path)):
            raise UsageError(f"task not found: {project}/{task}")
    else:
        path = layout.project_bus(project)
        safefs.makedirs(layout.root, os.path.dirname(path))
    return MessageBus(path).append(Message(type=msg_type, project_id=project, task_id=task or "",
                                           run_id=run_id, body=body))
