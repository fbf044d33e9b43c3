"""Load figures: N processes appending to one bus while `bus read --follow` processes and an
in-process BusReader read it (the load of tests/reliability/test_load.py, measured).

Run: PYTHONPATH=src python benchmarks/bench_load.py [--writers 32] [--messages 1000] [--followers 2]

Prints: wall time of the appends, aggregate appends/s, time until every reader had every
message, the in-process reader's worst lag (messages behind the file at a poll), the peak RSS
of the follower processes, the bus size, and messages lost or repeated per reader.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import psutil

from conductor.bus import BusReader, MessageBus

WRITER = """
import os, sys, time
from conductor.bus import Message, MessageBus
path, wid, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.005)
bus = MessageBus(path)
for i in range(count):
    bus.append(Message(type="FACT", project_id="proj", task_id="t", run_id=wid, body=f"{wid} {i}"))
"""

PROJECT, TASK = "proj", "task-20260220-153045-benchload"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writers", type=int, default=32)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--followers", type=int, default=2)
    args = ap.parse_args()
    total = args.writers * args.messages
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "runs")
        task_dir = os.path.join(root, PROJECT, TASK)
        os.makedirs(task_dir)
        path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
        go = os.path.join(d, "go")
        outs = [os.path.join(d, f"follower{i}.out") for i in range(args.followers)]
        followers = []
        for out in outs:
            with open(out, "wb") as fh:
                followers.append(subprocess.Popen(
                    [sys.executable, "-m", "conductor", "bus", "read", "--root", root,
                     "--project", PROJECT, "--task", TASK, "--follow", "--tail", "0"],
                    stdout=fh, env=env, start_new_session=True))
        reader = BusReader(path)
        seen: list = []
        worst_lag = 0
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                new = reader.poll()
                seen.extend(new)
                stop.wait(0.05)
            seen.extend(reader.poll())

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, f"w{w:02d}",
                                     str(args.messages), go], env=env)
                   for w in range(args.writers)]
        time.sleep(1.0)  # let the interpreters start; the clock starts at "go"
        t0 = time.perf_counter()
        open(go, "w").close()
        peak = {f.pid: 0 for f in followers}
        while any(w.poll() is None for w in writers):
            for f in followers:
                try:
                    peak[f.pid] = max(peak[f.pid], psutil.Process(f.pid).memory_info().rss)
                except psutil.Error:
                    pass
            size = len(seen)
            worst_lag = max(worst_lag, _count_in_file(path) - size) if size else worst_lag
            time.sleep(0.1)
        appended = time.perf_counter() - t0

        def lines(p: str) -> int:
            with open(p, "rb") as fh:
                return fh.read().count(b"\n")

        while len(seen) < total or any(lines(p) < total for p in outs):
            if time.perf_counter() - t0 > 300:
                break
            time.sleep(0.05)
        caught_up = time.perf_counter() - t0
        stop.set()
        thread.join()
        for f in followers:
            f.send_signal(signal.SIGINT)
            f.wait()
        every = MessageBus(path).read_all()
        ids = [m.msg_id for m in every]
        rows = [
            ("writers x messages", f"{args.writers} x {args.messages} = {total}"),
            ("appends, wall time", f"{appended:.2f} s"),
            ("appends/s (all writers)", f"{total / appended:,.0f}"),
            ("every reader had every message after", f"{caught_up:.2f} s"),
            ("in-process reader, worst lag (sampled)", f"{worst_lag} messages"),
            ("follower peak RSS", f"{max(peak.values()) / 2**20:.1f} MiB" if peak else "-"),
            ("bus size", f"{os.path.getsize(path) / 2**20:.1f} MiB"),
            ("messages in the file", f"{len(every)} ({len(set(ids))} distinct)"),
            ("in-process reader lost / repeated",
             f"{len(set(ids) - {m.msg_id for m in seen})} / {len(seen) - len({m.msg_id for m in seen})}"),
        ]
        for i, out in enumerate(outs):
            got = open(out, encoding="utf-8").read().splitlines()
            bodies = [line.split(") ", 1)[1] for line in got]
            want = [m.body for m in every]
            rows.append((f"follower {i + 1} lost / repeated",
                         f"{len(set(want) - set(bodies))} / {len(bodies) - len(set(bodies))}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def _count_in_file(path: str) -> int:
    try:
        with open(path, "rb") as fh:
            return fh.read().count(b"\nmsg_id: ")
    except OSError:
        return 0


if __name__ == "__main__":
    main()
