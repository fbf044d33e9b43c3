"""The console's own words: the header counts every state a task is in, in the store's
vocabulary; counts read right in the singular; the quit message names a program that runs."""

from __future__ import annotations

import os
import stat

from conductor.console.widgets.header import StatusHeader
from conductor.words import count, plural, program

from .live import settle, until
from .screen_text import screen_text
from .test_console_fixed import SIZE, app_for, fixed, run  # noqa: F401 (fixed: a fixture)


def test_the_header_counts_every_state_present_in_the_vocabulary(fixed):  # noqa: F811
    root, tmp = fixed

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            first = screen_text(app).splitlines()[0].strip()
            assert first.startswith("conductor  ● 1 running  ? 1 needs you  ◷ 1 waiting  "
                                    "■ 1 stopped  ✔ 1 completed  ⚠ 1 loop dead   watch: ")

    run(scenario())


def test_a_header_with_no_tasks_says_so(tmp_path):
    from textual.app import App

    class HeaderOnly(App):
        def compose(self):
            yield StatusHeader("/r", id="header")

    async def scenario():
        app = HeaderOnly()
        async with app.run_test(size=(100, 3)) as pilot:
            header = app.query_one(StatusHeader)
            header.set_counts({})
            await pilot.pause()
            assert screen_text(app).splitlines()[0].strip() == \
                "conductor  no tasks   watch: starting   /r"
            header.set_counts({"queued": 2, "stuck": 1, "cancelled": 3})
            await pilot.pause()
            assert screen_text(app).splitlines()[0].strip() == \
                "conductor  ○ 2 queued  ⊗ 1 stuck  ⊘ 3 cancelled   watch: starting   /r"

    run(scenario())


def test_a_narrow_header_counts_in_the_short_form():
    from textual.app import App

    class HeaderOnly(App):
        def compose(self):
            yield StatusHeader("/a/long/runs/root", id="header")

    async def scenario():
        app = HeaderOnly()
        async with app.run_test(size=(60, 3)) as pilot:
            header = app.query_one(StatusHeader)
            header.set_counts({"running": 2, "needs-you": 1, "stopped": 1, "completed": 5})
            await pilot.pause()
            assert screen_text(app).splitlines()[0].strip() == \
                "conductor  ●2 ?1 ■1 ✔5   watch: starting   /a/long/runs/root"
            await pilot.resize_terminal(120, 3)
            await pilot.pause()
            assert screen_text(app).splitlines()[0].strip() == \
                ("conductor  ● 2 running  ? 1 needs you  ■ 1 stopped  ✔ 5 completed"
                 "   watch: starting   /a/long/runs/root")

    run(scenario())


def test_plurals():
    assert [count(n, "message") for n in (0, 1, 2)] == ["0 messages", "1 message", "2 messages"]
    assert plural(1, "is", "are") == "is" and plural(3, "is", "are") == "are"


def test_program_is_the_name_on_path_or_else_the_absolute_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    exe = bin_dir / "conductor"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    # not on PATH (the README's install): the absolute path, which runs from anywhere
    assert program(argv0=str(exe)) == str(exe)
    monkeypatch.chdir(bin_dir)
    assert program(argv0="./conductor") == str(exe)
    # on PATH and the same program: its name
    monkeypatch.setenv("PATH", str(bin_dir))
    assert program(argv0=str(exe)) == "conductor"
    # run-agent's sibling
    assert program(argv0=os.path.join(str(bin_dir), "run-agent")) == "conductor"


def test_the_quit_message_names_a_command_that_works(fixed, monkeypatch):  # noqa: F811
    root, tmp = fixed
    exe = tmp / "venv-bin" / "conductor"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr("sys.argv", [str(exe)])
    monkeypatch.setenv("PATH", str(tmp / "nothing-here"))

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("q")
            await until(pilot, lambda: app.quit_message != "", 10, "quit")
        return app.quit_message

    message = run_value(scenario())
    assert message == ("conductor: 1 task is still running; it keeps running without the "
                       f"console; reopen with: {exe}")


def run_value(coro):
    import asyncio
    return asyncio.run(coro)


def test_the_filter_takes_upstreams_words_for_the_operators_states(fixed):  # noqa: F811
    root, tmp = fixed
    from .fixed_root import T1, T2, T3, T4

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            seen = {}
            for word in ("done", "blocked", "waiting", "stopped"):
                app._apply_filter(word)
                await pilot.pause()
                tree = screen_text(app)
                seen[word] = [t for t in (T1, T2, T3, T4) if t in tree]
            return seen

    seen = run_value(scenario())
    assert seen == {"done": [T2], "blocked": [T4], "waiting": [T4], "stopped": [T3]}


def test_program_started_as_python_dash_m_is_named_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no conductor on PATH
    assert program(argv0=str(tmp_path / "conductor" / "__main__.py")) == "python -m conductor"
