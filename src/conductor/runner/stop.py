"""Stopping runs and tasks (spec 4.8): SIGTERM to the process group, a grace period, SIGKILL.

Every stop goes through the executor named in the run's record (:mod:`conductor.executor`;
none named: local). For a local run that is the above; another executor's ``stop`` does its
own (``scancel``), and ``task stop`` asks each executor once for all of the task's runs.

Beyond upstream, for local runs:

* A signal goes only to a group whose leader is the run's agent, checked against the kernel
  (:func:`conductor.runner.process.leader_problem`): pid alive, created at the run's start
  time, leading the recorded group. A record naming anything else (hand-written, stale, or
  written before the agent was spawned) directs no signal; the stop says why in one line.
* Signals come first, markers after: a STOP-REQUESTED that cannot be written (a full disk, a
  link, directory or FIFO planted there) is reported on stderr, never a reason not to signal.
* The task's supervisor is told directly (SIGUSR1, once the lock file shows it really is the
  task's supervisor), so the loop does not restart a stopped task even without the marker.
* We wait for the whole group (grandchildren included), and the grace period is settable.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from dataclasses import dataclass

from ..record import replace

from .. import defaults
from ..errors import ConductorError
from ..ids import run_sort_key
from ..executor.base import LOCAL, Executor, Placement, placement_of
from ..executor.registry import UnknownExecutor, executor
from ..store import (RUN_INFO, STOP_REQUESTED, Layout, RunInfo, read_run_info, run_alive,
                     stop_requested)
from ..store.liveness import runs_alive
from ..store import safefs
from ..store.taskfiles import PERMANENT
from ..timefmt import NS, format_duration, format_rfc3339nano, now_ns
from .process import leader_problem, signal_group
from ..store.supervision import lock_path

DEFAULT_GRACE = defaults.STOP_GRACE
POLL = 0.5
MARKER_WARNING = "warning: stop marker not written: "
STOP_SIGNAL = signal.SIGUSR1  # to a supervisor: the operator stopped the task, do not restart


class StopError(ConductorError):
    pass


@dataclass
class StopOutcome:
    run_id: str
    stopped: bool
    message: str
    notice: str = ""  # stderr text (not an error)
    refused: bool = False  # the record named a process or group that was not signalled


def _read(run_dir: str) -> RunInfo | None:
    try:
        return read_run_info(os.path.join(run_dir, RUN_INFO))
    except FileNotFoundError:
        return None
    except ConductorError as exc:
        if not os.path.lexists(os.path.join(run_dir, RUN_INFO)):
            return None
        raise StopError(str(exc)) from None


def _await_agent(run_dir: str, info: RunInfo, timeout: float, poll: float) -> RunInfo:
    """A record from before its process exists: a local one before the agent was spawned (pid
    0) while its runner lives, or a placed one whose job is being submitted (no job id yet).
    Wait up to ``timeout`` for the runner to record the agent or the job id (or to give up)."""
    deadline = time.monotonic() + timeout

    def waiting(info: RunInfo) -> bool:
        if info.status != "running":
            return False
        if not _local(info):
            return not info.executor_job_id
        return info.pid <= 0 and info.pgid <= 0 and info.runner_pid > 0 and run_alive(info)

    while waiting(info) and time.monotonic() < deadline:
        time.sleep(min(poll, 0.05, max(0.0, deadline - time.monotonic())))
        info = _read(run_dir) or info
    return info


def _local(info: RunInfo) -> bool:
    return (info.executor or LOCAL) == LOCAL


def _executor(info: RunInfo):
    try:
        return executor(info.executor)
    except UnknownExecutor as exc:
        raise StopError(f"run {info.run_id}: {exc}; not stopping") from None


def _label(info: RunInfo, found, placement) -> str:
    """"PID 4242" for a local run (upstream's words), the executor's where() otherwise."""
    return f"PID {info.pid}" if _local(info) else found.where(placement)


def stop_run(run_dir: str, *, grace: float = DEFAULT_GRACE, force: bool = False,
             poll: float = POLL, signalled: int = 0, sent: bool = False) -> StopOutcome:
    """Stop the run through its executor: SIGTERM the run's group, wait ``grace``, SIGKILL
    with ``force`` (a local run); the executor's own stop otherwise.

    ``signalled``: the local group the caller already verified and sent SIGTERM (stop_task
    signals every run first), so a run that is gone by now was stopped by us, not found dead.
    Only that group is signalled again, whatever the record says by now. ``sent``: the same for
    a run of another executor (its :meth:`send_stop` was called).
    """
    run_id = os.path.basename(run_dir.rstrip("/"))
    info = _read(run_dir)
    if info is None:
        return StopOutcome(run_id, False, "",
                           f"run-info.yaml missing for run {run_id}; status is unknown — nothing to stop")
    sent = sent or bool(signalled)
    if not sent:
        info = _await_agent(run_dir, info, grace, poll)
    elif info.status != "running":  # it ended after our SIGTERM and its runner recorded that
        return StopOutcome(info.run_id, True, f"Stopped run {info.run_id} "
                                              f"({_label(info, _executor(info), placement_of(info, run_dir))})")
    if info.status != "running":
        return StopOutcome(info.run_id, False, "", f"run {info.run_id} is not running (status: {info.status})")
    if _local(info) and info.process_ownership == "external":
        raise StopError(f"run {info.run_id} is owned by an external process; stop it where it runs")
    found = _executor(info)
    placement = placement_of(info, run_dir)
    if signalled:
        placement = replace(placement, pgid=signalled)
    if _local(info):
        result = found.stop(placement, grace, force, sent=sent, poll=poll)
    else:
        result = found.stop(placement, grace, force, sent=sent)
    label = _label(info, found, placement)
    if result.code == "gone":
        return StopOutcome(info.run_id, False, "", f"run {info.run_id} ({label}) is no longer alive")
    if result.code in ("not-started", "refused"):
        raise StopError(result.detail or f"run {info.run_id}: not stopping")
    if result.code == "timeout":
        raise StopError(f"run {info.run_id} ({label}) did not stop within "
                        f"{format_duration(grace)}; use --force to send SIGKILL")
    if result.code == "killed":
        return StopOutcome(info.run_id, True, f"Stopped run {info.run_id} ({label})",
                           f"run {info.run_id} did not stop within {format_duration(grace)}; "
                           "sent SIGKILL")
    return StopOutcome(info.run_id, True, f"Stopped run {info.run_id} ({label})")


def running_runs(layout: Layout, project: str, task: str) -> list[tuple[str, RunInfo]]:
    """(run dir, run-info) of the task's runs whose record says running, oldest start first."""
    from .children import read_runs
    out = [(path, info) for path, info in read_runs(layout.runs_dir(project, task))
           if info.status == "running"]
    out.sort(key=lambda item: run_sort_key(item[1].start_time, item[1].run_id))
    return out


def live_runs(layout: Layout, project: str, task: str) -> list[tuple[str, RunInfo]]:
    """The running runs whose process (or, before the spawn, runner) is alive; each executor
    is asked once for all of the task's runs."""
    running = running_runs(layout, project, task)
    alive = runs_alive([info for _path, info in running])
    return [item for item, ok in zip(running, alive) if ok]


def latest_running_run(layout: Layout, project: str, task: str, run: str | None = None) -> str:
    """The run ``stop`` acts on: the named one, else the running one that started last."""
    if not os.path.isdir(layout.runs_dir(project, task)):
        raise StopError(f"no runs found for project {project} task {task}")
    running = running_runs(layout, project, task)
    if run:
        for path, info in running:
            if info.run_id == run or os.path.basename(path) == run:
                return path
        raise StopError(f"no running run {run} found for project {project} task {task}")
    if not running:
        raise StopError(f"no running runs found for project {project} task {task}")
    return running[-1][0]


# ---- the supervisor and the marker ---------------------------------------------------------

def supervisor_pid(task_dir: str) -> int | None:
    """The pid of the live supervisor of the task, or None.

    Only a process that the kernel says holds the flock on the task's TASK-LOOP.lock, whose
    command line is ``conductor``/``run-agent`` ``task``, and that catches :data:`STOP_SIGNAL`
    (so the signal cannot kill it, or anyone else) counts; the pid written in the file is a claim
    that is checked, never trusted.
    """
    path = lock_path(task_dir)
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    for pid in _flock_holders(st.st_dev, st.st_ino):
        if _is_supervisor(pid) and _catches(pid, STOP_SIGNAL):
            return pid
    return None


def _flock_holders(dev: int, ino: int) -> list[int]:
    """Pids holding an exclusive flock on the file (dev, ino), from /proc/locks."""
    want = f"{os.major(dev):02x}:{os.minor(dev):02x}:{ino}"
    holders = []
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters have "->")
                if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK" or parts[3] != "WRITE":
                    continue
                if _same_file(parts[5], want):
                    holders.append(int(parts[4]))
    except (OSError, ValueError):
        return []
    return holders


def _same_file(field: str, want: str) -> bool:
    try:
        major, minor, ino = field.split(":")
        wmajor, wminor, wino = want.split(":")
        return (int(major, 16), int(minor, 16), int(ino)) == (int(wmajor, 16), int(wminor, 16),
                                                              int(wino))
    except ValueError:
        return False


def _is_supervisor(pid: int) -> bool:
    import psutil  # imported here: it costs ~15 ms at start-up
    try:
        argv = psutil.Process(pid).cmdline()
    except psutil.Error:
        return False
    names = [os.path.basename(a) for a in argv]
    if "run-agent" in names or "conductor" in names:
        return "task" in argv
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[i + 1] in ("conductor", "conductor.cli"):
            return "task" in argv
    return False


def _catches(pid: int, sig: int) -> bool:
    """The process has a handler for ``sig`` (SigCgt in /proc/<pid>/status)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except (OSError, ValueError, IndexError):
        return False
    return False


def tell_supervisor(task_dir: str) -> int | None:
    """Send the stop signal to the task's verified supervisor; its pid, or None if none."""
    pid = supervisor_pid(task_dir)
    if pid is None:
        return None
    try:
        os.kill(pid, STOP_SIGNAL)
    except OSError:
        return None
    return pid


def write_marker(layout: Layout, task_dir: str, permanent: bool) -> str:
    """Write STOP-REQUESTED; "" or the one-line warning naming the file when it could not be.

    Written to a temporary file and renamed over the name, so whatever is planted there (a
    link, a FIFO) is replaced, never written through or blocked on; a directory there, a full
    disk or any other failure is reported.
    """
    path = os.path.join(task_dir, STOP_REQUESTED)
    if permanent:
        text = PERMANENT
    else:
        ns = now_ns()
        text = format_rfc3339nano(ns - ns % NS)  # whole seconds, as Go's RFC3339
    try:
        safefs.write_atomic(layout.root, path, (text + "\n").encode("ascii"))
    except ConductorError as exc:
        return f"{MARKER_WARNING}{exc}"
    return ""


def marker_present(root: str, task_dir: str) -> bool:
    """Is a stop requested by the marker? Never blocks: anything but a regular file at the name
    (a FIFO, a link, a directory) counts as a request, as only a stop writes there."""
    path = os.path.join(task_dir, STOP_REQUESTED)
    try:
        st = safefs.lstat(root, path)
    except ConductorError:
        return True
    if st is None:
        return False
    if not stat.S_ISREG(st.st_mode):
        return True
    try:
        return stop_requested(task_dir) is not None
    except ConductorError:
        return True


def stop_task(layout: Layout, project: str, task: str, *, grace: float = DEFAULT_GRACE,
              force: bool = False, permanent: bool = False) -> list[StopOutcome]:
    """Tell the supervisor, signal every live run of the task, then write STOP-REQUESTED.

    A run that may not be signalled, or a marker that cannot be written, gives a notice; the
    others are stopped all the same.
    """
    task_dir = layout.task_dir(project, task)
    if not os.path.isdir(task_dir):
        raise StopError(f"task not found: {project}/{task}")
    # the supervisor first (a signal too): the runs it finishes then say "stopped by operator"
    supervisor = tell_supervisor(task_dir)
    outcomes: list[StopOutcome] = []
    signalled: list[tuple[str, RunInfo, bool]] = []  # (run dir, record, stop already sent)
    waiting: list[tuple[str, RunInfo]] = []
    placed: list[tuple[str, RunInfo, Executor, Placement]] = []  # stopped after the marker
    for path, info in live_runs(layout, project, task):
        if _local(info) and info.process_ownership == "external":
            outcomes.append(StopOutcome(info.run_id, False, "", f"run {info.run_id} is owned by "
                                        "an external process; stop it where it runs"))
            continue
        if _local(info) and info.pid <= 0 and info.pgid <= 0:
            waiting.append((path, info))  # being set up: its runner is told, or we wait for it
            continue
        try:
            found = _executor(info)
        except StopError as exc:
            outcomes.append(StopOutcome(info.run_id, False, "", str(exc), refused=True))
            continue
        placement = placement_of(info, path)
        if _local(info):  # the kernel's check first: a refused record is never signalled
            problem = leader_problem(info.run_id, info.pid, info.pgid, info.start_time)
            if problem:
                outcomes.append(StopOutcome(info.run_id, False, "", problem, refused=True))
                continue
            signal_group(info.pgid, signal.SIGTERM)
            signalled.append((path, info, True))
            continue
        placed.append((path, info, found, placement))
    notice = write_marker(layout, task_dir, permanent)
    if notice:
        outcomes.append(StopOutcome("", False, "", notice))
    # a placed run is stopped once the marker is there: the process that placed it (a child
    # job's `run-agent job`, which no loop tells) then reads the job's end as the operator's
    # stop, not as a lost run
    for path, info, found, placement in placed:
        begun = found.send_stop(placement)
        if begun is not None and begun.code == "refused":
            outcomes.append(StopOutcome(info.run_id, False, "", begun.detail, refused=True))
            continue
        signalled.append((path, info, begun is not None and begun.code == "stopped"))
    for path, done, sent in signalled:
        try:
            if _local(done):
                outcome = stop_run(path, grace=grace, force=force, signalled=done.pgid)
            else:
                outcome = stop_run(path, grace=grace, force=force, sent=sent)
        except StopError as exc:
            if _local(done):
                raise
            outcome = StopOutcome(done.run_id, False, "", str(exc), refused=True)
        outcomes.append(outcome)
    for path, info in waiting:
        if supervisor is not None and info.runner_pid == supervisor:
            outcomes.append(StopOutcome(info.run_id, True, "", f"run {info.run_id}: its agent has "
                                        "not been started yet; the loop was told not to start it"))
            continue
        try:  # another runner (a child job): wait for it to record its agent, then stop that
            outcome = stop_run(path, grace=grace, force=force)
        except StopError as exc:
            outcome = StopOutcome(info.run_id, False, "", str(exc), refused=True)
        outcomes.append(outcome)
    return outcomes
