"""The simulated agent through the real runner: what an operator sees on disk and on the bus."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conductor.agents import extract_output
from conductor.agents.display import display_lines
from conductor.bus import MessageBus
from conductor.demo import task_prompt
from conductor.demo.sim_agent import is_restart, pick_scenario, task_text
from conductor.runner.prompt import RESTART_PREFIX, PreambleInfo, build_prompt
from conductor.store import Layout, scan_task

from .demo_helpers import PROJECT, wait_until

PREAMBLE = PreambleInfo(task_dir="/r/demo/t", run_dir="/r/demo/t/runs/x", project="demo",
                        task="t", run_id="x", bus_path="/r/demo/t/TASK-MESSAGE-BUS.md")


def _messages(root: str, task: str):
    return MessageBus(Layout(root).task_bus(PROJECT, task)).read_all()


def _stdout_events(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- the prompt ----------------------------------------------------------------------------

def test_scenario_comes_from_the_task_part_of_the_prompt():
    prompt = build_prompt(PREAMBLE, task_prompt("question"))
    assert pick_scenario(prompt, None) == "question"
    assert pick_scenario(prompt, "long") == "long"  # the flag wins
    assert pick_scenario(build_prompt(PREAMBLE, "no scenario here"), None) == "happy"
    assert pick_scenario(build_prompt(PREAMBLE, "scenario: bogus"), None) == "happy"
    assert task_text(prompt) == task_prompt("question").strip() + "\n"


def test_restart_is_detected_from_the_runner_prefix():
    first = build_prompt(PREAMBLE, task_prompt("flaky"))
    again = build_prompt(PREAMBLE, RESTART_PREFIX + task_prompt("flaky"))
    assert not is_restart(first)
    assert is_restart(again)
    assert pick_scenario(again, None) == "flaky"


def test_by_hand_it_prints_claude_stream_json(tmp_path, subprocess_env):
    """Outside a run (no JRUN_*): the stream only, which claude's own parsers understand."""
    env = dict(subprocess_env, CONDUCTOR_SIM_SPEED="0")
    proc = subprocess.run([sys.executable, "-m", "conductor.demo.sim_agent", "--scenario", "child"],
                          input="anything", env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "stdout.txt"
    out.write_text(proc.stdout)
    events = _stdout_events(str(out))
    assert events[0]["type"] == "system" and events[0]["subtype"] == "init"
    assert events[-1]["type"] == "result" and events[-1]["is_error"] is False
    kinds = {block["type"] for e in events if e["type"] == "assistant"
             for block in e["message"]["content"]}
    assert {"text", "tool_use"} <= kinds
    assert extract_output("claude", str(out)) == "The unicode case is covered by test_unicode."
    tool_lines = [d for line in proc.stdout.splitlines() for d in display_lines("claude", line)
                  if d.kind == "tool"]
    assert any("Grep" in d.text for d in tool_lines)


# ---- through the runner --------------------------------------------------------------------

def test_happy_finishes_with_a_child_run_messages_and_output(demo_root):
    task = "task-20260220-153045-happy"
    proc = demo_root.run_task(task, task_prompt("happy"))
    assert proc.returncode == 0, proc.stderr
    task_dir = demo_root.task_dir(task)
    assert os.path.isfile(os.path.join(task_dir, "DONE"))
    snap = scan_task(Layout(demo_root.root), PROJECT, task)
    roots = [r for r in snap.runs if not r.info.parent_run_id]
    children = [r for r in snap.runs if r.info.parent_run_id]
    assert len(roots) == 1 and roots[0].info.status == "completed"
    assert len(children) == 1
    assert children[0].info.parent_run_id == roots[0].run_id
    assert children[0].info.status == "completed"
    root_run = roots[0].path
    with open(os.path.join(root_run, "output.md"), encoding="utf-8") as f:
        output = f.read()
    assert output.startswith("# Slugify: done\n")
    assert "Sub-agent: the sub-agent finished." in output
    with open(os.path.join(children[0].path, "output.md"), encoding="utf-8") as f:
        assert f.read().startswith("# Sub-agent report\n")
    messages = _messages(demo_root.root, task)
    mine = [(m.type, m.body) for m in messages if m.run_id == roots[0].run_id]
    assert ("PROGRESS", "step 1/4: reading the code") in mine
    assert ("FACT", "tests: 42 passed") in mine
    assert ("PROGRESS", "sub-agent: unicode case is covered") in [
        (m.type, m.body) for m in messages if m.run_id == children[0].run_id]
    events = _stdout_events(os.path.join(root_run, "agent-stdout.txt"))
    assert events[0]["subtype"] == "init" and events[-1]["type"] == "result"
    assert any(b.get("name") == "Bash" and "run-agent job" in b["input"]["command"]
               for e in events if e["type"] == "assistant" for b in e["message"]["content"])


def test_flaky_fails_first_then_succeeds_on_restart(demo_root):
    task = "task-20260220-153045-flaky"
    proc = demo_root.run_task(task, task_prompt("flaky"))
    assert proc.returncode == 0, proc.stderr
    runs = scan_task(Layout(demo_root.root), PROJECT, task).runs
    assert [r.info.status for r in runs] == ["failed", "completed"]
    first, second = runs
    assert first.info.exit_code == 1
    assert first.info.error_summary == "agent reported failure"
    with open(os.path.join(first.path, "agent-stderr.txt"), encoding="utf-8") as f:
        assert "simulated failure on the first attempt" in f.read()
    assert second.info.previous_run_id == first.run_id
    with open(os.path.join(second.path, "prompt.md"), encoding="utf-8") as f:
        assert task_text(f.read()).startswith("Continue working on the following:")
    assert os.path.isfile(os.path.join(demo_root.task_dir(task), "DONE"))
    types = [m.type for m in _messages(demo_root.root, task)]
    assert "RUN_CRASH" in types and "RUN_STOP" in types


def test_question_is_asked_and_the_answer_is_used(demo_root):
    task = "task-20260220-153045-question"
    proc = demo_root.start_task(task, task_prompt("question"))
    question = wait_until(lambda: [m for m in _messages(demo_root.root, task)
                                   if m.type == "QUESTION"], 60, what="the QUESTION")[0]
    assert question.body.startswith("Which database should the migration target")
    assert question.run_id  # posted from inside the run
    answer = demo_root.cli("bus", "post", "--root", demo_root.root, "--project", PROJECT,
                           "--task", task, "--type", "USER", "--body", "sqlite")
    assert answer.returncode == 0, answer.stderr
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert ("DECISION", "migration target: sqlite") in [
        (m.type, m.body) for m in _messages(demo_root.root, task)]
    run = scan_task(Layout(demo_root.root), PROJECT, task).runs[-1]
    with open(os.path.join(run.path, "output.md"), encoding="utf-8") as f:
        assert "Target chosen by the operator: sqlite." in f.read()


def test_long_is_stopped_by_the_operator_and_not_restarted(demo_root):
    task = "task-20260220-153045-long"
    proc = demo_root.start_task(task, task_prompt("long"))
    layout = Layout(demo_root.root)

    def printing():
        runs = scan_task(layout, PROJECT, task).runs
        if runs and runs[0].info.status == "running":
            path = os.path.join(runs[0].path, "agent-stdout.txt")
            return os.path.exists(path) and b"step 3/600" in open(path, "rb").read()
        return False

    wait_until(printing, 60, what="the long run to print a few steps")
    stop = demo_root.cli("task", "stop", "--project", PROJECT, "--task", task, "--root",
                         demo_root.root, "--grace", "5s")
    assert stop.returncode == 0, stop.stderr
    proc.communicate(timeout=60)  # the loop ends by itself
    runs = scan_task(layout, PROJECT, task).runs
    assert len(runs) == 1  # not restarted
    info = runs[0].info
    assert info.status == "failed"
    assert info.error_summary.startswith("stopped by operator")
    with open(os.path.join(runs[0].path, "agent-stderr.txt"), encoding="utf-8") as f:
        assert "received SIGTERM; stopping" in f.read()
    assert not os.path.exists(os.path.join(demo_root.task_dir(task), "DONE"))
    assert os.path.exists(os.path.join(demo_root.task_dir(task), "STOP-REQUESTED"))
    assert any(m.type == "INFO" and "stopped by operator" in m.body
               for m in _messages(demo_root.root, task))


@pytest.mark.parametrize("scenario", ["happy", "question", "child"])
def test_sigterm_ends_any_scenario_with_143(subprocess_env, scenario):
    import signal
    env = dict(subprocess_env, CONDUCTOR_SIM_SPEED="1")
    proc = subprocess.Popen([sys.executable, "-m", "conductor.demo.sim_agent", "--scenario",
                             scenario], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    proc.stdin.write("work\n")
    proc.stdin.close()
    proc.stdin = None
    # the init event: it is running, and its handlers (set before init) are in place
    proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "sim-agent: received SIGTERM; stopping" in err
