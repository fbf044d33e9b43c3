"""The Changes tab (7) on real git repositories: files, diff, live refresh, review comments,
merge and discard, read-only."""

from __future__ import annotations

import os

import psutil
import pytest

from conductor.bus import MessageBus
from conductor.console.app import ConductorApp
from conductor.console.screens import ConfirmScreen, ReviewCommentScreen
from conductor.console.widgets.changes import ChangesPane
from conductor.console.widgets.run_tree import NodeRef

from vcs.gitrepo import commit, git, write

from .changes_root import DIR_TASK, NOGIT_TASK, WT_TASK, build_changes_root
from .fixed_root import frozen_clock
from .live import run_app, select, settle, until, wait_for


@pytest.fixture
def world(tmp_path, monkeypatch):
    return build_changes_root(tmp_path, monkeypatch)


def app_for(world, tmp_path, **kwargs) -> ConductorApp:
    return ConductorApp(world["root"], clock=frozen_clock, watch=False,
                        state_path=str(tmp_path / "state.json"), **kwargs)


async def open_changes(pilot, task: str) -> ChangesPane:
    app = pilot.app
    await settle(pilot)
    await select(pilot, app, NodeRef("task", "webapp", task))
    await pilot.press("7")
    pane = app.detail.changes
    await until(pilot, lambda: pane.target is not None or pane.error, 20, "changes read")
    await settle(pilot)
    return pane


def rows(line_list) -> list[str]:
    return [line_list.row_text(i) for i in range(line_list.row_count)]


def title(pane) -> str:
    return str(pane.query_one("#changes-title").render())


def test_tab_7_shows_the_worktree_s_files_and_the_first_file_s_diff(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            assert app.detail.active == "changes"
            assert rows(pane.file_list) == ["M README.md  +1 −0", "M src/app.py  +2 −1",
                                            "? notes.txt  +1 −0"]
            base = git(world["repo"], "rev-parse", "main").strip()
            assert title(pane) == (f"branch conductor/fix-login since {base[:10]} (main) · "
                                   "3 files +4 −1")
            assert rows(pane.diff_list) == [
                "diff --git a/README.md b/README.md", "index ce01362..94954ab 100644",
                "--- a/README.md", "+++ b/README.md", "@@ -1 +1,2 @@", " hello", "+world"]
            pane.file_list.focus()
            await pilot.press("j")
            await until(pilot, lambda: pane.path == "src/app.py", 10, "second file")
            await settle(pilot)
            assert rows(pane.diff_list)[-5:] == [" a = 1", "-b = 2", "+b = 20", " c = 3",
                                                 "+d = 4"]
    run_app(go)


def test_the_tab_follows_the_agent_s_edits(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            write(world["wt"], {"README.md": "hello\nworld\nagain\n", "new.py": "x = 1\n"})
            await until(pilot, lambda: "? new.py  +1 −0" in rows(pane.file_list), 20,
                        "the new file")
            await until(pilot, lambda: "+again" in rows(pane.diff_list), 20, "the new line")
            assert rows(pane.file_list)[0] == "M README.md  +2 −0"
    run_app(go)


def test_c_on_a_diff_line_posts_a_review_comment_with_file_line_and_snippet(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            pane.file_list.focus()
            await pilot.press("j")
            await until(pilot, lambda: "+b = 20" in rows(pane.diff_list), 10, "app.py diff")
            pane.diff_list.focus()
            pane.diff_list.move_cursor(rows(pane.diff_list).index("+b = 20"))
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ReviewCommentScreen), 10,
                        "the dialog")
            assert app.screen.anchor == "src/app.py:2"
            await pilot.press(*"use a constant")
            await pilot.press("ctrl+s")
            bus = world["layout"].task_bus("webapp", WT_TASK)
            await until(pilot, lambda: os.path.exists(bus) and b"Review comment" in
                        open(bus, "rb").read(), 10, "the bus message")
            raw = open(bus, "rb").read()
            assert b"type: USER\n" in raw
            assert (b"Review comment on src/app.py:2:\nuse a constant\n\nAt src/app.py:2:\n"
                    b"```diff\n   a = 1\n  -b = 2\n> +b = 20\n   c = 3\n  +d = 4\n```\n") in raw
            assert "+b = 20" in rows(pane.diff_list)  # the diff is still there, as it was
            [message] = MessageBus(bus).read_all()
            assert (message.type, message.task_id) == ("USER", WT_TASK)
            await until(pilot, lambda: "review comment on src/app.py:2 posted USER" in
                        str(app.query_one("#status-line").render()), 10, "status line")
    run_app(go)


def test_m_merges_with_a_confirmation_saying_fast_forward(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            await open_changes(pilot, WT_TASK)
            await pilot.press("M")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "confirm")
            assert app.screen.question == (
                "Merge conductor/fix-login (1 commit) into main?\nThis is a fast-forward (no "
                "merge commit).\n2 uncommitted change(s) in the task's worktree are not merged "
                "(only commits are).")
            await pilot.press("y")
            tip = git(world["wt"], "rev-parse", "HEAD").strip()
            await until(pilot, lambda: git(world["repo"], "rev-parse", "main").strip() == tip,
                        20, "main moved")
            await until(pilot, lambda: "merge: conductor/fix-login fast-forwarded into main" in
                        str(app.query_one("#status-line").render()), 10, "status line")
    run_app(go)


def test_a_conflicting_merge_is_refused_and_the_repo_left_clean(world, tmp_path):
    base = commit(world["repo"], {"src/app.py": "a = 'operator'\n"}, "operator")

    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            await open_changes(pilot, WT_TASK)
            await pilot.press("M")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "confirm")
            assert "This is a merge commit (the base has moved on)." in app.screen.question
            await pilot.press("y")
            await until(pilot, lambda: "does not merge cleanly" in app.last_error, 20, "refusal")
            assert app.last_error.endswith("the repository is unchanged")
    run_app(go)
    assert git(world["repo"], "rev-parse", "main").strip() == base
    assert git(world["repo"], "status", "--porcelain") == ""


def test_ctrl_d_discards_the_worktree_and_the_branch(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            await pilot.press("ctrl+d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "confirm")
            assert app.screen.question.startswith("Discard conductor/fix-login?\nThe worktree ")
            await pilot.press("y")
            await until(pilot, lambda: not os.path.exists(world["wt"]), 20, "worktree gone")
            await until(pilot, lambda: title(pane).startswith("the task's worktree is gone"),
                        20, "title")
    run_app(go)
    assert git(world["repo"], "branch", "--list", "conductor/fix-login") == ""


def test_a_plain_repo_is_read_only_and_outside_git_says_so(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, DIR_TASK)
            assert rows(pane.file_list) == ["M main.go  +2 −0"]
            assert title(pane).startswith("working dir (read-only) against HEAD ")
            await pilot.press("M")
            await until(pilot, lambda: "has no worktree of its own" in app.last_error, 10,
                        "refusal")
            await select(pilot, app, NodeRef("task", "webapp", NOGIT_TASK))
            await until(pilot, lambda: title(pane) == f"not a git working dir: "
                        f"{world['outside']}", 20, "not git")
            assert rows(pane.file_list) == [] and rows(pane.diff_list) == []
    run_app(go)


def test_read_only_refuses_merge_discard_and_comments(world, tmp_path):
    async def go():
        app = app_for(world, tmp_path, read_only=True)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            assert app.check_action("merge_branch", ()) is False
            assert app.check_action("discard_branch", ()) is False
            pane.diff_list.focus()
            pane.diff_list.move_cursor(6)
            await pilot.press("c")
            await until(pilot, lambda: "read-only" in app.last_error, 10, "refusal")
            assert not isinstance(app.screen, ReviewCommentScreen)
    run_app(go)


def test_a_hostile_worktree_record_is_one_line_in_the_tab(world, tmp_path):
    os.remove(os.path.join(world["task_dir"], "WORKTREE.json"))
    os.symlink("/etc/passwd", os.path.join(world["task_dir"], "WORKTREE.json"))

    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            await until(pilot, lambda: "WORKTREE.json" in app.last_error, 10, "error")
            assert "WORKTREE.json" in title(pane) and "\n" not in title(pane)
    run_app(go)


def test_a_big_diff_is_read_a_page_at_a_time(world, tmp_path):
    write(world["wt"], {"README.md": "".join(f"line {n}\n" for n in range(2500))})

    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            assert pane.path == "README.md" and len(pane.lines) == 1000 and pane.more
            assert pane._reader is not None  # git waits, paused, for the next page
            assert "diff: first 1,000 lines (more below)" in title(pane)
            pane.diff_list.focus()
            await pilot.press("G")
            await until(pilot, lambda: len(pane.lines) == 2000, 20, "the second page")
            await pilot.press("G")
            await until(pilot, lambda: not pane.more, 20, "the last page")
            assert rows(pane.diff_list)[-1] == "+line 2499"
            assert pane.diff_list.row_count == len(pane.lines) == 2500 + 6
            assert pane._reader is None
            pane.file_list.focus()
            await pilot.press("j")  # another file: the first one's diff is read anew
            await until(pilot, lambda: pane.path == "src/app.py", 10, "second file")
    run_app(go)
    wait_for(lambda: not [p for p in psutil.Process().children(recursive=True)
                          if p.name() == "git"], 10, "no git process left")


def test_quitting_with_a_diff_half_read_leaves_no_git_behind(world, tmp_path):
    write(world["wt"], {"README.md": "".join(f"line {n}\n" for n in range(5000))})

    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = await open_changes(pilot, WT_TASK)
            assert pane.more and pane._reader is not None
    run_app(go)
    wait_for(lambda: not [p for p in psutil.Process().children(recursive=True)
                          if p.name() == "git" and p.status() != psutil.STATUS_ZOMBIE], 10,
             "no git process left")


def test_discard_is_refused_while_the_task_runs_there(world, tmp_path):
    from .fixed_root import hold_loop_lock
    lock = hold_loop_lock(world["task_dir"])

    async def go():
        app = app_for(world, tmp_path)
        async with app.run_test(size=(160, 45)) as pilot:
            await open_changes(pilot, WT_TASK)
            await pilot.press("ctrl+d")
            await until(pilot, lambda: "is running in that worktree: stop it first" in
                        app.last_error, 10, "refusal")
            assert not isinstance(app.screen, ConfirmScreen)
    try:
        run_app(go)
    finally:
        lock.close()
    assert os.path.isdir(world["wt"])


def test_a_file_name_or_line_with_escapes_is_drawn_harmless(world, tmp_path):
    from conductor.console.widgets.changes import diff_rows, file_row
    from conductor.vcs.changes import DiffLine, FileChange
    assert file_row(FileChange("evil\x1b[2J\n.txt", "?", 1, 0)).plain == \
        "? evil\u241b[2J\u240a.txt  +1 −0"
    [row] = diff_rows([DiffLine("+\x1b]52;c;AAAA\x07", "add")])
    assert row.plain == "+\u241b]52;c;AAAA\u2407"
