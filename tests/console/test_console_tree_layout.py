"""The run tree in 80 columns (issue 12 item 4): slug first, the status word, the agent's
configured name, the date dim; `C` cycles the optional columns, `z` zooms the focused pane,
`[`/`]` resize the tree; the columns and the width are remembered in the state file."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from conductor.console.app import ConductorApp
from conductor.console.widgets.run_tree import (NodeRef, agent_names_by_type, split_task_id)
from conductor.store import Layout

from .fixed_root import BASE_NS, frozen_clock, hold_loop_lock, post, pretend_runs_alive, \
    write_run, write_task
from .live import select, settle, until
from .screen_text import screen_text

P = "webapp"
LONG1 = "task-20260621-000000-migrate-the-billing-service-to-the-new-ledger"
LONG2 = "task-20260621-000100-answer-the-security-questionnaire-for-acme"
LONG3 = "task-20260621-000200-rewrite-the-flaky-integration-tests"
ODD = "hand-made-task"
RUN1 = "20260621-0000100000-101-0001"
RUN2 = "20260621-0001100000-201-0001"
RUN3 = "20260621-0002100000-301-0001"


@pytest.fixture
def tree_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    layout = Layout(root)
    write_task(layout, P, LONG1, "Migrate billing.")
    write_run(layout, P, LONG1, RUN1, status="running", start_s=10, stdout="working\n",
              stdout_mtime_s=3590, agent="claude")
    write_task(layout, P, LONG2, "Answer the questionnaire.")
    write_run(layout, P, LONG2, RUN2, status="running", start_s=70, agent="claude",
              stdout_mtime_s=3500)
    post(layout, P, LONG2, "QUESTION", "which compliance contact should sign?", 1, run=RUN2)
    write_task(layout, P, LONG3, "Fix the tests.", done=True)
    write_run(layout, P, LONG3, RUN3, status="completed", start_s=130, end_s=900, exit_code=0,
              agent="codex", input_tokens=12_000, output_tokens=800)
    write_task(layout, P, ODD, "No standard prefix.")
    pretend_runs_alive(monkeypatch)
    locks = [hold_loop_lock(layout.task_dir(P, t)) for t in (LONG1, LONG2)]
    config = tmp_path / "config.yaml"
    config.write_text("agents:\n  reviewer:\n    type: claude\n"
                      "  helper:\n    type: codex\n  other:\n    type: codex\n")
    yield root, str(config), str(tmp_path / "state.json")
    for lock in locks:
        lock.close()


def make_app(tree_root, **kwargs) -> ConductorApp:
    root, config, state = tree_root
    return ConductorApp(root, config_path=config, clock=frozen_clock, watch=False,
                        root_label="/srv/runs", state_path=state, **kwargs)


def label(app, task: str) -> str:
    return app.run_tree.node_for(NodeRef("task", P, task)).label.plain


async def ready(pilot) -> None:
    await settle(pilot)
    await select(pilot, pilot.app, NodeRef("task", P, LONG1))
    await settle(pilot)


def run(coro) -> None:
    asyncio.run(coro)


def state(tree_root) -> dict:
    with open(tree_root[2]) as fh:
        return json.load(fh)


def test_slug_and_date_of_a_task_id():
    assert split_task_id(LONG1) == ("migrate-the-billing-service-to-the-new-ledger",
                                    "06-21 00:00", BASE_NS)
    assert split_task_id(ODD) == (ODD, "", None)
    assert split_task_id("task-20261399-000000-bad-date") == \
        ("task-20261399-000000-bad-date", "", None)


def test_agent_names_come_from_the_config_when_one_agent_has_the_type():
    class Agent:
        def __init__(self, kind):
            self.type = kind
    names = agent_names_by_type({"reviewer": Agent("claude"), "a": Agent("codex"),
                                 "b": Agent("codex")})
    assert names == {"claude": "reviewer"}  # two codex agents: the type stays


def test_tree_80x24_long_task_names(snap_compare, tree_root):
    assert snap_compare(make_app(tree_root), terminal_size=(80, 24), run_before=ready)


def test_labels_slug_first_status_word_agent_name_date(tree_root):
    async def scenario():
        app = make_app(tree_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            assert label(app, LONG1) == \
                "● migrate-the-billing-service-to-the-new-ledger  running  reviewer  06-21 00:00"
            assert label(app, LONG2) == \
                "? answer-the-security-questionnaire-for-acme  needs you  reviewer  06-21 00:01"
            assert label(app, LONG3) == \
                "✔ rewrite-the-flaky-integration-tests  completed  codex  12.8k tok  06-21 00:02"
            assert label(app, ODD) == "○ hand-made-task  queued"
            # what fits in the 80-column tree: the slug's start and, for a short slug, the word
            lines = screen_text(app).splitlines()
            assert any("● migrate-the-bill" in line for line in lines)
            assert any("○ hand-made-task  queued" in line for line in lines)

    run(scenario())


def test_columns_key_cycles_and_is_remembered(tree_root):
    async def scenario():
        app = make_app(tree_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            await pilot.press("C")  # usual -> all: the age instead of the date
            await until(pilot, lambda: label(app, LONG3) ==
                        "✔ rewrite-the-flaky-integration-tests  completed  codex  12.8k tok  58m00s",
                        5, "age column")
            assert "tree columns: all" in screen_text(app)
            await until(pilot, lambda: state(tree_root).get("tree_columns") == "all", 5, "saved")
            await pilot.press("C")  # all -> bare: no usage, date back
            await until(pilot, lambda: label(app, LONG3) ==
                        "✔ rewrite-the-flaky-integration-tests  completed  codex  06-21 00:02",
                        5, "bare columns")
            await until(pilot, lambda: state(tree_root).get("tree_columns") == "bare", 5, "saved")

        again = make_app(tree_root)
        async with again.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            assert again.run_tree.columns_name == "bare"
            assert label(again, LONG3) == \
                "✔ rewrite-the-flaky-integration-tests  completed  codex  06-21 00:02"

    run(scenario())


def test_zoom_fills_the_screen_with_the_focused_pane_and_back(tree_root):
    async def scenario():
        app = make_app(tree_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            tree = app.run_tree
            assert app.focused is tree and tree.size.width < 50
            await pilot.press("z")
            await until(pilot, lambda: app.screen.maximized is tree and tree.size.width >= 78,
                        5, "tree zoomed")
            assert "migrate-the-billing-service-to-the-new-ledger  running" in screen_text(app)
            await pilot.press("z")
            await until(pilot, lambda: app.screen.maximized is None and tree.size.width < 50,
                        5, "zoom undone")
            await pilot.press("tab")  # the detail tabs: z zooms them, with their tab bar
            await until(pilot, lambda: app.focused is not tree, 5, "detail focused")
            await pilot.press("z")
            await until(pilot, lambda: app.screen.maximized is not None
                        and app.screen.maximized.id == "tabs"
                        and app.screen.maximized.size.width == 80, 5, "detail zoomed")
            assert "1 Output  2 Stdout  3 Stderr  4 Prompt  5 Task  6 Info" in screen_text(app)
            await pilot.press("z")
            await until(pilot, lambda: app.screen.maximized is None, 5, "zoom undone")

    run(scenario())


def test_split_keys_resize_the_tree_and_are_remembered(tree_root):
    async def scenario():
        app = make_app(tree_root)
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            tree = app.run_tree
            assert tree.outer_size.width == 45
            await pilot.press("right_square_bracket", "right_square_bracket")
            await until(pilot, lambda: tree.outer_size.width == 55, 5, "wider tree")
            assert "tree width 55%" in screen_text(app)
            await until(pilot, lambda: state(tree_root).get("tree_width") == 55, 5, "saved")
            for _ in range(20):
                await pilot.press("left_square_bracket")
            await until(pilot, lambda: tree.outer_size.width == 28, 5, "narrowest")  # min-width
            await until(pilot, lambda: state(tree_root).get("tree_width") == 20, 5, "saved")
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: state(tree_root).get("tree_width") == 25, 5, "saved")
            await pilot.press("z")  # a resized tree still zooms to the whole width, and back
            await until(pilot, lambda: tree.outer_size.width == 100, 5, "zoomed")
            await pilot.press("z")
            await until(pilot, lambda: tree.outer_size.width == 28, 5, "back to its width")

        again = make_app(tree_root)
        async with again.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            assert again.run_tree.outer_size.width == 28  # 25% of 100 is under min-width 28

    run(scenario())


def test_remapped_zoom_and_split_keys(tree_root, tmp_path):
    root, config, state_path = tree_root
    with open(config, "a") as fh:
        fh.write("keymap:\n  zoom: f6\n  tree_wider: ctrl+right\n  tree_columns: f7\n")

    async def scenario():
        app = make_app(tree_root)
        async with app.run_test(size=(100, 24)) as pilot:
            await ready(pilot)
            await pilot.press("f6")
            await until(pilot, lambda: app.screen.maximized is app.run_tree, 5, "zoom on f6")
            await pilot.press("f6", "ctrl+right")
            await until(pilot, lambda: app.run_tree.outer_size.width == 50, 5, "wider")
            await pilot.press("f7")
            await until(pilot, lambda: app.run_tree.columns_name == "all", 5, "columns on f7")

    run(scenario())


def test_the_filter_finds_the_agent_name_shown(tree_root):
    async def scenario():
        app = make_app(tree_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot)
            app.run_tree.set_filter("reviewer")
            await settle(pilot)
            shown = {t for t in (LONG1, LONG2, LONG3, ODD)
                     if app.run_tree.node_for(NodeRef("task", P, t)) is not None}
            assert shown == {LONG1, LONG2}

    run(scenario())
