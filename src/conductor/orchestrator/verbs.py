"""Implementation of the operator verbs (see the package docstring)."""

from __future__ import annotations

import os
import stat
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
# set in a started supervisor's environment: it clears DONE and CANCELLED itself once it holds
# the task's lock (it always clears STOP-REQUESTED), so a start that fails leaves them as they were
CLEAR_MARKERS_ENV = "CONDUCTOR_CLEAR_MARKERS"
_FAILURE_LOG_BYTES = 64 * 1024  # of TASK-LOOP.log written by one start, read for its error
_FAILURE_LINE_CHARS = 500       # the most of that error line shown


@dataclass
class StartResult:
    """A started supervisor: ``pid`` is the lock holder's (the real supervisor) once
    ``confirmed``; unconfirmed (still starting when the start window ended), the launched
    process's."""
    pid: int
    task_dir: str
    log_path: str
    confirmed: bool = True


class StartFailed(ConductorError):
    """The supervisor exited within the start window. ``str()`` is the first ``Error:`` line it
    wrote to TASK-LOOP.log (else its last non-empty line, else its exit status)."""

    def __init__(self, line: str, *, pid: int, returncode: int | None, log_path: str) -> None:
        super().__init__(line)
        self.line = line
        self.pid = pid
        self.returncode = returncode
        self.log_path = log_path


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
               extra_args: list[str] | None = None, environ: dict | None = None,
               clear_markers: bool = False, window: float | None = None,
               worktree: bool | None = None, base: str | None = None,
               executor: str | None = None) -> StartResult:
    """Launch ``run-agent task`` detached; it survives the caller's exit.

    Then watch it for up to ``window`` seconds (:data:`defaults.START_WINDOW`; 0: not at all):
    a supervisor holding the task's lock is started (its pid returned); one that exited is a
    :class:`StartFailed` carrying the error it wrote. ``clear_markers``: the supervisor clears
    DONE and CANCELLED once it holds the lock (never before: a failed start leaves them).
    ``worktree``: True runs the task in its own git worktree of the repository of ``cwd``
    (default: the caller's working dir) at ``base``; False never; None as the config says.
    ``executor``: where the task's runs execute (``--executor``; None: as the task's record or
    the config says, docs/scale-out.md)."""
    task_dir = _task_dir(root, project, task)
    if executor:
        executor = _known_executor(executor)  # one line, before anything is launched
    if worktree and not cwd:
        cwd = os.getcwd()  # the supervisor runs in the task dir: the repository is ours
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
    if worktree is not None:
        argv.append("--worktree" if worktree else "--no-worktree")
    if worktree and base:
        argv += ["--base", base]
    if executor:
        argv += ["--executor", executor]
    argv += extra_args or []
    log_path = os.path.join(task_dir, LOOP_LOG)
    # through safefs: a link planted at TASK-LOOP.log is refused (one line), never written
    # through, and a FIFO there never blocks the console
    log = safefs.open_append(root, log_path)
    env = dict(os.environ if environ is None else environ)
    for key in [k for k in env if k.startswith("JRUN_")]:
        del env[key]  # a console started inside a run must not make tasks its children
    env.pop(CLEAR_MARKERS_ENV, None)
    if clear_markers:
        env[CLEAR_MARKERS_ENV] = "1"
    try:
        log_start = os.fstat(log).st_size
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=task_dir, env=env, start_new_session=True, close_fds=True)
    finally:
        os.close(log)
    try:
        return _watch_start(proc, root, task_dir, log_path, log_start,
                            defaults.START_WINDOW if window is None else window)
    finally:
        _reap_later(proc)


def _watch_start(proc: subprocess.Popen, root: str, task_dir: str, log_path: str,
                 log_start: int, window: float) -> StartResult:
    """Poll until the supervisor holds the task's lock (started) or the launched process has
    exited (failed: with the fork server, the thin client ends as its supervisor ended)."""
    deadline = time.monotonic() + window
    delay = 0.01
    while True:
        if _loop_alive(task_dir):
            return StartResult(_supervisor_pid(task_dir, proc.pid), task_dir, log_path)
        code = proc.poll()
        if code is not None:
            if code == 0 or _loop_alive(task_dir):  # it ran (DONE already there: done at once)
                return StartResult(_supervisor_pid(task_dir, proc.pid), task_dir, log_path)
            raise StartFailed(_start_error(root, log_path, log_start, code), pid=proc.pid,
                              returncode=code, log_path=log_path)
        if time.monotonic() >= deadline:
            return StartResult(proc.pid, task_dir, log_path, confirmed=False)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _supervisor_pid(task_dir: str, fallback: int) -> int:
    from ..store.supervision import holder_pid
    return holder_pid(task_dir) or fallback


def _start_error(root: str, log_path: str, start: int, code: int) -> str:
    """The first ``Error:`` line the failed start wrote to TASK-LOOP.log, else its last
    non-empty line (only bytes appended since the start, at most 64 KiB, through safefs)."""
    text = ""
    try:
        fd = safefs.open_file(root, log_path)
    except (OSError, ConductorError):
        fd = None
    if fd is not None:
        try:
            text = os.pread(fd, _FAILURE_LOG_BYTES, start).decode("utf-8", "replace")
        except OSError:
            text = ""
        finally:
            os.close(fd)
    lines = [" ".join(line.split())[:_FAILURE_LINE_CHARS] for line in text.splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if line.startswith("Error:"):
            return line
    if lines:
        return lines[-1]
    how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    return f"the supervisor exited at once ({how})"


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
    worktree: str = ""  # what removing the task's git worktree did ("" when it had none)


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
                grace: float = defaults.DELETE_GRACE,
                worktree_force: bool | None = None) -> DeleteResult:
    """Delete a task's directory. A live task (its loop or a run) is refused; with ``force`` it
    is stopped first (SIGKILL after ``grace``) and deleted only once nothing of it runs.
    A task's git worktree and branch go with it; one with work not merged into its base is
    refused unless ``worktree_force`` (None: as ``force``)."""
    wt_force = force if worktree_force is None else worktree_force
    task_dir = _task_dir(root, project, task)
    layout = Layout(root)
    if not os.path.isdir(task_dir) or os.path.islink(task_dir):
        raise UsageError(f"task not found: {project}/{task}")
    result = DeleteResult(project, task, task_dir, [])
    keep_worktree = _worktree_refusal(task_dir, task, wt_force)
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
    if not keep_worktree:
        result.worktree = _remove_worktree(task_dir, task, wt_force)
    # through descriptors walked from the root: links inside the task are removed, never
    # followed, and a task dir swapped for a link meanwhile is refused
    safefs.rmtree(layout.root, task_dir)
    return result


def _worktree_refusal(task_dir: str, task: str, force: bool) -> bool:
    """Refuse (a one-line :class:`~conductor.worktree.manage.RemovalRefused`) to delete or
    archive a task whose worktree branch holds work its base has not, unless ``force``.
    True when the task's WORKTREE.json cannot be read and ``force`` goes on without it."""
    from ..worktree.manage import RemovalRefused, removal_problem
    from ..worktree.record import WorktreeRecordError
    try:
        problem = removal_problem(task_dir, task)
    except WorktreeRecordError as exc:
        if force:
            return True
        raise UsageError(f"{exc}; --force goes on without touching any worktree") from None
    if problem and not force:
        raise RemovalRefused(f"task {task}: {problem}")
    return False


def _remove_worktree(task_dir: str, task: str, force: bool) -> str:
    from ..worktree.manage import remove_worktree
    return remove_worktree(task_dir, task, force=force)


ARCHIVE_DIR = ".archive"
"""Archived tasks live at ``<root>/.archive/<project>/<task>``: under the root (one rename,
no copy), and not a project: a project id cannot start with a dot, so every scan of projects
(ours and upstream's) passes it by."""


@dataclass
class ArchiveResult:
    project: str
    task: str
    source: str
    target: str
    worktree: str = ""  # archive: what removing the task's git worktree did


def archive_dir(root: str, project: str, task: str) -> str:
    """Where ``archive_task`` puts a task (validated names; the path of the layout's root)."""
    validate_project_id(project)
    validate_component("task", task)
    return os.path.join(Layout(root).root, ARCHIVE_DIR, project, task)


def _move_dir(root: str, source: str, target: str, *, taken: str) -> None:
    """Rename the real directory ``source`` to ``target`` (whose parent exists), both under
    ``root``, through descriptors opened from the root without following a link: a link at
    ``source``, at any level above either name, or at ``.archive`` is refused. ``taken`` is
    the error when something is at ``target`` already."""
    src_fd = safefs.open_dir(root, os.path.dirname(source))
    try:
        dst_fd = safefs.open_dir(root, os.path.dirname(target))
        try:
            name, new = os.path.basename(source), os.path.basename(target)
            try:
                st = os.lstat(name, dir_fd=src_fd)
            except FileNotFoundError:
                raise UsageError(f"not found: {source}") from None
            if not stat.S_ISDIR(st.st_mode):
                raise LayoutError(f"{source}: is {safefs.describe(st.st_mode)}, "
                                  "expected a directory; not moving it")
            try:
                os.lstat(new, dir_fd=dst_fd)
            except FileNotFoundError:
                pass
            else:
                raise UsageError(taken)
            try:
                os.rename(name, new, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except OSError as exc:
                raise LayoutError(f"{source}: rename to {target}: {safefs.reason(exc)}") from None
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def archive_task(root: str, project: str, task: str, *, force: bool = False) -> ArchiveResult:
    """Move a task's directory to ``<root>/.archive/<project>/<task>`` (``restore_task`` moves
    it back). A live task (its loop or a run) is refused: stop it first."""
    task_dir = _task_dir(root, project, task)
    layout = Layout(root)
    st = safefs.lstat(layout.root, task_dir)
    if st is None:
        raise UsageError(f"task not found: {project}/{task}")
    if not stat.S_ISDIR(st.st_mode):
        raise LayoutError(f"{task_dir}: is {safefs.describe(st.st_mode)}, expected a "
                          "directory; not archiving it")
    live = task_liveness(root, project, task)
    if live:
        raise UsageError(f"task {task} is running ({live}); stop it first "
                         "(run-agent task stop), then archive it")
    target = archive_dir(root, project, task)
    keep_worktree = _worktree_refusal(task_dir, task, force)
    if safefs.lstat(layout.root, target) is None and not keep_worktree:
        worktree = _remove_worktree(task_dir, task, force)
    else:
        worktree = ""
    safefs.makedirs(layout.root, os.path.dirname(target))
    _move_dir(layout.root, task_dir, target,
              taken=f"task {task} of project {project} is already archived ({target}); "
                    "restore or delete that one first")
    return ArchiveResult(project, task, task_dir, target, worktree)


def restore_task(root: str, project: str, task: str) -> ArchiveResult:
    """Move an archived task back to ``<root>/<project>/<task>``; refused when that name is
    taken. The empty ``.archive/<project>`` left behind is removed."""
    task_dir = _task_dir(root, project, task)
    layout = Layout(root)
    source = archive_dir(root, project, task)
    st = safefs.lstat(layout.root, source)
    if st is None:
        raise UsageError(f"archived task not found: {project}/{task}")
    safefs.makedirs(layout.root, layout.project_dir(project))
    _move_dir(layout.root, source, task_dir,
              taken=f"task {task} already exists in project {project}; not restoring over it")
    try:
        fd = safefs.open_dir(layout.root, os.path.dirname(os.path.dirname(source)))
        try:
            os.rmdir(project, dir_fd=fd)  # only when empty
        finally:
            os.close(fd)
    except OSError:
        pass
    return ArchiveResult(project, task, source, task_dir)


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
    """Start the loop detached with the restart prefix; it clears DONE, STOP-REQUESTED and
    CANCELLED itself once it holds the task's lock, so a start that fails (:class:`StartFailed`)
    leaves them as they were (the CLI's ``task resume`` clears them and runs the loop in the
    foreground)."""
    resumable_task_dir(root, project, task)
    return start_task(root, project, task, resume=True, clear_markers=True, **kwargs)


def restart_task(root: str, project: str, task: str, *, grace: float = defaults.CONSOLE_GRACE,
                 executor: str | None = None, **kwargs) -> StartResult:
    """Stop the task if it runs (loop and runs), then start it again with the restart prefix.
    A task where nothing runs is not stopped (no STOP-REQUESTED is written): a start that
    fails then leaves its markers exactly as they were.

    ``executor``: run the task on this executor from now on; the new loop records it in the
    task's TASK-EXECUTOR once it holds the lock. An unknown name is refused (one line naming it
    and the known ones) before anything is stopped or written. None: as the record, else the
    config, says."""
    task_dir = _task_dir(root, project, task)
    if executor:
        executor = _known_executor(executor)
    if not safefs.is_dir(Layout(root).root, task_dir):
        raise UsageError(f"task not found: {project}/{task}")
    if task_liveness(root, project, task):
        _stop.stop_task(Layout(root), project, task, grace=grace, force=True)
        if not wait_loop_gone(task_dir, timeout=grace + defaults.LOOP_EXIT_WAIT):
            raise ConductorError(f"task {task}: the old loop did not exit; try again")
    return resume_task(root, project, task, executor=executor, **kwargs)


def _known_executor(name: str) -> str:
    """``name`` as a known executor's name; else one line naming it and the known ones
    (:class:`conductor.executor.registry.UnknownExecutor`)."""
    from ..executor.registry import executor
    executor(name)
    return name.strip().lower()
