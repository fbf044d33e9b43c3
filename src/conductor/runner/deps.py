"""depends_on gating (spec 4.10), with a cycle check and an optional timeout (9 #34)."""

from __future__ import annotations

import os
import time

from ..errors import ConductorError
from ..store import (TASK_CONFIG, TASK_MD, done_exists, normalize_depends_on,
                     read_depends_on)


class DependencyError(ConductorError):
    pass


def check_depends_on(task: str, depends_on: list[str]) -> list[str]:
    items = normalize_depends_on(depends_on)
    for dep in items:
        if "/" in dep or "\\" in dep:
            raise DependencyError(f'dependency task id "{dep}" must not contain path separators')
        if ".." in dep:
            raise DependencyError(f'dependency task id "{dep}" must not contain ..')
        if dep == task:
            raise DependencyError(f'task "{task}" cannot depend on itself')
    return items


def find_cycle(project_dir: str, task: str, depends_on: list[str]) -> list[str] | None:
    from ..store import safefs
    graph: dict[str, list[str]] = {}
    root = safefs.above(project_dir, 1)
    names = sorted(safefs.subdirs(root, project_dir))  # links at task names are not entered
    for name in names:
        d = os.path.join(project_dir, name)
        if safefs.is_file(root, os.path.join(d, TASK_MD)) \
                or safefs.is_file(root, os.path.join(d, TASK_CONFIG)):
            try:
                graph[name] = read_depends_on(d)
            except ConductorError:
                graph[name] = []
    graph[task] = list(depends_on)
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if state.get(nxt) is None and nxt in graph:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def dependency_ready(project_dir: str, dep: str) -> bool:
    """DONE exists, or it has runs, none running, and the latest (by start time) completed:
    the task-status model's rule (:func:`conductor.store.taskview.dependency_ready`), which the
    console and ``list`` show as "waits on"."""
    from ..store import safefs
    from ..store.layout import Layout
    from ..store.taskview import dependency_ready as ready
    try:
        return ready(Layout(safefs.above(project_dir, 1)), os.path.basename(project_dir), dep)
    except OSError:  # its runs cannot be listed: not ready
        return False


def blocked_by(project_dir: str, depends_on: list[str]) -> list[str]:
    return [d for d in depends_on if not dependency_ready(project_dir, d)]


def wait_for_dependencies(project_dir: str, task_dir: str, depends_on: list[str], *, poll: float,
                          timeout: float | None, post, should_stop) -> None:
    """Block until every dependency is ready (or this task's DONE appears)."""
    deadline = None if not timeout else time.monotonic() + timeout
    was_blocked: list[str] = []
    while True:
        if done_exists(task_dir):
            return
        blocked = blocked_by(project_dir, depends_on)
        if not blocked:
            if was_blocked:
                post("FACT", "dependencies satisfied; starting task")
            return
        if blocked != was_blocked:
            post("PROGRESS", "task blocked by dependencies: " + ", ".join(blocked))
            was_blocked = blocked
        if should_stop():
            raise DependencyError("stopped while waiting for dependencies")
        if deadline is not None and time.monotonic() >= deadline:
            raise DependencyError("timed out waiting for dependencies: " + ", ".join(blocked))
        time.sleep(poll)
