"""The console sets the terminal's title to the alerts summary (OSC 2 through the driver),
pushing the terminal's own title first and restoring it on exit."""

from __future__ import annotations

import asyncio
import os

# the console tests' fixed root (tests/ is on sys.path: tests/conftest.py)
from console.fixed_root import (T1, T6, build_fixed_root, frozen_clock, hold_loop_lock,
                                pretend_runs_alive)
from console.live import settle, until

from conductor.bus import Message, MessageBus
from conductor.console.app import ConductorApp
from conductor.store import Layout


def test_title_is_the_summary_and_follows_the_tasks(tmp_path, monkeypatch) -> None:
    root = str(tmp_path / "runs")
    layout: Layout = build_fixed_root(root)
    pretend_runs_alive(monkeypatch)
    lock = hold_loop_lock(layout.task_dir("webapp", T1))
    written: list[str] = []

    async def scenario() -> None:
        app = ConductorApp(root, clock=frozen_clock, watch=False,
                           state_path=str(tmp_path / "state.json"))
        real_write = None

        def record(data: str) -> None:
            written.append(data)
            if real_write is not None:
                real_write(data)

        async with app.run_test(size=(160, 45)) as pilot:
            real_write = app._driver.write
            app._driver.write = record
            app._terminal_title = ""  # what the first read wrote went to the real driver
            app._update_counts()
            await settle(pilot)
            titles = [w for w in written if "\x1b]2;" in w]
            # running (T1), needs-you (T6 asks), loop-dead (T5: no supervisor)
            assert titles == ["\x1b[22;2t\x1b]2;conductor \u26a11 ?1 \u26201\x07"]
            # the question is answered: the title follows at the next read (T6 has no
            # supervisor either, so it is loop-dead now)
            MessageBus(os.path.join(layout.task_dir("infra", T6), "TASK-MESSAGE-BUS.md")).append(
                Message(type="USER", project_id="infra", task_id=T6, body="the EU one"))
            app.mark_dirty("infra", T6)
            app._flush_dirty()
            await until(pilot, lambda: [w for w in written if "]2;" in w][-1:] == ["\x1b]2;conductor \u26a11 \u26202\x07"],
                        10, "the new title")
        assert [w for w in written if "]2;" in w or "[23;2t" in w][-2:] == [
            "\x1b]2;conductor \u26a11 \u26202\x07", "\x1b[23;2t"]  # the terminal's own title back

    try:
        asyncio.run(scenario())
    finally:
        lock.close()
