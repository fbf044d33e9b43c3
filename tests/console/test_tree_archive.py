"""The archive from the console (issue 12 Deliver 8): `a` archives a stopped task, `A` shows the
archive, enter on a task asks, and yes moves it back into its project and into the tree."""

from __future__ import annotations

import asyncio
import io
import os

from rich.console import Console

from conductor.console.keymap import BY_ID
from conductor.console.screens import ConfirmScreen, HelpScreen
from conductor.console.screens.archive import ArchiveScreen
from conductor.console.screens.help import help_table
from conductor.console.status import list_archived
from conductor.console.widgets.run_tree import NodeRef
from conductor.store import Layout

from .fixed_root import T1, T2, T3, write_task
from .live import select, settle, until
from .screen_text import screen_text
from .test_console_fixed import app_for, fixed  # noqa: F401 - the fixed root, its T1 supervised

SIZE = (160, 45)
P = "webapp"


def tasks_shown(app) -> set[str]:
    return {t.task for p in app.model.projects.values() for t in p.tasks}


def status_line(app) -> str:
    return str(app.query_one("#status-line").render())


def test_archive_then_restore_from_the_archive_list(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("A")  # nothing archived yet
            await until(pilot, lambda: isinstance(app.screen, ArchiveScreen), 5, "archive")
            await until(pilot, lambda: "The archive is empty" in screen_text(app), 5, "empty")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, ArchiveScreen), 5, "closed")
            for task in (T3, T2):  # the lower first: the cursor then moves to the next
                await select(pilot, app, NodeRef.of_task(P, task))
                await pilot.press("a")
                await until(pilot, lambda task=task: task not in tasks_shown(app), 10,
                            "archived")
            await pilot.press("A")
            await until(pilot, lambda: isinstance(app.screen, ArchiveScreen), 5, "archive")
            await until(pilot, lambda: "2 archived" in screen_text(app), 5, "the list")
            text = screen_text(app)
            assert "webapp  write-docs  archived" in text  # T2's slug, project first
            # the highlighted row is the newest archived (T3); down picks T2
            items = app.screen.items
            pick = [i.task for i in items].index(T2)
            for _ in range(pick):
                await pilot.press("down")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
            assert str(app.screen.query_one("#confirm-question").render()) == (
                f"Restore task {T2}?\nIt moves back from the archive to project {P}; it is "
                "not started.")
            await pilot.press("n")  # no: stays archived
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 5, "closed")
            assert os.path.isdir(os.path.join(root, ".archive", P, T2))
            await pilot.press("A")
            await until(pilot, lambda: isinstance(app.screen, ArchiveScreen)
                        and len(app.screen.items) == 2, 5, "the list again")
            for _ in range([i.task for i in app.screen.items].index(T2)):
                await pilot.press("down")
            await pilot.press("r")  # the dialog's restore key
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
            await pilot.press("y")
            await until(pilot, lambda: T2 in tasks_shown(app), 10, "restored into the tree")
            assert status_line(app) == f"restored {T2} to project {P}"
            assert os.path.isfile(os.path.join(root, P, T2, "TASK.md"))
            assert not os.path.exists(os.path.join(root, ".archive", P, T2))
            assert T3 not in tasks_shown(app)
            # the cursor lands on the restored task
            await until(pilot, lambda: app.selected == NodeRef.of_task(P, T2), 10,
                        "the restored task selected")

    asyncio.run(scenario())


def test_restore_over_a_task_of_the_same_name_is_refused_with_one_line(fixed):  # noqa: F811
    root, tmp = fixed
    layout = Layout(root)

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T2))
            await pilot.press("a")
            await until(pilot, lambda: T2 not in tasks_shown(app), 10, "archived")
            write_task(layout, P, T2, "A new task with the old name.")
            await pilot.press("A")
            await until(pilot, lambda: isinstance(app.screen, ArchiveScreen)
                        and app.screen.items, 5, "the list")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
            await pilot.press("y")
            await until(pilot, lambda: app.last_error.startswith("restore:"), 10, "refusal")
            assert app.last_error == (f"restore: task {T2} already exists in project {P}; "
                                      "not restoring over it")
            assert os.path.isdir(os.path.join(root, ".archive", P, T2))

    asyncio.run(scenario())


def test_read_only_has_no_archive_key_and_help_lists_it(fixed):  # noqa: F811
    root, tmp = fixed
    assert BY_ID["archived_tasks"].keys == "A" and BY_ID["archive.restore"].keys == "r"

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")
            console = Console(width=160, record=True, file=io.StringIO())
            console.print(help_table(app.keys, read_only=False))
            lines = console.export_text().splitlines()
            assert any(line.split() == ["A", "Archived", "tasks", "(restore", "one)",
                                        "archived_tasks"] for line in lines)
            assert any(line.split()[:2] == ["r", "Restore"] for line in lines)
        app = app_for(root, tmp, read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("A")
            await settle(pilot)
            assert not isinstance(app.screen, ArchiveScreen)

    asyncio.run(scenario())


def test_the_archive_list_passes_links_files_and_bad_names_by(tmp_path):
    root = tmp_path / "runs"
    archive = root / ".archive"
    (archive / "webapp" / T1).mkdir(parents=True)
    (archive / "webapp" / "not a task").mkdir()
    (archive / "webapp" / "file-task").write_text("x")
    outside = tmp_path / "outside"
    (outside / "task-x").mkdir(parents=True)
    os.symlink(outside, archive / "linked")
    os.symlink(outside / "task-x", archive / "webapp" / "linked-task")
    found = list_archived(str(root))
    assert [(a.project, a.task) for a in found] == [("webapp", T1)]
    assert list_archived(str(root), project="other") == []
    assert list_archived(str(tmp_path / "missing")) == []
    os.rename(archive, tmp_path / "real-archive")
    os.symlink(tmp_path / "real-archive", archive)  # the archive itself a link: not followed
    assert list_archived(str(root)) == []


def test_archive_dialog_snapshot(snap_compare, fixed):  # noqa: F811
    """The archive list with two tasks, the newer highlighted (times from a frozen clock)."""
    from .fixed_root import FROZEN_NS
    root, tmp = fixed
    for task, ago_s in ((T2, 3 * 3600 + 300), (T3, 120)):
        target = os.path.join(root, ".archive", P, task)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(os.path.join(root, P, task), target)
        when = FROZEN_NS - ago_s * 1_000_000_000
        os.utime(target, ns=(when, when))

    async def open_archive(pilot) -> None:
        await settle(pilot)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(pilot.app.screen, ArchiveScreen)
                    and len(pilot.app.screen.items) == 2, 10, "the archive list")
        await settle(pilot)

    assert snap_compare(app_for(root, tmp, root_label="/srv/runs"), terminal_size=(100, 30),
                        run_before=open_archive)
