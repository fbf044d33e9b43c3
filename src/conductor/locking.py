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


# ---- a lock held for a long time (the task's supervisor) -------------------------------------
#
# On a network file system a lock is a lease the client must keep renewing. On NFSv4 a lease
# that lapses (a network partition, a server restart past its grace period) loses the lock,
# and from then on read(2)/write(2) on that descriptor fail with EIO until it is closed
# (fcntl(2), "Lost locks"; Linux 3.12 and later): there is no signal, so a holder must look.

def still_held(fd: int, record: bytes = b"") -> None:
    """Raise :class:`OSError` unless this open file still holds its exclusive flock.

    The lock is taken again in place on our own descriptor (a no-op while we hold it;
    EWOULDBLOCK when another holder has it now). With ``record`` (on a network file system),
    that is also written again at offset 0 and flushed with ``fdatasync``: on NFSv4 the write
    goes to the server now, under the lock's state, and fails with EIO when the lock was lost.
    The write is left out on a local file system, where a lock cannot be lost and a write
    would wake every inotify watcher of the task dir (the console) for nothing."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if record:
        os.pwrite(fd, record, 0)
        os.fdatasync(fd)


# file systems where a held flock cannot be lost (no lease): the probe need not write
LOCAL_FILE_SYSTEMS = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "overlay", "zfs", "f2fs", "jfs",
    "reiserfs", "bcachefs", "vfat", "exfat", "ntfs3", "hfsplus"})


def fs_type(fd: int) -> str:
    """The type of the file system ``fd``'s file is on (``nfs4``, ``ext4``...), from
    /proc/self/mountinfo; "" when it cannot be told."""
    st = os.fstat(fd)
    want = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split(None, 3)
                if len(fields) > 2 and fields[2] == want and " - " in line:
                    return line.split(" - ", 1)[1].split(None, 1)[0]
    except OSError:
        pass
    return ""


def try_exclusive(fd: int) -> int:
    """One non-blocking attempt at an exclusive lock: 0 when taken, else the errno
    (EWOULDBLOCK or EAGAIN: another holder has it)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return 0
    except OSError as exc:
        return exc.errno or errno.EIO


def busy(code: int) -> bool:
    """Is this errno a refusal because another holder has the lock?"""
    return code in _BUSY
