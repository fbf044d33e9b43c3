"""What the Ralph loop does after an attempt fails: the rules, kept apart from the loop's I/O.

- A failure no retry can fix (auth, a bad flag, an untrusted folder, a program that cannot be
  started) ends the loop at once: :data:`conductor.agents.backend.FATAL`.
- A rate or usage limit is waited out (until its reset, capped; a fallback wait when the agent
  gave no reset time) and does not count as an attempt.
- Identical failures in a row back off exponentially (capped) and, after ``failure_limit`` of
  them, trip the circuit breaker: the task is ``stuck``.
- A budget (cost in USD, tokens) is checked before each attempt and against the usage the
  running attempt has reported so far; when it is reached, the operator is asked.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from .. import defaults
from ..agents.backend import Failure
from ..store.usage import Usage, format_cost

DEFAULT_FAILURE_LIMIT = defaults.FAILURE_LIMIT
DEFAULT_BACKOFF_MAX = defaults.BACKOFF_MAX        # the longest pause between identical failures
DEFAULT_LIMIT_WAIT_MAX = defaults.LIMIT_WAIT_MAX  # the longest wait for a usage limit to reset
LIMIT_FALLBACK_WAIT = defaults.LIMIT_FALLBACK_WAIT  # a limit without a reset time: wait, then try
RESUME_MODES = defaults.RESUME_MODES


@dataclass
class Budget:
    """A task's budget; None means no limit of that kind."""

    max_cost_usd: float | None = None
    max_tokens: int | None = None

    def __bool__(self) -> bool:
        return self.max_cost_usd is not None or self.max_tokens is not None

    def reached(self, spent: Usage) -> str:
        """"" while within budget; else the one line the QUESTION and the bus say."""
        if self.max_cost_usd is not None and (spent.cost_usd or 0.0) >= self.max_cost_usd:
            return (f"budget of {format_cost(self.max_cost_usd)} reached "
                    f"({format_cost(spent.cost_usd or 0.0)} spent)")
        if self.max_tokens is not None and spent.tokens >= self.max_tokens:
            return f"token budget of {self.max_tokens:,} reached ({spent.tokens:,} used)"
        return ""

    def left_usd(self, spent: Usage) -> float | None:
        if self.max_cost_usd is None:
            return None
        return max(0.0, self.max_cost_usd - (spent.cost_usd or 0.0))


_NUMBER = re.compile(r"\$?\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)")
_NO = re.compile(r"^\s*(no|stop|cancel|quit|abort|enough)\b", re.IGNORECASE)


def apply_answer(budget: Budget, spent: Usage, answer: str, original: Budget) -> Budget | None:
    """The budget after the operator's answer to a budget QUESTION; None for "stop".

    A number is the new total (``10`` or ``$10`` for a cost budget, ``200k`` for tokens); a
    number at or below what is already spent is added to it instead. Any other answer
    ("yes", "go on") grants the original budget once more."""
    if _NO.match(answer or ""):
        return None
    found = _NUMBER.search(answer or "")
    new = Budget(budget.max_cost_usd, budget.max_tokens)
    tokens_reached = budget.max_tokens is not None and spent.tokens >= budget.max_tokens
    # the budget the answer is about: cost, unless only the token budget is spent (the agent
    # may have stopped on a cost budget of its own a hair before our sum reached it)
    cost_reached = not tokens_reached or budget.max_cost_usd is not None and \
        (spent.cost_usd or 0.0) >= budget.max_cost_usd
    if found:
        value = float(found.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[found.group(2).lower()]
        if cost_reached:
            spent_usd = spent.cost_usd or 0.0
            new.max_cost_usd = value if value > spent_usd else spent_usd + value
        else:
            value = int(value)
            new.max_tokens = value if value > spent.tokens else spent.tokens + value
        return new
    if cost_reached:
        new.max_cost_usd = (spent.cost_usd or 0.0) + (original.max_cost_usd or 0.0)
    else:
        new.max_tokens = spent.tokens + (original.max_tokens or 0)
    return new


def limit_wait(failure: Failure, *, now: float | None = None,
               cap: float = DEFAULT_LIMIT_WAIT_MAX,
               fallback: float = LIMIT_FALLBACK_WAIT) -> float:
    """Seconds to wait for a limit: until its reset (never past ``cap``), else ``fallback``."""
    now = time.time() if now is None else now
    if failure.reset_at is None:
        return min(fallback, cap)
    return max(0.0, min(failure.reset_at - now, cap))


def backoff(base: float, repeats: int, cap: float = DEFAULT_BACKOFF_MAX) -> float:
    """The pause before the next attempt after ``repeats`` identical failures in a row
    (1 = the first failure): ``base``, then doubling, never above ``cap``."""
    if base <= 0 or repeats <= 1:
        return max(0.0, base)
    return min(cap, base * (2 ** min(repeats - 1, 30)))


def signature(failure: Failure | None, error: str) -> tuple[str, str]:
    """What makes two failures "identical": the kind and the words, numbers blanked (a
    retry counter or a port must not make the same failure look new)."""
    if failure is not None:
        return failure.kind, re.sub(r"[0-9]+", "#", failure.message)
    return "exit", re.sub(r"[0-9]+", "#", error)
