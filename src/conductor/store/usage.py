"""Tokens and cost: of one run (from its run-info), summed per task and project (issue 10)."""

from __future__ import annotations

from ..record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # the record's module loads PyYAML; the runner's hot path does not need it here
    from typing import Iterable
    from .runinfo import RunInfo


class Usage(Record):
    """Tokens and cost of one run or a sum of runs. ``cost_usd`` is None when no run of the
    sum reported a cost (codex and gemini report tokens only). A plain class for the start-up
    of `list` and `status` (see :mod:`conductor.record`)."""

    __slots__ = ("input_tokens", "output_tokens", "cached_tokens", "cost_usd", "turns")
    _compared = __slots__

    def __init__(self, input_tokens: int = 0, output_tokens: int = 0, cached_tokens: int = 0,
                 cost_usd: float | None = None, turns: int = 0) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached_tokens = cached_tokens
        self.cost_usd = cost_usd
        self.turns = turns

    def copy(self) -> "Usage":
        return Usage(*self._values())

    @property
    def tokens(self) -> int:
        """Tokens counted against a budget: input (cached ones included) plus output."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: "Usage") -> "Usage":
        cost = None if self.cost_usd is None and other.cost_usd is None else \
            (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens,
                     self.cached_tokens + other.cached_tokens, cost, self.turns + other.turns)

    def minus(self, earlier: "Usage") -> "Usage":
        """What was added since ``earlier`` (a running total's increase), never below zero."""
        cost = None if self.cost_usd is None else \
            max(0.0, self.cost_usd - (earlier.cost_usd or 0.0))
        return Usage(max(0, self.input_tokens - earlier.input_tokens),
                     max(0, self.output_tokens - earlier.output_tokens),
                     max(0, self.cached_tokens - earlier.cached_tokens), cost,
                     max(0, self.turns - earlier.turns))

    def __bool__(self) -> bool:
        return bool(self.input_tokens or self.output_tokens or self.cached_tokens
                    or self.cost_usd or self.turns)


def run_usage(info: "RunInfo") -> Usage:
    return Usage(info.input_tokens, info.output_tokens, info.cached_tokens,
                 info.cost_usd if info.cost_usd else None, info.turns)


def total_usage(infos: Iterable["RunInfo"]) -> Usage:
    total = Usage()
    for info in infos:
        total = total + run_usage(info)
    return total


def format_tokens(count: int) -> str:
    """``950``, ``12.3k``, ``4.1M``: a token count in at most six characters."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k" if count < 100_000 else f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M" if count < 100_000_000 else f"{count // 1_000_000}M"


def format_cost(cost: float | None) -> str:
    """``$0.024``, ``$1.20``, ``$153``; "" when unknown."""
    if cost is None:
        return ""
    if cost < 1:
        return f"${cost:.3f}"
    if cost < 100:
        return f"${cost:.2f}"
    return f"${cost:.0f}"


def format_usage(usage: Usage) -> str:
    """One short cell: cost when known, else tokens (``$0.024``, ``18.5k tok``), "" when none."""
    if usage.cost_usd is not None:
        return format_cost(usage.cost_usd)
    if usage.tokens:
        return f"{format_tokens(usage.tokens)} tok"
    return ""
