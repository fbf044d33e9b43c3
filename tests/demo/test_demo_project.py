"""create_demo and ``conductor demo``: real detached supervisors that make visible progress."""

from __future__ import annotations

import argparse
import io
import os
import sys

import pytest

from conductor.bus import MessageBus
from conductor.config import load_config, select_agent
from conductor.demo import cli as demo_cli
from conductor.demo import create_demo
from conductor.errors import UsageError
from conductor.ids import TASK_RE
from conductor.store.supervision import loop_alive
from conductor.store import Layout, scan_task

from .demo_helpers import PROJECT, wait_until


def _progress(root: str, tasks: list[str]) -> None:
    """Each scenario gets where a user would see it get: done, retried, asking, running."""
    layout = Layout(root)
    by = {t.rsplit("-", 1)[1]: t for t in tasks}

    def task_dir(scenario):
        return layout.task_dir(PROJECT, by[scenario])

    wait_until(lambda: os.path.isfile(os.path.join(task_dir("happy"), "DONE")), 90,
               what="the happy task's DONE")
    wait_until(lambda: [r.info.status for r in scan_task(layout, PROJECT, by["flaky"]).runs]
               == ["failed", "completed"], 90, what="the flaky task's second attempt")
    wait_until(lambda: any(m.type == "QUESTION" for m in
                           MessageBus(layout.task_bus(PROJECT, by["question"])).read_all()),
               90, what="the question")
    wait_until(lambda: any(r.info.status == "running"
                           for r in scan_task(layout, PROJECT, by["long"]).runs),
               90, what="the long run")


def test_create_demo_starts_four_supervisors_that_make_progress(demo_root):
    root = demo_root.root
    config = os.path.join(root, "demo-config.yaml")
    tasks = create_demo(root, config_path=config, speed=0.05, environ=demo_root.env)
    demo_root.tasks.update(tasks)
    assert [t.rsplit("-", 1)[1] for t in tasks] == ["happy", "flaky", "long", "question"]
    assert all(TASK_RE.match(t) for t in tasks)
    for task in tasks:
        with open(os.path.join(root, PROJECT, task, "TASK.md"), encoding="utf-8") as f:
            assert f.read().startswith(f"scenario: {task.rsplit('-', 1)[1]}\n")

    loaded = load_config(config)
    agent = select_agent(loaded, None)
    assert agent.name == "sim" and agent.type == "command"
    assert agent.command == [sys.executable, "-m", "conductor.demo.sim_agent"]
    assert agent.env == {"CONDUCTOR_SIM_CONFIG": config, "CONDUCTOR_SIM_AGENT": "sim",
                         "CONDUCTOR_SIM_SPEED": "0.05"}

    wait_until(lambda: all(loop_alive(os.path.join(root, PROJECT, t)) or
                           os.path.exists(os.path.join(root, PROJECT, t, "DONE")) for t in tasks),
               30, what="four supervisors")
    _progress(root, tasks)

    # A second demo adds new tasks and leaves the first ones alone.
    happy_md = os.path.join(root, PROJECT, tasks[0], "TASK.md")
    before = os.stat(happy_md)
    runs_before = [r.run_id for r in scan_task(Layout(root), PROJECT, tasks[0]).runs]
    again = create_demo(root, config_path=config, speed=0.05, environ=demo_root.env,
                        scenarios=("happy",))
    demo_root.tasks.update(again)
    assert len(again) == 1 and again[0] not in tasks and again[0].endswith(("-happy", "-happy-2"))
    assert os.stat(happy_md).st_mtime_ns == before.st_mtime_ns
    assert [r.run_id for r in scan_task(Layout(root), PROJECT, tasks[0]).runs] == runs_before
    wait_until(lambda: os.path.isfile(os.path.join(root, PROJECT, again[0], "DONE")), 90,
               what="the second happy task's DONE")


def _clean_environ(monkeypatch, tmp_path) -> None:
    """cmd_demo starts supervisors from os.environ: make it the test's own."""
    for key in list(os.environ):
        if key.startswith(("JRUN_", "CONDUCTOR_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "src")
    monkeypatch.setenv("PYTHONPATH", src)


def test_conductor_demo_no_console_prints_tasks_and_the_hint(demo_root, tmp_path, monkeypatch):
    _clean_environ(monkeypatch, tmp_path)
    root = demo_root.root
    out = io.StringIO()
    args = argparse.Namespace(root=root, no_console=True, speed=0.05)
    assert demo_cli.cmd_demo(args, out=out) == 0
    text = out.getvalue()
    tasks = sorted(os.listdir(os.path.join(root, PROJECT)))
    demo_root.tasks.update(tasks)
    assert len(tasks) == 4
    lines = text.splitlines()
    assert lines[0] == f"demo: started 4 tasks in project demo under {root}"
    for task in tasks:
        assert any(line.strip().startswith(task) for line in lines[1:5])
    assert f"config: {root}/demo-config.yaml" in lines
    assert f"watch with: run-agent bus read --root {root} --project demo --follow" in lines
    question = next(t for t in tasks if t.endswith("-question"))
    assert (f"answer the question: run-agent bus post --root {root} --project demo --task "
            f"{question} --type USER --body postgres") in lines
    _progress(root, tasks)


def test_conductor_demo_opens_the_console_on_the_demo(tmp_path, monkeypatch):
    calls = {}
    monkeypatch.setattr(demo_cli, "create_demo",
                        lambda root, config_path, speed: calls.setdefault(
                            "demo", (root, config_path, speed)) and ["task-20260220-153045-happy"])
    import conductor.console.app as console_app
    monkeypatch.setattr(console_app, "run_console",
                        lambda **kw: calls.setdefault("console", kw))
    root = str(tmp_path / "runs")
    out = io.StringIO()
    assert demo_cli.cmd_demo(argparse.Namespace(root=root, no_console=False, speed=2.0),
                             out=out) == 0
    config = os.path.join(root, "demo-config.yaml")
    assert calls["demo"] == (root, config, 2.0)
    assert calls["console"] == {"root": root, "config_path": config}
    assert "the demo tasks keep running" in out.getvalue()


def test_bad_speed_is_refused_before_anything_is_written(tmp_path):
    root = tmp_path / "runs"
    with pytest.raises(UsageError, match="^--speed must be greater than 0$"):
        demo_cli.cmd_demo(argparse.Namespace(root=str(root), no_console=True, speed=0.0))
    assert not root.exists()


def test_the_verb_is_registered_with_its_flags():
    from conductor.cli.parser import CliParser
    parser = CliParser(prog="conductor")
    sub = parser.add_subparsers(dest="verb", parser_class=CliParser)
    demo_cli.register(sub)
    args = parser.parse_args(["demo", "--no-console", "--speed", "0.5", "--root", "/x"])
    assert (args.root, args.no_console, args.speed, args.func) == ("/x", True, 0.5,
                                                                    demo_cli.cmd_demo)
    assert parser.parse_args(["demo"]).root == "./runs"
