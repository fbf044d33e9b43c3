"""One log pane, two renderers (issue 12, Deliver 2): the readable stdout view has the raw
view's keys, status row, search, wrap and paused state, and the pane's mode (readable/raw)
survives new runs, tab switches and ``v``. Live tests run real supervisors on a temporary
root with a ``command`` agent that prints a claude event stream."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input

from conductor import orchestrator
from conductor.console.app import ConductorApp
from conductor.console.screens import NewTaskScreen
from conductor.console.widgets.log_view import LogPane, LogView
from conductor.console.widgets.readable_log import ReadableLog
from conductor.console.widgets.run_tree import NodeRef

from .live import select, settle, stop_everything, until
from .screen_text import screen_text

SIZE = (160, 45)
P = "proj"
T1 = "task-20260101-000000-stream-one"
T2 = "task-20260101-000100-stream-two"

STREAM_AGENT = r'''
import json, os, re, sys, time
prompt = sys.stdin.read()  # the preamble, then the task's prompt
name = re.search(r"NAME=(\w+)", prompt).group(1)
def out(event):
    print(json.dumps(event), flush=True)
out({"type": "system", "subtype": "init", "model": "sim-model"})
steps = 10 ** 9 if "@LONG@" in prompt else 3
for i in range(1, steps + 1):
    out({"type": "assistant",
         "message": {"content": [{"type": "text", "text": f"{name} step {i} of the work"}]}})
    time.sleep(0.05)
open(os.path.join(os.environ["JRUN_TASK_FOLDER"], "DONE"), "w").close()
'''

RAW_JSON = '{"type": "assistant"'


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    script = tmp_path / "stream_agent.py"
    script.write_text(STREAM_AGENT)
    config = tmp_path / "config.yaml"
    config.write_text("agents:\n  stream:\n    type: command\n    command: [%s, %s]\n"
                      "defaults:\n  agent: stream\n" % (sys.executable, script))
    monkeypatch.setenv("CONDUCTOR_CONSOLE_STATE", str(tmp_path / "state.json"))
    for key in [k for k in os.environ if k.startswith("JRUN_")]:
        monkeypatch.delenv(key)
    yield str(root), str(config)
    stop_everything(str(root))


def start(root: str, config: str, task: str, prompt: str) -> None:
    orchestrator.new_task(root, P, task, prompt)
    orchestrator.start_task(root, P, task, agent="stream", config_path=config)


def stdout_pane(app) -> LogPane:
    return app.query_one("#stdout-log", LogPane)


def status_row(pane: LogPane) -> str:
    return str(pane.status.render())


def shown_range(pane: LogPane) -> tuple[int, int, int]:
    """(first, last, count) from the status row's ``lines a–b of c``."""
    part = next(p for p in status_row(pane).split(" \u00b7 ") if p.startswith("lines "))
    first, rest = part[len("lines "):].split("\u2013")
    last, _, count = rest.split()
    return int(first.replace(",", "")), int(last.replace(",", "")), int(count.replace(",", ""))


def osc52(text: str) -> str:
    return "\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\a"


async def type_search(pilot, text: str) -> None:
    await pilot.press(*["space" if c == " " else c for c in text], "enter")


def highlighted(view: ReadableLog, row: int, text: str) -> bool:
    """The row is on screen and ``text`` in it is drawn on a background (the highlight)."""
    y = row - view.top_line
    if not 0 <= y < view.scrollable_content_region.height:
        return False
    strip = view.render_line(y)
    return any(text in seg.text and seg.style is not None and seg.style.bgcolor is not None
               and seg.style.bgcolor != view.rich_style.bgcolor for seg in strip)


# -- live: keys, search, wrap, paused while the run grows ----------------------------------

def test_readable_pane_keys_search_wrap_and_paused_while_the_run_grows(env):
    root, config = env
    start(root, config, T1, "NAME=alpha @LONG@")

    async def scenario():
        app = ConductorApp(root, config_path=config)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T1))
            pane = stdout_pane(app)
            view = pane.readable_view
            assert view is not None and pane.readable and pane.shown is view
            await until(pilot, lambda: view.row_count > 30, 40, "30 rows rendered")
            assert " of the work" in screen_text(app)
            assert RAW_JSON not in screen_text(app)
            view.focus()
            await pilot.pause()
            await pilot.press("g")  # to the top: paused
            await pilot.pause()
            assert not view.following and view.top_line == 0
            assert status_row(pane).startswith("PAUSED \u00b7 ")
            # `/` opens the pane's search, not the tree filter
            await pilot.press("slash")
            search = pane.query_one("#log-search", Input)
            assert search.has_focus and search.has_class("-open")
            assert not app.query_one("#filter", Input).has_class("-open")
            await type_search(pilot, "step 2")
            await until(pilot, lambda: view.has_focus, 5, "focus back on the pane")
            assert view.match_line == 2  # row 0 is the session init
            assert not view.following
            assert highlighted(view, 2, "step 2")
            assert "\u201cstep 2\u201d line 3" in status_row(pane)
            # n / N move between matches and never open a dialog
            await pilot.press("n")
            await pilot.pause()
            assert view.row_text(view.match_line) == "alpha step 20 of the work"
            assert highlighted(view, view.match_line, "step 2")
            assert "\u201cstep 2\u201d line 21" in status_row(pane)
            await pilot.press("N")
            await pilot.pause()
            assert view.match_line == 2
            assert not isinstance(app.screen, NewTaskScreen)
            # paused: the view stays put and counts the rows that arrive
            top = view.top_line
            seen = view.new_lines
            await until(pilot, lambda: view.new_lines >= seen + 5, 20, "new rows counted")
            assert view.top_line == top
            await pilot.pause()
            row = status_row(pane)
            assert row.startswith("PAUSED \u00b7 ") and " new lines \u2014 G/End to follow" in row
            count = int(row.split(" \u00b7 ")[1].split()[0].replace(",", ""))
            assert count >= seen + 5
            # w wraps, in the same status row
            await pilot.press("w")
            await pilot.pause()
            assert view.wrap and status_row(pane).endswith(" \u00b7 wrap")
            # G follows again: the newest row is the last one on screen
            await pilot.press("G")
            await pilot.pause()
            assert view.following and view.new_lines == 0
            assert status_row(pane).startswith("FOLLOWING \u00b7 lines ")
            await until(pilot, lambda: shown_range(pane)[1] == shown_range(pane)[2], 5, "end")
            assert not app.query_one("#filter", Input).has_class("-open")

    asyncio.run(scenario())


# -- live: the mode across a restart, a tab switch and v twice; copy line --------------------

def test_mode_survives_restart_tab_switch_and_v_twice_and_copies_the_rendered_line(env):
    root, config = env
    start(root, config, T1, "NAME=beta")

    async def scenario():
        app = ConductorApp(root, config_path=config)
        async with app.run_test(size=SIZE) as pilot:
            written: list[str] = []
            real_write = app._driver.write
            app._driver.write = lambda data: (written.append(data), real_write(data))[1]
            await settle(pilot)
            await select(pilot, app, NodeRef.of_task(P, T1))
            pane = stdout_pane(app)
            await until(pilot, lambda: "beta step 3 of the work" in screen_text(app), 40,
                        "the first run rendered")
            task = lambda: app.run_tree.task_view(P, T1)  # noqa: E731
            await until(pilot, lambda: task() is not None and task().status == "completed",
                        40, "first run completed")
            # the Info tab open, the task restarted: a new run dir
            app.run_tree.focus()
            await pilot.press("6")
            await pilot.press("r")  # a completed task restarts without a question
            await until(pilot, lambda: len(task().runs) == 2, 40, "a second run")
            newest = lambda: max(task().runs, key=lambda r: r.info.start_time)  # noqa: E731
            await until(pilot, lambda: app.detail.selection.run is not None and
                        app.detail.selection.run.run_id == newest().run_id, 20,
                        "the new run shown")
            await pilot.press("2")
            await until(pilot, lambda: "beta step 3 of the work" in screen_text(app), 40,
                        "the new run rendered")
            assert pane.readable and pane.shown is pane.readable_view
            assert RAW_JSON not in screen_text(app)
            # v with the pane focused: raw, focus on the raw view; v again: readable, not blank
            view = pane.readable_view
            view.focus()
            await pilot.pause()
            await pilot.press("v")
            await until(pilot, lambda: RAW_JSON in screen_text(app), 10, "raw lines")
            assert pane.shown is pane.log_view and app.focused is pane.log_view
            assert status_row(pane).startswith("FOLLOWING \u00b7 lines ")
            await pilot.press("v")
            await until(pilot, lambda: "beta step 3 of the work" in screen_text(app), 10,
                        "readable again")
            assert RAW_JSON not in screen_text(app)
            assert pane.shown is view and app.focused is view
            # v from the tree leaves the focus on the tree
            app.run_tree.focus()
            await pilot.press("v")
            await pilot.pause()
            assert app.focused is app.run_tree and not pane.readable
            await pilot.press("v")
            await pilot.pause()
            assert app.focused is app.run_tree and pane.readable
            # copy line in the readable view: the rendered row, not the JSON
            view.focus()
            await until(pilot, lambda: view.current_line() is not None and
                        view.current_line()[1] == "beta step 3 of the work", 10, "last row")
            await pilot.press("c")
            await until(pilot, lambda: osc52("beta step 3 of the work") in written, 5, "copy")
            assert str(app.query_one("#status-line").render()) == \
                "copied line 4: beta step 3 of the work"

    asyncio.run(scenario())


# -- live: a logs dashboard moving to a new run stays readable ------------------------------

def test_logs_dashboard_follows_a_new_run_without_a_raw_json_flash(env):
    root, config = env
    start(root, config, T1, "NAME=gamma @LONG@")

    async def scenario():
        app = ConductorApp(root, config_path=config, view="logs")
        async with app.run_test(size=(120, 30)) as pilot:
            pane = stdout_pane(app)
            await until(pilot, lambda: "gamma step " in screen_text(app), 40,
                        "first task followed")
            await asyncio.to_thread(start, root, config, T2, "NAME=delta @LONG@")
            screens = []
            deadline = time.monotonic() + 60
            while True:  # every frame until the new run's rows show
                text = screen_text(app)
                screens.append(text)
                assert pane.readable, "the pane left readable mode"
                if "delta step " in text:
                    break
                assert time.monotonic() < deadline, "the dashboard did not move to the new run"
                await pilot.pause(0.05)
            assert not [s for s in screens if RAW_JSON in s], "raw JSON was shown"

    asyncio.run(scenario())


# -- the widget alone: wrap, search notes -------------------------------------------------

class PaneApp(App):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield LogPane(readable=True, id="pane")

    def on_mount(self) -> None:
        self.query_one(LogPane).set_path(self.path, "claude")


def event(text: str) -> str:
    return json.dumps({"type": "assistant",
                       "message": {"content": [{"type": "text", "text": text}]}}) + "\n"


def test_readable_wrap_folds_long_rows_and_search_says_not_found_and_wrapped(tmp_path):
    path = tmp_path / "agent-stdout.txt"
    path.write_text("".join(event(f"row {n} " + "x" * (150 if n == 3 else 0))
                            for n in range(40)))

    async def main():
        app = PaneApp(str(path))
        async with app.run_test(size=(60, 12)) as pilot:
            pane = app.query_one(LogPane)
            view = pane.readable_view
            await until(pilot, lambda: view.row_count == 40, 10, "rows")
            view.focus()
            await pilot.press("g")
            await pilot.pause()
            assert not view.following and status_row(pane).startswith("PAUSED \u00b7 lines 1")
            await pilot.press("w")
            await pilot.pause()
            # row 3 is 156 cells: three screen lines at 58 columns (the scrollbar takes two)
            assert view.scrollable_content_region.width == 58
            lines = [view.render_line(y).text.rstrip() for y in range(7)]
            assert lines[:3] == ["row 0", "row 1", "row 2"]
            assert lines[3].startswith("row 3 xxx") and set(lines[4] + lines[5]) == {"x"}
            assert lines[6] == "row 4"
            await pilot.press("G")
            await pilot.pause()
            assert view.following and "row 39" in screen_text(app)
            await pilot.press("slash")
            await type_search(pilot, "nothing here")
            await pilot.pause()
            assert "\u201cnothing here\u201d not found" in status_row(pane)
            await pilot.press("slash")
            await type_search(pilot, "row 1")
            await pilot.pause()
            assert view.match_line == 1 and "(wrapped)" in status_row(pane)
            assert highlighted(view, 1, "row 1")

    asyncio.run(main())


def test_a_plain_log_pane_has_one_renderer():
    pane = LogPane()
    assert pane.readable_view is None and pane.shown is pane.log_view
    assert isinstance(pane.log_view, LogView) and not pane.readable


# -- snapshot: a paused readable pane with a search highlight --------------------------------

def test_snapshot_paused_readable_pane_with_search_highlight(snap_compare, tmp_path):
    path = tmp_path / "agent-stdout.txt"
    path.write_text(json.dumps({"type": "system", "subtype": "init", "model": "sim-model"})
                    + "\n" + "".join(event(f"step {n} of the work") for n in range(1, 41)))

    async def run_before(pilot):
        app = pilot.app
        pane = app.query_one(LogPane)
        view = pane.readable_view
        await until(pilot, lambda: view.row_count == 41, 10, "rows")
        view.focus()
        await pilot.press("slash")
        await type_search(pilot, "step 1")
        await until(pilot, lambda: view.match_line == 1, 5, "match")
        with open(path, "a") as fh:
            fh.write("".join(event(f"step {n} of the work") for n in range(41, 48)))
        view.refresh_file()
        await until(pilot, lambda: view.new_lines == 7, 10, "7 new rows")
        await settle(pilot)

    assert snap_compare(PaneApp(str(path)), terminal_size=(100, 14), run_before=run_before)


def test_wrapped_rows_stay_right_while_rows_arrive_are_dropped_and_grow(monkeypatch):
    """Wrapped heights are kept incrementally: after appends past the row limit and a row
    extended in place (a streamed piece), the screen is what wrapping the rows afresh gives."""
    from rich.text import Text

    from conductor.console.widgets import readable_log
    monkeypatch.setattr(readable_log, "MAX_ROWS", 12)

    class One(App):
        def compose(self) -> ComposeResult:
            yield ReadableLog(id="r")

    def expected(view: ReadableLog, width: int) -> list[str]:
        lines: list[str] = []
        for n in range(view.row_count):
            text = view.row_text(n)
            lines += [text[i:i + width].rstrip() for i in range(0, max(len(text), 1), width)]
        return lines

    async def main():
        app = One()
        async with app.run_test(size=(30, 8)) as pilot:
            view = app.query_one(ReadableLog)
            view.set_rows([Text(f"r{n} " + "y" * (n * 7 % 40)) for n in range(10)])
            view.set_wrap(True)
            await pilot.pause()
            width = view.scrollable_content_region.width
            for n in range(10, 20):
                view.append_rows([Text(f"r{n} " + "z" * (n * 11 % 50))])
                if n % 3 == 0:
                    view.extend_last_row(Text(" and more" * 4))
                await pilot.pause()
                want = expected(view, width)
                height = view.scrollable_content_region.height
                shown = [view.render_line(y).text.rstrip() for y in range(height)]
                assert shown == want[-height:], n
            assert view.row_count == 12 and view.row_text(0).startswith("r8 ")

    asyncio.run(main())
