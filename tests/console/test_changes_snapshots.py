"""A snapshot of the Changes tab: a fixed repository (fixed identity and dates, so fixed commit
ids), a frozen clock, no live updates. Update with ``--snapshot-update`` and review the SVG."""

from __future__ import annotations

from conductor.console.app import ConductorApp
from conductor.console.widgets.run_tree import NodeRef

from .changes_root import WT_TASK, build_changes_root
from .fixed_root import frozen_clock
from .live import select, settle, until


class TestChangesTab:
    def test_worktree_files_and_highlighted_diff(self, snap_compare, tmp_path, monkeypatch):
        world = build_changes_root(tmp_path, monkeypatch)
        app = ConductorApp(world["root"], clock=frozen_clock, watch=False,
                           root_label="/srv/runs", state_path=str(tmp_path / "state.json"))

        async def run_before(pilot):
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
        assert snap_compare(app, terminal_size=(140, 32), run_before=run_before)
