"""Signals to process groups, and what an exit status means (spec 4.3 step 7, 4.8).

We signal only process groups we started. Two ways to know that:

* the job holds the agent as its unreaped child (:class:`AgentGroup`): until we reap it, its pid
  (which is also its group id, as agents start in a session of their own) cannot be reused, so
  a signal to that group reaches the agent and what it started, never anyone else;
* any other process (``stop``, ``task stop``, the console) reads the run-info, and a record is
  only a claim: :func:`leader_problem` checks the claim against the kernel before any signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ..store.liveness import START_TOLERANCE_NS, group_exists, group_members
from ..timefmt import NS


def group_alive(pgid: int) -> bool:
    """A member of group ``pgid`` that really runs (killpg(0) also succeeds for zombies)."""
    if pgid <= 0 or not group_exists(pgid):
        return False
    if _running(pgid):  # the leader: no process scan needed
        return True
    return any(_running(pid) for pid in group_members(pgid))


def _running(pid: int) -> bool:
    import psutil  # imported here: it costs ~15 ms at start-up
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def leader_problem(run_id: str, pid: int, pgid: int, start_ns: int | None) -> str | None:
    """Why the run's recorded group must not be signalled (one line), or None when it may.

    It may only when ``pid`` is a live process created within :data:`START_TOLERANCE_NS` of the
    run's ``start_time`` (the runner records that time just before it spawns the agent), that
    process leads its own group, and the group is the recorded ``pgid``. A record naming any
    other process or group (hand-written, stale, or from before the agent was spawned) directs
    no signal.
    """
    import psutil  # imported here: it costs ~15 ms at start-up
    head = f"run {run_id}: "
    if pid <= 0 or pgid <= 0:
        return head + (f"no agent process is recorded (pid {pid}, pgid {pgid}); "
                       "not signalling")
    if pid != pgid:
        return head + f"pid {pid} does not lead process group {pgid}; not signalling"
    if pgid == os.getpgrp():
        return head + f"process group {pgid} is this command's own; not signalling"
    if start_ns is None:
        return head + f"no start time is recorded, so pid {pid} cannot be checked; not signalling"
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return head + f"pid {pid} is not running; not signalling"
        created = int(proc.create_time() * NS)
        actual_pgid = os.getpgid(pid)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError):
        return head + f"pid {pid} is not running; not signalling"
    except (psutil.AccessDenied, OSError):
        return head + f"pid {pid} cannot be inspected; not signalling"
    if abs(created - start_ns) > START_TOLERANCE_NS:
        return head + (f"pid {pid} is not the run's agent (it started "
                       f"{abs(created - start_ns) / NS:.0f}s away from the run's start time); "
                       "not signalling")
    if actual_pgid != pgid:
        return head + f"pid {pid} does not lead process group {pgid}; not signalling"
    return None


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to group ``pgid``; only after :func:`leader_problem` said yes, or for a
    group whose leader we hold unreaped (:class:`AgentGroup`)."""
    if pgid <= 1:
        return False  # 0 is our own group, 1 init's: never (a defence, callers check first)
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class AgentGroup:
    """The agent the job spawned (``start_new_session=True``: pid == pgid), held unreaped.

    :meth:`wait` waits for the agent's exit without reaping it (``waitid(WNOWAIT)``), so the
    group id stays ours while we signal what is left of the group; :meth:`reap` collects it.
    """

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.reaped = False

    def exited(self, timeout: float | None = None) -> bool:
        """Has the agent exited (not reaped)? Waits up to ``timeout`` (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            flags = os.WEXITED | os.WNOWAIT
            if timeout is not None:
                flags |= os.WNOHANG
            try:
                res = os.waitid(os.P_PID, self.pid, flags)
            except ChildProcessError:
                return True
            if res is not None:
                return True
            if deadline is None:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.02, left))

    def signal(self, sig: int) -> bool:
        if self.reaped:
            return False
        return signal_group(self.pid, sig)

    def terminate(self, grace: float = 2.0, poll: float = 0.05) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after ``grace`` seconds."""
        if not self.signal(signal.SIGTERM):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_alive(self.pid):
                return
            time.sleep(poll)
        self.signal(signal.SIGKILL)

    def reap(self) -> int:
        code = self.proc.wait()
        self.reaped = True
        return code


def classify(returncode: int, *, timed_out: bool) -> tuple[int, str, str]:
    """(exit_code, status, error_summary) for a finished agent, as upstream records them.

    Deaths by signal are stored as exit code -1 (Go's value), but the summary says which signal,
    so SIGTERM and SIGKILL are told apart (upstream's 137/143 texts were unreachable, spec 9 #15).
    """
    if returncode == 0 and not timed_out:
        return 0, "completed", ""
    if timed_out:
        return (-1 if returncode < 0 else returncode), "failed", "timed out"
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGKILL:
            return -1, "failed", "agent killed (OOM or signal)"
        if sig == signal.SIGTERM:
            return -1, "failed", "agent terminated (SIGTERM)"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return -1, "failed", f"agent killed by signal {name}"
    texts = {1: "agent reported failure", 2: "agent usage error",
             137: "agent killed (OOM or signal)", 143: "agent terminated (SIGTERM)"}
    return returncode, "failed", texts.get(returncode, f"agent exited with code {returncode}")
