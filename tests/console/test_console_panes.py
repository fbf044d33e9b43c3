"""The app's model, the tree that renders it, the panes' declared files, the header's state."""

from __future__ import annotations

import asyncio
import shutil

from conductor.console.model import NodeRef
from conductor.store import Layout

from .fixed_root import T1, T2, T3
from .live import settle
from .test_console_fixed import RUN_1, SIZE, app_for, fixed  # noqa: F401 - the fixture


def test_select_ref_lands_on_a_run_in_a_collapsed_task(fixed):  # noqa: F811
    """Pins the one reliance on Tree internals: ``last_line`` builds the lines that
    ``move_cursor`` reads, so a node made by expanding lands the cursor at once."""
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            tree = app.run_tree
            ref = NodeRef.of_run("webapp", T1, RUN_1)
            assert tree.node_for(ref) is None  # not built: its task is collapsed
            assert tree.select_ref(ref)
            assert tree.cursor_node.data == ref
            assert tree.cursor_line == tree.node_for(ref).line >= 0

    asyncio.run(scenario())


def test_the_tree_renders_the_apps_model_and_a_reread_updates_it(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.run_tree.model is app.model
            assert app.run_tree.select_ref(NodeRef.of_task("webapp", T2))
            assert app.run_tree.node_for(NodeRef.of_task("webapp", T3)) is not None
            shutil.rmtree(Layout(root).task_dir("webapp", T3))
            app.action_rescan()
            await settle(pilot)
            assert app.model.task("webapp", T3) is None
            assert app.run_tree.node_for(NodeRef.of_task("webapp", T3)) is None
            assert app.run_tree.node_for(NodeRef.of_task("webapp", T2)) is not None

    asyncio.run(scenario())


def test_the_detail_pane_declares_the_files_it_follows(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.run_tree.select_ref(NodeRef.of_run("webapp", T1, RUN_1))
            app._update_selection(force=True)
            await settle(pilot)
            run_dir = Layout(root).run_dir("webapp", T1, RUN_1)
            files = app.detail.followed_files()
            assert {f"{run_dir}/agent-stdout.txt", f"{run_dir}/agent-stderr.txt"} <= files
            follow = app.following()
            assert follow.logs == files and follow.selected_run == RUN_1
            assert follow.bus_project == "webapp" and follow.bus_task == T1

    asyncio.run(scenario())


def test_the_header_reads_then_counts_and_never_shows_a_spinner(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            header = app.header
            assert not header.loading  # Textual's own: would hide the header
            await settle(pilot)
            assert not header.reading and not header.loading
            assert "1 running" in str(header.render())
            header.mode = "polling (test)"
            await pilot.pause()
            assert "watch: polling (test)" in str(header.render())
            header.filter_text = "gemini"
            await pilot.pause()
            assert "filter: gemini" in str(header.render())

    asyncio.run(scenario())


def test_the_bus_scope_is_state_the_feed_follows(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.run_tree.select_ref(NodeRef.of_task("webapp", T1))
            app._update_selection(force=True)
            await settle(pilot)
            layout = Layout(root)
            assert app.feed.path == layout.task_bus("webapp", T1)
            app.action_toggle_scope()
            await settle(pilot)
            assert app.bus_project_scope and app.feed.path == layout.project_bus("webapp")
            assert app.following().bus_task is None
            assert str(app.query_one("#status-line").render()) == "bus: project scope"
            app.action_toggle_scope()
            await settle(pilot)
            assert app.feed.path == layout.task_bus("webapp", T1)

    asyncio.run(scenario())


def test_a_newer_message_of_a_burst_replaces_the_queued_one():
    from conductor.console.messages import FileRead, RootScanned, TaskScanned, TaskVanished
    from conductor.console.status import TaskView

    def scanned(project, task, status="running"):
        return TaskScanned(TaskView(project=project, task=task, path="", status=status))
    assert scanned("p", "t1").can_replace(scanned("p", "t1", "completed"))
    assert not scanned("p", "t1").can_replace(scanned("p", "t2"))
    assert not scanned("p", "t1").can_replace(TaskVanished("p", "t1"))
    assert RootScanned([], 0.1).can_replace(RootScanned([], 0.2))
    assert FileRead(3, "output", "a").can_replace(FileRead(4, "output", "b"))
    assert not FileRead(3, "output", "a").can_replace(FileRead(3, "task", "b"))
    assert not FileRead(4, "output", "a").can_replace(FileRead(3, "output", "b"))
