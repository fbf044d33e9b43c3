"""200 concurrent runs in one project under the console for two minutes (issue 5).

Run ``PYTHONPATH=src python benchmarks/bench_console_load.py [seconds] [tasks]``. Each task's
agent prints a line a second for the given time (default 120 s); the console (headless, in
this process) watches the root live while a key is pressed every second. Prints: peak running
runs on screen, errors reported, the console's RSS over time and its CPU use. The scenario is
shared with tests/reliability/test_console_load.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from reliability.console_load import run_load  # noqa: E402


def main() -> None:
    duration = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    tasks = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    base = tempfile.mkdtemp(prefix="conductor-console-load-")
    root = os.path.join(base, "runs")
    os.makedirs(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env["PYTHONPATH"] = os.path.join(HERE, "..", "src")
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    print(f"{tasks} tasks, agents run {duration} s each; load average {os.getloadavg()[0]:.2f}")
    try:
        result = asyncio.run(run_load(root, base, env, tasks=tasks, duration=duration))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rss = [mib for _, mib in result.rss_mib]
    print(f"  wall time until every task was done on screen: {result.wall:.1f} s")
    print(f"  peak runs shown running at once: {result.peak_running} / {tasks}")
    print(f"  tasks shown done at the end: {result.done_on_screen} / {tasks}")
    print(f"  errors reported by the console: {len(result.errors)} {result.errors[:3]}")
    print(f"  keys pressed: {result.keys_pressed}")
    print(f"  console CPU: {result.cpu_seconds:.1f} s over {result.wall:.0f} s "
          f"({100 * result.cpu_seconds / result.wall:.1f}% of a core)")
    print(f"  console RSS MiB: first {rss[0]:.1f}, at half time {result.rss_at(0.5):.1f}, "
          f"max {max(rss):.1f}, last {rss[-1]:.1f}")
    print("  RSS samples (s, MiB): " +
          ", ".join(f"{t:.0f}:{m:.1f}" for t, m in result.rss_mib))


if __name__ == "__main__":
    main()
