"""A snapshot of the Changes tab: a fixed repository (fixed identity and dates, so fixed commit
ids), a frozen clock, no live updates. Update with ``--snapshot-update`` and review the SVG."""

from __future__ import annotations

from conductor.console.app import ConductorApp
from conductor.console.screens import ReviewCommentScreen
from conductor.console.widgets.run_tree import NodeRef

from .changes_root import WT_TASK, build_changes_root
from .fixed_root import frozen_clock
from .live import select, settle, until


def app_for(tmp_path, monkeypatch) -> ConductorApp:
    world = build_changes_root(tmp_path, monkeypatch)
    return ConductorApp(world["root"], clock=frozen_clock, watch=False, root_label="/srv/runs",
                        state_path=str(tmp_path / "state.json"))


async def on_app_py(pilot) -> None:
    """The Changes tab on the worktree task, src/app.py's diff, the cursor on ``+b = 20``."""
    await settle(pilot)
    await select(pilot, pilot.app, NodeRef("task", "webapp", WT_TASK))
    await pilot.press("7")
    pane = pilot.app.detail.changes
    await until(pilot, lambda: len(pane.lines) > 0, 20, "the diff")
    pane.file_list.focus()
    await pilot.press("j")
    await until(pilot, lambda: pane.path == "src/app.py", 20, "src/app.py")
    await settle(pilot)
    pane.diff_list.focus()
    pane.diff_list.move_cursor(7)
    await settle(pilot)
    await pilot.wait_for_scheduled_animations()


class TestChangesTab:
    def test_worktree_files_and_highlighted_diff(self, snap_compare, tmp_path, monkeypatch):
        assert snap_compare(app_for(tmp_path, monkeypatch), terminal_size=(140, 32),
                            run_before=on_app_py)

    def test_review_comment_dialog(self, snap_compare, tmp_path, monkeypatch):
        async def run_before(pilot):
            await on_app_py(pilot)
            await pilot.press("c")
            await until(pilot, lambda: isinstance(pilot.app.screen, ReviewCommentScreen), 10,
                        "the dialog")
            await pilot.press(*"use a named constant")
            await settle(pilot)
            await pilot.wait_for_scheduled_animations()
        assert snap_compare(app_for(tmp_path, monkeypatch), terminal_size=(140, 32),
                            run_before=run_before)
