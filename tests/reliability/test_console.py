"""The console under faults and bad input: it shows the truth after a "reboot", it keeps
working on damaged files, terminal escapes written by agents never reach the terminal, and
tokens never appear on its screen.

The console runs in-process (Textual's Pilot) against real supervisors and stub agents; the
process check of ``rig`` fails a test that leaves anything running. The console killed
mid-action is driven in tmux (``test_console_kill.py``); the console as a bus reader under load
and rotation is in ``test_load.py`` and ``test_faults.py``.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from conductor import orchestrator
from conductor.bus import Message, MessageBus
from conductor.console.app import ConductorApp
from conductor.console.widgets.run_tree import NodeRef
from conductor.store.supervision import loop_alive
from conductor.store import RunInfo, dump_run_info, read_run_info

from console.live import select, settle, until
from console.screen_text import screen_text
from .conftest import PROJECT, TASK, wait_for
from .test_bad_input import GOOD

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

SIZE = (160, 45)
ESCAPES = ("\x1b", "\x07", "\x00", "\x9b", "\x9d", "\r")


def console(root: str, tmp_path, **kwargs) -> ConductorApp:
    return ConductorApp(root, state_path=str(tmp_path / "state.json"), **kwargs)


def run(coro) -> None:
    asyncio.run(coro)


def claude_config(path, token: str | None = None) -> str:
    text = "agents:\n  claude:\n    type: claude\n"
    if token:
        text += f"    token: {token}\n"
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def use_env(monkeypatch, env: dict) -> None:
    """The console starts supervisors with its own environment: give it the rig's (stub CLIs
    on PATH, the process tag)."""
    for key in [k for k in os.environ if k.startswith(("JRUN_", "CONDUCTOR_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _agent_running(rig, task=TASK):
    for path, info in rig.run_infos(task):
        if info.status == "running" and info.commandline and os.path.exists(info.stdout_path) \
                and os.path.getsize(info.stdout_path) > 0:
            return path, info
    return None


# ----------------------------------------------------------------------------- "reboot"

def test_console_after_a_reboot_shows_failed_and_s_starts_the_task_again(rig, monkeypatch,
                                                                         tmp_path):
    loop = rig.spawn("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", "--max-restarts", "3",
                     "--prompt", "STUB: first tick 0.2 300\nSTUB: post FACT second attempt\n"
                                 "STUB: done")
    path, _ = wait_for(lambda: _agent_running(rig), what="agent start")
    for proc in rig.live():  # power off: everything of the task dies, nobody cleans up
        proc.kill()
    loop.wait(timeout=10)
    wait_for(lambda: not rig.live(), timeout=10, what="all processes gone")
    assert read_run_info(path).status == "running"  # what the disk still claims

    config = claude_config(tmp_path / "config.yaml")
    use_env(monkeypatch, rig.env)

    async def scenario():
        app = console(rig.root, tmp_path, config_path=config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded, 20, "first scan")
            task = app.run_tree.task_view(PROJECT, TASK)
            # the first screen already tells the truth: nothing runs, the run failed
            assert (task.status, task.loop_alive) == ("failed", False)
            assert [r.status for r in task.runs] == ["failed"]
            assert app.header.counts.get("running", 0) == 0
            await select(pilot, app, NodeRef("run", PROJECT, TASK, task.runs[0].run_id))
            await pilot.press("6")
            await until(pilot, lambda: "process is not alive" in screen_text(app), 10, "info")
            assert "● running" not in screen_text(app)

            await select(pilot, app, NodeRef("task", PROJECT, TASK))
            await pilot.press("s")
            await until(pilot, lambda: "start:" in app.query_one("#status-line").render().plain,
                        20, "start reported")
            await until(pilot, lambda: os.path.exists(os.path.join(rig.task_dir(), "DONE")),
                        60, "DONE")
            await until(pilot, lambda: app.run_tree.task_view(PROJECT, TASK).status == "completed",
                        30, "completed on screen")
            assert [r.status for r in app.run_tree.task_view(PROJECT, TASK).runs] == \
                ["failed", "completed"]
            assert app.last_error == ""

    run(scenario())
    wait_for(lambda: not loop_alive(rig.task_dir()), timeout=30, what="loop ended")
    assert read_run_info(path).status == "failed"  # healed on disk by the new supervisor
    bodies = [m.body for m in MessageBus(os.path.join(rig.task_dir(), "TASK-MESSAGE-BUS.md"))
              .read_all()]
    assert "second attempt" in bodies


# ----------------------------------------------------------------------------- bad input

HOSTILE = (b"plain line\n"
           b"bad \xff\xfe utf-8\n"
           b"nul \x00 in the middle\n"
           b"\x1b[2J\x1b[H cleared the screen?\n"
           b"\x1b]0;pwned title\x07 set the title?\n"
           b"\x1b[31mred\x1b[0m and \xc2\x9b2J (8-bit CSI)\n"
           b"carriage\rreturn and bell\x07\n"
           b"last hostile line\n")

CLAUDE_HOSTILE = "\n".join(json.dumps(e) for e in [
    {"type": "system", "subtype": "init", "session_id": "s1", "model": "m"},
    {"type": "assistant", "message": {"content": [
        {"type": "text", "text": "assistant says \x1b]0;pwned\x07 and \x1b[2J hi"}]}},
    {"type": "result", "subtype": "success", "result": "done \x1b[H", "is_error": False},
]) + "\n"

DAMAGED = {  # run id -> run-info text
    "20260220-1530460000-100-0002": "",
    "20260220-1530470000-100-0003": GOOD[:GOOD.index("start_time") + 25],
    "20260220-1530480000-100-0004": "{{{ : [",
    "20260220-1530490000-100-0005": GOOD.replace("pid: 123", "pid: abc"),
    "20260220-1530500000-100-0006": GOOD.replace("version: 1", "version: 2"),
}
HOSTILE_RUN = "20260220-1530450000-100-0001"
CLAUDE_RUN = "20260220-1530510000-100-0007"
LONG_LINE_RUN = "20260220-1530520000-100-0008"
BAD_BUS_TASK = "task-20260220-153046-badbus"
LINK_TASK = "task-20260220-153047-linked"


def _run_dir(root, task, run_id) -> str:
    path = os.path.join(root, PROJECT, task, "runs", run_id)
    os.makedirs(path)
    return path


def _good_run(root, task, run_id, agent="claude", start=0) -> str:
    run_dir = _run_dir(root, task, run_id)
    info = RunInfo(version=1, run_id=run_id, project_id=PROJECT, task_id=task, agent=agent,
                   pid=123, pgid=123, start_time=1771601445123456789 + start * 10**9,
                   end_time=1771601500 * 10**9 + start * 10**9, exit_code=0,
                   status="completed", commandline="claude -p < prompt.md",
                   stdout_path=os.path.join(run_dir, "agent-stdout.txt"),
                   stderr_path=os.path.join(run_dir, "agent-stderr.txt"),
                   prompt_path=os.path.join(run_dir, "prompt.md"),
                   output_path=os.path.join(run_dir, "output.md"))
    with open(os.path.join(run_dir, "run-info.yaml"), "w") as f:
        f.write(dump_run_info(info))
    return run_dir


def _hostile_root(root: str, outside) -> None:
    task_dir = os.path.join(root, PROJECT, TASK)
    os.makedirs(task_dir)
    with open(os.path.join(task_dir, "TASK.md"), "wb") as f:
        f.write(b"# Task \x1b]0;pwned\x07\n\x1b[2J do it\n")
    run_dir = _good_run(root, TASK, HOSTILE_RUN, agent="command")
    for name in ("agent-stdout.txt", "agent-stderr.txt", "prompt.md", "output.md"):
        with open(os.path.join(run_dir, name), "wb") as f:
            f.write(HOSTILE)
    for run_id, text in DAMAGED.items():
        with open(os.path.join(_run_dir(root, TASK, run_id), "run-info.yaml"), "w") as f:
            f.write(text)
    claude = _good_run(root, TASK, CLAUDE_RUN, start=6)
    with open(os.path.join(claude, "agent-stdout.txt"), "w") as f:
        f.write(CLAUDE_HOSTILE)
    long_dir = _good_run(root, TASK, LONG_LINE_RUN, agent="command", start=7)
    with open(os.path.join(long_dir, "agent-stdout.txt"), "wb") as f:
        for _ in range(100):
            f.write(b"y" * 1_000_000)  # one 100 MB line
        f.write(b"\nafter the long line\n")

    bus_dir = os.path.join(root, PROJECT, BAD_BUS_TASK)
    os.makedirs(bus_dir)
    with open(os.path.join(bus_dir, "TASK.md"), "w") as f:
        f.write("a task with a damaged bus\n")
    import random
    garbage = random.Random(7).randbytes(200_000).replace(b"\n---", b"\n-x-") \
        .replace(b"---\n", b"-x-\n")
    hostile_body = "escape \x1b]0;pwned\x07 \x1b[2J and bell\x07\nsecond line"
    good = MessageBus(os.path.join(bus_dir, "scratch.md"))
    good.append(Message(type="FACT", project_id=PROJECT, task_id=BAD_BUS_TASK,
                        body=hostile_body))
    good.append(Message(type="QUESTION", project_id=PROJECT, task_id=BAD_BUS_TASK,
                        body="after the damage"))
    with open(good.path, "rb") as f:
        entries = f.read()
    os.remove(good.path)
    with open(os.path.join(bus_dir, "TASK-MESSAGE-BUS.md"), "wb") as f:
        f.write(garbage + b"\n\xff\xfe invalid utf-8\n" + b"z" * 50_000_000 + b"\n" + entries)

    link_dir = os.path.join(root, PROJECT, LINK_TASK)
    os.makedirs(link_dir)
    with open(os.path.join(link_dir, "TASK.md"), "w") as f:
        f.write("a task whose bus is a symlink\n")
    outside.write_text("precious\n")
    os.symlink(str(outside), os.path.join(link_dir, "TASK-MESSAGE-BUS.md"))


def _no_escapes(text: str) -> None:
    bad = [c for c in ESCAPES if c in text]
    assert not bad, f"control characters reached the screen: {bad!r}"


def test_damaged_and_hostile_files_are_shown_safely_and_the_console_keeps_working(tmp_path):
    root = str(tmp_path / "runs")
    outside = tmp_path / "outside.txt"
    _hostile_root(root, outside)
    screens: list[str] = []

    async def scenario():
        app = console(root, tmp_path, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded, 20, "first scan")
            task = app.run_tree.task_view(PROJECT, TASK)
            by_id = {r.run_id: r for r in task.runs}
            for run_id in DAMAGED:
                assert by_id[run_id].status == "unknown" and by_id[run_id].error
            # each damaged record: one line naming the file (and field, where there is one)
            run_info = os.path.join(root, PROJECT, TASK, "runs", "%s", "run-info.yaml")
            assert by_id["20260220-1530460000-100-0002"].error == \
                run_info % "20260220-1530460000-100-0002" + ": empty file"
            assert by_id["20260220-1530490000-100-0005"].error == \
                run_info % "20260220-1530490000-100-0005" + \
                ": pid: line 6: expected an integer, got 'abc'"
            assert by_id["20260220-1530500000-100-0006"].error.endswith(
                ": version: unsupported version 2 (this tool reads version 1)")

            for run_id in DAMAGED:
                await select(pilot, app, NodeRef("run", PROJECT, TASK, run_id))
                await pilot.press("6")
                await settle(pilot)
                text = screen_text(app)
                screens.append(text)
                assert "run-info problem" in text and "run-info.yaml" in text, text

            await select(pilot, app, NodeRef("run", PROJECT, TASK, HOSTILE_RUN))
            for tab in "123456":
                await pilot.press(tab)
                await settle(pilot)
                screens.append(screen_text(app))
            await pilot.press("2")
            await until(pilot, lambda: "last hostile line" in screen_text(app), 10, "stdout")
            text = screen_text(app)
            # escapes are drawn as visible symbols, never sent to the terminal
            assert "␛[2J␛[H cleared the screen?" in text
            assert "␛]0;pwned title␇ set the title?" in text
            assert "nul ␀ in the middle" in text
            assert "bad �� utf-8" in text

            await select(pilot, app, NodeRef("run", PROJECT, TASK, CLAUDE_RUN))
            await pilot.press("2")
            await until(pilot, lambda: "assistant says" in screen_text(app), 10, "readable")
            screens.append(screen_text(app))
            assert "␛]0;pwned␇" in screen_text(app)

            await select(pilot, app, NodeRef("run", PROJECT, TASK, LONG_LINE_RUN))
            await pilot.press("2")
            await until(pilot, lambda: "after the long line" in screen_text(app), 20, "tail")
            screens.append(screen_text(app))
            assert "yyyy" in screen_text(app), screen_text(app)

            await select(pilot, app, NodeRef("task", PROJECT, BAD_BUS_TASK))
            await until(pilot, lambda: "after the damage" in screen_text(app), 60, "bus feed")
            text = screen_text(app)
            screens.append(text)
            assert "escape ␛]0;pwned␇ ␛[2J and bell␇ …" in text

            await select(pilot, app, NodeRef("task", PROJECT, LINK_TASK))
            await until(pilot, lambda: "symlink" in app.last_error, 20, "symlink refused")
            assert app.last_error.count("\n") == 0 and "TASK-MESSAGE-BUS.md" in app.last_error
            screens.append(screen_text(app))

            await pilot.press("j")  # still alive and answering keys
            await settle(pilot)

    run(scenario())
    for text in screens:
        _no_escapes(text)
    assert outside.read_text() == "precious\n"  # nothing wrote through the link


# ----------------------------------------------------------------------------- secrets

TOKEN = "sk-ant-CONSOLE-SECRET-0123456789"


def test_tokens_never_appear_on_the_console_screen(rig, monkeypatch, tmp_path):
    config = claude_config(tmp_path / "config.yaml", token=TOKEN)
    use_env(monkeypatch, rig.env)
    orchestrator.new_task(rig.root, PROJECT, TASK,
                          "STUB: say hello\nSTUB: child codex STUB: say from the child\n"
                          "STUB: post FACT a fact\nSTUB: stderr a warning\nSTUB: done")
    orchestrator.start_task(rig.root, PROJECT, TASK, agent="claude", config_path=config,
                            environ=rig.env)
    wait_for(lambda: os.path.exists(os.path.join(rig.task_dir(), "DONE"))
             and not loop_alive(rig.task_dir()), timeout=60, what="task done")
    assert any(r["env"].get("ANTHROPIC_API_KEY") == TOKEN for r in rig.stubs.records())
    screens: list[str] = []

    async def scenario():
        app = console(rig.root, tmp_path, config_path=config)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded, 20, "first scan")
            task = app.run_tree.task_view(PROJECT, TASK)
            assert len(task.runs) >= 2  # the root run and its child
            for run in task.runs:
                await select(pilot, app, NodeRef("run", PROJECT, TASK, run.run_id))
                for key in ("1", "2", "r", "3", "4", "5", "6"):
                    await pilot.press(key)
                    await settle(pilot)
                    screens.append(screen_text(app))
            for keys in (("question_mark",), ("n",), ("m",)):
                await pilot.press(*keys)
                await settle(pilot)
                screens.append(screen_text(app))
                await pilot.press("escape")
                await settle(pilot)
            await pilot.press("ctrl+p")
            await settle(pilot)
            await pilot.press(*"agent")
            await settle(pilot)
            screens.append(screen_text(app))
            await pilot.press("escape")
            screens.append(app.last_error)

    run(scenario())
    assert len(screens) >= 2 * 7 + 5  # every tab of both runs, three dialogs, the palette
    for text in screens:
        assert TOKEN not in text and TOKEN[:16] not in text


def test_a_bad_config_next_to_a_token_stops_the_console_with_one_line(rig, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"agents:\n  claude:\n    token: {TOKEN}\n    type: nope\n")
    os.chmod(bad, 0o600)
    proc = rig.run("console", "--root", rig.root, "--config", str(bad))
    assert proc.returncode == 1
    assert proc.stderr == 'Error: bad.yaml:4: agents.claude.type: agent "claude" has invalid ' \
                          'type "nope"\n'
    assert TOKEN not in proc.stdout + proc.stderr



def test_a_pane_reader_that_fails_is_reported_and_reads_again(tmp_path, monkeypatch):
    from conductor.console.widgets import readable_log
    root = str(tmp_path / "runs")
    os.makedirs(os.path.join(root, PROJECT, TASK))
    run_dir = _good_run(root, TASK, CLAUDE_RUN)
    with open(os.path.join(run_dir, "agent-stdout.txt"), "w") as f:
        f.write(CLAUDE_HOSTILE)
    real = readable_log.render_rows
    monkeypatch.setattr(readable_log, "render_rows",
                        lambda agent, data: (_ for _ in ()).throw(ValueError("renderer broke")))

    async def scenario():
        app = console(root, tmp_path, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded, 20, "first scan")
            await select(pilot, app, NodeRef("run", PROJECT, TASK, CLAUDE_RUN))
            await pilot.press("2")
            await until(pilot, lambda: app.last_error == "stdout: renderer broke", 10, "report")
            monkeypatch.setattr(readable_log, "render_rows", real)
            app.detail.refresh_logs()  # what the next event or poll does
            await until(pilot, lambda: "assistant says" in screen_text(app), 10, "read again")

    run(scenario())
