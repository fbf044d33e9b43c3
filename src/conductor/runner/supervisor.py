"""One supervisor per task: an exclusive flock held on ``<task>/TASK-LOOP.lock`` for the loop's life.

Anyone can test the lock (:func:`loop_alive`) to tell a live loop from a dead one. The file also
records who holds it (``pid`` and ``started``), for messages; the lock, not the text, is the truth.
"""

from __future__ import annotations

import os

from .. import locking
from ..errors import ConductorError, LockTimeout
from ..store import safefs
from ..timefmt import format_rfc3339nano, now_ns

LOCK_NAME = "TASK-LOOP.lock"


class LoopBusy(ConductorError):
    pass


def lock_path(task_dir: str) -> str:
    return os.path.join(task_dir, LOCK_NAME)


MAX_LOCK_BYTES = 4096


def _root(task_dir: str) -> str:
    return safefs.above(task_dir, 2)


def holder_pid(task_dir: str) -> int | None:
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


class SupervisorLock:
    def __init__(self, task_dir: str, task_id: str) -> None:
        self.task_dir = task_dir
        self.task_id = task_id
        self.fd: int | None = None

    def acquire(self) -> "SupervisorLock":
        path = lock_path(self.task_dir)
        # through safefs: a link or FIFO planted at the name is refused with one line, never
        # followed or blocked on
        fd = safefs.open_file(_root(self.task_dir), path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locking.acquire(fd, 0.5)
        except LockTimeout:
            os.close(fd)
            pid = holder_pid(self.task_dir)
            who = f" (pid {pid})" if pid else ""
            raise LoopBusy(f"task {self.task_id} already has a running loop{who}; "
                           "stop it first (run-agent task stop)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid: {os.getpid()}\nstarted: {format_rfc3339nano(now_ns())}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            locking.release(self.fd)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "SupervisorLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
