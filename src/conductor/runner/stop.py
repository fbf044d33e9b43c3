"""Stopping runs and tasks (spec 4.8): SIGTERM to the process group, a grace period, SIGKILL.

Beyond upstream: liveness is pid + start time (a reused pid is never signalled), we wait for the
whole group (grandchildren included) rather than the leader, the grace period is settable, and
stopping a task writes STOP-REQUESTED, which the Ralph loop honours (9 #17).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from ..errors import ConductorError
from ..ids import run_sort_key
from ..store import RUN_INFO, Layout, RunInfo, process_alive, read_run_info, write_stop_requested
from ..timefmt import format_duration
from .process import group_alive, signal_group

DEFAULT_GRACE = 30.0
POLL = 0.5


class StopError(ConductorError):
    pass


@dataclass
class StopOutcome:
    run_id: str
    stopped: bool
    message: str
    notice: str = ""  # stderr text (not an error)


def _target(info: RunInfo) -> int:
    if info.pgid > 0:
        return info.pgid
    if info.pid > 0:
        return info.pid
    raise StopError(f"run {info.run_id} has no valid pid or pgid")


def stop_run(run_dir: str, *, grace: float = DEFAULT_GRACE, force: bool = False,
             poll: float = POLL, signalled: bool = False) -> StopOutcome:
    """SIGTERM the run's group, wait ``grace``, SIGKILL with ``force``.

    ``signalled``: the caller already sent SIGTERM (stop_task signals every run first), so a
    run that is gone by now was stopped by us, not found dead.
    """
    run_id = os.path.basename(run_dir.rstrip("/"))
    try:
        info = read_run_info(os.path.join(run_dir, RUN_INFO))
    except FileNotFoundError:
        info = None
    except ConductorError as exc:
        if not os.path.exists(os.path.join(run_dir, RUN_INFO)):
            info = None
        else:
            raise StopError(str(exc)) from None
    if info is None:
        return StopOutcome(run_id, False, "",
                           f"run-info.yaml missing for run {run_id}; status is unknown — nothing to stop")
    if info.status != "running":
        return StopOutcome(info.run_id, False, "", f"run {info.run_id} is not running (status: {info.status})")
    if info.process_ownership == "external":
        raise StopError(f"run {info.run_id} is owned by an external process; stop it where it runs")
    pgid = _target(info)
    if not signalled:
        if not process_alive(info.pid, info.pgid, info.start_time):
            return StopOutcome(info.run_id, False, "",
                               f"run {info.run_id} (PID {info.pid}) is no longer alive")
        signal_group(pgid, signal.SIGTERM)
    if _wait_dead(pgid, grace, poll):
        return StopOutcome(info.run_id, True, f"Stopped run {info.run_id} (PID {info.pid})")
    if not force:
        raise StopError(f"run {info.run_id} (PID {info.pid}) did not stop within "
                        f"{format_duration(grace)}; use --force to send SIGKILL")
    signal_group(pgid, signal.SIGKILL)
    _wait_dead(pgid, 5.0, 0.05)
    return StopOutcome(info.run_id, True, f"Stopped run {info.run_id} (PID {info.pid})",
                       f"run {info.run_id} did not stop within {format_duration(grace)}; sent SIGKILL")


def _wait_dead(pgid: int, timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(poll, max(0.01, deadline - time.monotonic())))


def running_runs(layout: Layout, project: str, task: str) -> list[tuple[str, RunInfo]]:
    """(run dir, run-info) of the task's runs whose record says running, oldest start first."""
    from .children import read_runs
    out = [(path, info) for path, info in read_runs(layout.runs_dir(project, task))
           if info.status == "running"]
    out.sort(key=lambda item: run_sort_key(item[1].start_time, item[1].run_id))
    return out


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


def stop_task(layout: Layout, project: str, task: str, *, grace: float = DEFAULT_GRACE,
              force: bool = False, permanent: bool = False) -> list[StopOutcome]:
    """STOP-REQUESTED first (the loop will not restart), then every live run of the task."""
    task_dir = layout.task_dir(project, task)
    if not os.path.isdir(task_dir):
        raise StopError(f"task not found: {project}/{task}")
    write_stop_requested(task_dir, permanent=permanent)
    runs = running_runs(layout, project, task)
    live = [(path, info) for path, info in runs if process_alive(info.pid, info.pgid, info.start_time)]
    for _path, info in live:
        signal_group(_target(info), signal.SIGTERM)
    outcomes = []
    for path, info in live:
        outcomes.append(stop_run(path, grace=grace, force=force, signalled=True))
    return outcomes
