"""One supervisor per task: an exclusive flock held on ``<task>/TASK-LOOP.lock`` for the loop's life.

Anyone can test the lock (:func:`loop_alive`) to tell a live loop from a dead one. The file also
records who holds it (``pid`` and ``started``), for messages; the lock, not the text, is the truth.
"""

from __future__ import annotations

import os

from .. import locking
from ..errors import ConductorError, LockTimeout
from ..timefmt import format_rfc3339nano, now_ns

LOCK_NAME = "TASK-LOOP.lock"


class LoopBusy(ConductorError):
    pass


def lock_path(task_dir: str) -> str:
    return os.path.join(task_dir, LOCK_NAME)


def holder_pid(task_dir: str) -> int | None:
    try:
        with open(lock_path(task_dir), "rb") as f:
            head = f.read(4096).decode("utf-8")  # we write two short lines; never read more
        for line in head.splitlines():
            if line.startswith("pid: "):
                return int(line[5:].strip())
    except (OSError, ValueError):
        return None
    return None


def loop_alive(task_dir: str) -> bool:
    return locking.is_locked(lock_path(task_dir))


class SupervisorLock:
    def __init__(self, task_dir: str, task_id: str) -> None:
        self.task_dir = task_dir
        self.task_id = task_id
        self.fd: int | None = None

    def acquire(self) -> "SupervisorLock":
        path = lock_path(self.task_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
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
