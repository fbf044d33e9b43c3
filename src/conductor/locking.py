"""BSD ``flock`` locks, polled until a deadline, as upstream takes them (spec 1.5).

``flock`` (not ``lockf``/``fcntl`` record locks) is what the Go tool uses, and the two kinds do
not see each other on Linux, so we pin portalocker's flock locker rather than its default.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

import portalocker
from portalocker.portalocker import FlockLocker

from .errors import LockTimeout

POLL_INTERVAL = 0.010
_LOCKER = FlockLocker()


def acquire(fd: int, timeout: float, *, shared: bool = False) -> None:
    """Take the lock on ``fd``, polling every 10 ms; raise :class:`LockTimeout` at the deadline."""
    flags = (portalocker.LOCK_SH if shared else portalocker.LOCK_EX) | portalocker.LOCK_NB
    deadline = time.monotonic() + timeout
    while True:
        try:
            _LOCKER.lock(fd, flags)
            return
        except portalocker.AlreadyLocked:
            pass
        except portalocker.LockException as exc:  # EBADF, ENOLCK and friends
            raise LockTimeout(f"lock failed: {exc}") from None
        if time.monotonic() >= deadline:
            raise LockTimeout("lock timeout")
        time.sleep(POLL_INTERVAL)


def release(fd: int) -> None:
    with contextlib.suppress(Exception):
        _LOCKER.unlock(fd)


def try_acquire(fd: int) -> bool:
    """One non-blocking attempt at an exclusive lock."""
    try:
        _LOCKER.lock(fd, portalocker.LOCK_EX | portalocker.LOCK_NB)
        return True
    except portalocker.LockException:
        return False


@contextlib.contextmanager
def locked_file(path: str, timeout: float) -> Iterator[int]:
    """Hold an exclusive flock on ``path`` (created if missing, never unlinked afterwards)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        acquire(fd, timeout)
        try:
            yield fd
        finally:
            release(fd)
    finally:
        os.close(fd)


def is_locked(path: str) -> bool:
    """Does some process hold an exclusive lock on ``path``? (A missing file is unlocked.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        try:
            _LOCKER.lock(fd, portalocker.LOCK_SH | portalocker.LOCK_NB)
        except portalocker.LockException:
            return True
        _LOCKER.unlock(fd)
        return False
    finally:
        os.close(fd)
