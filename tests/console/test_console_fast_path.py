"""The followed files' fast path: what the panes show is read on its own inotify events, the
root watcher's events for the same files ask for no second read, and a line written while the
fast path is re-targeted is shown, once."""

from __future__ import annotations

import asyncio
import os

import pytest

from conductor.console.app import ConductorApp
from conductor.console.model import NodeRef
from conductor.console.scheduler import Following, RefreshScheduler
from conductor.store import Layout
from conductor.watch import follow_available
from conductor.watch.events import WatchEvent

from .fixed_root import post, pretend_runs_alive, write_run, write_task
from .live import until

LOG = "/r/p/t1/runs/r1/agent-stdout.txt"
BUS = "/r/p/t1/TASK-MESSAGE-BUS.md"


def ready() -> RefreshScheduler:
    sched = RefreshScheduler()
    sched.ready()
    return sched


def grew(path: str = LOG) -> WatchEvent:
    return WatchEvent("log_grew", "p", "t1", "r1", path, os.path.basename(path))


def bus_grew() -> WatchEvent:
    return WatchEvent("bus_grew", "p", "t1", "", BUS, "TASK-MESSAGE-BUS.md")


def test_the_root_watchers_event_for_an_armed_file_asks_for_no_second_read():
    follow = Following(logs=frozenset({LOG}), bus=BUS, bus_project="p", bus_task="t1",
                       fast=frozenset({LOG, BUS}))
    sched = ready()
    plan = sched.route([grew(), bus_grew()], follow)
    assert plan.logs == [] and not plan.bus  # the fast path read them
    assert plan.outputs == [("p", "t1", "r1")]  # the heartbeat is still the root watcher's
    assert sched.take() == [("p", "t1")]  # and so is the task re-read


def test_a_file_the_fast_path_has_not_armed_is_read_on_the_root_watchers_event():
    follow = Following(logs=frozenset({LOG}), bus=BUS, bus_project="p", bus_task="t1",
                       fast=frozenset({"/r/p/t1/runs/r0/agent-stdout.txt"}))
    plan = ready().route([grew(), bus_grew()], follow)
    assert plan.logs == [LOG] and plan.bus


def test_the_fast_paths_events_read_only_the_followed_files():
    follow = Following(logs=frozenset({LOG}), bus=BUS, bus_project="p", bus_task="t1",
                       fast=frozenset({LOG, BUS}))
    sched = ready()
    plan = sched.route_fast([grew(), grew(), grew("/r/p/t2/runs/r2/agent-stdout.txt"),
                             bus_grew()], follow)
    assert plan.logs == [LOG] and plan.bus and not plan.outputs and not plan.rescan
    assert sched.take() == []  # the bookkeeping waits for the root watcher's event


def test_the_targets_are_the_followed_logs_and_bus():
    follow = Following(logs=frozenset({LOG}), bus=BUS)
    assert follow.targets() == {LOG: "log_grew", BUS: "bus_grew"}
    assert Following().targets() == {}


P = "webapp"
T = "task-20260621-000000-fix-login"
RUN_A = "20260621-0000000000-101-0001"
RUN_B = "20260621-0001000000-102-0001"


def lines(path: str) -> int:
    with open(path, "rb") as fh:
        return fh.read().count(b"\n")


@pytest.mark.skipif(not follow_available(), reason="no inotify here")
def test_a_line_appended_while_the_fast_path_is_retargeted_is_shown_once(tmp_path, monkeypatch):
    pretend_runs_alive(monkeypatch)
    root = str(tmp_path / "runs")
    layout = Layout(root)
    write_task(layout, P, T, "Fix the login.")
    a = os.path.join(write_run(layout, P, T, RUN_A, status="running", start_s=0,
                               agent="command", stdout="a 1\n"), "agent-stdout.txt")
    b = os.path.join(write_run(layout, P, T, RUN_B, status="running", start_s=60,
                               agent="command", stdout="b 1\n"), "agent-stdout.txt")
    post(layout, P, T, "PROGRESS", "first", 1)
    app = ConductorApp(root, state_path=str(tmp_path / "state.json"))
    reads: list[tuple[bool, list[str]]] = []
    apply_events = app.apply_events

    def counted(batch, **kw) -> None:
        reads.append((kw.get("fast", False), [e.path for e in batch]))
        apply_events(batch, **kw)

    def shown(path: str) -> int:
        view = app.detail.query_one("#stdout-log").log_view
        return view.line_count if view.path == path else -1

    def bodies() -> list[str]:
        return [m.body for m in app.feed.shown]

    async def go():
        async with app.run_test(size=(160, 40)) as pilot:
            app.apply_events = counted
            await until(pilot, lambda: app.loaded, what="the first read")
            app.detail.raw_stdout = True
            app.run_tree.select_ref(NodeRef("run", P, T, RUN_A))
            await until(pilot, lambda: a in app._fast_armed and shown(a) == 1,
                        what="run A's stdout armed on the fast path")
            with open(a, "a") as fh:
                fh.write("a 2\n")
            await until(pilot, lambda: shown(a) == 2, what="a line on run A")
            assert any(fast and a in paths for fast, paths in reads)
            # select run B and write to it before the fast path can be re-armed on it
            app.run_tree.select_ref(NodeRef("run", P, T, RUN_B))
            app._update_selection()
            with open(b, "a") as fh:
                fh.write("b 2\n")
            post(layout, P, T, "PROGRESS", "during the re-target", 2)
            await until(pilot, lambda: b in app._fast_armed and a not in app._fast_armed,
                        what="the fast path re-targeted on run B")
            await until(pilot, lambda: shown(b) == 2 and "during the re-target" in bodies(),
                        what="the line written during the re-target")
            # the root watcher's events for the same writes come later: nothing is added twice
            await until(pilot, lambda: any(not fast and b in paths for fast, paths in reads),
                        what="the root watcher's event for run B")
            with open(b, "a") as fh:
                fh.write("b 3\n")
            post(layout, P, T, "PROGRESS", "after", 3)
            await until(pilot, lambda: shown(b) == 3 and "after" in bodies(),
                        what="a line after the re-target")
            await until(pilot, lambda: sum(b in paths for fast, paths in reads if not fast) >= 2,
                        what="the root watcher's event for the last line")
            await pilot.pause()
            assert shown(b) == lines(b) == 3
            assert bodies().count("during the re-target") == 1
            assert bodies().count("after") == 1 and bodies().count("first") == 1
    asyncio.run(go())


def test_no_fast_path_when_the_root_is_polled(tmp_path):
    root = str(tmp_path / "runs")
    os.makedirs(root)
    app = ConductorApp(root, state_path=str(tmp_path / "state.json"), poll=True)

    async def go():
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: app.loaded and app.live_mode.startswith("polling"),
                        what="the polled root")
            # the fast path's worker is started with the root watcher, and ends at once
            await until(pilot, lambda: app._watcher is not None and app._watcher.ready.is_set()
                        and not any(w.name == "_watch_followed" for w in app.workers),
                        what="the fast path's worker done")
            assert app._fast is None and app._fast_armed == frozenset()
    asyncio.run(go())
