"""Message-bus figures against issue 2's budgets, printed beside upstream Go's.

Run: python benchmarks/bench_bus.py [--quick]   (temporary files only; prints a table)

Every row carries the 1-minute load average read just after it was measured: the machines are
shared, and a figure means little without it. Process rows run the installed ``run-agent``
script (what agents call) with compiled bytecode, as a pip install leaves it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from conductor.bus import Message, MessageBus, encode_entry, parse

WRITER = """
import os, sys, time
from conductor.bus import Message, MessageBus
bus = MessageBus(sys.argv[1]); n = int(sys.argv[2]); me = sys.argv[3]
msgs = [Message(type="FACT", project_id="p", task_id="t", run_id=me, body=f"{me} {i}") for i in range(n)]
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.read(1)
for m in msgs:
    bus.append(m)
sys.stdout.write(f"{time.monotonic()}\\n")
"""

ROWS: list[tuple[str, str, str, str]] = []


def row(name: str, ours: str, budget: str, upstream: str) -> None:
    load = os.getloadavg()[0]
    print(f"  {name}: {ours}  (budget {budget}; load {load:.2f})", flush=True)
    ROWS.append((name, f"{ours} [load {load:.2f}]", budget, upstream))


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def entries(n: int, start: int = 0, body_sizes: tuple[int, int] = (20, 60), seed: int = 1) -> bytes:
    """``n`` well-formed entries as our writer makes them (real msg ids and timestamps)."""
    rnd = random.Random(seed)
    base = time.time_ns()
    out = []
    for i in range(start, start + n):
        size = rnd.randint(*body_sizes)
        body = (f"step {i}: " + "lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
        msg = Message(msg_id=f"MSG-20260221-101500-{i % 10**9:09d}-PID01234-{i % 10000:04d}",
                      ts=base + i * 1000, type="PROGRESS", project_id="bench",
                      task_id="task-20260221-101500-bench", run_id="20260221-1015000000-1234-0001",
                      body=body + "\nsecond line")
        out.append(encode_entry(msg))
    return b"\n".join(out)


def bench_append(d: str, n: int) -> None:
    bus = MessageBus(os.path.join(d, "a", "TASK-MESSAGE-BUS.md"))
    os.makedirs(os.path.dirname(bus.path))
    msgs = [Message(type="FACT", project_id="p", task_id="t", run_id="r", body=f"fact {i}")
            for i in range(n)]
    for m in msgs[:200]:
        bus.append(m)  # warm the file and the caches
    t0 = time.perf_counter()
    for m in msgs:
        bus.append(m)
    dt = time.perf_counter() - t0
    bus.close()
    row("append, one process", f"{dt / n * 1e6:.1f} µs each, {n / dt:,.0f} msg/s", ">= 60,000 msg/s",
        "16-22 µs (45-61k/s)")


def bench_writers(d: str, procs: int, each: int) -> None:
    path = os.path.join(d, "w", "TASK-MESSAGE-BUS.md")
    os.makedirs(os.path.dirname(path))
    children = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(each), f"w{i}"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for i in range(procs)]
    for c in children:
        assert c.stdout is not None and c.stdout.readline().strip() == "ready"
    go = time.monotonic()  # every writer has started and built its messages: time the appends
    for c in children:
        assert c.stdin is not None
        c.stdin.write("g")
        c.stdin.close()
    ends = [float(c.stdout.readline()) for c in children]  # type: ignore[union-attr]
    for c in children:
        c.wait()
    dt = max(ends) - go
    got = MessageBus(path).read_all()
    ids = {m.msg_id for m in got}
    in_order = all([int(m.body.split()[1]) for m in got if m.run_id == f"w{i}"] == list(range(each))
                   for i in range(procs))
    lost = procs * each - len(got)
    row(f"{procs} writer processes at once",
        f"{len(got) / dt:,.0f} msg/s ({len(got):,} intact, {len(ids):,} ids, lost {lost}, "
        f"order kept: {in_order})", ">= 30,000 msg/s, nothing lost", "43-47k msg/s (goroutines)")


def bench_parse(d: str, n: int) -> None:
    path = os.path.join(d, "p", "TASK-MESSAGE-BUS.md")
    os.makedirs(os.path.dirname(path))
    data = entries(n)
    with open(path, "wb") as f:
        f.write(data)
    bus = MessageBus(path)
    got = len(bus.read_all())
    assert got == n, (got, n)
    dt = median_time(bus.read_all, 3)
    row(f"full read of a {n:,}-message bus ({len(data) / 1e6:.0f} MB, 1 MB chunks)",
        f"{dt * 1e3:.0f} ms, {n / dt:,.0f} msg/s", ">= 150,000 msg/s", "~62k msg/s")
    dt = median_time(lambda: parse(data), 3)
    row(f"parse() of the same {n:,} messages in memory", f"{dt * 1e3:.0f} ms, {n / dt:,.0f} msg/s",
        "—", "—")


def bench_big(d: str, megabytes: int) -> None:
    path = os.path.join(d, "big", "TASK-MESSAGE-BUS.md")
    os.makedirs(os.path.dirname(path))
    count = 0
    with open(path, "wb") as f:
        while f.tell() < megabytes * 1_000_000:
            block = entries(20_000, start=count, body_sizes=(100, 2000), seed=count)
            f.write((b"\n" if count else b"") + block)
            count += 20_000
    size = os.path.getsize(path)
    bus = MessageBus(path)
    last = bus.tail(20)
    assert len(last) == 20 and last[-1].msg_id.endswith(f"{(count - 1) % 10000:04d}")
    dt = median_time(lambda: bus.tail(20), 20)
    row(f"tail 20 of a {size / 1e6:.0f} MB bus ({count:,} messages)", f"{dt * 1e3:.2f} ms",
        "<= 10 ms", "—")

    reader = bus.reader(0)
    t0 = time.perf_counter()
    first = len(reader.poll())
    full = time.perf_counter() - t0
    assert first == count, (first, count)
    times = []
    for i in range(50):
        bus.append(Message(type="FACT", project_id="bench", body=f"new {i}"))
        t0 = time.perf_counter()
        new = reader.poll()
        times.append(time.perf_counter() - t0)
        assert [m.body for m in new] == [f"new {i}"]
    reader.close()
    bus.close()
    row(f"incremental read of 1 new message at the end of {size / 1e6:.0f} MB",
        f"median {statistics.median(times) * 1e3:.3f} ms, max {max(times) * 1e3:.3f} ms", "<= 1 ms",
        "—")
    row(f"(a reader's first poll of all {size / 1e6:.0f} MB)", f"{full:.2f} s, {count / full:,.0f} msg/s",
        "—", "—")


def cli_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "run-agent")
    if os.path.exists(script):
        return [script]
    found = shutil.which("run-agent")
    return [found] if found else [sys.executable, "-m", "conductor"]


def bench_cli(d: str) -> None:
    cli = cli_command()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    task = os.path.join(d, "root", "bench", "task-20260221-101500-bench")
    run_dir = os.path.join(task, "runs", "20260221-1015000000-1234-0001")
    os.makedirs(run_dir)
    bus_path = os.path.join(task, "TASK-MESSAGE-BUS.md")
    # what an agent's environment holds (spec 4.4)
    agent_env = dict(env, JRUN_PROJECT_ID="bench", JRUN_TASK_ID="task-20260221-101500-bench",
                     JRUN_ID="20260221-1015000000-1234-0001", JRUN_RUN_FOLDER=run_dir,
                     JRUN_MESSAGE_BUS=bus_path)
    post = cli + ["bus", "post", "--type", "FACT", "--body", "x"]
    subprocess.run(post, env=agent_env, stdout=subprocess.DEVNULL, check=True, cwd=run_dir)  # writes .pyc
    dt = median_time(lambda: subprocess.run(post, env=agent_env, stdout=subprocess.DEVNULL, check=True,
                                            cwd=run_dir), 30)
    row("`run-agent bus post`, a fresh process", f"median {dt * 1e3:.1f} ms", "<= 35 ms", "3.1 ms")

    read_path = os.path.join(d, "r", "TASK-MESSAGE-BUS.md")
    os.makedirs(os.path.dirname(read_path))
    with open(read_path, "wb") as f:
        f.write(entries(10_000))
    read_env = dict(env, JRUN_MESSAGE_BUS=read_path)
    for tail, repeat, budget, theirs in (("20", 20, "<= 50 ms", "12 ms"), ("0", 5, "—", "159 ms")):
        cmd = cli + ["bus", "read", "--tail", tail]
        dt = median_time(lambda: subprocess.run(cmd, env=read_env, stdout=subprocess.DEVNULL,
                                                check=True), repeat)
        row(f"`bus read --tail {tail}`, 10,000 messages", f"median {dt * 1e3:.1f} ms", budget, theirs)
    dt = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 20)
    row("(the Python interpreter starting alone)", f"median {dt * 1e3:.1f} ms", "—", "—")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller files (a smoke run, not figures)")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        bench_append(d, 5_000 if args.quick else 50_000)
        bench_writers(d, 10, 500 if args.quick else 5_000)
        bench_parse(d, 10_000 if args.quick else 100_000)
        bench_big(d, 10 if args.quick else 100)
        bench_cli(d)
    width = max(len(r[0]) for r in ROWS)
    print()
    print(f"{'measure'.ljust(width)}  {'conductor (Python)':<58} {'budget':<28} upstream Go")
    for name, ours, budget, theirs in ROWS:
        print(f"{name.ljust(width)}  {ours:<58} {budget:<28} {theirs}")


if __name__ == "__main__":
    main()
