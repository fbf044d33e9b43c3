"""One short line of what needs an operator, for tmux's ``status-right`` and the console's
terminal title: ``⚡2 ?1 ✘1`` (running, needs-you, failed, stuck, loop-dead; a state with no
task is left out, and nothing at all is the empty string).

``conductor status --tmux`` runs every few seconds, so it reads each task as ``status`` does
with ``newest`` (the newest runs only) and imports nothing else.
"""

from __future__ import annotations

import os

# (task state, symbol, ASCII letter), in the order they are shown
SYMBOLS = (("running", "\u26a1", "R"), ("needs-you", "?", "Q"), ("failed", "\u2718", "F"),
           ("stuck", "\u29bb", "S"), ("loop-dead", "\u2620", "L"))


def line(counts: dict[str, int], *, ascii_only: bool = False) -> str:
    return " ".join(f"{letter if ascii_only else symbol}{counts[state]}"
                    for state, symbol, letter in SYMBOLS if counts.get(state))


def count(states) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


def root_states(root: str, project: str = ""):
    """Each task's state under the root (or one project), read as ``status`` reads it: the
    newest runs, and one liveness question per executor for every running run of the root."""
    from ..store import Layout
    from ..store.scan import project_names, scan_task, task_names
    from ..store.taskview import batched_alive, view_task
    from ..timefmt import now_ns
    layout = Layout(root)
    now = now_ns()
    projects = [project] if project else project_names(layout.root)
    snaps = [scan_task(layout, name, task, newest=True)
             for name in projects for task in task_names(layout.root, layout.project_dir(name))]
    alive = batched_alive(snaps)
    for snap in snaps:
        yield view_task(layout, snap.project_id, snap.id, now_ns=now, newest=True, snap=snap,
                        alive=alive).status


def summary(root: str, project: str = "", *, ascii_only: bool = False) -> str:
    if not os.path.isdir(root):
        return ""
    return line(count(root_states(root, project)), ascii_only=ascii_only)
