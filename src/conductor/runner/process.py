"""Signals to process groups, and what an exit status means (spec 4.3 step 7, 4.8)."""

from __future__ import annotations

import os
import signal
import time



def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    """killpg(0) also succeeds for a group of zombies; look for a member that really runs."""
    import psutil  # imported here: it costs ~15 ms at start-up
    try:
        leader = psutil.Process(pgid)
        if leader.status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.Error:
        pass
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
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
