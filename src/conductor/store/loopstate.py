"""LOOP-STATE.json: what a task's supervisor is doing between attempts (ours; issue 10).

The supervisor writes it when the loop waits for a usage limit to reset, asks the operator
about a spent budget, backs off after a repeated failure, or gives up as ``stuck``; and removes
it when an attempt starts. Readers (the console, ``list``/``status``) show ``waiting``,
``needs-you`` and ``backoff`` only while the task's supervisor is alive; ``stuck`` stays until
the task is started again. A small JSON object, read through :mod:`safefs` with a size cap.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

from ..errors import ConductorError
from . import safefs
from .layout import LOOP_STATE

MAX_LOOP_STATE_BYTES = 64 * 1024

LIMIT = "limit"      # waiting until a rate/usage limit resets (`until`)
BUDGET = "budget"    # the budget is spent; a QUESTION on the bus waits for the operator
BACKOFF = "backoff"  # waiting before the next attempt after identical failures (`until`)
STUCK = "stuck"      # the circuit breaker tripped: the loop ended
FAILED = "failed"    # the loop ended on a failure no retry can fix (auth, a missing program)
QUESTION = "question"  # the agent asked a QUESTION and exited: waiting for the answer
STATES = (LIMIT, BUDGET, BACKOFF, STUCK, FAILED, QUESTION)


@dataclass
class LoopState:
    state: str
    reason: str = ""           # one line: the agent's words, or the budget reached
    since: int = 0             # ns
    until: int | None = None   # ns: when a limit resets or a backoff ends
    failures: int = 0          # identical failures in a row
    question: str = ""         # BUDGET: the msg_id of the QUESTION that waits for an answer

    @property
    def ended(self) -> bool:
        """The loop is over in this state (the others are waits of a live supervisor)."""
        return self.state in (STUCK, FAILED)


def _path(task_dir: str) -> str:
    return os.path.join(task_dir, LOOP_STATE)


def read_loop_state(task_dir: str) -> LoopState | None:
    """The state, or None when there is none or it cannot be read (a link, a FIFO, garbage:
    a view must not fail on what an agent planted in its task dir)."""
    try:
        data = safefs.read_bytes(safefs.above(task_dir, 2), _path(task_dir), MAX_LOOP_STATE_BYTES)
    except (ConductorError, OSError):
        return None
    if data is None:
        return None
    import json  # only for a task that has a loop state: `list` reads many that do not
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict) or raw.get("state") not in STATES:
        return None
    state = LoopState(state=raw["state"])
    for f in fields(LoopState):
        value = raw.get(f.name)
        if f.name == "state" or value is None:
            continue
        if f.name in ("reason", "question") and isinstance(value, str):
            setattr(state, f.name, value[:2000])
        elif f.name in ("since", "until", "failures") and isinstance(value, int) \
                and not isinstance(value, bool):
            setattr(state, f.name, value)
    return state


def write_loop_state(task_dir: str, state: LoopState) -> None:
    import json
    data = json.dumps(asdict(state), ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    safefs.write_atomic(safefs.above(task_dir, 2), _path(task_dir), data, 0o644)


def clear_loop_state(task_dir: str) -> None:
    try:
        safefs.unlink(safefs.above(task_dir, 2), _path(task_dir))
    except (ConductorError, OSError):
        pass
