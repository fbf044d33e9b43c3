"""200 concurrent runs in one project under the console: no error, every run on screen,
memory flat once every run has started. The suite runs the agents for 40 s
(``CONDUCTOR_LOAD_SECONDS`` changes it); ``benchmarks/bench_console_load.py`` runs the same
scenario for two minutes and prints the figures (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os

import pytest

from .conftest import wait_for
from .console_load import PROJECT, run_load, task_id

TASKS = 200


@pytest.mark.slow
def test_200_concurrent_runs_under_the_console(rig, tmp_path):
    duration = int(os.environ.get("CONDUCTOR_LOAD_SECONDS", "40"))
    result = asyncio.run(run_load(rig.root, str(tmp_path), rig.env, tasks=TASKS,
                                  duration=duration, sample_every=2.0))
    wait_for(lambda: not rig.live(), timeout=60, what="every supervisor exited")
    print(result)
    assert result.errors == []
    assert result.peak_running == TASKS  # all 200 ran at once, and the console showed it
    assert result.done_on_screen == TASKS
    for n in range(TASKS):
        assert os.path.exists(os.path.join(rig.root, PROJECT, task_id(n), "DONE"))
    # memory: once every run has started, the console's memory stays flat (bounded panes,
    # a tree of fixed size); a leak of even 1 KiB per event would show here
    growth = result.rss_mib[-1][1] - result.rss_at(0.5)
    assert growth < 40, result.rss_mib
