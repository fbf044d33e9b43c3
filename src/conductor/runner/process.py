"""Signals to process groups, and what an exit status means (spec 4.3 step 7, 4.8)."""

from __future__ import annotations

import os
import signal
import time

from ..store.liveness import group_exists, group_members



def group_alive(pgid: int) -> bool:
    """A member of group ``pgid`` that really runs (killpg(0) also succeeds for zombies)."""
    if not group_exists(pgid):
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


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def terminate_group(pgid: int, grace: float = 2.0, poll: float = 0.05) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left after ``grace`` seconds."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(poll)
    signal_group(pgid, signal.SIGKILL)


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
