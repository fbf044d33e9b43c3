"""Control actions return typed results; their words are what the status line shows."""

from __future__ import annotations

from types import SimpleNamespace

from conductor.bus import MessageBus
from conductor.console.controller import ActionResult, Controller, describe
from conductor.store import Layout


def test_a_post_returns_an_ok_result_with_the_message_id(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    result = Controller(str(root)).post("proj", None, "USER", "hello", shown_task="t1")
    assert isinstance(result, ActionResult)
    assert result.ok and result.action == "post"
    assert (result.project, result.task) == ("proj", "t1")  # the task to re-read
    messages = MessageBus(Layout(str(root)).project_bus("proj")).read_all()
    assert [m.body.strip() for m in messages] == ["hello"]
    assert result.text == f"posted USER {messages[0].msg_id}"


def test_a_failed_verb_is_a_result_never_an_exception(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    result = Controller(str(root)).start("proj", "t1", agent=None)
    assert not result.ok and result.pid is None
    assert result.text == f"start: task directory not found: {root}/proj/t1"
    bad = Controller(str(root)).post("../escape", None, "USER", "x")
    assert not bad.ok and bad.text.startswith("post: ")


def test_the_words_of_each_action():
    outcomes = [SimpleNamespace(stopped=True, notice=""),
                SimpleNamespace(stopped=False, notice="run r2 belongs to another host")]
    assert describe("stop", outcomes, "t1") == \
        "stop: t1 stop requested; 1 run stopped; run r2 belongs to another host"
    assert describe("stop run", SimpleNamespace(message="run r1 stopped", notice=""), "t1") \
        == "stop run: run r1 stopped"
    assert describe("start", SimpleNamespace(pid=42), "t1") == \
        "start: t1 started (supervisor pid 42)"
    assert describe("restart", SimpleNamespace(pid=43), "t1") == \
        "restart: t1 started (supervisor pid 43)"
    assert describe("new task", SimpleNamespace(pid=44), "t1") == \
        "started t1 (supervisor pid 44)"
    ok = ActionResult("start", True, "start: t1 started (supervisor pid 42)", "p", "t1", 42)
    assert ok.text == "start: t1 started (supervisor pid 42)"
    assert ActionResult("stop", False, "boom").text == "stop: boom"


def test_a_task_runs_again_with_the_config_agent_of_its_recorded_type():
    agents = {"fast": SimpleNamespace(type="claude"), "codex": SimpleNamespace(type="codex"),
              "g1": SimpleNamespace(type="gemini"), "g2": SimpleNamespace(type="gemini")}
    controller = Controller("/nowhere", agents=agents)
    ran = lambda agent: SimpleNamespace(latest=SimpleNamespace(agent=agent))  # noqa: E731
    assert controller.agent_for(ran("codex")) == "codex"  # a config agent's own name
    assert controller.agent_for(ran("claude")) == "fast"  # the one agent of that type
    assert controller.agent_for(ran("gemini")) is None  # two: the config's default
    assert controller.agent_for(SimpleNamespace(latest=None)) is None
