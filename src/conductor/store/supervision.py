"""Is a task's supervisor alive? A fact about one file in the task dir: ``TASK-LOOP.lock``.

The Ralph loop (:class:`conductor.runner.supervisor.SupervisorLock`) holds an exclusive flock
on it for its whole life and writes who holds it (``pid`` and ``started``, for messages); the
lock, not the text, is the truth. Everyone else — the console, ``list``/``status``, ``stop``,
the watcher — only tests it, so it lives here, below them all.
"""

from __future__ import annotations

import os

from .. import locking
from ..errors import ConductorError
from . import safefs
from .layout import TASK_LOOP_LOCK

MAX_LOCK_BYTES = 4096


def lock_path(task_dir: str) -> str:
    return os.path.join(task_dir, TASK_LOOP_LOCK)


def _root(task_dir: str) -> str:
    return safefs.above(task_dir, 2)


def holder_pid(task_dir: str) -> int | None:
    """The pid the lock's holder wrote (for messages only; None when unreadable)."""
    try:
        data = safefs.read_bytes(_root(task_dir), lock_path(task_dir), MAX_LOCK_BYTES)
    except (OSError, ConductorError):
        return None
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        if line.startswith("pid: "):
            try:
                return int(line[5:].strip())
            except ValueError:
                return None
    return None


def loop_alive(task_dir: str) -> bool:
    """Does a supervisor hold the task's lock? A link, FIFO or directory planted at
    TASK-LOOP.lock is never followed or waited on: it counts as no loop."""
    try:
        fd = safefs.open_file(_root(task_dir), lock_path(task_dir))
    except (OSError, ConductorError):
        return False
    if fd is None:
        return False
    try:
        return locking.fd_locked(fd)
    finally:
        os.close(fd)
