"""What reading agent streams costs: the backends' parsers after a run, the live reader during it.

Run: python benchmarks/bench_agents.py  (temporary files; prints a table)

The streams are the real transcripts in tests/fixtures/real-cli-streams/, repeated to a chatty
run's size. Each figure is set beside a baseline measured in the same run on the same file:
``json.loads`` of every line, the least any reader of the stream must do. The live figure is the
runner's CPU per run for a claude run that prints N events (read live by the backend's watch)
against a command run printing the same bytes (no live reading).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STREAMS = os.path.join(HERE, "..", "tests", "fixtures", "real-cli-streams")
COPIES = 400  # ~4,000 events, ~3 MB for claude


def stream_file(d: str, name: str, copies: int = COPIES) -> tuple[str, int]:
    with open(os.path.join(STREAMS, name), "rb") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    body, tail = lines[:-1], lines[-1:]  # one final result event, as a real run has
    path = os.path.join(d, name)
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(b"\n".join(body) + b"\n")
        out.write(b"\n".join(tail) + b"\n")
    return path, len(body) * copies + len(tail)


def best(fn, n: int = 7) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def baseline(path: str) -> None:
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                json.loads(line)


def parse_rows(d: str) -> list[tuple[str, str, str, str]]:
    from conductor.agents.registry import backend
    rows = []
    for agent, name in (("claude", "claude-tool-use.jsonl"), ("codex", "codex-tool-use.jsonl"),
                        ("gemini", "gemini-tool-use.jsonl")):
        path, events = stream_file(d, name)
        base = best(lambda: baseline(path))
        found = backend(agent)
        outcome = best(lambda: found.outcome(path, os.devnull, 0))

        def live():
            watch = found.watch()
            if watch is None:
                return
            with open(path, "rb") as f:
                for line in f:
                    if line.strip():
                        watch.feed(json.loads(line))
        feed = best(live)
        rows.append((f"{agent}: {events:,} events, {os.path.getsize(path) / 1e6:.1f} MB",
                     f"{outcome * 1e3:.0f} ms ({outcome / base:.2f}x)",
                     f"{feed * 1e3:.0f} ms ({feed / base:.2f}x)", f"{base * 1e3:.0f} ms"))
    return rows


def live_reader_cpu(d: str, runs: int = 5) -> tuple[float, float, int]:
    """Runner CPU per run (agent excluded): claude (live reader on) vs command (off)."""
    from conductor.config.model import AgentConfig
    from conductor.runner.job import JobRequest, run_job
    path, events = stream_file(d, "claude-tool-use.jsonl")
    bindir = os.path.join(d, "bin")
    os.makedirs(bindir, exist_ok=True)
    script = os.path.join(bindir, "claude")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\ncat >/dev/null\nexec cat {path}\n")
    os.chmod(script, 0o755)
    environ = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                   ANTHROPIC_API_KEY="bench-key-123456")
    root = os.path.join(d, "runs")

    def cpu(agent: AgentConfig) -> float:
        samples = []
        for i in range(runs):
            t0 = os.times()
            run_job(JobRequest(root=root, project="bench", task=f"task-20260101-000000-{agent.name}{i}",
                               prompt="x", agent=agent, environ=environ))
            t1 = os.times()
            samples.append(t1.user + t1.system - t0.user - t0.system)
        return statistics.median(samples)

    live = cpu(AgentConfig(name="claude", type="claude"))
    plain = cpu(AgentConfig(name="plain", type="command", command=["/bin/sh", script]))
    return live, plain, events


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        rows = parse_rows(d)
        live, plain, events = live_reader_cpu(d)
    print(f"load average {load:.2f}, python {sys.version.split()[0]}\n")
    print("| stream | outcome() after the run | watch().feed live | json.loads baseline |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("| runner CPU per run, agent excluded | figure |")
    print("|---|---|")
    print(f"| claude run printing {events:,} events (live reader + outcome) | {live * 1e3:.0f} ms |")
    print(f"| command run printing the same bytes (stdout copied to output.md) | {plain * 1e3:.0f} ms |")
    print(f"| ratio | {live / plain:.2f}x |")


if __name__ == "__main__":
    main()
