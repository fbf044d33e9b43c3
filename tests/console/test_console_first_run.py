"""The first-run screen: an empty or missing root shows where it is, whether it exists and the
next steps, in place of an empty tree; `n` without agents says so at once."""

from __future__ import annotations

import asyncio

import pytest

from conductor.console.app import ConductorApp
from conductor.console.widgets.first_run import FirstRun, first_run_facts, first_run_text
from conductor.store import Layout, write_task_md_if_missing

from .live import settle, until


@pytest.fixture
def bare_env(tmp_path, monkeypatch):
    """No agent CLI and no `conductor` on PATH, and a working directory without ./runs."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _app(root, tmp_path) -> ConductorApp:
    return ConductorApp(str(root), watch=False, state_path=str(tmp_path / "state.json"))


def test_a_missing_root_shows_the_next_steps_and_n_says_no_agents_at_once(tmp_path, bare_env):
    root = tmp_path / "nowhere" / "runs"

    async def scenario():
        app = _app(root, tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.loaded, 20, "the first read")
            await settle(pilot)
            first = app.query_one(FirstRun)
            assert first.display and not app.run_tree.display
            shown = str(first.render())
            assert f"No tasks yet under\n  {root}\n" in shown
            assert "it does not exist yet" in shown
            assert "python -m conductor demo" in shown  # `conductor` is not on PATH here
            await pilot.press("n")
            await settle(pilot)
            assert app.screen is app.screen_stack[0]  # no dialog was opened
            assert app.last_error == ("new task: no agents configured: open the console with "
                                      "--config FILE (docs/configuration.md)")

    asyncio.run(scenario())


def test_the_tree_replaces_it_when_a_task_appears(tmp_path, bare_env):
    root = tmp_path / "runs"
    root.mkdir()

    async def scenario():
        app = _app(root, tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.loaded, 20, "the first read")
            await settle(pilot)
            assert app.query_one(FirstRun).display
            assert "it does not exist yet" not in str(app.query_one(FirstRun).render())
            task_dir = Layout(str(root)).ensure_task_dir("proj", "task-20260101-000000-first")
            write_task_md_if_missing(task_dir, "hello")
            app.action_rescan()
            await until(pilot, lambda: not app.query_one(FirstRun).display, 20, "the tree")
            assert app.run_tree.display

    asyncio.run(scenario())


def test_a_local_runs_dir_with_projects_is_offered(tmp_path, bare_env):
    Layout(str(bare_env / "runs")).ensure_task_dir("demo", "task-20260101-000000-x")
    facts = first_run_facts(str(tmp_path / "elsewhere"), cwd=str(bare_env))
    assert (facts.exists, facts.local_runs, facts.local_projects) == (False, str(bare_env / "runs"), 1)
    text = str(first_run_text(facts, agents=[]))
    assert f"Found {bare_env / 'runs'} with 1 project: open it with\n" in text
    assert f"python -m conductor --root {bare_env / 'runs'}\n" in text
    # the root itself is not offered to itself
    same = first_run_facts(str(bare_env / "runs"), cwd=str(bare_env))
    assert same.local_runs == ""


def test_agent_clis_on_path_are_named(tmp_path, bare_env):
    tool = tmp_path / "bin" / "codex"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    facts = first_run_facts(str(tmp_path / "runs"), cwd=str(bare_env))
    assert facts.on_path == ("codex",)
    assert "Agent CLIs on PATH: codex\n" in str(first_run_text(facts, agents=[]))


def test_first_run_screen_snapshot(snap_compare, tmp_path, bare_env, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    app = ConductorApp("/nonexistent/conductor/runs", watch=False,
                       state_path=str(tmp_path / "state.json"))

    async def run_before(pilot):
        await until(pilot, lambda: app.loaded, 20, "the first read")
        await settle(pilot)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
