"""An executor for tests that answers from a table and counts how often it is asked
(``observe`` calls and placements), standing in for a cluster's one-query-per-poll client."""

from __future__ import annotations

from conductor.executor.base import ALIVE, ENDED, Executor, Observation

CALLS: list[int] = []  # one entry per observe call: how many placements it was given
ENDED_JOBS: set[str] = set()


class CountingExecutor(Executor):
    name = "counting"

    def observe(self, placements):
        CALLS.append(len(placements))
        return [Observation(ENDED if p.job_id in ENDED_JOBS else ALIVE) for p in placements]

    def where(self, placement):
        return f"job {placement.job_id}"


EXECUTOR = CountingExecutor()
