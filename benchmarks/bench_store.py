"""Store figures: run-info read/write/update and root scans. Prints a table; asserts nothing.

    PYTHONPATH=src python benchmarks/bench_store.py

Upstream Go reference (spec 8.1): run-info read 25 µs, write 0.45 ms. Issue 2's budget: a scan
of 10,000 runs into the tree model in <= 0.5 s. Each row has the 1-minute load average read
just after it was measured.
"""

from __future__ import annotations

import os
import tempfile
import time

from conductor.store import (Layout, RunInfo, dump_run_info, read_run_info, scan_root,
                             update_run_info, write_run_info)
from conductor.timefmt import now_ns


def _sample(run_id: str = "20260220-1530450000-12345-0001") -> RunInfo:
    return RunInfo(
        run_id=run_id, parent_run_id="20260220-1520000000-111-0001", project_id="my-project",
        task_id="task-20260220-153045-my-feature", agent="claude", process_ownership="managed",
        pid=12346, pgid=12346, start_time=now_ns(), status="running", cwd="/home/u/proj",
        prompt_path="/r/prompt.md", output_path="/r/output.md", stdout_path="/r/agent-stdout.txt",
        stderr_path="/r/agent-stderr.txt",
        commandline="claude -p --input-format text --output-format stream-json --verbose "
                    "--tools default --permission-mode bypassPermissions < /r/prompt.md",
        agent_version="2.1.3 (Claude Code)")


def _per_call(fn, n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def _build_root(root: str, runs: int, tasks_per_project: int = 10, runs_per_task: int = 100) -> None:
    """Plain writes (no fsync): building the fixture is not what we measure."""
    layout = Layout(root)
    per_project = tasks_per_project * runs_per_task
    for p in range(max(1, runs // per_project)):
        for t in range(tasks_per_project):
            task = f"task-{t:03d}"
            layout.ensure_task_dir(f"proj-{p:02d}", task)
            runs_dir = layout.runs_dir(f"proj-{p:02d}", task)
            for r in range(runs_per_task):
                run_id = f"20260220-1530450000-{1000 + r}-0001"
                os.mkdir(os.path.join(runs_dir, run_id))
                with open(os.path.join(runs_dir, run_id, "run-info.yaml"), "w") as fh:
                    fh.write(dump_run_info(_sample(run_id)))


class Rows(list):
    """(operation, ours, budget, upstream, load) rows; the load is read as each row is added."""

    def append(self, item) -> None:  # type: ignore[override]
        name, ours, go = item
        budget = "<= 500 ms" if name.startswith("scan_root, 10,000") else ""
        super().append((name, ours, budget, go, f"{os.getloadavg()[0]:.2f}"))


def main() -> None:
    rows = Rows()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        path = os.path.join(tmp, "run-info.yaml")
        info = _sample()
        write_run_info(path, info)
        rows.append(("run-info read", f"{_per_call(lambda: read_run_info(path), 5000) * 1e6:.1f} µs",
                     "25 µs"))
        rows.append(("run-info dump (no I/O)", f"{_per_call(lambda: dump_run_info(info), 5000) * 1e6:.1f} µs",
                     ""))
        rows.append(("run-info write (atomic, fsync)",
                     f"{_per_call(lambda: write_run_info(path, info), 300) * 1e3:.2f} ms", "0.45 ms"))

        def bump(ri: RunInfo) -> None:
            ri.exit_code += 1
        rows.append(("update_run_info (lock+read+write)",
                     f"{_per_call(lambda: update_run_info(path, bump), 300) * 1e3:.2f} ms", ""))
        for runs in (1_000, 10_000):
            root = os.path.join(tmp, f"root-{runs}")
            _build_root(root, runs)
            scan_root(root)  # warm the page cache, as a running console would have it
            elapsed = _per_call(lambda: scan_root(root), 3)
            count = sum(len(t.runs) for p in scan_root(root) for t in p.tasks)
            rows.append((f"scan_root, {count:,} runs", f"{elapsed * 1e3:.0f} ms", ""))
    width = max(len(r[0]) for r in rows)
    print(f"cpus: {os.cpu_count()}")
    print(f"{'operation':<{width}}  {'ours':>10}  {'budget':>10}  {'upstream Go':>11}  {'load':>5}")
    for name, ours, budget, go, load in rows:
        print(f"{name:<{width}}  {ours:>10}  {budget:>10}  {go:>11}  {load:>5}")


if __name__ == "__main__":
    main()
