"""Message-bus figures, printed beside upstream Go's (measured on this kind of machine).

Run: python benchmarks/bench_bus.py   (uses a temporary directory; prints a table)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

from conductor.bus import Message, MessageBus, parse

WRITER = """
import sys, time
from conductor.bus import Message, MessageBus
bus = MessageBus(sys.argv[1]); n = int(sys.argv[2])
for i in range(n):
    bus.append(Message(type="FACT", project_id="p", task_id="t", run_id=sys.argv[3], body=f"fact {i}"))
"""


def timed(fn, repeat: int = 5) -> float:
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return statistics.median(best)


def fill(path: str, n: int) -> None:
    bus = MessageBus(path)
    for i in range(n):
        bus.append(Message(type="PROGRESS", project_id="p", task_id="t", run_id="r",
                           body=f"step {i}: key: value\nsecond line"))


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "TASK-MESSAGE-BUS.md")
        bus = MessageBus(path)
        n = 5000
        t0 = time.perf_counter()
        for i in range(n):
            bus.append(Message(type="FACT", project_id="p", body=f"fact {i}"))
        dt = time.perf_counter() - t0
        rows.append(("one append (single process)", f"{dt / n * 1e6:.1f} µs ({n / dt:,.0f}/s)", "16–22 µs (45–61k/s)"))

        path2 = os.path.join(d, "c", "TASK-MESSAGE-BUS.md")
        os.makedirs(os.path.dirname(path2))
        env = dict(os.environ)
        procs_n, each = 10, 2000
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, path2, str(each), f"w{i}"], env=env)
                 for i in range(procs_n)]
        for p in procs:
            p.wait()
        dt = time.perf_counter() - t0
        got = len(MessageBus(path2).read_all())
        rows.append((f"{procs_n} concurrent writer processes", f"{got / dt:,.0f} msg/s ({got} intact, incl. start-up)",
                     "43–47k msg/s (goroutines)"))

        p1000 = os.path.join(d, "k", "TASK-MESSAGE-BUS.md")
        os.makedirs(os.path.dirname(p1000))
        fill(p1000, 1000)
        data = open(p1000, "rb").read()
        dt = timed(lambda: parse(data), 10)
        rows.append(("parse a 1,000-message bus", f"{dt * 1e3:.1f} ms ({1000 / dt:,.0f} msg/s)", "16 ms (~62k msg/s)"))

        p10k = os.path.join(d, "t", "TASK-MESSAGE-BUS.md")
        os.makedirs(os.path.dirname(p10k))
        fill(p10k, 10000)
        tail = MessageBus(p10k)
        rows.append(("tail 20 of 10k messages (library)", f"{timed(lambda: tail.tail(20), 10) * 1e3:.2f} ms", "—"))
        rows.append(("read all of 10k messages (library)", f"{timed(lambda: tail.read_all(), 3) * 1e3:.0f} ms", "—"))

        cli = [sys.executable, "-m", "conductor"]
        post_env = dict(env, JRUN_MESSAGE_BUS=os.path.join(d, "k", "TASK-MESSAGE-BUS.md"), JRUN_PROJECT_ID="p")
        dt = timed(lambda: subprocess.run(cli + ["bus", "post", "--type", "FACT", "--body", "x"], env=post_env,
                                          stdout=subprocess.DEVNULL, check=True), 10)
        rows.append(("`run-agent bus post` (whole process)", f"{dt * 1e3:.1f} ms", "3.1 ms"))
        read_env = dict(env, JRUN_MESSAGE_BUS=p10k)
        dt = timed(lambda: subprocess.run(cli + ["bus", "read", "--tail", "20"], env=read_env,
                                          stdout=subprocess.DEVNULL, check=True), 5)
        rows.append(("`bus read --tail 20`, 10k messages", f"{dt * 1e3:.1f} ms", "12 ms"))
        dt = timed(lambda: subprocess.run(cli + ["bus", "read", "--tail", "0"], env=read_env,
                                          stdout=subprocess.DEVNULL, check=True), 3)
        rows.append(("`bus read --tail 0`, 10k messages", f"{dt * 1e3:.0f} ms", "159 ms"))
        start = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 10)
        rows.append(("(python interpreter start alone)", f"{start * 1e3:.1f} ms", "—"))

    width = max(len(r[0]) for r in rows)
    print(f"load average: {os.getloadavg()[0]:.2f}, cpus: {os.cpu_count()}")
    print(f"{'measure'.ljust(width)}  {'conductor (Python)':<36} upstream Go")
    for name, ours, theirs in rows:
        print(f"{name.ljust(width)}  {ours:<36} {theirs}")


if __name__ == "__main__":
    main()
