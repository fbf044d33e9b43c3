"""The console with usage, budgets, limit waits and stuck tasks (issue 10): task statuses and
their details, the usage column of the run tree, the Info tab, the header's spend, the budget
fields of the new-task dialog, and readable stdout joining streamed pieces."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from textual.app import App

from conductor.agents.display import DisplayLine
from conductor.console.app import ConductorApp
from conductor.console.screens import NewTaskScreen
from conductor.console.screens.new_task import NewTaskRequest, budget_args, check_request
from conductor.console.widgets import readable_log
from conductor.console.widgets.detail import info_rows
from conductor.console.widgets.readable_log import ReadableLog, join_rows
from conductor.console.widgets.run_tree import NodeRef
from conductor.store import Layout, scan_task
from conductor.store.loopstate import LoopState, write_loop_state
from conductor.store.loopview import loop_words
from conductor.store.taskview import build_view
from conductor.timefmt import NS

from .fixed_root import (BASE_NS, FROZEN_NS, SPEND, U1, U1_RUN, U2, U2_RUNS, U3, U4, U5, U5_RUN,
                         U6, build_usage_root, frozen_clock, hold_loop_lock, write_run,
                         write_task)
from .live import select, settle, until
from .screen_text import screen_text

SIZE = (160, 45)


@pytest.fixture
def usage(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    _layout, live = build_usage_root(root)
    locks = [hold_loop_lock(d) for d in live]
    yield root, tmp_path
    for lock in locks:
        lock.close()


def app_for(root, tmp_path, clock=frozen_clock, **kwargs) -> ConductorApp:
    kwargs.setdefault("state_path", str(tmp_path / "state.json"))
    return ConductorApp(root, clock=clock, watch=False, **kwargs)


def run(coro):
    asyncio.run(coro)


def statuses(app) -> dict[str, str]:
    return {t.task: t.status for p in app.model.projects.values() for t in p.tasks}


def label(app, ref: NodeRef) -> str:
    return app.run_tree.node_for(ref).label.plain


def rows(app, now=FROZEN_NS) -> dict[str, str]:
    return {key: value.plain for key, value in info_rows(app.detail.selection, now) if key}


# ---- statuses and their words -----------------------------------------------------------------

def test_loop_states_are_task_statuses_with_details(usage):
    root, tmp = usage

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert statuses(app) == {U1: "waiting", U2: "needs-you", U3: "stuck",
                                     U4: "waiting", U5: "completed", U6: "failed"}
            details = {t.task: t.detail(FROZEN_NS) for t in app.model.projects[SPEND].tasks}
            assert details == {U1: "limit until 02:05",
                               U2: "budget of $5.00 reached ($5.12 spent)",
                               U3: "3 identical failures", U4: "retry in 40s", U5: "",
                               U6: "auth: Invalid API key · Please run /login"}
            # the header counts every state some task is in, in the vocabulary's order
            assert app.header.counts == {"needs-you": 1, "waiting": 2, "stuck": 1, "failed": 1,
                                         "completed": 1}

    run(scenario())


def test_run_tree_labels_carry_usage_and_loop_words(usage):
    root, tmp = usage

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef("run", SPEND, U2, U2_RUNS[1]))
            await settle(pilot)
            task = lambda t: label(app, NodeRef("task", SPEND, t))  # noqa: E731
            # slug first, then the status word or detail, the agent, usage, date (issue 12)
            assert task(U1) == "◷ limit-wait  limit until 02:05  claude  $0.420  06-21 00:06"
            assert task(U2) == ("? over-budget  budget of $5.00 reached ($5.12 spent)  claude"
                                "  $5.12  ×2  06-21 00:07")
            assert task(U3) == ("⊗ flaky-net  stuck: 3 identical failures  codex  3.6k tok  ×3"
                                "  06-21 00:08")
            assert task(U4) == "◷ backing-off  retry in 40s  claude  $0.010  06-21 00:09"
            assert task(U5) == "✔ codex-tokens  completed  codex  12.8k tok  06-21 00:10"
            assert task(U6) == ("✘ not-logged-in  auth: Invalid API key · Please run /login  claude"
                                "  06-21 00:11")
            assert label(app, NodeRef("run", SPEND, U2, U2_RUNS[0])) == \
                f"✔ {U2_RUNS[0]}  claude  $3.30  try 1/2  18m00s"
            assert label(app, NodeRef("project", SPEND)) == \
                "spend  6 tasks  ?1  ✘1  ⊗1  ✔1  $5.55"
            # the header: the spend of every task shown
            assert app.header.spend_text == "spent $5.55"
            assert "spent $5.55" in screen_text(app).splitlines()[0]

    run(scenario())


def test_tokens_when_no_run_reports_a_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    layout = Layout(root)
    write_task(layout, "p", U5, "x", done=True)
    write_run(layout, "p", U5, U5_RUN, status="completed", start_s=0, end_s=10, exit_code=0,
              agent="codex", input_tokens=12_000, output_tokens=800)

    async def scenario():
        app = app_for(root, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.header.spend_text == "used 12.8k tok"
            assert "used 12.8k tok" in screen_text(app).splitlines()[0]

    run(scenario())


def test_info_tab_shows_task_totals_loop_state_and_run_usage(usage):
    root, tmp = usage

    async def scenario():
        app = app_for(root, tmp)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await select(pilot, app, NodeRef("run", SPEND, U1, U1_RUN))
            await settle(pilot)
            shown = rows(app)
            assert shown["task status"] == "◷ waiting: limit until 02:05"
            assert shown["usage"] == "$0.420 · 48.2k in / 3.1k out / 40.0k cached · 7 turns"
            assert shown["loop"] == "waiting: limit until 02:05"
            assert shown["loop reason"] == "You've hit your usage limit."
            assert shown["loop until"] == "02:05 (2026-06-21T02:05:00Z)"
            assert shown["model"] == "claude-sonnet-4-5"
            assert shown["session id"] == "4f1c2a9e-0000-4000-8000-00000000c1a0"
            assert shown["tokens"] == "48.2k in / 3.1k out / 40.0k cached"
            assert shown["cost"] == "$0.420"
            assert shown["turns"] == "7"
            assert shown["failure"] == "limit"
            assert shown["limit reset"] == "02:05 (2026-06-21T02:05:00Z)"
            await pilot.press("6")
            await until(pilot, lambda: "limit reset" in screen_text(app), 5, "info tab")

            await select(pilot, app, NodeRef("run", SPEND, U5, U5_RUN))
            await settle(pilot)
            shown = rows(app)
            assert shown["cost"] == "-"  # codex reports no cost
            assert shown["usage"] == "12.0k in / 800 out / 9.0k cached · 1 turn"
            assert "loop" not in shown and "failure" not in shown

            await select(pilot, app, NodeRef("task", SPEND, U3))
            await settle(pilot)
            shown = rows(app)
            assert shown["task status"] == "⊗ stuck: 3 identical failures"
            assert shown["loop"] == "stuck: 3 identical failures"
            assert shown["loop reason"] == "stream error: connection refused"

    run(scenario())


def test_waits_end_with_their_supervisor_stuck_stays(tmp_path, monkeypatch):
    """Without a live supervisor, a limit wait or a backoff is no wait: the tasks show their
    latest run; the budget task still asks (its QUESTION is on the bus); stuck stays."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = str(tmp_path / "runs")
    build_usage_root(root)  # no loop lock held: every supervisor is gone

    async def scenario():
        app = app_for(root, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            got = statuses(app)
            assert (got[U1], got[U2], got[U3], got[U4]) == ("failed", "needs-you", "stuck",
                                                            "failed")
            assert app.run_tree.task_view(SPEND, U1).loop_state is None
            assert "  needs you  " in label(app, NodeRef("task", SPEND, U2))

    run(scenario())


def test_task_status_rules_for_loop_states(tmp_path):
    layout = Layout(str(tmp_path))
    task_dir = write_task(layout, "p", U4, "x")
    write_run(layout, "p", U4, "20260621-0009000000-704-0001", status="failed", start_s=0,
              end_s=10, exit_code=1)
    snap = scan_task(layout, "p", U4)

    def status(state, *, alive=True, bus=""):
        return build_view(snap, loop_alive=alive, last_bus_type=bus, now_ns=BASE_NS,
                          loop_state=state).status

    assert status(LoopState("backoff", until=BASE_NS + 40 * NS)) == "waiting"
    assert status(LoopState("backoff", until=BASE_NS + 40 * NS), alive=False) == "failed"
    assert status(LoopState("limit", until=BASE_NS)) == "waiting"
    assert status(LoopState("budget")) == "needs-you"
    assert status(LoopState("budget"), alive=False) == "failed"
    assert status(LoopState("stuck", failures=4), alive=False) == "stuck"
    assert status(LoopState("failed", reason="auth"), alive=False) == "failed"
    assert status(None) == "running"  # a live loop between attempts, as before
    open(f"{task_dir}/DONE", "w").close()
    snap = scan_task(layout, "p", U4)
    assert status(LoopState("stuck", failures=4), alive=False) == "completed"
    assert build_view(snap, now_ns=BASE_NS).status == "completed"


def test_loop_words(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    now = BASE_NS
    words = lambda s: loop_words(s, now).text  # noqa: E731
    assert words(LoopState("limit", until=now + 2 * 3600 * NS + 5 * 60 * NS)) == \
        "waiting: limit until 02:05"
    assert words(LoopState("limit", until=now + 30 * 3600 * NS)) == \
        "waiting: limit until 06-22 06:00"
    assert words(LoopState("limit")) == "waiting: limit"
    assert words(LoopState("backoff", until=now + 40 * NS)) == "waiting: retry in 40s"
    assert words(LoopState("backoff", until=now + 125 * NS)) == "waiting: retry in 2m05s"
    assert words(LoopState("backoff", until=now - NS)) == "waiting: retrying"
    assert words(LoopState("budget", reason="budget of $5.00 reached ($5.12 spent)")) == \
        "needs-you: budget of $5.00 reached ($5.12 spent)"
    assert words(LoopState("budget")) == "needs-you: budget reached"
    assert words(LoopState("stuck", failures=1)) == "stuck: 1 identical failure"
    assert words(LoopState("question", reason="postgres or sqlite?")) == \
        "needs-you: asks: postgres or sqlite?"
    assert words(LoopState("failed", reason="auth:\nnot logged in")) == \
        "failed: auth: not logged in"


def test_backoff_counts_down_and_a_task_turning_stuck_is_announced(usage):
    root, tmp = usage
    now = [FROZEN_NS]
    layout = Layout(root)

    async def scenario():
        app = app_for(root, tmp, clock=lambda: now[0])
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            ref = NodeRef("task", SPEND, U4)
            await select(pilot, app, ref)
            now[0] += 30 * NS
            app.run_tree.refresh_heartbeats()
            assert "  retry in 10s  " in label(app, ref)
            # the loop ends stuck: the file changes, the task is read again
            write_loop_state(layout.task_dir(SPEND, U1), LoopState(
                "stuck", reason="limit", since=now[0], failures=5))
            notes = []
            app.notify = lambda text, **kw: notes.append((text, kw.get("severity")))
            app.mark_dirty(SPEND, U1)
            app._flush_dirty()
            await until(pilot, lambda: statuses(app)[U1] == "stuck", 10, "stuck")
            assert notes == [(f"{U1} is stuck (identical failures)", "error")]
            assert "  stuck: 5 identical failures  " in label(app, NodeRef("task", SPEND, U1))

    run(scenario())


# ---- the new-task dialog's budget fields ------------------------------------------------------

def req(**kw) -> NewTaskRequest:
    base = dict(project="p", task="task-20260621-010000-budget", agent="sim", prompt="go")
    base.update(kw)
    return NewTaskRequest(**base)


def test_budget_fields_become_task_flags():
    assert budget_args(req()) == []
    assert budget_args(req(max_cost_usd="$5", max_tokens="200k", max_restarts="10")) == [
        "--max-cost-usd", "5.0", "--max-tokens", "200000", "--max-restarts", "10"]
    assert budget_args(req(max_cost_usd="2.50", max_tokens="1,500,000")) == [
        "--max-cost-usd", "2.5", "--max-tokens", "1500000"]


@pytest.mark.parametrize("field,value,message", [
    ("max_cost_usd", "-1", "max cost: '-1' is not a number of dollars above 0 (e.g. 5 or 2.50)"),
    ("max_cost_usd", "five", "max cost: 'five' is not a number of dollars above 0 (e.g. 5 or 2.50)"),
    ("max_cost_usd", "0", "max cost: '0' is not a number of dollars above 0 (e.g. 5 or 2.50)"),
    ("max_cost_usd", "nan", "max cost: 'nan' is not a number of dollars above 0 (e.g. 5 or 2.50)"),
    ("max_tokens", "1.5", "max tokens: '1.5' is not a whole number above 0 (e.g. 200000 or 200k)"),
    ("max_tokens", "0", "max tokens: '0' is not a whole number above 0 (e.g. 200000 or 200k)"),
    ("max_restarts", "-3", "max restarts: '-3' is not a whole number above 0 (e.g. 10)"),
    ("max_restarts", "inf", "max restarts: 'inf' is not a whole number above 0 (e.g. 10)"),
])
def test_wrong_budget_values_are_named(field, value, message):
    assert check_request(req(**{field: value}), ["sim"]) == message


def test_new_task_dialog_passes_the_budget_to_start_task(usage, monkeypatch):
    root, tmp = usage
    config = tmp / "config.yaml"
    config.write_text("agents:\n  sim:\n    type: command\n    command: [true]\n")
    from conductor import orchestrator
    calls = []

    class Started:
        pid = 4242

    monkeypatch.setattr(orchestrator, "start_task",
                        lambda *a, **kw: calls.append((a, kw)) or Started())

    async def scenario():
        app = app_for(root, tmp, config_path=str(config))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewTaskScreen), 10, "dialog")
            dialog = app.screen
            dialog.query_one("#new-project").value = "p"
            dialog.query_one("#new-task").value = "task-20260621-010000-budget"
            dialog.query_one("#new-prompt").text = "Do it."
            dialog.query_one("#new-max-cost").value = "abc"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "max cost" in dialog.error_text, 5, "error")
            assert dialog.error_text == \
                "max cost: 'abc' is not a number of dollars above 0 (e.g. 5 or 2.50)"
            assert calls == []
            dialog.query_one("#new-max-cost").value = "5"
            dialog.query_one("#new-max-tokens").value = "200k"
            dialog.query_one("#new-max-restarts").value = "3"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not isinstance(app.screen, NewTaskScreen), 10, "closed")
            assert len(calls) == 1
            assert calls[0][1]["extra_args"] == ["--max-cost-usd", "5.0", "--max-tokens",
                                                 "200000", "--max-restarts", "3"]

    run(scenario())


# ---- readable stdout: streamed pieces -----------------------------------------------------------

def gemini_like(line: str) -> list[DisplayLine]:
    """A stand-in renderer: gemini's ``delta`` messages carry on the row before them."""
    event = json.loads(line)
    if event.get("type") == "message":
        return [DisplayLine("text", event["content"], join=bool(event.get("delta")))]
    return [DisplayLine("tool", f"⚙ {event['tool_name']}")]


def delta(text: str) -> str:
    return json.dumps({"type": "message", "role": "assistant", "content": text,
                       "delta": True}) + "\n"


def test_join_rows_appends_pieces_to_the_row_before():
    rows = join_rows([DisplayLine("text", "I will"), DisplayLine("text", " read", join=True),
                      DisplayLine("text", " it.\nThen", join=True),
                      DisplayLine("tool", "⚙ read_file"),
                      DisplayLine("text", " fix", join=True)])
    assert [r.plain for r in rows] == ["I will read it.", "Then", "⚙ read_file", " fix"]
    assert not rows.continues
    more = join_rows([DisplayLine("text", " it", join=True), DisplayLine("text", "next")])
    assert more.continues and [r.plain for r in more] == [" it", "next"]


def test_readable_stdout_joins_chunked_deltas_across_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(readable_log, "display_lines", lambda agent, raw: gemini_like(raw))
    path = tmp_path / "agent-stdout.txt"
    path.write_text(delta("The fix") + delta(" is in") +
                    json.dumps({"type": "tool_use", "tool_name": "read_file"}) + "\n" +
                    delta("Reading") + delta(" session"))

    class Host(App):
        def compose(self):
            yield ReadableLog(id="log")

    async def scenario():
        app = Host()
        async with app.run_test(size=(80, 10)) as pilot:
            log = app.query_one(ReadableLog)
            log.set_path(str(path), "gemini")
            shown = lambda: [log.row_text(i) for i in range(log.row_count)]  # noqa: E731
            await until(pilot, lambda: shown() == ["The fix is in", "⚙ read_file",
                                                   "Reading session"], 10, "first read")
            with open(path, "a") as fh:
                fh.write(delta(".py, line 40.") + delta("\nDone"))
            log.refresh_file()
            await until(pilot, lambda: shown() == ["The fix is in", "⚙ read_file",
                                                   "Reading session.py, line 40.", "Done"],
                        10, "the pieces joined")
            await pilot.pause()
            assert "Reading session.py, line 40." in screen_text(app)

    run(scenario())


def test_real_gemini_transcript_reads_as_whole_sentences(monkeypatch):
    """gemini 0.61 streams ``There is o`` + ``ne file here…`` (tests/fixtures/real-cli-streams):
    with its delta pieces marked as joins, the view shows one sentence per reply."""
    import os
    real = readable_log.display_lines

    def joined(agent, raw):
        lines = real(agent, raw)
        if json.loads(raw).get("delta"):
            return [DisplayLine(line.kind, line.text, join=True) for line in lines]
        return lines

    monkeypatch.setattr(readable_log, "display_lines", joined)
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "real-cli-streams",
                        "gemini-tool-use.jsonl")
    with open(path, "rb") as fh:
        rows = readable_log.render_rows("gemini", fh.read())
    assert [r.plain for r in rows] == [
        "● session init: model auto", "Let me look at the files.",
        "⚙ run_shell_command: ls -1", "  ↳ success: err1.txt (+6 lines)",
        "There is one file here: `prompt.md`.",
        "✔ result: success (18528 tokens, 1 tool call, 1.7s)"]
