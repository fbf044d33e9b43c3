"""The tree's peek column (issue 12 Deliver 4): the last line the agent said in a task's newest
run, shown last on the task's row when the `C` cycle reaches a set with it, read off the event
loop by a bounded tail of the run's stdout through the readable renderer, remembered by the
file's size and mtime."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from conductor.console.app import ConductorApp
from conductor.console.status import PEEK_TAIL, PeekReader, last_assistant_line
from conductor.console.widgets.run_tree import COLUMN_SETS, NodeRef
from conductor.store import Layout

from .fixed_root import frozen_clock, write_run, write_task
from .live import settle, until
from .screen_text import screen_text

P = "webapp"
T1 = "task-20260621-000000-fix-login"
T2 = "task-20260621-000100-plain-script"
R1 = "20260621-0000100000-101-0001"
R1B = "20260621-0000500000-102-0001"
R2 = "20260621-0001100000-201-0001"


def claude_text(text: str) -> str:
    return json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "text", "text": text}]}}) + "\n"


def claude_tool(command: str) -> str:
    return json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": command}}]}}) + "\n"


CLAUDE_STREAM = (
    json.dumps({"type": "system", "subtype": "init", "model": "claude-x", "tools": ["Bash"]})
    + "\n" + claude_text("Looking at the login form.") + claude_tool("pytest -q")
    + claude_text("The session cookie expires too early.\nFixing it now.")
    + claude_tool("git diff"))


def test_the_last_text_row_of_a_json_stream_is_the_peek():
    assert last_assistant_line("claude", CLAUDE_STREAM.encode()) == "Fixing it now."
    # a plain program's stdout: its last non-empty line
    assert last_assistant_line("command", b"step 1\nstep 2\n\n") == "step 2"
    # gemini streams a reply in pieces: the pieces make one line
    gemini = "".join(json.dumps({"type": "message", "role": "assistant", "content": part,
                                 "delta": True}) + "\n" for part in ("All tests ", "pass now."))
    assert last_assistant_line("gemini", gemini.encode()) == "All tests pass now."
    assert last_assistant_line("claude", claude_tool("ls").encode()) == ""
    assert last_assistant_line("claude", b"") == ""


def _run(path: str, agent: str = "claude"):
    from conductor.store.taskview import RunView
    from conductor.store import RunInfo
    return RunView("r", path, RunInfo(run_id="r", agent=agent), "running")


def test_the_reader_reads_a_bounded_tail_and_remembers_an_unchanged_file(tmp_path):
    layout = Layout(str(tmp_path / "runs"))
    write_task(layout, P, T1, "Fix login.")
    run_dir = write_run(layout, P, T1, R1, status="running", start_s=10,
                        stdout="x" * (3 * PEEK_TAIL) + "\n" + CLAUDE_STREAM)
    reader = PeekReader()
    assert reader.peek(_run(run_dir)) == "Fixing it now."
    stdout = os.path.join(run_dir, "agent-stdout.txt")
    st = os.stat(stdout)
    # a line half written is not read until it is whole
    with open(stdout, "a") as fh:
        fh.write(claude_text("Done: the cookie lives a day.")[:-20])
    assert reader.peek(_run(run_dir)) == "Fixing it now."
    with open(stdout, "a") as fh:
        fh.write(claude_text("Done: the cookie lives a day.")[-20:])
    assert reader.peek(_run(run_dir)) == "Done: the cookie lives a day."
    # same size and mtime: remembered, not read again (the bytes below are never seen)
    st = os.stat(stdout)
    with open(stdout, "r+b") as fh:
        fh.seek(st.st_size - len(claude_text("Done: the cookie lives a day.")))
        fh.write(claude_text("Gone: the cookie lives a day.").encode())
    os.utime(stdout, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert reader.peek(_run(run_dir)) == "Done: the cookie lives a day."


def test_no_peek_from_a_fifo_a_link_or_a_missing_stdout(tmp_path):
    layout = Layout(str(tmp_path / "runs"))
    write_task(layout, P, T1, "Fix login.")
    run_dir = write_run(layout, P, T1, R1, status="running", start_s=10, stdout="hi\n")
    stdout = os.path.join(run_dir, "agent-stdout.txt")
    reader = PeekReader()
    os.remove(stdout)
    assert reader.peek(_run(run_dir)) == ""
    os.mkfifo(stdout)  # never opened for reading: that would block on a FIFO
    assert reader.peek(_run(run_dir)) == ""
    os.remove(stdout)
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    os.symlink(secret, stdout)
    assert reader.peek(_run(run_dir, agent="command")) == ""


def test_a_peek_with_control_characters_is_drawn_harmless(tmp_path):
    layout = Layout(str(tmp_path / "runs"))
    write_task(layout, P, T1, "Fix login.")
    run_dir = write_run(layout, P, T1, R1, status="running", start_s=10,
                        stdout=claude_text("\x1b[2Jwiped?"))
    assert PeekReader().peek(_run(run_dir)) == "\u241b[2Jwiped?"


@pytest.fixture
def peek_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    layout = Layout(root)
    write_task(layout, P, T1, "Fix login.", done=True)
    write_run(layout, P, T1, R1, status="completed", start_s=10, end_s=30, exit_code=0,
              stdout=claude_text("An old attempt."))
    write_run(layout, P, T1, R1B, status="completed", start_s=50, end_s=90, exit_code=0,
              previous=R1, stdout=CLAUDE_STREAM)
    write_task(layout, P, T2, "Run the script.", done=True)
    write_run(layout, P, T2, R2, status="completed", start_s=70, end_s=80, exit_code=0,
              agent="command", stdout="compiling\nall 12 checks passed\n")
    state = tmp_path / "state.json"
    yield root, str(state), layout


def make_app(peek_root) -> ConductorApp:
    root, state, _layout = peek_root
    return ConductorApp(root, clock=frozen_clock, watch=True, poll=True, root_label="/srv/runs",
                        state_path=state)


def label(app, task: str) -> str:
    node = app.run_tree.node_for(NodeRef("task", P, task))
    return node.label.plain if node is not None else ""


def test_the_columns_key_reaches_the_peek_and_it_follows_the_newest_run(peek_root):
    assert "peek" in COLUMN_SETS["all"] and "peek" not in COLUMN_SETS["usual"]
    layout = peek_root[2]

    async def scenario():
        app = make_app(peek_root)
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: label(app, T1), 15, "the task row")
            assert "›" not in label(app, T1)  # the usual columns: no peek
            await pilot.press("C")  # usual -> all
            await until(pilot, lambda: label(app, T1).endswith("  › Fixing it now."), 15,
                        "the newest run's last line")
            await until(pilot, lambda: label(app, T2).endswith("  › all 12 checks passed"), 15,
                        "a plain program's last line")
            assert "› Fixing it now." in screen_text(app)
            # the agent says more: the row follows (a file event, or the heartbeat's tick)
            with open(os.path.join(layout.runs_dir(P, T1), R1B, "agent-stdout.txt"), "a") as fh:
                fh.write(claude_text("Pushed the fix."))
            await until(pilot, lambda: label(app, T1).endswith("  › Pushed the fix."), 20,
                        "the new line")
            await settle(pilot)

        again = make_app(peek_root)  # remembered: the peek shows at once
        async with again.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: label(again, T1).endswith("  › Pushed the fix."), 15,
                        "the remembered peek")
            await pilot.press("C")  # all -> bare: the peek goes
            await until(pilot, lambda: label(again, T1) and "›" not in label(again, T1), 5,
                        "no peek")

    asyncio.run(scenario())


def test_without_the_peek_column_no_stdout_is_read_for_it(peek_root, monkeypatch):
    calls = []
    real = PeekReader.peek

    def counting(self, run):
        calls.append(run.run_id)
        return real(self, run)
    monkeypatch.setattr(PeekReader, "peek", counting)

    async def scenario():
        app = make_app(peek_root)
        async with app.run_test(size=(160, 30)) as pilot:
            await until(pilot, lambda: label(app, T1), 15, "the task row")
            app.run_tree.refresh_heartbeats()  # the tick that re-reads peeks when shown
            await settle(pilot)
            assert calls == []
            await pilot.press("C")
            await until(pilot, lambda: "›" in label(app, T1), 15, "the peek")
            assert set(calls) == {R1B, R2}  # each task's newest run only
    asyncio.run(scenario())


def test_peek_column_snapshot(snap_compare, peek_root):
    """Two tasks with the `all` columns, the tree zoomed: each row ends with its newest run's
    last line."""
    root, state, _layout = peek_root
    with open(state, "w") as fh:
        json.dump({"tree_columns": "all"}, fh)
    app = ConductorApp(root, clock=frozen_clock, watch=False, root_label="/srv/runs",
                       state_path=state)

    async def peeks_in(pilot) -> None:
        await until(pilot, lambda: label(app, T1).endswith("› Fixing it now.")
                    and label(app, T2).endswith("› all 12 checks passed"), 15, "the peeks")
        await pilot.press("z")  # the tree zoomed: whole rows
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 24), run_before=peeks_in)
