"""The console: the new-task dialog's worktree checkbox (default from the config), Info's
worktree rows, and a delete refused for unmerged work that the confirm dialog offers to force."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from textual.widgets import Checkbox

from conductor.console.app import ConductorApp
from conductor.console.screens import ConfirmScreen, NewTaskScreen
from conductor.console.widgets.run_tree import NodeRef

from .conftest import PROJECT, TASK_A

SIZE = (160, 45)
NEW = "task-20261130-130000-fromdialog"


@pytest.fixture
def console_env(wt, monkeypatch):
    monkeypatch.setenv("CONDUCTOR_CONSOLE_STATE", str(wt.tmp / "state.json"))
    for key in [k for k in os.environ if k.startswith("JRUN_")]:
        monkeypatch.delenv(key)
    for key in ("HOME", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                "GIT_COMMITTER_EMAIL", "GIT_CONFIG_NOSYSTEM"):
        monkeypatch.setenv(key, wt.env[key])
    yield wt
    from tests.console.live import stop_everything
    stop_everything(wt.root)


def app_for(wt) -> ConductorApp:
    return ConductorApp(wt.root, config_path=wt.config, watch=False,
                        state_path=str(wt.tmp / "state.json"))


async def until(pilot, predicate, what: str, timeout: float = 30.0) -> None:
    from tests.console.live import until as live_until
    await live_until(pilot, predicate, timeout, what)


async def open_dialog(pilot, app) -> NewTaskScreen:
    from tests.console.live import settle
    await settle(pilot)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), "dialog")
    await pilot.pause()
    return app.screen


def test_the_checkbox_follows_the_config_and_starts_the_task_in_a_worktree(console_env):
    wt = console_env
    wt.write_config("worktree:\n  enabled: true\n")

    async def scenario():
        app = app_for(wt)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(pilot, app)
            box = dialog.query_one("#new-worktree", Checkbox)
            assert box.value is True  # the config's default
            assert "worktree" in str(box.render())
            dialog.query_one("#new-project").value = PROJECT
            dialog.query_one("#new-task").value = NEW
            dialog.query_one("#new-prompt").text = "do it"
            dialog.query_one("#new-cwd").value = wt.repo
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is not dialog, "dialog closed")
            record = os.path.join(wt.task_dir(NEW), "WORKTREE.json")
            await until(pilot, lambda: os.path.exists(os.path.join(wt.task_dir(NEW), "DONE")),
                        "the task done")
            with open(record) as f:
                assert json.load(f)["path"] == wt.worktree(NEW)
            assert os.path.isfile(os.path.join(wt.worktree(NEW), f"file-{NEW}.txt"))
            assert sorted(os.listdir(wt.repo)) == [".git", "README"]

    asyncio.run(scenario())


def test_unticked_no_worktree_and_a_non_git_dir_is_said_in_the_dialog(console_env):
    wt = console_env
    plain = wt.tmp / "plain"
    plain.mkdir()

    async def scenario():
        app = app_for(wt)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_dialog(pilot, app)
            box = dialog.query_one("#new-worktree", Checkbox)
            assert box.value is False  # no worktree: section in the config
            box.focus()
            await pilot.press("space")  # ticked by the operator
            assert box.value is True
            dialog.query_one("#new-project").value = PROJECT
            dialog.query_one("#new-task").value = NEW
            dialog.query_one("#new-prompt").text = "do it"
            dialog.query_one("#new-cwd").value = str(plain)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: dialog.error_text, "the refusal")
            assert dialog.error_text == (f"worktree: {plain} is not in a git repository (give "
                                         "a git working dir as work dir, or untick worktree)")
            assert app.screen is dialog and not os.path.exists(wt.root)
            box.value = False
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is not dialog, "dialog closed")
            await until(pilot, lambda: os.path.exists(os.path.join(wt.task_dir(NEW), "DONE")),
                        "the task done")
            assert not os.path.exists(os.path.join(wt.task_dir(NEW), "WORKTREE.json"))
            assert os.path.isfile(plain / f"file-{NEW}.txt")  # it ran in its work dir

    asyncio.run(scenario())


def info_text(app) -> str:
    """The Info tab's text as drawn (the rows of its table)."""
    import io

    from rich.console import Console
    console = Console(width=150, file=io.StringIO(), record=True, color_system=None)
    console.print(app.query_one("#info-body").content)
    return console.export_text()


def test_info_shows_the_worktree_and_delete_offers_force_for_unmerged_work(console_env):
    wt = console_env
    assert wt.task(TASK_A, "--worktree").returncode == 0
    path = wt.worktree(TASK_A)
    wt.git("add", "-A", cwd=path)
    wt.git("commit", "-qm", "agent work", cwd=path)
    base = wt.git("rev-parse", "main")

    async def scenario():
        from tests.console.live import select, settle
        app = app_for(wt)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(PROJECT, TASK_A))
            await pilot.press("6")
            await until(pilot, lambda: "conductor/" in info_text(app), "worktree rows")
            rows = [" ".join(line.split()) for line in info_text(app).splitlines()]
            assert f"worktree {path}" in rows
            assert f"branch conductor/{TASK_A}" in rows
            assert f"base HEAD ({base[:12]})" in rows
            await pilot.press("D")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm")
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                        and "not merged" in str(app.screen.query_one("#confirm-question")
                                                .render()), "the refusal, offering force")
            assert str(app.screen.query_one("#confirm-question").render()) == (
                f"task {TASK_A}: its worktree branch conductor/{TASK_A} has 1 commit not "
                "merged into HEAD; merge it or use --force to delete them anyway.\nDelete "
                "anyway? The worktree and its branch are removed, with that work.")
            assert os.path.isdir(path)
            await pilot.press("y")
            await until(pilot, lambda: not os.path.exists(wt.task_dir(TASK_A)), "deleted")
            assert not os.path.exists(path)
            assert wt.git("branch", "--list", "conductor/*") == ""

    asyncio.run(scenario())
