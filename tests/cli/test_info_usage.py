"""``list`` and ``status`` with usage and loop states (ours, issue 10): the COST, TOKENS and LOOP
columns after upstream's, the JSON keys ``usage`` and ``loop_state``, and upstream's bytes kept
for a root whose runs report no usage."""

from __future__ import annotations

import fcntl
import json
import os

import pytest

from conductor.cli.main import main
from conductor.store import Layout, RunInfo, write_run_info
from conductor.store.loopstate import LoopState, write_loop_state
from conductor.timefmt import NS, parse_timestamp

P = "proj"
T1 = "task-20260220-153045-stuck"
T2 = "task-20260220-153046-tokens"
T3 = "task-20260220-153047-plain"
T4 = "task-20260220-153048-limit"
T5 = "task-20260220-153049-budget"
T6 = "task-20260220-153050-dead-wait"
BASE = parse_timestamp("2026-02-20T15:30:00Z")
NOW = BASE + 20 * 60 * NS  # the clock of list/status in these tests: 15:50
LIMIT_UNTIL = parse_timestamp("2026-02-20T18:05:00Z")

pytestmark = pytest.mark.usefixtures("utc_isolated")


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    from conductor.cli import info_cmd
    monkeypatch.setattr(info_cmd, "_now", lambda: NOW)


def make_run(root: str, task: str, run_id: str, *, start_s: int, end_s: int,
             status: str = "completed", exit_code: int = 0, agent: str = "claude",
             **extra) -> None:
    task_dir = Layout(root).ensure_task_dir(P, task)
    run_dir = os.path.join(task_dir, "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=P, task_id=task, agent=agent, start_time=BASE + start_s * NS,
        end_time=BASE + end_s * NS, exit_code=exit_code, status=status, **extra))


def set_mtime(path: str) -> None:
    os.utime(path, ns=(BASE, BASE))


def hold_loop_lock(task_dir: str):
    fh = open(os.path.join(task_dir, "TASK-LOOP.lock"), "a+")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fh


@pytest.fixture
def usage_root(root):
    """Six tasks: stuck with cost, tokens only, upstream-plain, a live limit wait, a live budget
    question, and a limit wait whose supervisor is gone (not a wait any more)."""
    layout = Layout(root)
    make_run(root, T1, "20260220-1530450000-100-1", start_s=0, end_s=30, status="failed",
             exit_code=1, failure="network", input_tokens=10_000, output_tokens=2_000,
             cached_tokens=8_000, cost_usd=0.42, turns=3, model="claude-sonnet-4-5")
    make_run(root, T1, "20260220-1530450000-100-2", start_s=40, end_s=70, status="failed",
             exit_code=1, failure="network", input_tokens=5_000, output_tokens=500,
             cost_usd=0.08, turns=1, model="claude-sonnet-4-5")
    write_loop_state(layout.task_dir(P, T1), LoopState(
        "stuck", reason="stream error: connection refused", since=BASE + 70 * NS, failures=5))
    make_run(root, T2, "20260220-1530460000-200-1", start_s=0, end_s=60, agent="codex",
             input_tokens=12_000, output_tokens=800, cached_tokens=9_000, turns=1,
             model="gpt-5-codex")
    open(os.path.join(layout.task_dir(P, T2), "DONE"), "w").close()
    make_run(root, T3, "20260220-1530470000-300-1", start_s=0, end_s=60)
    make_run(root, T4, "20260220-1530480000-400-1", start_s=0, end_s=60, status="failed",
             exit_code=1, failure="limit", limit_reset=LIMIT_UNTIL, input_tokens=100,
             output_tokens=10, cost_usd=0.01)
    write_loop_state(layout.task_dir(P, T4), LoopState(
        "limit", reason="usage limit", since=BASE + 60 * NS, until=LIMIT_UNTIL))
    make_run(root, T5, "20260220-1530490000-500-1", start_s=0, end_s=600, cost_usd=5.12,
             input_tokens=900_000, output_tokens=41_000, turns=40)
    write_loop_state(layout.task_dir(P, T5), LoopState(
        "budget", reason="budget of $5.00 reached ($5.12 spent)", since=BASE + 600 * NS,
        question="MSG-1"))
    make_run(root, T6, "20260220-1530500000-600-1", start_s=0, end_s=60, status="failed",
             exit_code=1, failure="limit")
    write_loop_state(layout.task_dir(P, T6), LoopState(
        "limit", since=BASE + 60 * NS, until=LIMIT_UNTIL))
    locks = [hold_loop_lock(layout.task_dir(P, t)) for t in (T4, T5)]
    for task in (T1, T2, T3, T4, T5, T6):
        set_mtime(layout.task_dir(P, task))
    yield root
    for lock in locks:
        lock.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


LIST_TABLE = (
    "TASK_ID                         RUNS  LATEST_STATUS  DONE  BLOCKED_BY  LAST_ACTIVITY     COST    TOKENS  LOOP\n"
    "task-20260220-153045-stuck      2     failed         -     -           2026-02-20 15:30  $0.500  17.5k   stuck: 5 identical failures\n"
    "task-20260220-153046-tokens     1     completed      DONE  -           2026-02-20 15:30  -       12.8k   -\n"
    "task-20260220-153047-plain      1     completed      -     -           2026-02-20 15:30  -       -       -\n"
    "task-20260220-153048-limit      1     failed         -     -           2026-02-20 15:30  $0.010  110     waiting: limit until 18:05\n"
    "task-20260220-153049-budget     1     completed      -     -           2026-02-20 15:30  $5.12   941k    needs-you: budget of $5.00 reached ($5.12 spent)\n"
    "task-20260220-153050-dead-wait  1     failed         -     -           2026-02-20 15:30  -       -       -\n")


def test_list_shows_cost_tokens_and_loop_words_after_upstreams_columns(usage_root, capsys):
    assert run(capsys, "list", "--root", usage_root, "--project", P) == (0, LIST_TABLE, "")


def test_status_shows_cost_tokens_and_loop_words_concise_stays_upstreams(usage_root, capsys):
    code, out, err = run(capsys, "status", "--root", usage_root, "--project", P)
    assert (code, err) == (0, "")
    assert out == (
        "TASK_ID                         STATUS     EXIT_CODE  LATEST_RUN                 DONE   PID_ALIVE  BLOCKED_BY  COST    TOKENS  LOOP\n"
        "task-20260220-153045-stuck      failed     1          20260220-1530450000-100-2  false  false      -           $0.500  17.5k   stuck: 5 identical failures\n"
        "task-20260220-153046-tokens     completed  0          20260220-1530460000-200-1  true   false      -           -       12.8k   -\n"
        "task-20260220-153047-plain      completed  0          20260220-1530470000-300-1  false  false      -           -       -       -\n"
        "task-20260220-153048-limit      failed     1          20260220-1530480000-400-1  false  false      -           $0.010  110     waiting: limit until 18:05\n"
        "task-20260220-153049-budget     completed  0          20260220-1530490000-500-1  false  false      -           $5.12   941k    needs-you: budget of $5.00 reached ($5.12 spent)\n"
        "task-20260220-153050-dead-wait  failed     1          20260220-1530500000-600-1  false  false      -           -       -       -\n")
    code, out, err = run(capsys, "status", "--root", usage_root, "--project", P, "--concise",
                         "--task", T1)
    assert (code, out, err) == (
        0, "task-20260220-153045-stuck\tfailed\t1\t20260220-1530450000-100-2\tfalse\tfalse\n", "")


def test_a_wait_without_its_supervisor_is_not_shown(usage_root, capsys):
    """The dead-wait task's LOOP-STATE says limit, but no supervisor waits: "-" (the list
    above), and no loop_state in JSON; stuck stays without a supervisor."""
    code, out, _ = run(capsys, "status", "--root", usage_root, "--project", P, "--json")
    rows = {r["task_id"]: r for r in json.loads(out)["tasks"]}
    assert "loop_state" not in rows[T6] and "usage" not in rows[T6]
    assert rows[T1]["loop_state"]["status"] == "stuck"


def test_list_json_usage_per_task_and_project_and_loop_state(usage_root, capsys):
    code, out, err = run(capsys, "list", "--root", usage_root, "--project", P, "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    rows = {r["task_id"]: r for r in data["tasks"]}
    assert rows[T1]["usage"] == {"input_tokens": 15000, "output_tokens": 2500,
                                 "cached_tokens": 8000, "cost_usd": 0.5, "turns": 4}
    assert rows[T2]["usage"]["cost_usd"] is None  # codex reports tokens only
    assert "usage" not in rows[T3] and "loop_state" not in rows[T3]  # upstream's keys only
    assert rows[T4]["loop_state"] == {
        "state": "limit", "status": "waiting", "detail": "limit until 18:05",
        "reason": "usage limit", "since": "2026-02-20T15:31:00Z",
        "until": "2026-02-20T18:05:00Z", "failures": 0}
    assert rows[T5]["loop_state"]["status"] == "needs-you"
    assert rows[T5]["loop_state"]["detail"] == "budget of $5.00 reached ($5.12 spent)"
    assert data["usage"] == {"input_tokens": 927100, "output_tokens": 44310,
                             "cached_tokens": 17000, "cost_usd": 5.63, "turns": 45}
    assert list(data) == ["tasks", "usage"]
    # our keys come after upstream's, in a fixed order
    assert list(rows[T1]) == ["task_id", "runs", "latest_status", "done", "last_activity",
                              "usage", "loop_state"]
    assert '"cost_usd": 0.5,\n' in out


def test_status_json_usage_per_task_and_project(usage_root, capsys):
    code, out, err = run(capsys, "status", "--root", usage_root, "--project", P, "--json",
                         "--task", T1)
    assert (code, err) == (0, "")
    assert out == """{
  "tasks": [
    {
      "task_id": "task-20260220-153045-stuck",
      "status": "failed",
      "exit_code": 1,
      "latest_run": "20260220-1530450000-100-2",
      "done": false,
      "pid_alive": false,
      "usage": {
        "input_tokens": 15000,
        "output_tokens": 2500,
        "cached_tokens": 8000,
        "cost_usd": 0.5,
        "turns": 4
      },
      "loop_state": {
        "state": "stuck",
        "status": "stuck",
        "detail": "5 identical failures",
        "reason": "stream error: connection refused",
        "since": "2026-02-20T15:31:10Z",
        "until": "",
        "failures": 5
      }
    }
  ],
  "usage": {
    "input_tokens": 15000,
    "output_tokens": 2500,
    "cached_tokens": 8000,
    "cost_usd": 0.5,
    "turns": 4
  }
}
"""


def test_list_runs_of_a_task_with_usage(usage_root, capsys):
    assert run(capsys, "list", "--root", usage_root, "--project", P, "--task", T1) == (0, (
        "RUN_ID                     STATUS  EXIT_CODE  STARTED              DURATION  COST    TOKENS  MODEL\n"
        "20260220-1530450000-100-1  failed  1          2026-02-20 15:30:00  30s       $0.420  12.0k   claude-sonnet-4-5\n"
        "20260220-1530450000-100-2  failed  1          2026-02-20 15:30:40  30s       $0.080  5.5k    claude-sonnet-4-5\n"),
        "")
    code, out, _ = run(capsys, "list", "--root", usage_root, "--project", P, "--task", T1,
                       "--json")
    data = json.loads(out)
    assert [r["usage"]["cost_usd"] for r in data["runs"]] == [0.42, 0.08]
    assert [r["failure"] for r in data["runs"]] == ["network", "network"]
    assert data["usage"]["turns"] == 4


def test_runs_without_usage_keep_upstreams_bytes_unless_usage_is_asked(root, capsys):
    make_run(root, T3, "20260220-1530470000-300-1", start_s=0, end_s=60)
    set_mtime(Layout(root).task_dir(P, T3))
    table = ("TASK_ID                     RUNS  LATEST_STATUS  DONE  BLOCKED_BY  LAST_ACTIVITY\n"
             "task-20260220-153047-plain  1     completed      -     -           2026-02-20 15:30\n")
    assert run(capsys, "list", "--root", root, "--project", P) == (0, table, "")
    code, out, _ = run(capsys, "list", "--root", root, "--project", P, "--json")
    assert "usage" not in out and "loop_state" not in out
    code, out, _ = run(capsys, "status", "--root", root, "--project", P)
    assert out.splitlines()[0].split() == ["TASK_ID", "STATUS", "EXIT_CODE", "LATEST_RUN",
                                           "DONE", "PID_ALIVE", "BLOCKED_BY"]
    # --usage: the columns and keys anyway
    assert run(capsys, "list", "--root", root, "--project", P, "--usage") == (0, (
        "TASK_ID                     RUNS  LATEST_STATUS  DONE  BLOCKED_BY  LAST_ACTIVITY     COST  TOKENS  LOOP\n"
        "task-20260220-153047-plain  1     completed      -     -           2026-02-20 15:30  -     -       -\n"),
        "")
    code, out, _ = run(capsys, "status", "--root", root, "--project", P, "--json", "--usage")
    data = json.loads(out)
    assert data["tasks"][0]["usage"] == data["usage"] == {
        "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "cost_usd": None,
        "turns": 0}
