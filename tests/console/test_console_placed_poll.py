"""Runs on other hosts are watched by polling (issue 14): inotify never sees another host's
writes, so while a shown task has a running placed run the console re-reads it every few
seconds. Here a watch-less console sees a Slurm run's record change with no event at all."""

from __future__ import annotations

import asyncio
import os

import pytest

from conductor.console.app import ConductorApp
from conductor.console.widgets.run_tree import NodeRef
from conductor.store import Layout, RunInfo, write_run_info
from conductor.timefmt import NS, now_ns
from executor_slurm.test_slurm_executor import Stub

from .live import select, settle, until
from .screen_text import screen_text

P, T, RUN = "proj", "task-20261130-210000-placed", "20261130-2100000000-4242-0001"


@pytest.fixture
def stub(tmp_path, monkeypatch):
    (tmp_path / "slurm").mkdir()
    found = Stub(tmp_path / "slurm")
    monkeypatch.setenv("PATH", f"{found.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STUB_STATE", found.path)
    return found


def _record(root: str, **changes) -> None:
    run_dir = os.path.join(Layout(root).task_dir(P, T), "runs", RUN)
    os.makedirs(run_dir, exist_ok=True)
    now = now_ns()
    info = RunInfo(run_id=RUN, project_id=P, task_id=T, agent="claude", status="running",
                   start_time=now - 30 * NS, process_ownership="external", executor="slurm",
                   executor_job_id="101", executor_cluster="stubcluster", host="stubnode",
                   submit_time=now - 31 * NS, heartbeat_time=now - 2 * NS,
                   stdout_path=os.path.join(run_dir, "agent-stdout.txt"),
                   stderr_path=os.path.join(run_dir, "agent-stderr.txt"),
                   output_path=os.path.join(run_dir, "output.md"))
    for key, value in changes.items():
        setattr(info, key, value)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), info)


def test_a_placed_runs_change_shows_without_a_watch_event(stub, tmp_path, monkeypatch):
    root = str(tmp_path / "runs")
    os.makedirs(root)
    # the job as sbatch submitted it: its comment names this run (nothing else is stopped)
    stub.job("101", state="RUNNING", node="stubnode",
             comment=f"conductor project={P} task={T} run={RUN}")
    _record(root)
    monkeypatch.setattr(ConductorApp, "placed_poll", 0.3)
    ref = NodeRef("run", P, T, RUN)

    async def scenario():
        app = ConductorApp(root, watch=False, state_path=str(tmp_path / "state.json"))
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            await select(pilot, app, ref)
            await settle(pilot)
            label = app.run_tree.node_for(ref).label
            assert label.plain.startswith(f"● {RUN}  claude  slurm 101@stubnode"), label.plain
            assert "placed  loop dead" in screen_text(app)
            stub.job("101", state="COMPLETED", exit="0:0")
            _record(root, status="completed", exit_code=0, end_time=now_ns())  # the node's write
            await until(pilot, lambda: app.run_tree.node_for(ref).label.plain.startswith("✔"),
                        10, "the console to show the run's end")
            assert app.run_tree.node_for(ref).label.plain.startswith(
                f"✔ {RUN}  claude  slurm 101@stubnode")
            text = screen_text(app)
            assert "✔ 1 completed" in text and "placed  completed" in text

    asyncio.run(scenario())


def test_a_placed_runs_heartbeat_allows_for_nfs_attribute_caching():
    from conductor.console.status import heartbeat
    now = now_ns()
    # 90 s since the output's mtime: here that is stale; on another host, whose writes this
    # host may see up to 60 s late (NFS acregmax), it is still live
    assert heartbeat(now - 90 * NS, now) == "stale"
    assert heartbeat(now - 90 * NS, now, placed=True) == "live"
    assert heartbeat(now - 330 * NS, now) == "silent"
    assert heartbeat(now - 330 * NS, now, placed=True) == "stale"
    assert heartbeat(now - 400 * NS, now, placed=True) == "silent"


def test_the_panes_look_at_their_file_often_only_where_no_event_can_tell_of_a_write(
        stub, tmp_path, monkeypatch):
    """With inotify watching, a local run's panes are read on each write's event and look at
    the file only every POLL_SLOW seconds (a safety net: at 0.5 s those looks were most of the
    idle console's CPU). A run on another host (a placed run) is looked at every POLL_FAST,
    as is everything when the console watches by polling or not at all."""
    from conductor.console.widgets.log_view import LogPane
    from conductor.console.widgets.pane_state import POLL_FAST, POLL_SLOW
    root = str(tmp_path / "runs")
    os.makedirs(root)
    stub.job("101", state="RUNNING", node="stubnode",
             comment=f"conductor project={P} task={T} run={RUN}")
    _record(root)
    local_run = "20261130-2100000000-4242-0002"
    run_dir = os.path.join(Layout(root).task_dir(P, T), "runs", local_run)
    os.makedirs(run_dir)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=local_run, project_id=P, task_id=T, agent="claude", status="completed",
        start_time=now_ns() - 60 * NS, end_time=now_ns() - 50 * NS, exit_code=0,
        stdout_path=os.path.join(run_dir, "agent-stdout.txt")))

    def everies(app) -> set[float]:
        views = []
        for pane in app.query(LogPane):
            views += [v for v in (pane.log_view, pane.readable_view) if v is not None]
        return {v._poll_every for v in views}

    async def scenario(watch: bool, local: float, placed: float) -> None:
        app = ConductorApp(root, watch=watch, state_path=str(tmp_path / "state.json"))
        async with app.run_test(size=(160, 45)) as pilot:
            if watch:
                await until(pilot, lambda: app.live_mode == "inotify", 10, "inotify")
            for run, every in ((local_run, local), (RUN, placed), (local_run, local)):
                await select(pilot, app, NodeRef("run", P, T, run))
                await settle(pilot)
                # (a pane re-arms at its next look: within POLL_SLOW)
                await until(pilot, lambda: everies(app) == {every}, 10 + POLL_SLOW,
                            f"every pane of {run} looking every {every} s")

    asyncio.run(scenario(True, local=POLL_SLOW, placed=POLL_FAST))
    asyncio.run(scenario(False, local=POLL_FAST, placed=POLL_FAST))
