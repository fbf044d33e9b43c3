"""How the views (the console, ``list``/``status``) put a task's loop state into words.

:mod:`loopstate` holds what the supervisor wrote; this module decides what of it is still true
(a wait is only a wait while the supervisor that waits is alive) and says it in the words both
views share: ``waiting`` / ``limit until 14:05``, ``needs-you`` / the budget line, ``waiting`` /
``retry in 40s``, ``stuck`` / ``5 identical failures``, ``failed`` / the reason.
"""

from __future__ import annotations

import time
from ..timefmt import NS
from .loopstate import BACKOFF, BUDGET, FAILED, LIMIT, QUESTION, STUCK, LoopState

MAX_DETAIL = 120


class LoopWords:
    """``status``: the task status the state stands for (waiting, needs-you, stuck, failed);
    ``detail``: one short line ("limit until 14:05", "retry in 40s", "5 identical failures").
    A plain class: ``list`` and ``status`` import this module, and a dataclass costs its
    generated methods at import time."""
    __slots__ = ("status", "detail")

    def __init__(self, status: str, detail: str) -> None:
        self.status, self.detail = status, detail

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LoopWords) and (self.status, self.detail) == \
            (other.status, other.detail)

    def __hash__(self) -> int:
        return hash((self.status, self.detail))

    def __repr__(self) -> str:
        return f"LoopWords({self.status!r}, {self.detail!r})"

    @property
    def text(self) -> str:
        """``waiting: limit until 14:05``: the status and its detail, for one cell."""
        return f"{self.status}: {self.detail}" if self.detail else self.status


def effective(state: LoopState | None, supervisor_alive: bool) -> LoopState | None:
    """The state if it still holds: ``stuck`` and ``failed`` until the task is started again,
    the waits (limit, budget, backoff) only while the supervisor that waits is alive."""
    if state is None:
        return None
    if state.ended or supervisor_alive:
        return state
    return None


def clock_time(ns: int, now_ns: int) -> str:
    """``14:05`` in local time; ``06-22 14:05`` when it is more than 20 hours away."""
    secs = ns // NS
    fmt = "%H:%M" if abs(ns - now_ns) <= 20 * 3600 * NS else "%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(secs))


def short_duration(ns: int) -> str:
    """``40s``, ``3m05s``, ``2h10m``."""
    secs = max(0, -(-ns // NS))  # rounded up: "retry in 0s" only when it is due
    if secs < 60:
        return f"{secs}s"
    if secs < 3600:
        return f"{secs // 60}m{secs % 60:02d}s"
    return f"{secs // 3600}h{secs % 3600 // 60:02d}m"


def one_line(text: str, limit: int = MAX_DETAIL) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def loop_words(state: LoopState, now_ns: int) -> LoopWords:
    """The words for a state (call with an :func:`effective` one)."""
    if state.state == LIMIT:
        return LoopWords("waiting", f"limit until {clock_time(state.until, now_ns)}"
                         if state.until else "limit")
    if state.state == BUDGET:
        return LoopWords("needs-you", one_line(state.reason) if state.reason.strip()
                         else "budget reached")
    if state.state == QUESTION:
        return LoopWords("needs-you", f"asks: {one_line(state.reason)}" if state.reason.strip()
                         else "asks a question")
    if state.state == BACKOFF:
        if state.until is None:
            return LoopWords("waiting", "backing off")
        left = state.until - now_ns
        return LoopWords("waiting", f"retry in {short_duration(left)}" if left > 0
                         else "retrying")
    if state.state == STUCK:
        count = state.failures
        return LoopWords("stuck", f"{count} identical failure{'s' if count != 1 else ''}"
                         if count else "circuit breaker tripped")
    if state.state == FAILED:
        return LoopWords("failed", one_line(state.reason) if state.reason.strip()
                         else "the loop ended")
    return LoopWords("unknown", state.state)
