"""The Ralph loop's failure policy (issue 10), driven through a fake backend whose agent does
what each test's plan says: fail fast, fatal failures, identical failures -> backoff -> stuck,
usage-limit waits that do not count, budgets asked on the bus, sessions resumed."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest
from .helpers import PROJECT, TASK, bus, runs, task_dir, wait_for

from conductor.agents import registry
from conductor.bus import Message, MessageBus
from conductor.config.model import AgentConfig
from conductor.runner.ralph import TaskError, TaskRequest, TaskStopped, run_task
from conductor.store.loopstate import read_loop_state

FAKE_AGENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_agent.py")


@pytest.fixture(autouse=True)
def fake_type(monkeypatch):
    monkeypatch.setitem(registry._MODULES, "fake", f"{__package__}.fake_backend")
    yield
    registry._LOADED.pop("fake", None)


@pytest.fixture
def plan(tmp_path, subprocess_env):
    path = tmp_path / "plan.jsonl"
    root = str(tmp_path / "runs")

    def make(*attempts, **options):
        path.write_text("".join(json.dumps(a) + "\n" for a in attempts))
        env = dict(subprocess_env, FAKE_PLAN=str(path))
        agent = AgentConfig(name="fake", type="fake", command=[sys.executable, FAKE_AGENT])
        fields = dict(root=root, project=PROJECT, task=TASK, agent=agent, prompt="do it",
                      restart_delay=0.0, environ=env)
        fields.update(options)
        return TaskRequest(**fields)

    make.root = root
    make.argv = lambda: [json.loads(line) for line in open(str(path) + ".argv")]
    return make


def bodies(root, kind):
    return [m.body for m in bus(root) if m.type == kind]


def answer_when(root, state, body):
    """The operator, in a thread: once the loop shows ``state`` in LOOP-STATE.json, post
    ``body`` as a USER message. Returns the thread and the list the seen state is put in
    (asserted by the test itself: an assertion in a thread would fail nothing)."""
    seen = []
    tdir = task_dir(root)

    def showing():
        current = read_loop_state(tdir)
        return current if current is not None and current.state == state else None

    def operator():
        seen.append(wait_for(showing))
        MessageBus(os.path.join(tdir, "TASK-MESSAGE-BUS.md")).append(
            Message(type="USER", project_id=PROJECT, task_id=TASK, body=body))

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    return thread, seen


def test_a_missing_program_fails_before_any_run(plan):
    req = plan([["done"]])
    req.agent = AgentConfig(name="fake", type="fake", command=["no-such-agent-program"])
    with pytest.raises(TaskError) as info:
        run_task(req)
    assert str(info.value) == 'agent "fake": binary "no-such-agent-program" not found in PATH'
    assert runs(plan.root) == []
    assert bodies(plan.root, "ERROR") == [
        'task stopped before the first attempt: agent "fake": binary "no-such-agent-program" '
        "not found in PATH (spawn: not retried)"]
    state = read_loop_state(task_dir(plan.root))
    assert (state.state, state.reason) == ("failed", 'agent "fake": binary "no-such-agent-program"'
                                                     " not found in PATH")


def test_an_auth_failure_is_not_retried(plan):
    with pytest.raises(TaskError, match=r"^Invalid API key$"):
        run_task(plan([["fail", "auth", "Invalid API key"]], max_attempts=10))
    [info] = runs(plan.root)
    assert (info.status, info.failure, info.error_summary) == ("failed", "auth", "Invalid API key")
    assert "task stopped on attempt 1: Invalid API key (auth: not retried)" in bodies(plan.root, "ERROR")
    assert read_loop_state(task_dir(plan.root)).state == "failed"


def test_identical_failures_trip_the_circuit_breaker(plan):
    with pytest.raises(TaskError, match=r"^task stuck: 3 identical failures in a row: boom 7$"):
        run_task(plan([["fail", "agent", "boom 7"]], failure_limit=3, max_attempts=10))
    assert len(runs(plan.root)) == 3
    state = read_loop_state(task_dir(plan.root))
    assert (state.state, state.failures) == ("stuck", 3)
    assert bodies(plan.root, "ERROR")[-1] == (
        "task stuck: 3 identical failures in a row: boom 7; not restarting (start it again "
        "when fixed)")


def test_different_failures_do_not_count_as_identical(plan):
    attempts = [[["fail", "agent", "first problem"]], [["fail", "network", "no route"]],
                [["fail", "agent", "first problem"]], [["done"]]]
    outcome = run_task(plan(*attempts, failure_limit=2, max_attempts=10))
    assert outcome.attempts == 4


def test_identical_failures_back_off_exponentially(plan):
    outcome = run_task(plan([["fail", "agent", "flaky"]], [["fail", "agent", "flaky"]],
                            [["fail", "agent", "flaky"]], [["done"]],
                            restart_delay=0.05, failure_limit=5))
    assert outcome.attempts == 4
    info = [b for b in bodies(plan.root, "INFO") if b.startswith("same failure")]
    assert info == ["same failure 2 times in a row; next attempt in 100ms",
                    "same failure 3 times in a row; next attempt in 200ms"]


def test_a_usage_limit_is_waited_out_and_not_counted(plan):
    outcome = run_task(plan([["session", "s-9"], ["limit", 1.0, "429 rate limited"]],
                            [["session", "s-9"], ["answer", "ok"], ["done"]], max_attempts=1))
    assert outcome.attempts == 1  # the limited attempt is not one of them
    infos = bodies(plan.root, "INFO")
    waiting = [b for b in infos if b.startswith("waiting: limit until ")]
    assert len(waiting) == 1 and waiting[0].endswith(
        " (429 rate limited); this wait does not count as an attempt")
    assert "limit wait over; resuming" in infos
    first, second = runs(plan.root)
    assert (first.failure, first.session_id, first.limit_reset is not None) == ("limit", "s-9", True)
    assert plan.argv() == [[], ["--resume", "s-9"]]  # the next attempt continues the session


def test_a_spent_budget_asks_and_an_answer_continues(plan):
    req = plan([["session", "s-1"], ["usage", 100, 50, 0.6]],
               [["session", "s-1"], ["usage", 10, 5, 0.1], ["done"]], max_cost_usd=0.5)
    thread, seen = answer_when(plan.root, "budget", "$2")
    outcome = run_task(req)
    thread.join(10)
    assert seen and outcome.attempts == 2
    [question] = bodies(plan.root, "QUESTION")
    assert question == ("budget of $0.500 reached ($0.600 spent) — answer to continue with a new "
                        "budget (a number such as $1.20 is the new total; \"stop\" ends the task)")
    assert "budget extended: max cost $2.00" in bodies(plan.root, "INFO")
    assert plan.argv() == [[], ["--resume", "s-1"]]
    assert [r.cost_usd for r in runs(plan.root)] == [0.6, 0.1]


def test_a_budget_answer_of_stop_ends_the_task(plan):
    req = plan([["usage", 1, 1, 0.6]], max_cost_usd=0.5)

    answer_when(plan.root, "budget", "stop, that is enough")
    with pytest.raises(TaskStopped, match="budget reached and not extended"):
        run_task(req)
    assert len(runs(plan.root)) == 1


def test_the_token_budget_stops_a_running_attempt(plan, tmp_path):
    release = tmp_path / "never"
    req = plan([["session", "s-2"], ["usage", 600, 500, None], ["wait-file", str(release)]],
               [["done"]], max_tokens=1000)

    answer_when(plan.root, "budget", "5000")
    outcome = run_task(req)
    assert (outcome.attempts, len(outcome.run_ids)) == (1, 2)  # a budget stop is not a failure
    first = runs(plan.root)[0]
    assert (first.status, first.failure) == ("failed", "budget")
    assert first.error_summary == "token budget of 1,000 reached (1,100 used)"
    assert bodies(plan.root, "QUESTION")[0].startswith("token budget of 1,000 reached (1,100 used)")


def test_a_question_the_agent_left_waits_for_the_answer(plan):
    req = plan([["session", "s-3"], ["question", "postgres or sqlite?"]],
               [["answer", "ok"], ["done"]], max_attempts=5)

    _thread, seen = answer_when(plan.root, "question", "sqlite")
    outcome = run_task(req)
    assert outcome.attempts == 2
    assert [state.reason for state in seen] == ["postgres or sqlite?"]
    assert plan.argv() == [[], ["--resume", "s-3"]]


def test_plain_restarts_stay_fresh_unless_asked(plan):
    run_task(plan([["session", "s-4"], ["fail", "agent", "x"]], [["done"]]))
    assert plan.argv() == [[], []]


def test_resume_mode_always_continues_every_restart(plan, tmp_path):
    run_task(plan([["session", "s-5"], ["fail", "agent", "x"]], [["done"]], resume_mode="always"))
    assert plan.argv() == [[], ["--resume", "s-5"]]


def test_the_limit_wait_is_cut_by_the_cap(plan):
    started = time.monotonic()
    run_task(plan([["limit", 3600, "usage limit"]], [["done"]], limit_wait_max=0.2))
    assert time.monotonic() - started < 60


def test_run_agent_task_with_a_missing_binary_says_so_at_once(stubs):
    env = dict(stubs.env, PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
    started = time.monotonic()
    res = stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "hello", env=env)
    assert time.monotonic() - started < 60  # upstream: 103 s and 100 run dirs
    assert res.returncode == 1
    assert res.stderr.splitlines()[-1] == (
        'Error: agent "claude": binary "claude" not found in PATH '
        "(install: npm install -g @anthropic-ai/claude-code)")
    assert runs(stubs.root) == []
    [error] = [m for m in bus(stubs.root) if m.type == "ERROR"]
    assert error.body.startswith("task stopped before the first attempt: agent \"claude\"")


@pytest.mark.parametrize(("flag", "value", "why"), [
    ("--max-cost-usd", "-1", "must be a positive number: '-1'"),
    ("--max-cost-usd", "ten", "not a number: 'ten'"),
    ("--max-tokens", "0", "must be at least 1: '0'"),
    ("--failure-limit", "x", "not a whole number: 'x'"),
])
def test_budget_flags_are_checked(stubs, flag, value, why):
    res = stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "hello", flag, value)
    assert res.returncode == 1
    assert res.stderr == f'Error: invalid argument for "{flag}" flag: {why}\n'
    assert runs(stubs.root) == []


def test_a_resumed_session_reporting_running_totals_is_not_counted_twice(plan, monkeypatch):
    from . import fake_backend
    monkeypatch.setattr(fake_backend.BACKEND, "cumulative_session_usage", True)
    run_task(plan([["session", "s-7"], ["usage", 100, 10, None], ["limit", 0.1, "429"]],
                  [["session", "s-7"], ["usage", 160, 25, None], ["done"]]))
    first, second = runs(plan.root)
    assert (first.input_tokens, first.output_tokens) == (100, 10)
    assert (second.input_tokens, second.output_tokens) == (60, 15)  # codex prints the thread's total
    assert plan.argv()[1] == ["--resume", "s-7"]


@pytest.mark.parametrize("counts", [True, False])
def test_stderr_growth_is_progress_unless_the_backend_says_not(plan, monkeypatch, counts):
    from . import fake_backend
    monkeypatch.setattr(fake_backend.BACKEND, "stderr_is_progress", counts)
    req = plan([["stderr-ticks", 12, 0.1], ["answer", "ok"], ["done"]], idle_timeout=0.6,
               max_attempts=1)
    if counts:  # gemini: minutes of retries logged only on stderr are not idleness
        assert run_task(req).attempts == 1
        assert runs(plan.root)[0].status == "completed"
    else:  # codex: its endless reconnect log is
        with pytest.raises(TaskError, match="max restarts exceeded"):
            run_task(req)
        assert runs(plan.root)[0].error_summary == "timed out"


def test_an_agent_stopping_on_its_own_budget_is_asked_about_not_restarted(plan):
    # claude's --max-budget-usd ends the attempt ("error_max_budget_usd") when our sum of the
    # runs may still be a hair under the budget: the loop asks, it does not spin
    req = plan([["session", "s-8"], ["usage", 10, 5, 0.4999], ["fail", "budget",
                                                               "Reached maximum budget ($0.5)"]],
               [["done"]], max_cost_usd=0.5)

    answer_when(plan.root, "budget", "1")
    outcome = run_task(req)
    [question] = bodies(plan.root, "QUESTION")
    assert question.startswith("Reached maximum budget ($0.5) — answer to continue")
    assert "budget extended: max cost $1.00" in bodies(plan.root, "INFO")
    assert len(outcome.run_ids) == 2 and plan.argv()[1] == ["--resume", "s-8"]


def test_budget_answers():
    from conductor.runner.policy import Budget, apply_answer
    from conductor.store.usage import Usage
    cost = Budget(max_cost_usd=5.0)
    spent = Usage(100, 10, cost_usd=5.2)
    assert apply_answer(cost, spent, "$10", cost).max_cost_usd == 10.0
    assert apply_answer(cost, spent, "3", cost).max_cost_usd == pytest.approx(8.2)  # added
    assert apply_answer(cost, spent, "yes, go on", cost).max_cost_usd == pytest.approx(10.2)
    assert apply_answer(cost, spent, "No, stop here", cost) is None
    tokens = Budget(max_tokens=1000)
    assert apply_answer(tokens, Usage(900, 200), "200k", tokens).max_tokens == 200_000
    assert apply_answer(tokens, Usage(900, 200), "ok", tokens).max_tokens == 2100
