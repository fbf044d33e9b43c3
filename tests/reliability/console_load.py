"""200 concurrent runs in one project under the console: shared by the test (a shorter run)
and ``benchmarks/bench_console_load.py`` (two minutes, with figures).

Each task gets a detached supervisor (as the console's `n`/`s` start them) whose `command`
agent is a small shell loop: it posts one PROGRESS message, prints a line a second for
``duration`` seconds, writes output.md and DONE. The console watches the root live while an
"operator" presses a key every second (move, switch tabs, follow), and the process's memory
is sampled every few seconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import psutil

PROJECT = "load"
AGENT = """#!/bin/sh
cat > /dev/null
run-agent bus post --type PROGRESS --body "started" > /dev/null 2>&1
end=$(( $(date +%s) + {duration} ))
i=0
while [ "$(date +%s)" -lt "$end" ]; do
  i=$((i + 1))
  echo "working line $i"
  sleep 1
done
printf '# done\\n\\n%s lines\\n' "$i" > "$JRUN_RUN_FOLDER/output.md"
touch "$JRUN_TASK_FOLDER/DONE"
"""
KEYS = ["j", "j", "2", "j", "3", "k", "1", "j", "6", "G", "2", "j"]


@dataclass
class LoadResult:
    tasks: int
    duration: float
    wall: float = 0.0
    peak_running: int = 0
    done_on_screen: int = 0
    errors: list[str] = field(default_factory=list)
    rss_mib: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)
    cpu_seconds: float = 0.0
    keys_pressed: int = 0

    def rss_at(self, fraction: float) -> float:
        """RSS at the first sample at or after ``fraction`` of the agents' duration."""
        for t, mib in self.rss_mib:
            if t >= fraction * self.duration:
                return mib
        return self.rss_mib[-1][1]


def write_config(base: str, duration: int) -> str:
    script = os.path.join(base, "load_agent.sh")
    with open(script, "w") as f:
        f.write(AGENT.format(duration=duration))
    config = os.path.join(base, "config.yaml")
    with open(config, "w") as f:
        f.write(f"agents:\n  sim:\n    type: command\n    command: [sh, {script}]\n"
                "defaults:\n  agent: sim\n")
    return config


def task_id(n: int) -> str:
    return f"task-20260301-{n:06d}-load"


async def run_load(root: str, base: str, env: dict, *, tasks: int = 200, duration: int = 120,
                   sample_every: float = 5.0) -> LoadResult:
    """Open the console, start ``tasks`` tasks, operate it until every task is done."""
    from conductor import orchestrator
    from conductor.console.app import ConductorApp
    from conductor.store.supervision import loop_alive

    config = write_config(base, duration)
    result = LoadResult(tasks, duration)
    me = psutil.Process()
    app = ConductorApp(root, project=PROJECT, config_path=config,
                       state_path=os.path.join(base, "state.json"))
    reported: list[str] = []
    report_error = app.report_error

    def record_error(text: str) -> None:
        reported.append(text)
        report_error(text)
    app.report_error = record_error  # type: ignore[method-assign]

    async with app.run_test(size=(160, 45)) as pilot:
        while not app.loaded:
            await pilot.pause(0.1)
        cpu0 = sum(me.cpu_times()[:2])
        started = time.monotonic()

        def start_all() -> None:
            for n in range(tasks):
                orchestrator.new_task(root, PROJECT, task_id(n), "Work for a while.")
                # window=0: launched, not watched (200 starts one after another must not wait
                # out a start window each; the scenario checks every run on screen instead)
                orchestrator.start_task(root, PROJECT, task_id(n), agent="sim",
                                        config_path=config, environ=env, window=0)
        # started from a thread, as from another terminal: the console watches them appear
        starting = asyncio.get_running_loop().run_in_executor(None, start_all)
        next_sample = 0.0
        key = 0
        deadline = started + duration + 240
        while True:
            elapsed = time.monotonic() - started
            counts = app.header.counts
            result.peak_running = max(result.peak_running, counts.get("running", 0))
            result.done_on_screen = counts.get("completed", 0)
            if elapsed >= next_sample:
                result.rss_mib.append((round(elapsed, 1), me.memory_info().rss / 2**20))
                next_sample += sample_every
            if result.done_on_screen == tasks and starting.done():
                break
            if time.monotonic() > deadline:
                break
            await pilot.press(KEYS[key % len(KEYS)])
            key += 1
            await pilot.pause(1.0)
        await starting  # raises what the starts raised
        result.wall = time.monotonic() - started
        result.cpu_seconds = sum(me.cpu_times()[:2]) - cpu0
        result.keys_pressed = key
        result.rss_mib.append((round(result.wall, 1), me.memory_info().rss / 2**20))
    result.errors = reported
    for n in range(tasks):  # the loops end by themselves once DONE is written
        task_dir = os.path.join(root, PROJECT, task_id(n))
        end = time.monotonic() + 60
        while loop_alive(task_dir) and time.monotonic() < end:
            await asyncio.sleep(0.1)
    return result
