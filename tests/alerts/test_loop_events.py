"""stuck, failed, limit and budget fire from the loop (in-process, the loop-policy tests'
fake backend), each once, with the facts in the hook's environment."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from conductor.agents import registry
from conductor.alerts.targets import Targets
from conductor.bus import Message, MessageBus
from conductor.config.model import AgentConfig
from conductor.runner.ralph import TaskError, TaskRequest, TaskStopped, run_task
from conductor.store.loopstate import read_loop_state
from waiting import wait_for

from .helpers import PROJECT, PY, RECORDER, TASK

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_AGENT = os.path.join(TESTS, "runner", "fake_agent.py")


@pytest.fixture(autouse=True)
def fake_type(monkeypatch):
    monkeypatch.setitem(registry._MODULES, "fake", "runner.fake_backend")
    yield
    registry._LOADED.pop("fake", None)


class Loop:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp_path, env
        self.root = str(tmp_path / "runs")
        self.log = tmp_path / "hooks.log"
        (tmp_path / "record.py").write_text(RECORDER)
        self.targets = Targets([{"argv": [PY, str(tmp_path / "record.py"), str(self.log)],
                                 "on": [], "timeout": 30.0}])

    @property
    def task_dir(self) -> str:
        return os.path.join(self.root, PROJECT, TASK)

    def request(self, *attempts, **options) -> TaskRequest:
        plan = self.tmp / "plan.jsonl"
        plan.write_text("".join(json.dumps(a) + "\n" for a in attempts))
        agent = AgentConfig(name="fake", type="fake", command=[sys.executable, FAKE_AGENT])
        fields = dict(root=self.root, project=PROJECT, task=TASK, agent=agent, prompt="do it",
                      restart_delay=0.0, environ=dict(self.env, FAKE_PLAN=str(plan)),
                      alerts=self.targets)
        fields.update(options)
        return TaskRequest(**fields)

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def settled(self) -> list[dict]:
        """The calls once every delivery is done."""
        from conductor.alerts import outbox

        def done():
            names = os.listdir(os.path.join(self.task_dir, "alerts"))
            entries = [n for n in names if n.endswith(".json") and len(n) == 29]
            return entries and not outbox.pending(self.task_dir) and all(
                any(m.startswith(e[:-5] + ".") for m in names) for e in entries)
        wait_for(done, what="every delivery")
        return self.calls()


@pytest.fixture
def loop(tmp_path, subprocess_env) -> Loop:
    return Loop(tmp_path, subprocess_env)


def answer(loop: Loop, state: str, body: str) -> threading.Thread:
    def operator():
        wait_for(lambda: (s := read_loop_state(loop.task_dir)) is not None and s.state == state)
        MessageBus(os.path.join(loop.task_dir, "TASK-MESSAGE-BUS.md")).append(
            Message(type="USER", project_id=PROJECT, task_id=TASK, body=body))
    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    return thread


def test_identical_failures_fire_stuck_once(loop: Loop) -> None:
    with pytest.raises(TaskError, match="task stuck"):
        run_task(loop.request([["usage", 1, 1, 0.25], ["fail", "agent", "boom"]],
                              failure_limit=2, backoff_max=0.01))
    [call] = loop.settled()
    assert (call["CONDUCTOR_EVENT"], call["CONDUCTOR_NEW_STATE"], call["CONDUCTOR_STATUS"],
            call["CONDUCTOR_COST_USD"]) == ("stuck", "stuck", "failed", "0.5000")


def test_a_fatal_failure_fires_failed(loop: Loop) -> None:
    with pytest.raises(TaskError):
        run_task(loop.request([["fail", "auth", "not logged in"]]))
    assert [(c["CONDUCTOR_EVENT"], c["CONDUCTOR_NEW_STATE"]) for c in loop.settled()] == [
        ("failed", "failed")]


def test_a_limit_wait_fires_limit_then_done(loop: Loop) -> None:
    run_task(loop.request([["limit", 1.0, "429 rate limited"]], [["done"]], max_attempts=1))
    calls = loop.settled()
    assert [(c["CONDUCTOR_EVENT"], c["CONDUCTOR_NEW_STATE"]) for c in calls] == [
        ("limit", "waiting"), ("done", "completed")]
    assert calls[1]["CONDUCTOR_OLD_STATE"] in ("waiting", "running")


def test_a_spent_budget_fires_budget_with_its_question(loop: Loop) -> None:
    answer(loop, "budget", "stop")
    with pytest.raises(TaskStopped):
        run_task(loop.request([["usage", 1, 1, 0.6]], max_cost_usd=0.5))
    [call] = loop.settled()
    assert (call["CONDUCTOR_EVENT"], call["CONDUCTOR_NEW_STATE"], call["CONDUCTOR_COST_USD"]) == (
        "budget", "needs-you", "0.6000")
    assert call["CONDUCTOR_QUESTION"].startswith("budget of $0.500 reached ($0.600 spent)")


def test_max_restarts_fire_failed_even_when_the_last_run_completed(loop: Loop) -> None:
    with pytest.raises(TaskError, match="max restarts exceeded"):
        run_task(loop.request([["answer", "not done yet"]], max_attempts=2))
    [call] = loop.settled()
    assert (call["CONDUCTOR_EVENT"], call["CONDUCTOR_NEW_STATE"], call["CONDUCTOR_STATUS"]) == (
        "failed", "failed", "completed")
