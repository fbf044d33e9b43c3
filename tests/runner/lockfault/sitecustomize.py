"""Fault injection for tests/runner/test_lock_lost.py: a task lock lost as NFSv4 loses one.

The tests put this folder first on a supervisor's PYTHONPATH, so Python imports this module
at start-up (``sitecustomize``). With ``LOCKFAULT_TRIGGER`` set (and removed from the
environment here, so the agents never see it) it wraps the supervisor's lock probe,
:func:`conductor.locking.still_held`, and shortens the probe interval (to
``LOCKFAULT_INTERVAL`` seconds, 0.05 unless set) and the retry pause.

When the test writes the trigger file, the next probe finds the lock lost: the flock on the
descriptor is released (the server let the lease lapse) and the probe answers EIO, as the
kernel answers read/write on that descriptor (fcntl(2), "Lost locks"). The file's text says
what happened meanwhile:

    eio     nobody else took the lock (it can be taken again)
    dead    nobody else took it, and every try to take it again answers EIO too (the server
            is still unreachable)
    taken   another process took it (and wrote its record) before the descriptor answered:
            the order of a partition that heals after another host's loop started

``<trigger>.released`` is written once the lock is released, for the test to start that
other process.
"""

import os

_TRIGGER = os.environ.pop("LOCKFAULT_TRIGGER", "")


def _install(trigger: str) -> None:
    import errno
    import fcntl
    import time

    from conductor import locking
    from conductor.runner import supervisor

    supervisor.PROBE_INTERVAL = float(os.environ.pop("LOCKFAULT_INTERVAL", "0.05"))
    supervisor.RETAKE_PAUSE = 0.05
    real = locking.still_held
    real_try = locking.try_exclusive
    dead = []

    def try_exclusive(fd: int) -> int:
        return errno.EIO if dead else real_try(fd)

    def record_pid(path: str) -> str:
        try:
            with open(path) as f:
                return f.read().partition("\n")[0]
        except OSError:
            return ""

    def still_held(fd: int, record: bytes = b"") -> None:
        try:
            with open(trigger) as f:
                mode = f.read().strip()
        except FileNotFoundError:
            return real(fd, record)
        os.unlink(trigger)
        if mode == "dead":
            dead.append(True)
        path = os.readlink(f"/proc/self/fd/{fd}")
        fcntl.flock(fd, fcntl.LOCK_UN)  # the lease lapsed: the server dropped our lock
        open(trigger + ".released", "w").close()
        if mode == "taken":
            ours = f"pid: {os.getpid()}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                    locking.is_locked(path) and record_pid(path) not in ("", ours)):
                time.sleep(0.01)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    locking.still_held = still_held
    locking.try_exclusive = try_exclusive


if _TRIGGER:
    _install(_TRIGGER)
