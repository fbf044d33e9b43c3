"""BSD ``flock`` locks, polled until a deadline, as upstream takes them (spec 1.5).

``flock`` (not ``lockf``/``fcntl`` record locks) is what the Go tool uses, and the two kinds do
not see each other on Linux (a test checks /proc/locks shows FLOCK). We make the call directly:
a locking library (portalocker's POSIX default is this same call) would cost every ``run-agent
bus post`` 40-60 ms of imports.
"""

from __future__ import annotations

import os
import time

import errno
import fcntl

from .errors import LockTimeout
from .store.safefs import open_leaf

POLL_INTERVAL = 0.010
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def acquire(fd: int, timeout: float, *, shared: bool = False) -> None:
    """Take the lock on ``fd``, polling every 10 ms; raise :class:`LockTimeout` at the deadline."""
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = 0.0  # set at the first refusal: an uncontended lock costs one call
    while True:
        try:
            fcntl.flock(fd, flags)
            return
        except OSError as exc:
            if exc.errno not in _BUSY:  # EBADF, ENOLCK and friends
                raise LockTimeout(f"lock failed: {exc.strerror}") from None
        now = time.monotonic()
        if not deadline:
            deadline = now + timeout
        if now >= deadline:
            raise LockTimeout("lock timeout")
        time.sleep(POLL_INTERVAL)


def release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def try_acquire(fd: int) -> bool:
    """One non-blocking attempt at an exclusive lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class locked_file:
    """``with locked_file(path, timeout) as fd``: an exclusive flock on ``path`` (created if
    missing, never unlinked afterwards). A class, not a generator: contextlib is not imported on
    the light command paths."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path, self.timeout, self.fd = path, timeout, -1

    def __enter__(self) -> int:
        fd = open_leaf(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # no link, FIFO or device
        try:
            acquire(fd, self.timeout)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return fd

    def __exit__(self, *_exc: object) -> None:
        fd, self.fd = self.fd, -1
        try:
            release(fd)
        finally:
            os.close(fd)


def is_locked(path: str) -> bool:
    """Does some process hold an exclusive lock on ``path``? (A missing file is unlocked; so is
    a link, which is not followed, and a FIFO or device, which is never waited on.)"""
    try:
        fd = open_leaf(path)
    except OSError:
        return False
    try:
        return fd_locked(fd)
    finally:
        os.close(fd)


def fd_locked(fd: int) -> bool:
    """Does some other open file description hold an exclusive lock on ``fd``'s file?"""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False
