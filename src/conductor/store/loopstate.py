"""LOOP-STATE.json: what a task's supervisor is doing between attempts (ours; issue 10).

The supervisor writes it when the loop waits for a usage limit to reset, asks the operator
about a spent budget, backs off after a repeated failure, or gives up as ``stuck``; and removes
it when an attempt starts. Readers (the console, ``list``/``status``) show ``waiting``,
``needs-you`` and ``backoff`` only while the task's supervisor is alive; ``stuck`` stays until
the task is started again. A small JSON object, read through :mod:`safefs` with a size cap.
"""

from __future__ import annotations

import os
from ..errors import ConductorError
from . import safefs
from .layout import LOOP_STATE
from ..record import Record

MAX_LOOP_STATE_BYTES = 64 * 1024

LIMIT = "limit"      # waiting until a rate/usage limit resets (`until`)
BUDGET = "budget"    # the budget is spent; a QUESTION on the bus waits for the operator
BACKOFF = "backoff"  # waiting before the next attempt after identical failures (`until`)
STUCK = "stuck"      # the circuit breaker tripped: the loop ended
FAILED = "failed"    # the loop ended on a failure no retry can fix (auth, a missing program)
QUESTION = "question"  # the agent asked a QUESTION and exited: waiting for the answer
STATES = (LIMIT, BUDGET, BACKOFF, STUCK, FAILED, QUESTION)


class LoopState(Record):
    """A plain class, not a dataclass: `list` and `status` read it, and importing
    ``dataclasses`` (with ``inspect``) would cost them about a tenth of their start-up."""

    __slots__ = ("state", "reason", "since", "until", "failures", "question")
    _compared = __slots__

    def __init__(self, state: str, reason: str = "", since: int = 0, until: int | None = None,
                 failures: int = 0, question: str = "") -> None:
        self.state = state
        self.reason = reason        # one line: the agent's words, or the budget reached
        self.since = since          # ns
        self.until = until          # ns: when a limit resets or a backoff ends
        self.failures = failures    # identical failures in a row
        self.question = question    # BUDGET: the msg_id of the QUESTION that waits for an answer

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
    for name in LoopState._compared:
        value = raw.get(name)
        if name == "state" or value is None:
            continue
        if name in ("reason", "question") and isinstance(value, str):
            setattr(state, name, value[:2000])
        elif name in ("since", "until", "failures") and isinstance(value, int) \
                and not isinstance(value, bool):
            setattr(state, name, value)
    return state


def write_loop_state(task_dir: str, state: LoopState) -> None:
    import json
    data = json.dumps({name: getattr(state, name) for name in LoopState._compared}, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    safefs.write_atomic(safefs.above(task_dir, 2), _path(task_dir), data, 0o644)


def clear_loop_state(task_dir: str) -> None:
    try:
        safefs.unlink(safefs.above(task_dir, 2), _path(task_dir))
    except (ConductorError, OSError):
        pass
