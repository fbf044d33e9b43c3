"""One supervisor per task: an exclusive flock held on ``<task>/TASK-LOOP.lock`` for the loop's life.

Testing the lock (:func:`conductor.store.supervision.loop_alive`) tells a live loop from a dead
one; that is a fact about the task's files and lives in the store. The file also records who
holds it (``pid`` and ``started``), for messages; the lock, not the text, is the truth.
"""

from __future__ import annotations

import os

from .. import locking
from ..errors import ConductorError, LockTimeout
from ..store import safefs
from ..store.supervision import _root, holder_pid, lock_path
from ..timefmt import format_rfc3339nano, now_ns


class LoopBusy(ConductorError):
    pass


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
