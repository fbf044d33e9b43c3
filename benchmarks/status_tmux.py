"""What ``status --tmux`` costs next to ``status`` (issue 13): tmux runs it every few seconds.

Run: python benchmarks/status_tmux.py [rounds]  (temporary files; prints a table)

A root of 5 projects x 20 tasks x 10 runs (1,000 runs; most tasks done, some failed, some
asking a QUESTION). Each command is a fresh process of the installed ``run-agent`` script with
compiled bytecode (each runs once before it is timed), timed in rounds, one of each per round;
each figure is the median. ``status --project`` reads one project (20 tasks); ``status --tmux``
reads every project (100 tasks), ``--tmux --project`` the same project as ``status``.
The 1-minute load average is printed at the start and at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from conductor.bus import Message, MessageBus
from conductor.store import RunInfo, write_run_info

NS = 10**9
BASE = 1_782_000_000 * NS


def cli() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "run-agent")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "conductor"]


def build(root: str, projects: int = 5, tasks: int = 20, runs: int = 10) -> None:
    for p in range(projects):
        for t in range(tasks):
            task = f"task-20260621-{t:06d}-bench"
            task_dir = os.path.join(root, f"p{p}", task)
            for r in range(runs):
                run_id = f"20260621-{t:04d}{r:02d}0000-{p + 1}-0001"
                run_dir = os.path.join(task_dir, "runs", run_id)
                os.makedirs(run_dir)
                failed = t % 7 == 3 and r == runs - 1
                start = BASE + (t * 100 + r) * NS
                write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
                    run_id=run_id, project_id=f"p{p}", task_id=task, agent="claude",
                    start_time=start, end_time=start + NS, exit_code=1 if failed else 0,
                    status="failed" if failed else "completed", cwd="/"))
            if t % 7 not in (3, 5):
                open(os.path.join(task_dir, "DONE"), "w").close()
            if t % 7 == 5:
                MessageBus(os.path.join(task_dir, "TASK-MESSAGE-BUS.md")).append(
                    Message(type="QUESTION", project_id=f"p{p}", task_id=task, body="which?"))


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    d = tempfile.mkdtemp()
    try:
        root = os.path.join(d, "root")
        build(root)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.pop("CONDUCTOR_ROOT", None)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "status --project p0 (20 tasks)": cli() + ["status", "--root", root, "--project", "p0"],
            "status --tmux (100 tasks)": cli() + ["status", "--tmux", "--root", root],
            "status --tmux --project p0": cli() + ["status", "--tmux", "--root", root,
                                                   "--project", "p0"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():
            subprocess.run(argv, env=env, capture_output=True, check=True)
        for _ in range(rounds):
            for name, argv in commands.items():
                started = time.perf_counter()
                subprocess.run(argv, env=env, capture_output=True, check=True)
                times[name].append(time.perf_counter() - started)
        out = subprocess.run(commands["status --tmux (100 tasks)"], env=env,
                             capture_output=True, check=True).stdout.decode()
        base = statistics.median(times["python -c pass"])
        print(f"{'command':34} {'median ms':>10} {'x python':>9}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:34} {median * 1000:10.1f} {median / base:9.2f}")
        print(f"status --tmux printed: {out!r}")
    finally:
        shutil.rmtree(d)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
