"""Console benchmarks (issue 4): run ``PYTHONPATH=src python benchmarks/bench_console.py``.

Headless (``App.run_test``), on a generated runs root under /tmp that is removed at the end.
Figures are single runs on a noisy VM: read them against budgets of >= 2x (notes/textual-perf.md).

* first screen / tree complete with 10,000 runs (1,000 tasks)
* the same with the peek column, the peeks of an expanded project, cursor steps over them
* cursor move per step (key event -> cursor moved -> frame)
* append -> on screen latency p50/p95 for a stdout line and a bus message (another process writes)
* opening a 1 GB stdout: tail visible, RSS growth
* idle CPU with 10,000 runs watched
* key press response p95 while 100 runs each write 10 lines/s

``--only tree,peek,latency,keys,bigfile`` runs a subset. Besides the budget figures it prints where the
time goes: a cursor step split into key -> cursor moved and moved -> frame; an append split into
write -> watch event (the watcher), event -> applied (the console's reads) and applied -> frame;
and the full garbage collections (gen 2) that ran during each measurement, with the longest one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from textual import events  # noqa: E402

from conductor.console.app import ConductorApp  # noqa: E402
from conductor.console.widgets.run_tree import NodeRef  # noqa: E402
from conductor.store import Layout, RunInfo, write_run_info  # noqa: E402
from conductor.timefmt import NS, now_ns  # noqa: E402

PROJECTS, TASKS, RUNS = 10, 100, 10  # 10 x 100 tasks x 10 runs = 10,000 runs, 1,000 tasks
RESULTS: list[tuple[str, str, str]] = []


class FullCollections:
    """Counts the full (generation 2) garbage collections and their pauses while active."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        self._active = False

    def _callback(self, phase: str, info: dict) -> None:
        if not self._active or info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> "FullCollections":
        self.pauses.clear()
        self._active = True
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        self._active = False
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        if not self.pauses:
            return "no full gc"
        return f"{len(self.pauses)} full gc, longest {max(self.pauses) * 1000:.0f} ms"


def detail(what: str, value: str) -> None:
    print(f"    {what}: {value}", flush=True)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"p50 {statistics.median(values):.1f} / p95 {pct(values, .95):.1f} / "
            f"max {max(values):.1f} ms")


def record(what: str, value: str, budget: str) -> None:
    RESULTS.append((what, value, budget))
    print(f"  {what}: {value} (budget {budget})", flush=True)


def generate(root: str) -> None:
    layout = Layout(root)
    base = now_ns() - 86400 * NS
    for p in range(PROJECTS):
        project = f"proj-{p:02d}"
        for t in range(TASKS):
            task = f"task-20260101-{t:06d}-bench"
            task_dir = layout.ensure_task_dir(project, task)
            with open(os.path.join(task_dir, "TASK.md"), "w") as fh:
                fh.write("benchmark task\n")
            open(os.path.join(task_dir, "DONE"), "w").close()
            for r in range(RUNS):
                run_id = f"20260101-{t:06d}{r:04d}-1-{r:04d}"
                run_dir = os.path.join(task_dir, "runs", run_id)
                os.makedirs(run_dir)
                start = base + (t * RUNS + r) * NS
                write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
                    run_id=run_id, project_id=project, task_id=task, agent="claude",
                    start_time=start, end_time=start + NS, exit_code=0, status="completed"))


def running_run(root: str, project: str, task: str, run_id: str, stdout_bytes: bytes = b"") -> str:
    layout = Layout(root)
    task_dir = layout.ensure_task_dir(project, task)
    with open(os.path.join(task_dir, "TASK.md"), "w") as fh:
        fh.write("live\n")
    run_dir = os.path.join(task_dir, "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "agent-stdout.txt"), "wb") as fh:
        fh.write(stdout_bytes)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=project, task_id=task, agent="command", pid=0,
        start_time=now_ns(), status="running"))
    return run_dir


async def frame(pilot) -> None:
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def bench_tree(root: str) -> None:
    started = time.perf_counter()
    app = ConductorApp(root, state_path=os.path.join(root, "..", "state.json"))
    async with app.run_test(size=(160, 50)) as pilot:
        first = time.perf_counter() - started
        while not app.loaded:
            await asyncio.sleep(0.002)
        await frame(pilot)
        complete = time.perf_counter() - started
        record("first screen, 10,000 runs", f"{first * 1000:.0f} ms", "<= 1000 ms")
        record("tree complete (all statuses from disk)", f"{complete * 1000:.0f} ms", "<= 2000 ms")
        app.run_tree.select_ref(NodeRef("task", "proj-00", "task-20260101-000050-bench"))
        app.run_tree.focus()
        await frame(pilot)
        steps, moves, frames = [], [], []
        with FullCollections() as collections:
            for _ in range(50):
                line = app.run_tree.cursor_line
                t0 = time.perf_counter()
                app.post_message(events.Key("j", "j"))
                while app.run_tree.cursor_line == line:
                    await asyncio.sleep(0)
                    if time.perf_counter() - t0 > 5:
                        raise RuntimeError("the cursor did not move")
                t1 = time.perf_counter()
                await frame(pilot)
                steps.append(time.perf_counter() - t0)
                moves.append((t1 - t0) * 1000)
                frames.append((time.perf_counter() - t1) * 1000)
        record("cursor move per step (p50 / p95)",
               f"{statistics.median(steps) * 1000:.1f} / {pct(steps, .95) * 1000:.1f} ms", "<= 16 ms")
        detail("key -> cursor moved", spread(moves))
        detail("cursor moved -> frame", spread(frames))
        detail("during the 50 steps", collections.summary())
        await pilot.pause(2.0)
        proc = psutil.Process()
        c0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
        await asyncio.sleep(10.0)
        cpu = (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0) * 100
        record("idle CPU, 10,000 runs watched (" + app.live_mode + ")",
               f"{cpu:.2f} % of a core", "<= 1 %")
        if app._watcher is not None:
            app._watcher.stop()


WRITER = r'''
import os, sys, time, random, subprocess
stdout, bus, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
from conductor.bus import Message, MessageBus
times = []
time.sleep(1.0)
for i in range(n):
    time.sleep(random.uniform(0.08, 0.15))
    t = time.monotonic_ns()
    if i % 2 == 0:
        with open(stdout, "a") as fh:
            fh.write(f"line {i}\n")
        times.append(("log", t))
    else:
        MessageBus(bus).append(Message(type="PROGRESS", project_id="live", task_id=os.path.basename(os.path.dirname(bus)), body=f"msg {i}"))
        times.append(("bus", t))
with open(out, "w") as fh:
    fh.write("\n".join(f"{k} {t}" for k, t in times))
'''


async def bench_latency(root: str) -> None:
    task = "task-20260101-000000-latency"
    run_dir = running_run(root, "live", task, "20260101-0000000000-9-0001")
    stdout = os.path.join(run_dir, "agent-stdout.txt")
    bus = Layout(root).task_bus("live", task)
    writer = os.path.join(root, "..", "writer.py")
    with open(writer, "w") as fh:
        fh.write(WRITER)
    out = os.path.join(root, "..", "times.txt")
    app = ConductorApp(root, state_path=os.path.join(root, "..", "state.json"))
    async with app.run_test(size=(160, 50)) as pilot:
        while not app.loaded:
            await asyncio.sleep(0.01)
        app.run_tree.select_ref(NodeRef("run", "live", task, "20260101-0000000000-9-0001"))
        await pilot.pause(0.5)
        app.detail.raw_stdout = True
        view = app.detail.query_one("#stdout-log").log_view
        events_seen: list[tuple[int, set[str]]] = []
        apply_events = app.apply_events

        def timed_apply(batch, **kw) -> None:
            events_seen.append((time.monotonic_ns(), {e.kind for e in batch}))
            apply_events(batch, **kw)
        app.apply_events = timed_apply
        n = 200
        collections = FullCollections().__enter__()
        proc = subprocess.Popen([sys.executable, writer, stdout, bus, out, str(n),
                                 os.path.join(HERE, "..", "src")])
        seen_log, seen_bus = [], []
        shown_log, shown_bus = [], []
        log_count, bus_count = view.line_count, len(app.feed.shown)
        deadline = time.monotonic() + 120
        while proc.poll() is None or (len(seen_log) < n // 2 or len(seen_bus) < n // 2):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.001)
            if view.line_count > log_count or len(app.feed.shown) > bus_count:
                shown = time.monotonic_ns()
                shown_log += [shown] * (view.line_count - log_count)
                shown_bus += [shown] * (len(app.feed.shown) - bus_count)
                await frame(pilot)
                now = time.monotonic_ns()
                seen_log += [now] * (view.line_count - log_count)
                seen_bus += [now] * (len(app.feed.shown) - bus_count)
                log_count, bus_count = view.line_count, len(app.feed.shown)
        proc.wait()
        collections.__exit__()
        with open(out) as fh:
            times = [line.split() for line in fh.read().splitlines()]
        for kind, seen in (("log", seen_log), ("bus", seen_bus)):
            sent = [int(t) for k, t in times if k == kind]
            lat = [(s - w) / 1e6 for s, w in zip(seen, sent)]
            record(f"{'stdout line' if kind == 'log' else 'bus message'} append -> on screen "
                   f"(p50 / p95 / max, {len(lat)} samples, {app.live_mode})",
                   f"{statistics.median(lat):.0f} / {pct(lat, .95):.0f} / {max(lat):.0f} ms",
                   "p95 <= 50 ms")
            wanted = "log_grew" if kind == "log" else "bus_grew"
            arrivals = [t for t, kinds in events_seen if wanted in kinds]
            shown = shown_log if kind == "log" else shown_bus
            to_event, to_applied, to_frame = [], [], []
            for w, applied, s in zip(sent, shown, seen):
                event = next((t for t in arrivals if t >= w), None)
                if event is None or event > applied:
                    continue  # found by a poll, not by the event after the write
                to_event.append((event - w) / 1e6)
                to_applied.append((applied - event) / 1e6)
                to_frame.append((s - applied) / 1e6)
            detail(f"{kind}: write -> watch event", spread(to_event))
            detail(f"{kind}: watch event -> applied (line counted)", spread(to_applied))
            detail(f"{kind}: applied -> frame", spread(to_frame))
        detail("during the appends", collections.summary())
        if app._watcher is not None:
            app._watcher.stop()


async def bench_big_file(root: str) -> None:
    task = "task-20260101-000000-bigfile"
    run_dir = running_run(root, "big", task, "20260101-0000000000-8-0001")
    path = os.path.join(run_dir, "agent-stdout.txt")
    line = b"x" * 89 + b"\n"
    chunk = line * (8 * 1024 * 1024 // len(line))
    with open(path, "wb") as fh:
        while fh.tell() < 1024 ** 3:
            fh.write(chunk)
    app = ConductorApp(root, project="big", state_path=os.path.join(root, "..", "state.json"),
                       watch=False)
    async with app.run_test(size=(160, 50)) as pilot:
        while not app.loaded:
            await asyncio.sleep(0.01)
        app.detail.raw_stdout = True
        await frame(pilot)
        gc.collect()
        rss0 = psutil.Process().memory_info().rss
        t0 = time.perf_counter()
        app.run_tree.select_ref(NodeRef("run", "big", task, "20260101-0000000000-8-0001"))
        app._update_selection()
        view = app.detail.query_one("#stdout-log").log_view
        while view.line_count == 0:
            await asyncio.sleep(0.001)
        await frame(pilot)
        tail = time.perf_counter() - t0
        await pilot.pause(3.0)
        gc.collect()
        rss = psutil.Process().memory_info().rss - rss0
        record("1 GB stdout: tail visible", f"{tail * 1000:.0f} ms", "<= 200 ms")
        record("1 GB stdout: RSS growth (after 3 s of indexing)", f"{rss / 2**20:.1f} MB",
               "<= 50 MB")
    os.unlink(path)


KEY_WRITER = r'''
import sys, time
paths = sys.argv[1:]
files = [open(p, "a", buffering=1) for p in paths]
i = 0
end = time.monotonic() + 30
while time.monotonic() < end:
    for f in files:
        f.write(f"line {i}\n")
    i += 1
    time.sleep(0.1)
'''


async def bench_keys_under_load(root: str) -> None:
    paths = []
    for r in range(100):
        run_dir = running_run(root, "busy", f"task-20260101-{r:06d}-busy",
                              f"20260101-{r:06d}0000-7-0001")
        paths.append(os.path.join(run_dir, "agent-stdout.txt"))
    app = ConductorApp(root, project="busy", state_path=os.path.join(root, "..", "state.json"))
    async with app.run_test(size=(160, 50)) as pilot:
        while not app.loaded:
            await asyncio.sleep(0.01)
        app.run_tree.select_ref(NodeRef("run", "busy", "task-20260101-000000-busy",
                                    "20260101-0000000000-7-0001"))
        app.run_tree.focus()
        await pilot.pause(1.0)
        writer = subprocess.Popen([sys.executable, "-c", KEY_WRITER, *paths])
        await pilot.pause(2.0)
        times = []
        for i in range(60):
            line = app.run_tree.cursor_line
            key = "j" if i % 2 == 0 else "k"
            t0 = time.perf_counter()
            app.post_message(events.Key(key, key))
            while app.run_tree.cursor_line == line:
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t0 > 5:
                    raise RuntimeError("the cursor did not move")
            await frame(pilot)
            times.append(time.perf_counter() - t0)
            await asyncio.sleep(0.2)
        writer.kill()
        writer.wait()
        record("key press -> answered, 100 runs x 10 lines/s (p50 / p95)",
               f"{statistics.median(times) * 1000:.1f} / {pct(times, .95) * 1000:.1f} ms",
               "p95 <= 100 ms")
        if app._watcher is not None:
            app._watcher.stop()


async def bench_peek(root: str) -> None:
    """The tree with the ``all`` columns (the peek: each shown task's newest run's last
    assistant line): the first screen, then a project of 100 tasks expanded (100 peeks read,
    each a 64 KiB tail of a ~40 KB claude stream), then cursor steps over peeked rows."""
    import json
    layout = Layout(root)
    event = json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "text", "text": "step {} of the work: the tests pass, moving on"}]}})
    stdout = "".join(event.replace("{}", str(i)) + "\n" for i in range(256)).encode()
    for t in range(TASKS):
        task = f"task-20260101-{t:06d}-bench"
        run_id = f"20260101-{t:06d}{RUNS - 1:04d}-1-{RUNS - 1:04d}"
        with open(os.path.join(layout.task_dir("proj-00", task), "runs", run_id,
                               "agent-stdout.txt"), "wb") as fh:
            fh.write(stdout)
    state = os.path.join(root, "..", "state-peek.json")
    with open(state, "w") as fh:
        json.dump({"tree_columns": "all"}, fh)
    started = time.perf_counter()
    app = ConductorApp(root, state_path=state)
    async with app.run_test(size=(160, 50)) as pilot:
        first = time.perf_counter() - started
        while not app.loaded:
            await asyncio.sleep(0.002)
        await frame(pilot)
        record("first screen, 10,000 runs, all columns (peek)", f"{first * 1000:.0f} ms",
               "<= 1000 ms")
        tree = app.run_tree
        assert tree.columns_name == "all"
        t0 = time.perf_counter()
        tree.select_ref(NodeRef("task", "proj-00", "task-20260101-000050-bench"))
        tree.focus()
        while len(tree.peeks) < TASKS:
            await asyncio.sleep(0.002)
            if time.perf_counter() - t0 > 30:
                raise RuntimeError(f"only {len(tree.peeks)} peeks in after 30 s")
        await frame(pilot)
        record("project of 100 tasks expanded -> every peek on screen",
               f"{(time.perf_counter() - t0) * 1000:.0f} ms", "(off the event loop)")
        async def steps() -> list[float]:
            out = []
            for _ in range(50):
                line = tree.cursor_line
                t1 = time.perf_counter()
                app.post_message(events.Key("j", "j"))
                while tree.cursor_line == line:
                    await asyncio.sleep(0)
                await frame(pilot)
                out.append(time.perf_counter() - t1)
            return out
        # the same 50 rows with and without the peek (each selected task's stdout is a 40 KB
        # stream the readable pane renders, so both cost more than the tree part's steps)
        # (the first pass over the rows warms their caches: its figure is higher either way)
        for n, columns in enumerate(("usual", "all", "usual", "all"), 1):
            tree.set_columns(columns)
            tree.select_ref(NodeRef("task", "proj-00", "task-20260101-000050-bench"))
            await pilot.pause(0.5)
            await frame(pilot)
            took = await steps()
            record(f"cursor move per step, stdout-rich rows, pass {n}, {columns} columns "
                   "(p50 / p95)",
                   f"{statistics.median(took) * 1000:.1f} / {pct(took, .95) * 1000:.1f} ms",
                   "<= 16 ms")
        t2 = time.perf_counter()
        tree.schedule_peeks()  # the heartbeat's re-read: every file unchanged
        while tree._peek_busy:
            await asyncio.sleep(0.001)
        record("re-reading 100 unchanged peeks (fstat each, in a thread)",
               f"{(time.perf_counter() - t2) * 1000:.1f} ms", "(off the event loop)")


PARTS = ("tree", "peek", "latency", "keys", "bigfile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help="comma-separated subset of " + ", ".join(PARTS))
    only = set(parser.parse_args().only.split(","))
    unknown = only - set(PARTS)
    if unknown:
        parser.error("unknown part(s): " + ", ".join(sorted(unknown)))
    base = tempfile.mkdtemp(prefix="bench-console-")
    root = os.path.join(base, "runs")
    os.environ["CONDUCTOR_CONSOLE_STATE"] = os.path.join(base, "state.json")
    try:
        t0 = time.perf_counter()
        generate(root)
        print(f"generated 10,000 runs in {time.perf_counter() - t0:.1f} s", flush=True)
        if "tree" in only:
            asyncio.run(bench_tree(root))
        if "peek" in only:
            asyncio.run(bench_peek(root))
        if "latency" in only:
            asyncio.run(bench_latency(root))
        if "keys" in only:
            asyncio.run(bench_keys_under_load(root))
        if "bigfile" in only:
            asyncio.run(bench_big_file(root))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("\n| what | measured | budget |\n|---|---|---|")
    for what, value, budget in RESULTS:
        print(f"| {what} | {value} | {budget} |")


if __name__ == "__main__":
    main()
