"""Implementation of the operator verbs (see the package docstring)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from .. import defaults
from ..errors import ConductorError, LayoutError, UsageError
from ..ids import validate_component, validate_project_id, validate_task_id
from ..runner import stop as _stop
from ..store.supervision import loop_alive as _loop_alive
from ..store import safefs
from ..store import (Cancellation, Layout, clear_cancelled, clear_done, clear_stop_requested,
                     write_cancelled, write_depends_on, write_task_md_if_missing)

LOOP_LOG = "TASK-LOOP.log"
_StopOutcome = _stop.StopOutcome


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


UNKNOWN_DEPENDENCY = "depends on: no task "
"""How :func:`new_task`'s refusal of a dependency that does not exist begins."""


def new_task(root: str, project: str, task: str, prompt: str, *,
             depends_on: list[str] | None = None, unknown_deps_ok: bool = False) -> str:
    """Create a task's directory and TASK.md (validated first; nothing is written on bad input).

    A dependency on a task that does not exist in the project would wait forever, so it is
    refused unless ``unknown_deps_ok`` (the operator confirmed the task will be created)."""
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
        if not unknown_deps_ok:
            for dep in deps:
                dep_md = os.path.join(layout.task_dir(project, dep), "TASK.md")
                if safefs.lstat(layout.root, dep_md) is None:
                    raise UsageError(f"{UNKNOWN_DEPENDENCY}{dep} in project {project}")
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


@dataclass
class StopRunResult:
    """What stopping one run did: the run's outcome and whether its task was stopped too (the
    one marker rule, :func:`stop_marks_task`), with the warning when STOP-REQUESTED could not be
    written. On an error the exception carries what was done so far as ``exc.partial``."""

    run_dir: str
    outcome: _StopOutcome | None = None
    task_stopped: bool = False
    marker_notice: str = ""

    @property
    def message(self) -> str:
        return self.outcome.message if self.outcome else ""

    @property
    def notice(self) -> str:
        return self.outcome.notice if self.outcome else ""


@dataclass
class StopTaskResult:
    """What stopping a task did: one outcome per run (and one for a marker not written).
    Iterating it gives the outcomes."""

    project: str
    task: str
    outcomes: list[_StopOutcome]

    def __iter__(self):
        return iter(self.outcomes)

    @property
    def marker_written(self) -> bool:
        return not any(o.notice.startswith(_stop.MARKER_WARNING) for o in self.outcomes)

    @property
    def refused(self) -> bool:
        """A run of the task could not be signalled (it may still run)."""
        return any(o.refused for o in self.outcomes)

    @property
    def summary(self) -> str:
        if self.marker_written:
            return (f"Stopped task {self.project}/{self.task} (STOP-REQUESTED written; "
                    "the loop will not restart it)")
        return (f"Stopped task {self.project}/{self.task} (STOP-REQUESTED not written; "
                "the loop, if any, was told directly not to restart it)")


@dataclass
class DeleteResult:
    project: str
    task: str
    task_dir: str
    stopped: list[_StopOutcome]  # with force, what stopping the live task did first


def stop_marks_task(run_dir: str, *, task_named: bool) -> bool:
    """The one marker rule. Stopping a run stops its task too (the loop is told not to restart
    it, then STOP-REQUESTED is written) when the stop names the task (``stop --project
    --task``) or the run is the task's root run (no parent run); a child run stopped by its run
    dir leaves the loop alone. Never when the task dir is gone."""
    task_dir = os.path.dirname(os.path.dirname(run_dir))
    if not os.path.isdir(task_dir):
        return False
    if task_named:
        return True
    from ..store import RUN_INFO, read_run_info
    try:
        return not read_run_info(os.path.join(run_dir, RUN_INFO)).parent_run_id
    except ConductorError:
        return False


def stop_run_dir(run_dir: str, *, task_named: bool = False, only: bool = False,
                 force: bool = False, grace: float = defaults.STOP_GRACE,
                 permanent: bool = False) -> StopRunResult:
    """Stop the run at ``run_dir`` (SIGTERM, ``grace``, SIGKILL with ``force``); its task too
    by the one marker rule unless ``only``. Signals first, the marker after: a marker that
    cannot be written is only a warning (``marker_notice``)."""
    result = StopRunResult(run_dir)
    result.task_stopped = not only and stop_marks_task(run_dir, task_named=task_named)
    task_dir = os.path.dirname(os.path.dirname(run_dir))
    if result.task_stopped:
        _stop.tell_supervisor(task_dir)  # a signal to the verified loop: it will not restart
    try:
        result.outcome = _stop.stop_run(run_dir, grace=grace, force=force)
    except ConductorError as exc:
        exc.partial = result
        raise
    finally:
        if result.task_stopped:
            root = os.path.dirname(os.path.dirname(task_dir))
            result.marker_notice = _stop.write_marker(Layout(root), task_dir, permanent)
    return result


def stop_run(root: str, project: str, task: str, run_id: str = "", *, force: bool = True,
             grace: float = defaults.CONSOLE_GRACE, only: bool = True,
             must_be_running: bool = False, permanent: bool = False) -> StopRunResult:
    """Stop one run of a task: ``run_id``, or without it the newest running one. ``only`` (the
    console's "stop run"): the task's loop goes on and may restart its root agent; otherwise
    the task stops too (:func:`stop_marks_task`, the task is named). ``must_be_running``: a
    run that is not running is an error (``stop --run``), not a notice."""
    validate_project_id(project)
    validate_component("task", task)
    if run_id:
        validate_component("run", run_id)
    layout = Layout(root)
    if run_id and not must_be_running:
        run_dir = layout.run_dir(project, task, run_id)
    else:
        run_dir = _stop.latest_running_run(layout, project, task, run_id or None)
    return stop_run_dir(run_dir, task_named=True, only=only, force=force, grace=grace,
                        permanent=permanent)


def stop_task(root: str, project: str, task: str, *, force: bool = True,
              grace: float = defaults.CONSOLE_GRACE, permanent: bool = False) -> StopTaskResult:
    """Tell the task's supervisor, stop every live run, write STOP-REQUESTED."""
    _task_dir(root, project, task)
    outcomes = _stop.stop_task(Layout(root), project, task, grace=grace, force=force,
                               permanent=permanent)
    return StopTaskResult(project, task, outcomes)


def task_liveness(root: str, project: str, task: str) -> str:
    """What still runs in the task ("" when nothing): its loop, its newest live run."""
    layout = Layout(root)
    parts = []
    if _loop_alive(layout.task_dir(project, task)):
        parts.append("its loop is alive")
    try:
        runs = _stop.live_runs(layout, project, task)
    except LayoutError:
        runs = []  # a runs dir that is a link (or not a dir) holds no run of ours to stop
    if runs:
        parts.append(f"run {runs[-1][1].run_id} is alive")
    return "; ".join(parts)


def delete_task(root: str, project: str, task: str, *, force: bool = False,
                grace: float = defaults.DELETE_GRACE) -> DeleteResult:
    """Delete a task's directory. A live task (its loop or a run) is refused; with ``force`` it
    is stopped first (SIGKILL after ``grace``) and deleted only once nothing of it runs."""
    task_dir = _task_dir(root, project, task)
    layout = Layout(root)
    if not os.path.isdir(task_dir) or os.path.islink(task_dir):
        raise UsageError(f"task not found: {project}/{task}")
    result = DeleteResult(project, task, task_dir, [])
    live = task_liveness(root, project, task)
    if live and not force:
        raise UsageError(f"task {task} is running ({live}); stop it first "
                         "(run-agent task stop) or use --force to stop and delete it")
    if live:  # stop the loop and every run first, so nothing is left running unlisted
        result.stopped = _stop.stop_task(layout, project, task, grace=grace, force=True)
        wait_loop_gone(task_dir, timeout=grace + defaults.LOOP_EXIT_WAIT)
        live = task_liveness(root, project, task)
        if live:
            exc = ConductorError(f"task {task} is still running after the stop ({live}); "
                                 "not deleting it")
            exc.partial = result
            raise exc
    # through descriptors walked from the root: links inside the task are removed, never
    # followed, and a task dir swapped for a link meanwhile is refused
    safefs.rmtree(layout.root, task_dir)
    return result


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


def resumable_task_dir(root: str, project: str, task: str, *, need_task_md: bool = True) -> str:
    """The task dir to resume: it must exist (and hold TASK.md unless ``need_task_md`` is
    false, as for top-level ``resume`` without ``--agent``), else a one-line UsageError."""
    task_dir = _task_dir(root, project, task)
    layout = Layout(root)
    if not safefs.is_dir(layout.root, task_dir):
        raise UsageError(f"task directory not found: {task_dir}")
    if need_task_md and not safefs.is_file(layout.root, os.path.join(task_dir, "TASK.md")):
        raise UsageError(f"TASK.md not found in task directory {task_dir}")
    return task_dir


def clear_stop_markers(task_dir: str) -> None:
    """What resume clears: DONE, STOP-REQUESTED and CANCELLED."""
    clear_done(task_dir)
    clear_stop_requested(task_dir)
    clear_cancelled(task_dir)


def resume_task(root: str, project: str, task: str, **kwargs) -> StartResult:
    """Clear DONE, STOP-REQUESTED and CANCELLED and start the loop detached with the restart
    prefix (the CLI's ``task resume`` runs the same loop in the foreground)."""
    task_dir = resumable_task_dir(root, project, task)
    clear_stop_markers(task_dir)
    return start_task(root, project, task, resume=True, **kwargs)


def restart_task(root: str, project: str, task: str, *, grace: float = defaults.CONSOLE_GRACE,
                 **kwargs) -> StartResult:
    """Stop the task if it runs (loop and runs), then start it again with the restart prefix."""
    task_dir = _task_dir(root, project, task)
    _stop.stop_task(Layout(root), project, task, grace=grace, force=True)
    if not wait_loop_gone(task_dir, timeout=grace + defaults.LOOP_EXIT_WAIT):
        raise ConductorError(f"task {task}: the old loop did not exit; try again")
    return resume_task(root, project, task, **kwargs)
