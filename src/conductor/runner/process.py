"""What an agent's exit status means (spec 4.3 step 7, 4.8).

Signals to process groups, the unreaped agent and the kernel checks before a signal live in the
local executor (:mod:`conductor.executor.local`); their names stay importable from here.
"""

from __future__ import annotations

import signal

from ..executor.local import (AgentGroup, group_alive, leader_problem,  # noqa: F401
                              signal_group)


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
