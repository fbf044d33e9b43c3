"""Active child runs of a task (spec 4.7), limited to the current root's descendants (9 #18)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..record import replace

from ..errors import ConductorError
from ..store import RUN_INFO, RunInfo, read_run_info, update_run_info
from ..store.liveness import STALE_NOT_ALIVE, runs_alive
from ..timefmt import now_ns


@dataclass
class Child:
    run_id: str
    path: str
    info: RunInfo


def read_runs(runs_dir: str) -> list[tuple[str, RunInfo]]:
    """(run dir, run-info) of every run dir with a readable run-info; symlinks are skipped."""
    from ..store import safefs
    out = []
    # listed through descriptors walked from the root (``<root>/<p>/<t>/runs``): a symlinked
    # runs dir or run dir is skipped, never entered
    for name in safefs.subdirs(safefs.above(runs_dir, 3), runs_dir):
        run_dir = os.path.join(runs_dir, name)
        try:
            out.append((run_dir, read_run_info(os.path.join(run_dir, RUN_INFO))))
        except ConductorError:
            continue
    return out


def descendants(runs: list[tuple[str, RunInfo]], roots: set[str]) -> set[str]:
    """Run ids whose parent chain reaches one of ``roots``."""
    children: dict[str, list[str]] = {}
    for _path, info in runs:
        if info.parent_run_id:
            children.setdefault(info.parent_run_id, []).append(info.run_id)
    found: set[str] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _mark_dead(path: str) -> None:
    end = now_ns()

    def fix(old: RunInfo) -> RunInfo | None:
        if old.end_time is not None or old.status != "running":
            return None
        return replace(old, status="failed", end_time=end,
                       exit_code=-1 if old.exit_code == 0 else old.exit_code,
                       error_summary=old.error_summary or STALE_NOT_ALIVE)

    try:
        update_run_info(path, fix)
    except ConductorError:
        pass


def find_active_children(task_dir: str, roots: set[str] | None) -> list[Child]:
    """Unfinished child runs that are alive; dead ones are marked failed on the way.

    ``roots`` limits the scan to descendants of those run ids; None takes every child run.
    """
    runs = read_runs(os.path.join(task_dir, "runs"))
    wanted = descendants(runs, roots) if roots is not None else None
    candidates = [(run_dir, info) for run_dir, info in runs
                  if info.end_time is None and info.parent_run_id and info.status == "running"
                  and (wanted is None or info.run_id in wanted)]
    active = []
    # every executor is asked once for all of them (one squeue per poll, never one per run)
    for (run_dir, info), alive in zip(candidates, runs_alive([i for _d, i in candidates])):
        path = os.path.join(run_dir, RUN_INFO)
        if alive:
            active.append(Child(info.run_id, path, info))
        else:
            _mark_dead(path)
    return active


def wait_for_children(task_dir: str, roots: set[str] | None, *, timeout: float, poll: float,
                      should_stop=lambda: False) -> list[Child]:
    """Wait until no child is active; returns those still active at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        active = find_active_children(task_dir, roots)
        if not active or time.monotonic() >= deadline or should_stop():
            return active
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
