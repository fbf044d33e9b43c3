"""A snapshot of the restart dialog (`R`) on the fixed runs root, frozen clock: a running task
recorded on slurm (TASK-EXECUTOR), so the dialog warns that it is stopped first and starts its
executor list at slurm.

Update with ``pytest tests/console/test_restart_dialog_snapshot.py --snapshot-update`` and
review the SVG under ``__snapshots__/`` before committing it.
"""

from __future__ import annotations

from conductor.console.screens.restart import RestartScreen
from conductor.store import Layout
from conductor.store.task_executor import write_task_executor

from .fixed_root import T1
from .live import until
from .test_console_dialog_snapshots import fixed_app, on_run  # noqa: F401 - the fixture


def test_restart_dialog_on_a_running_task_recorded_on_slurm(snap_compare, fixed_app,  # noqa: F811
                                                            tmp_path):
    root = str(tmp_path / "runs")

    async def run_before(pilot):
        await on_run(pilot)
        write_task_executor(root, Layout(root).task_dir("webapp", T1), "slurm")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(pilot.app.screen, RestartScreen), 10,
                    "restart dialog")
        await pilot.pause()
    assert snap_compare(fixed_app(), terminal_size=(100, 30), run_before=run_before)
