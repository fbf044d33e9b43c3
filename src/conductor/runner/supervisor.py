"""One supervisor per task: an exclusive flock held on ``<task>/TASK-LOOP.lock`` for the loop's life.

Testing the lock (:func:`conductor.store.supervision.loop_alive`) tells a live loop from a dead
one; that is a fact about the task's files and lives in the store. The file also records who
holds it (``pid`` and ``started``), for messages; the lock, not the text, is the truth.

Beyond holding it, the supervisor checks that it still does (issue 14): on a network file
system the lock is a lease that can be lost (NFSv4: the descriptor then answers EIO), and a
loop that went on without it would run beside the loop another host starts. :meth:`verify`
probes the lock (:func:`conductor.locking.still_held`, and the name still naming the file we
lock); on a fault it re-opens the file and tries to take the lock again, non-blocking, a few
times over a few seconds. Given ``on_lost``, a watchdog thread probes every
:data:`PROBE_INTERVAL` seconds (it sleeps on an event in between); the loop also probes right
before every attempt.
"""

from __future__ import annotations

import errno
import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

from .. import locking
from ..errors import ConductorError, LockTimeout
from ..store import safefs
from ..store.layout import TASK_LOOP_LOCK
from ..store.supervision import _root, holder_pid, lock_path
from ..timefmt import format_rfc3339nano, now_ns

PROBE_INTERVAL = 10.0  # seconds between the watchdog's probes (an NFSv4 lease is 90 s)
RETAKE_TRIES = 5       # attempts at taking a lost lock again ...
RETAKE_PAUSE = 0.5     # ... this far apart (about 2 s in all, plus the calls themselves)
MAY = "so another loop may own this task now"


class LoopBusy(ConductorError):
    pass


def _fault(exc: BaseException) -> str:
    """"EIO on TASK-LOOP.lock", "TASK-LOOP.lock is locked by another process", ..."""
    code = getattr(exc, "errno", None)
    if code is not None and locking.busy(code):
        return f"{TASK_LOOP_LOCK} is locked by another process"
    if code:
        return f"{errno.errorcode.get(code, str(code))} on {TASK_LOOP_LOCK}"
    return str(exc) if isinstance(exc, ConductorError) else f"{TASK_LOOP_LOCK}: {exc}"


class SupervisorLock:
    def __init__(self, task_dir: str, task_id: str, *,
                 on_lost: Callable[[str, bool], None] | None = None,
                 on_retaken: Callable[[str], None] | None = None) -> None:
        self.task_dir = task_dir
        self.task_id = task_id
        self.fd: int | None = None
        # called once when the lock is gone for good: (the one line, another loop holds it)
        self.on_lost = on_lost
        self.on_retaken = on_retaken  # called with the fault, when the lock was taken again
        self.lost = ""                # that line, once lost
        self.taken = False            # ... and another process holds the lock now
        self._record = b""
        self._write_probe = False  # a network file system: the probe writes the record too
        self._ident: tuple[int, int] | None = None
        self._mutex = threading.Lock()  # the watchdog and the loop both probe
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> "SupervisorLock":
        path = lock_path(self.task_dir)
        # through safefs: a link or FIFO planted at the name is refused with one line, never
        # followed or blocked on
        fd = safefs.open_file(_root(self.task_dir), path, os.O_RDWR | os.O_CREAT, 0o644)
        if fd is None:  # (O_CREAT: it exists now, or open_file raised)
            raise ConductorError(f"{path}: could not be opened")
        try:
            locking.acquire(fd, 0.5)
        except LockTimeout:
            os.close(fd)
            pid = holder_pid(self.task_dir)
            who = f" (pid {pid})" if pid else ""
            raise LoopBusy(f"task {self.task_id} already has a running loop{who}; "
                           "stop it first (run-agent task stop)") from None
        os.ftruncate(fd, 0)
        record = f"pid: {os.getpid()}\nstarted: {format_rfc3339nano(now_ns())}\n".encode()
        os.pwrite(fd, record, 0)
        self.fd, self._record = fd, record
        self._write_probe = locking.fs_type(fd) not in locking.LOCAL_FILE_SYSTEMS
        st = os.fstat(fd)
        self._ident = (st.st_dev, st.st_ino)
        if self.on_lost is not None:
            self._thread = threading.Thread(target=self._watch, name="task-lock-watch",
                                            daemon=True)
            self._thread.start()
        return self

    # ---- is it still ours? ---------------------------------------------------------------

    def verify(self) -> bool:
        """Probe the lock now: True while it is held (or was lost and taken again: then
        ``on_retaken`` is called); False once it is gone for good (``lost`` says why, and
        ``on_lost`` was called, once)."""
        with self._mutex:
            if self.lost:
                return False
            if self.fd is None:  # released: nothing to hold
                return True
            fault = self._probe()
            if not fault:
                return True
            problem, self.taken = self._retake()
            if problem:
                self.lost = f"lost the task lock ({fault}): {problem}; not starting more runs"
        if problem:
            if self.on_lost is not None:
                self.on_lost(self.lost, self.taken)
            return False
        if self.on_retaken is not None:
            self.on_retaken(fault)
        return True

    def _probe(self) -> str:
        """"" while we hold the lock; else the fault, in a few words."""
        assert self.fd is not None
        try:
            locking.still_held(self.fd, self._record if self._write_probe else b"")
        except OSError as exc:
            return _fault(exc)
        # the name must still name the file we lock: a removed or replaced TASK-LOOP.lock
        # lets another loop lock a new file beside us
        try:
            st = safefs.lstat(_root(self.task_dir), lock_path(self.task_dir))
        except ConductorError as exc:
            return f"{TASK_LOOP_LOCK}: {exc}"
        if st is None:
            return f"{TASK_LOOP_LOCK} was removed"
        if (st.st_dev, st.st_ino) != self._ident:
            return f"{TASK_LOOP_LOCK} was replaced by another file"
        return ""

    def _retake(self) -> tuple[str, bool]:
        """Re-open the lock file and take the lock, non-blocking, up to :data:`RETAKE_TRIES`
        times: ("", False) when taken (our record written again), else (what stood in the
        way, whether it was another holder of the lock)."""
        self._close()  # our old descriptor: its lock is gone (closing it releases a stale one)
        problem, taken = "", False
        root, path = _root(self.task_dir), lock_path(self.task_dir)
        for i in range(RETAKE_TRIES):
            if i:
                time.sleep(RETAKE_PAUSE)
            try:
                fd = safefs.open_file(root, path, os.O_RDWR | os.O_CREAT, 0o644)
            except (OSError, ConductorError) as exc:
                problem, taken = f"could not open it again ({_fault(exc)}), {MAY}", False
                continue
            assert fd is not None
            code = locking.try_exclusive(fd)
            if code == 0:
                try:
                    os.ftruncate(fd, 0)
                    locking.still_held(fd, self._record)  # our record again, flushed
                    st = os.fstat(fd)
                except OSError as exc:
                    self._close_fd(fd)
                    problem, taken = f"could not take it again ({_fault(exc)}), {MAY}", False
                    continue
                self.fd, self._ident = fd, (st.st_dev, st.st_ino)
                return "", False
            self._close_fd(fd)
            if locking.busy(code):
                pid = holder_pid(self.task_dir)
                problem, taken = "another loop holds it now" + (f" (pid {pid})" if pid else ""), True
            else:
                fault = _fault(OSError(code, os.strerror(code)))
                problem, taken = f"could not take it again ({fault}), {MAY}", False
        return problem, taken

    def _watch(self) -> None:
        while not self._done.wait(PROBE_INTERVAL):
            if not self.verify():
                return

    # ---- letting go ------------------------------------------------------------------------

    @staticmethod
    def _close_fd(fd: int) -> None:
        locking.release(fd)
        try:
            os.close(fd)
        except OSError:  # EIO from a network file system's close: the descriptor is gone
            pass

    def _close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            self._close_fd(fd)

    def release(self) -> None:
        self._done.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._mutex:
            self._close()

    def __enter__(self) -> "SupervisorLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
