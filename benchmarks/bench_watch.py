"""conductor.watch figures: append -> event latency, and idle CPU with 10,000 run dirs.

    PYTHONPATH=src python benchmarks/bench_watch.py [--appends 200] [--idle 10]

The tree (10 projects x 100 tasks x 10 runs, each run with run-info.yaml, prompt.md, stdout,
stderr and output.md; each task with TASK.md, a bus and DONE) is built under /tmp and deleted at
the end. Latency: a separate writer process appends one line every 150-250 ms to one run's
agent-stdout.txt, each line carrying its CLOCK_MONOTONIC time; the watcher (in this process)
records when the log_grew event arrives and reads the new lines by offset. Idle: process CPU
time (all threads) over the window while nothing changes. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time

from conductor.store import RunInfo, dump_run_info
from conductor.watch import RootWatcher

PROJECTS, TASKS, RUNS = 10, 100, 10

WRITER = r"""
import os, random, sys, time
path, count = sys.argv[1], int(sys.argv[2])
random.seed(7)
for i in range(count):
    time.sleep(random.uniform(0.15, 0.25))
    with open(path, "a") as f:
        f.write(f"{time.monotonic_ns()} line {i}\n")
"""


def build_tree(root: str, *, status: str = "completed") -> str:
    """The 10,000-run fixture; returns the stdout path the writer appends to.

    Every file and directory is dated a day back, as in a root that has been in use for a
    while; the last run is the live one the writer appends to (status ``running``).
    """
    target = ""
    for p in range(PROJECTS):
        project = f"proj-{p:02d}"
        for t in range(TASKS):
            task = f"task-20260220-153045-t{t:03d}"
            task_dir = os.path.join(root, project, task)
            os.makedirs(os.path.join(task_dir, "runs"))
            for name, text in (("TASK.md", "do it\n"), ("TASK-MESSAGE-BUS.md", "---\n"),
                               ("DONE", "")):
                with open(os.path.join(task_dir, name), "w") as f:
                    f.write(text)
            for r in range(RUNS):
                run_id = f"20260220-1530450000-{1000 + r}-0001"
                run_dir = os.path.join(task_dir, "runs", run_id)
                os.mkdir(run_dir)
                info = RunInfo(version=1, run_id=run_id, project_id=project, task_id=task,
                               agent="command", pid=1, pgid=1, start_time=1, end_time=None,
                               exit_code=0, status=status)
                with open(os.path.join(run_dir, "run-info.yaml"), "w") as f:
                    f.write(dump_run_info(info))
                for name in ("prompt.md", "agent-stdout.txt", "agent-stderr.txt", "output.md"):
                    with open(os.path.join(run_dir, name), "w") as f:
                        f.write("x\n")
                target = os.path.join(run_dir, "agent-stdout.txt")
    day_ago = time.time() - 86400
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(dirpath, name), (day_ago, day_ago))
        os.utime(dirpath, (day_ago, day_ago))
    live = os.path.dirname(target)
    info = RunInfo(version=1, run_id=os.path.basename(live), project_id=project, task_id=task,
                   agent="command", pid=1, pgid=1, start_time=1, end_time=None, exit_code=-1,
                   status="running")
    with open(os.path.join(live, "run-info.yaml"), "w") as f:
        f.write(dump_run_info(info))
    os.unlink(os.path.join(task_dir, "DONE"))
    return target


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def measure(root: str, target: str, *, force_polling: bool, poll_interval: float,
                  appends: int, idle: float) -> dict:
    watcher = RootWatcher(root, force_polling=force_polling, poll_interval=poll_interval)
    latencies: list[float] = []
    offset = os.path.getsize(target)
    events = 0

    async def consume() -> None:
        nonlocal offset, events
        async for batch in watcher.batches():
            now = time.monotonic_ns()
            events += len(batch)
            if any(e.kind == "log_grew" and e.path == target for e in batch):
                with open(target, "rb") as f:
                    f.seek(offset)
                    data = f.read()
                cut = data.rfind(b"\n") + 1
                offset += cut
                for line in data[:cut].splitlines():
                    stamp = line.split(b" ", 1)[0]
                    if stamp.isdigit():
                        latencies.append((now - int(stamp)) / 1e6)

    t0 = time.perf_counter()
    task = asyncio.create_task(consume())
    await watcher.wait_ready(120)
    setup_ms = (time.perf_counter() - t0) * 1000
    await asyncio.sleep(1.5)  # let the first passes settle
    cpu0, wall0 = time.process_time(), time.perf_counter()
    events0 = events
    await asyncio.sleep(idle)
    cpu_pct = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100
    idle_events = events - events0
    writer = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, target,
                                                  str(appends))
    await writer.wait()
    deadline = time.monotonic() + max(5.0, 3 * poll_interval)
    while len(latencies) < appends and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    watcher.stop()
    await asyncio.wait_for(task, 30)
    return {"mode": watcher.mode, "setup_ms": setup_ms, "cpu_pct": cpu_pct,
            "idle_events": idle_events, "n": len(latencies),
            "p50": _pct(latencies, 0.5) if latencies else float("nan"),
            "p95": _pct(latencies, 0.95) if latencies else float("nan"),
            "max": max(latencies) if latencies else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--appends", type=int, default=200)
    ap.add_argument("--idle", type=float, default=10.0)
    args = ap.parse_args()
    configs = [
        ("inotify (step 20, debounce 200)", False, 1.0, "completed"),
        ("polling, 1.0 s (default)", True, 1.0, "completed"),
        ("polling, 0.25 s", True, 0.25, "completed"),
        ("polling, 1.0 s, all 10k runs claim to run (dead agents)", True, 1.0, "running"),
    ]
    rows = []
    for label, force, interval, status in configs:
        tmp = tempfile.mkdtemp(prefix="bench-watch-", dir="/tmp")
        try:
            t0 = time.perf_counter()
            target = build_tree(os.path.join(tmp, "runs"), status=status)
            build_s = time.perf_counter() - t0
            result = asyncio.run(measure(os.path.join(tmp, "runs"), target,
                                         force_polling=force, poll_interval=interval,
                                         appends=args.appends, idle=args.idle))
            rows.append((label, result, build_s))
            print(f"done: {label}", file=sys.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nconductor.watch, {PROJECTS * TASKS * RUNS:,} run dirs "
          f"({PROJECTS} projects x {TASKS} tasks x {RUNS} runs), {args.appends} appends "
          f"every 150-250 ms, idle window {args.idle:g} s, python {sys.version.split()[0]}\n")
    print("| watcher | mode | ready after ms | idle CPU % of a core | events while idle "
          "| appends seen | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r, _build in rows:
        print(f"| {label} | {r['mode']} | {r['setup_ms']:.0f} | {r['cpu_pct']:.2f} | "
              f"{r['idle_events']} | {r['n']}/{args.appends} | {r['p50']:.0f} | {r['p95']:.0f} | "
              f"{r['max']:.0f} |")


if __name__ == "__main__":
    main()
