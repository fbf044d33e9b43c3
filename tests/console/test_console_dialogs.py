"""Pilot tests of the dialogs: the prompt typed is the prompt used, unknown dependencies are
refused unless confirmed, and a QUESTION in the feed opens a reply dialog that shows it."""

from __future__ import annotations

import asyncio
import os

import pytest
from textual import events

from conductor import orchestrator
from conductor.console.app import ConductorApp
from conductor.bus import MessageBus
from conductor.console.screens import MessageScreen, NewTaskScreen, PostMessageScreen
from conductor.console.widgets.run_tree import NodeRef
from conductor.errors import UsageError
from conductor.store import Layout

from .live import select, settle, until
from .test_console_live import env  # noqa: F401 - a temporary root and an agent config

SIZE = (160, 45)


def burst(app, keys: list[tuple[str, str | None]]) -> None:
    """Key events sent as one burst, as a fast typist or a loaded machine delivers them:
    nothing waits for a key to be handled before the next one arrives."""
    for key, char in keys:
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


def typed(text: str) -> list[tuple[str, str | None]]:
    return [("space" if ch == " " else ch, ch) for ch in text]


CTRL_S = [("ctrl+s", "\x13")]


async def open_new_task(pilot, app) -> NewTaskScreen:
    await settle(pilot)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 10, "dialog")
    await pilot.pause()
    return app.screen


def long_prompt() -> str:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    return " ".join(f"{words[i % len(words)]}{i}" for i in range(120))


def only_task_md(root: str, project: str) -> str:
    project_dir = os.path.join(root, project)
    (task,) = [t for t in os.listdir(project_dir) if t.startswith("task-")]
    with open(os.path.join(project_dir, task, "TASK.md")) as fh:
        return fh.read()


def test_a_long_prompt_typed_fast_is_the_prompt_in_task_md(env):  # noqa: F811
    root, config = env
    prompt = long_prompt()

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_new_task(pilot, app)
            dialog.query_one("#new-project").value = "fast"
            dialog.query_one("#new-prompt").focus()
            await pilot.pause()
            burst(app, typed(prompt) + CTRL_S)
            await until(pilot, lambda: app.screen is not dialog, 30, "dialog closed")
            assert only_task_md(root, "fast") == prompt + "\n"

    asyncio.run(scenario())


def test_a_prompt_typed_right_after_n_keeps_its_beginning(env):  # noqa: F811
    """n, the prompt and ctrl+s in one burst: the first keys arrive before the dialog is up
    (they were lost, or the prompt lost its beginning) and ctrl+s before the last ones are in
    the field (the prompt lost its end)."""
    root, config = env
    prompt = long_prompt()

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False, project="fast")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            burst(app, [("n", "n")] + typed(prompt) + CTRL_S)
            await until(pilot, lambda: os.path.isdir(os.path.join(root, "fast")), 30, "task")
            await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), 30, "closed")
            assert only_task_md(root, "fast") == prompt + "\n"

    asyncio.run(scenario())


def test_an_unknown_dependency_is_refused_until_confirmed(env):  # noqa: F811
    root, config = env

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_new_task(pilot, app)
            dialog.query_one("#new-project").value = "deps"
            task_id = dialog.query_one("#new-task").value
            dialog.query_one("#new-prompt").text = "wait for the other one"
            dialog.query_one("#new-deps").value = "task-20260101-000000-nope"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "no task" in dialog.error_text, 10, "refusal")
            assert dialog.error_text == (
                "depends on: no task task-20260101-000000-nope in project deps - ctrl+s again "
                "creates it anyway (it waits until that task exists)")
            assert app.screen is dialog
            assert os.listdir(root) == []
            await pilot.press("ctrl+s")  # the explicit confirmation
            await until(pilot, lambda: app.screen is not dialog, 30, "dialog closed")
            task_dir = Layout(root).task_dir("deps", task_id)
            assert os.path.exists(os.path.join(task_dir, "TASK.md"))

    asyncio.run(scenario())


def test_changing_the_dependencies_asks_again(env):  # noqa: F811
    root, config = env

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_new_task(pilot, app)
            dialog.query_one("#new-project").value = "deps"
            dialog.query_one("#new-prompt").text = "wait"
            dialog.query_one("#new-deps").value = "task-20260101-000000-nope"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "no task" in dialog.error_text, 10, "refusal")
            dialog.query_one("#new-deps").value = "task-20260101-000000-other"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "000000-other" in dialog.error_text, 10, "refused again")
            await settle(pilot)
            assert app.screen is dialog and os.listdir(root) == []

    asyncio.run(scenario())


def test_orchestrator_new_task_refuses_unknown_dependencies_unless_told(tmp_path):
    root = str(tmp_path)
    orchestrator.new_task(root, "p", "task-20260101-000000-first", "first")
    with pytest.raises(UsageError, match="^depends on: no task task-20260101-000000-gone "
                                         "in project p$"):
        orchestrator.new_task(root, "p", "task-20260101-000000-second", "second",
                              depends_on=["task-20260101-000000-gone"])
    assert not os.path.exists(Layout(root).task_dir("p", "task-20260101-000000-second"))
    orchestrator.new_task(root, "p", "task-20260101-000000-second", "second",
                          depends_on=["task-20260101-000000-first"])
    orchestrator.new_task(root, "p", "task-20260101-000000-third", "third",
                          depends_on=["task-20260101-000000-gone"], unknown_deps_ok=True)
    with open(os.path.join(Layout(root).task_dir("p", "task-20260101-000000-third"),
                           "TASK-CONFIG.yaml")) as fh:
        assert "task-20260101-000000-gone" in fh.read()


ASKER = "task-20260101-000000-asker"
QUESTION = "Which database should I use?\nPostgres or \x1b[31mSQLite\x1b[0m?"


def asking_root(root: str) -> None:
    orchestrator.new_task(root, "proj", ASKER, "ask something")
    orchestrator.post_message(root, "proj", ASKER, "PROGRESS", "looking around")
    orchestrator.post_message(root, "proj", ASKER, "QUESTION", QUESTION)


async def question_chosen(pilot, app) -> None:
    await select(pilot, app, NodeRef("task", "proj", ASKER))
    await until(pilot, lambda: any(m.type == "QUESTION" for m in app.feed.shown), 20, "question")
    app.feed.list.focus()
    app.feed.list.move_cursor(len(app.feed.shown) - 1)
    await pilot.pause()
    await pilot.press("enter")


def test_enter_on_a_question_opens_the_reply_dialog_showing_it(env):  # noqa: F811
    root, config = env
    asking_root(root)

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await question_chosen(pilot, app)
            await until(pilot, lambda: isinstance(app.screen, PostMessageScreen), 10, "dialog")
            dialog = app.screen
            shown = str(dialog.query_one("#post-question-body").render())
            assert shown == "Which database should I use?\nPostgres or ␛[31mSQLite␛[0m?"
            await pilot.press(*"use postgres")
            await pilot.press("ctrl+s")
            bus = Layout(root).task_bus("proj", ASKER)
            await until(pilot, lambda: any(m.type == "USER" and m.body == "use postgres"
                                           for m in MessageBus(bus).read_all()), 20, "answer")

    asyncio.run(scenario())


def test_enter_on_another_message_still_opens_it(env):  # noqa: F811
    root, config = env
    asking_root(root)

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, NodeRef("task", "proj", ASKER))
            await until(pilot, lambda: len(app.feed.shown) >= 2, 20, "messages")
            app.feed.list.focus()
            index = next(i for i, m in enumerate(app.feed.shown) if m.type == "PROGRESS")
            app.feed.list.move_cursor(index)
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, MessageScreen), 10, "message")

    asyncio.run(scenario())


def test_read_only_enter_on_a_question_only_shows_it(env):  # noqa: F811
    root, config = env
    asking_root(root)

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False, read_only=True)
        async with app.run_test(size=SIZE) as pilot:
            await question_chosen(pilot, app)
            await until(pilot, lambda: isinstance(app.screen, MessageScreen), 10, "message")

    asyncio.run(scenario())


def test_an_answer_typed_right_after_m_is_posted_whole(env):  # noqa: F811
    root, config = env
    asking_root(root)
    answer = long_prompt()

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await select(pilot, app, NodeRef("task", "proj", ASKER))
            await settle(pilot)
            burst(app, [("m", "m")] + typed(answer) + CTRL_S)
            bus = Layout(root).task_bus("proj", ASKER)
            await until(pilot, lambda: any(m.type == "USER" for m in MessageBus(bus).read_all()),
                        30, "posted")
            assert [m.body for m in MessageBus(bus).read_all() if m.type == "USER"] == [answer]

    asyncio.run(scenario())


def test_a_prompt_that_is_a_file_path_is_questioned(env, tmp_path):  # noqa: F811
    """A file dropped into the prompt box (its path pasted) instead of the file field would
    start the task with the path as its prompt: the dialog says so; ctrl+s again means it."""
    root, config = env
    spec = tmp_path / "spec.md"
    spec.write_text("Build the thing.\n")

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_new_task(pilot, app)
            dialog.query_one("#new-project").value = "paths"
            dialog.query_one("#new-prompt").text = str(spec)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "is a file" in dialog.error_text, 10, "question")
            assert dialog.error_text == (
                f"prompt: {spec} is a file: put it under 'or file' to use what it holds - "
                "ctrl+s again uses the path itself as the prompt")
            assert os.listdir(root) == []
            dialog.query_one("#new-prompt").text = ""
            dialog.query_one("#new-prompt-file").value = str(spec)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is not dialog, 30, "dialog closed")
            assert only_task_md(root, "paths") == "Build the thing.\n"

    asyncio.run(scenario())


def test_a_path_prompt_confirmed_is_used_as_typed(env, tmp_path):  # noqa: F811
    root, config = env
    spec = tmp_path / "spec.md"
    spec.write_text("Build the thing.\n")

    async def scenario():
        app = ConductorApp(root, config_path=config, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_new_task(pilot, app)
            dialog.query_one("#new-project").value = "paths"
            dialog.query_one("#new-prompt").text = str(spec)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "is a file" in dialog.error_text, 10, "question")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: app.screen is not dialog, 30, "dialog closed")
            assert only_task_md(root, "paths") == f"{spec}\n"

    asyncio.run(scenario())
