"""What the Changes tab costs: one refresh (the poll while the tab is shown) on a repository
of N files with a few changed, and the first page of a 100 MB diff (time and peak memory).

    .venv/bin/python benchmarks/bench_changes.py [--files 5000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from vcs.gitrepo import add_worktree, git, make_repo, write  # noqa: E402

from conductor.vcs.changes import (DiffReader, changed_files, diff_page,  # noqa: E402
                                   fingerprint, resolve_target)


def refresh_cost(task_dir: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        target = resolve_target(task_dir, None)
        fingerprint(target, changed_files(target))
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HOME"] = tmp
        repo = make_repo(os.path.join(tmp, "repo"), {
            f"src/m{n // 100}/f{n}.py": f"x = {n}\n" * 20 for n in range(args.files)})
        task_dir = os.path.join(tmp, "runs", "p", "t")
        wt = os.path.join(tmp, "wt")
        add_worktree(repo, wt, "conductor/t", task_dir)
        write(wt, {f"src/m0/f{n}.py": "changed\n" for n in range(10)})
        write(wt, {f"new{n}.txt": "new\n" for n in range(5)})
        times = refresh_cost(task_dir, args.rounds)
        print(f"refresh ({args.files} files, 15 changed): median "
              f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
              f"over {args.rounds} rounds")
        with open(os.path.join(wt, "big.txt"), "w") as fh:
            line = "y" * 99 + "\n"
            for _ in range(10):
                fh.write(line * 100_000)  # 10 x 10 MB
        git(wt, "add", "big.txt")
        target = resolve_target(task_dir, None)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        page = diff_page(target, "big.txt", 0, 1000)
        first = time.perf_counter() - started
        started = time.perf_counter()
        later = diff_page(target, "big.txt", 500_000, 1000)
        middle = time.perf_counter() - started
        reader = DiffReader(target, "big.txt")
        reader.read(1000)
        times = []
        for _ in range(50):
            started = time.perf_counter()
            reader.read(1000)
            times.append(time.perf_counter() - started)
        reader.close()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"reading on (what the tab does when the cursor reaches the end): next page "
              f"median {statistics.median(times) * 1000:.1f} ms over 50 pages")
        print(f"100 MB diff: first page ({len(page.lines)} lines) {first * 1000:.0f} ms, page "
              f"at line 500,000 ({len(later.lines)} lines) {middle * 1000:.0f} ms; peak RSS grew {(after - before) / 1024:.1f} MB")
        print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()),
              "·", subprocess.run(["git", "--version"], capture_output=True,
                                  text=True).stdout.strip())


if __name__ == "__main__":
    main()
