"""Single-pane dashboards (``--view logs|bus``) follow the newest running run of their scope,
say what they show, and only the tree pane of a dashboard raises toasts (issue 12 item 3)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from conductor.console.app import ConductorApp
from conductor.console.follow import follow_target
from conductor.console.model import NodeRef
from conductor.store import Layout, RunInfo, read_run_info, write_run_info
from conductor.store.layout import DONE

from .fixed_root import BASE_NS, hold_loop_lock, pretend_runs_alive, write_run, write_task
from .live import until

SIZE = (160, 30)
P = "webapp"
OLD = "task-20260621-000000-old-work"
NEW = "task-20260621-000900-new-work"
OTHER = "other"
OLD_ROOT = "20260621-0000000000-101-0001"
OLD_CHILD = "20260621-0003000000-102-0001"  # a finished child run, the newest run at first
NEW_RUN = "20260621-0009000000-201-0001"


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    pretend_runs_alive(monkeypatch)
    path = str(tmp_path / "runs")
    layout = Layout(path)
    write_task(layout, P, OLD, "Old work.", done=True)
    write_run(layout, P, OLD, OLD_ROOT, status="completed", start_s=0, end_s=400, exit_code=0,
              stdout="old root output\n")
    write_run(layout, P, OLD, OLD_CHILD, status="completed", start_s=300, end_s=350,
              exit_code=0, parent=OLD_ROOT, agent="codex", stdout="old child output\n")
    locks: list = []
    yield path, layout, tmp_path, locks
    for lock in locks:
        lock.close()


def make_app(path, tmp_path, **kwargs) -> ConductorApp:
    return ConductorApp(path, state_path=str(tmp_path / "state.json"), **kwargs)


def shown_run(app) -> str:
    run = app.detail.selection.run
    return run.run_id if run is not None else ""


def title(app) -> str:
    from conductor.console.widgets.view_title import ViewTitle
    return app.query_one(ViewTitle).text


def toasts(calls: list) -> list[str]:
    return [text for text, kwargs in calls if kwargs.get("title") == P]


def record_notify(app) -> list:
    calls: list = []
    real = app.notify

    def notify(message, **kwargs):
        calls.append((str(message), kwargs))
        return real(message, **kwargs)
    app.notify = notify
    return calls


def start_new_task(layout, locks, task=NEW, run=NEW_RUN, start_s=900):
    """A task created after the dashboard opened: its folder first, its running run a moment later
    (as a supervisor makes them)."""
    write_task(layout, P, task, "New work.")
    locks.append(hold_loop_lock(layout.task_dir(P, task)))
    return lambda: write_run(layout, P, task, run, status="running", start_s=start_s,
                             agent="claude", stdout="new run is working\n")


def finish(layout, task, run):
    run_dir = os.path.join(layout.runs_dir(P, task), run)
    path = os.path.join(run_dir, "run-info.yaml")
    info = read_run_info(path)
    fields = {**info.__dict__, "status": "completed", "exit_code": 0,
              "end_time": BASE_NS + 1000 * 10**9}
    write_run_info(path, RunInfo(**fields))
    open(os.path.join(layout.task_dir(P, task), DONE), "w").close()


def test_logs_view_follows_a_task_started_after_it_opened(root):
    path, layout, tmp, locks = root
    app = make_app(path, tmp, view="logs", read_only=True)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded and shown_run(app) == OLD_CHILD,
                        what="the newest run at start")
            assert title(app).startswith(f"completed · {P} / {OLD} / {OLD_CHILD} · codex")
            add_run = start_new_task(layout, locks)
            await until(pilot, lambda: app.model.task(P, NEW) is not None, timeout=15,
                        what="the new task in the model")
            add_run()
            await until(pilot, lambda: shown_run(app) == NEW_RUN, timeout=15,
                        what="the logs pane on the new task's running run (no ctrl+r)")
            assert title(app) == (f"running · {P} / {NEW} / {NEW_RUN} · claude"
                                  " · follows the newest running run of root")
            stdout = os.path.join(layout.runs_dir(P, NEW), NEW_RUN, "agent-stdout.txt")
            assert stdout in app.detail.followed_files()
    asyncio.run(go())


def test_bus_view_follows_and_titles_the_task_bus(root):
    path, layout, tmp, locks = root
    app = make_app(path, tmp, view="bus", read_only=True)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded and shown_run(app) == OLD_CHILD,
                        what="the newest run at start")
            start_new_task(layout, locks)()
            await until(pilot, lambda: shown_run(app) == NEW_RUN, timeout=15,
                        what="the bus pane on the new task")
            assert app.bus_scope() == (P, NEW)
            assert title(app).startswith(f"running · {P} / {NEW} / {NEW_RUN} · claude")
    asyncio.run(go())


def test_a_running_run_wins_over_a_newer_finished_one(root):
    path, layout, tmp, locks = root
    write_task(layout, P, NEW, "New work.")
    write_run(layout, P, NEW, NEW_RUN, status="running", start_s=200, stdout="x\n")
    app = make_app(path, tmp, view="logs", watch=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded and shown_run(app) == NEW_RUN,
                        what="the running run, older than the finished child")
    asyncio.run(go())


def test_follow_scope_project_and_task(root):
    path, layout, tmp, locks = root
    write_task(layout, OTHER, NEW, "Elsewhere.")
    write_run(layout, OTHER, NEW, NEW_RUN, status="running", start_s=900, stdout="x\n")
    app = make_app(path, tmp, view="logs", watch=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded, what="the first read")
            model = app.model
            assert follow_target(model) == NodeRef.of_run(OTHER, NEW, NEW_RUN)
            assert follow_target(model, "project", P) == NodeRef.of_run(P, OLD, OLD_CHILD)
            assert follow_target(model, "task", P, OLD) == NodeRef.of_run(P, OLD, OLD_CHILD)
            assert follow_target(model, "task", None, NEW) == NodeRef.of_run(OTHER, NEW, NEW_RUN)
            await pilot.pause()
    asyncio.run(go())

    app = make_app(path, tmp, view="logs", watch=False, project=P, follow="project")

    async def scoped():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded and shown_run(app) == OLD_CHILD,
                        what="the project's newest run")
            assert title(app).endswith("· follows the newest running run of project webapp")
    asyncio.run(scoped())


@pytest.mark.parametrize("view,toast_flag,expected", [
    ("logs", None, 0), ("bus", None, 0), ("tree", None, 1), (None, None, 1),
    ("logs", "all", 1), (None, "none", 0)])
def test_only_the_tree_pane_of_a_dashboard_raises_toasts(root, view, toast_flag, expected):
    path, layout, tmp, locks = root
    start_new_task(layout, locks)()
    app = make_app(path, tmp, view=view, read_only=True, toasts=toast_flag)
    calls = record_notify(app)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded and app.model.task(P, NEW).status == "running",
                        what="the running task")
            finish(layout, NEW, NEW_RUN)
            app.mark_dirty(P, NEW)
            app._flush_dirty()
            await until(pilot, lambda: app.model.task(P, NEW).status == "completed",
                        timeout=15, what="the task to finish")
            await pilot.pause()
            assert toasts(calls) == [f"{NEW} finished"] * expected
    asyncio.run(go())


def test_bad_flags_are_refused(root):
    path, layout, tmp, locks = root
    from conductor.errors import ConductorError
    with pytest.raises(ConductorError, match="--follow must be one of root, project, task"):
        make_app(path, tmp, view="logs", follow="everything")
    with pytest.raises(ConductorError, match="--toasts must be one of all, none"):
        make_app(path, tmp, view="logs", toasts="some")


@pytest.mark.parametrize("args,error", [
    (["--view", "logs", "--follow", "all"],
     'invalid argument for "--follow" flag: must be one of root, project, task'),
    (["--view", "logs", "--toasts", "some"],
     'invalid argument for "--toasts" flag: must be one of all, none'),
    (["--view", "logs", "--follow", "project"], '"--follow project" needs --project'),
    (["--view", "bus", "--follow", "task"], '"--follow task" needs --task'),
])
def test_console_command_rejects_bad_follow_and_toasts_flags(subprocess_env, args, error):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "conductor", "console", *args],
                            env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (1, f"Error: {error}\n")


def test_the_title_fits_one_row_at_80_columns(root):
    """A narrow pane cuts the title's end with an ellipsis; the status and the task stay."""
    from .screen_text import screen_text
    path, layout, tmp, locks = root
    app = make_app(path, tmp, view="logs", watch=False)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.loaded and shown_run(app) == OLD_CHILD,
                        what="the newest run")
            await pilot.pause()
            line = screen_text(app).splitlines()[1]
            assert line == f" completed · {P} / {OLD} / {OLD_CHILD[:-4]}…"
            assert len(line) == 79  # one row, its end cut (the pane's last column is blank)
    asyncio.run(go())
