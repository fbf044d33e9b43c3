"""A simulated coding agent: a real process to run as a ``command`` agent, spending no tokens.

    python -m conductor.demo.sim_agent [--scenario happy|flaky|long|question|child]

It behaves like ``claude -p --output-format stream-json --verbose`` from the runner's point of
view: it reads its prompt (with the runner's preamble) on stdin, prints stream-json events over
a few seconds (a system init, assistant text, thinking and tool_use blocks, tool results, a
final result), and does what the preamble asks of an agent: it posts PROGRESS/FACT/QUESTION
messages with ``run-agent bus post``, starts a sub-agent with ``run-agent job``, writes
``output.md`` to its run folder and ``DONE`` to its task folder.

The scenario comes from ``--scenario``, else from a ``scenario: <name>`` line in the prompt,
else ``happy``. ``CONDUCTOR_SIM_SPEED`` scales every pause (0.05 runs twenty times faster).
``CONDUCTOR_SIM_AGENT`` names the agent for the sub-agent (default ``sim``) and
``CONDUCTOR_SIM_CONFIG`` the config file the sub-agent's ``run-agent job`` needs.
SIGTERM (an operator's stop) ends it at once with exit status 143.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

from ..runner.prompt import RESTART_PREFIX

SCENARIOS = ("happy", "flaky", "long", "question", "child")
MODEL = "claude-sim-1"
SPEED_ENV = "CONDUCTOR_SIM_SPEED"
AGENT_ENV = "CONDUCTOR_SIM_AGENT"
CONFIG_ENV = "CONDUCTOR_SIM_CONFIG"
LONG_SECONDS = 600
QUESTION_WAIT = 300.0  # how long the question scenario waits for an answer (scaled by speed)
_SCENARIO_RE = re.compile(r"^\s*scenario:\s*([a-z][a-z-]*)\s*$", re.M)


class Stopped(Exception):
    """SIGTERM/SIGINT/SIGHUP arrived: the operator stopped this run."""


def task_text(prompt: str) -> str:
    """The task part of the prompt: what follows the runner's preamble, or all of it."""
    marker = prompt.find("\n## Completion\n")
    if marker >= 0:
        cut = prompt.find("\n---\n", marker)
        if cut >= 0:
            return prompt[cut + len("\n---\n"):].lstrip("\n")
    return prompt


def pick_scenario(prompt: str, flag: str | None) -> str:
    if flag:
        return flag
    m = _SCENARIO_RE.search(task_text(prompt))
    return m[1] if m and m[1] in SCENARIOS else "happy"


def is_restart(prompt: str) -> bool:
    return task_text(prompt).startswith(RESTART_PREFIX.rstrip("\n"))


def _speed(environ) -> float:
    try:
        value = float(environ.get(SPEED_ENV, "") or 1.0)
    except ValueError:
        return 1.0
    return max(0.0, value)


def _run_agent_argv() -> list[str]:
    """``run-agent`` as the runner put it on PATH, else this interpreter's copy of it."""
    found = shutil.which("run-agent")
    return [found] if found else [sys.executable, "-m", "conductor"]


@dataclass
class Sim:
    """One simulated session: its ids, the stream it prints, and the runner's environment."""

    scenario: str
    prompt: str
    environ: dict[str, str]
    speed: float = 1.0
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    turns: int = 0
    started: float = field(default_factory=time.monotonic)
    out_tokens: int = 0

    @property
    def run_folder(self) -> str:
        return self.environ.get("JRUN_RUN_FOLDER", "")

    @property
    def task_folder(self) -> str:
        return self.environ.get("JRUN_TASK_FOLDER", "")

    @property
    def run_id(self) -> str:
        return self.environ.get("JRUN_ID", "")

    # ---- the stream ----------------------------------------------------------------
    def emit(self, event: dict) -> None:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def pause(self, seconds: float) -> None:
        time.sleep(seconds * self.speed)

    def init(self) -> None:
        self.emit({
            "type": "system", "subtype": "init", "cwd": os.getcwd(), "session_id": self.session_id,
            "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite"],
            "mcp_servers": [], "model": MODEL, "permissionMode": "bypassPermissions",
            "slash_commands": [], "apiKeySource": "none", "claude_code_version": "sim",
            "output_style": "default", "agents": [], "uuid": str(uuid.uuid4()),
        })

    def _assistant(self, block: dict, out_tokens: int = 24) -> None:
        self.turns += 1
        self.out_tokens += out_tokens
        self.emit({
            "type": "assistant",
            "message": {
                "id": "msg_01" + secrets.token_hex(11), "type": "message", "role": "assistant",
                "model": MODEL, "content": [block], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 6, "cache_creation_input_tokens": 512,
                          "cache_read_input_tokens": 14336, "output_tokens": out_tokens,
                          "service_tier": "standard"},
            },
            "parent_tool_use_id": None, "session_id": self.session_id, "uuid": str(uuid.uuid4()),
        })

    def say(self, text: str, pause: float = 0.6) -> None:
        self._assistant({"type": "text", "text": text}, out_tokens=len(text.split()) * 2)
        self.pause(pause)

    def think(self, text: str, pause: float = 0.4) -> None:
        self._assistant({"type": "thinking", "thinking": text,
                         "signature": secrets.token_urlsafe(24)})
        self.pause(pause)

    def tool(self, name: str, tool_input: dict, result: str, *, is_error: bool = False,
             pause: float = 0.6) -> None:
        """A tool call and its result, the way claude prints them (assistant, then user)."""
        tool_id = "toolu_01" + secrets.token_hex(11)
        self._assistant({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})
        self.pause(pause)
        self.emit({
            "type": "user",
            "message": {"role": "user", "content": [
                {"tool_use_id": tool_id, "type": "tool_result", "content": result,
                 "is_error": is_error}]},
            "parent_tool_use_id": None, "session_id": self.session_id, "uuid": str(uuid.uuid4()),
        })

    def result(self, text: str, *, is_error: bool = False) -> None:
        elapsed = int((time.monotonic() - self.started) * 1000)
        self.emit({
            "type": "result", "subtype": "error_during_execution" if is_error else "success",
            "is_error": is_error, "duration_ms": elapsed, "duration_api_ms": int(elapsed * 0.8),
            "num_turns": self.turns, "result": text, "session_id": self.session_id,
            "total_cost_usd": 0, "usage": {"input_tokens": 6 * self.turns,
                                           "output_tokens": self.out_tokens},
            "permission_denials": [], "uuid": str(uuid.uuid4()),
        })

    # ---- what an agent does through run-agent --------------------------------------
    def post(self, kind: str, body: str) -> str:
        """``run-agent bus post``; shown as a Bash tool call. Returns the msg_id ("" on error)."""
        argv = _run_agent_argv() + ["bus", "post", "--type", kind, "--body", body]
        shown = f'run-agent bus post --type {kind} --body "{body}"'
        if not self.environ.get("JRUN_MESSAGE_BUS"):
            self.tool("Bash", {"command": shown, "description": f"Post {kind}"},
                      "JRUN_MESSAGE_BUS is not set; not posting", is_error=True, pause=0.1)
            return ""
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=self.environ, timeout=60)
        text = (proc.stdout or proc.stderr).strip()
        self.tool("Bash", {"command": shown, "description": f"Post {kind} to the message bus"},
                  text, is_error=proc.returncode != 0, pause=0.2)
        return text if proc.returncode == 0 else ""

    def start_child(self, prompt: str) -> subprocess.Popen | None:
        """``run-agent job`` for a sub-agent, in the background (it is our child run)."""
        if not (self.run_id and self.task_folder):
            return None
        agent = self.environ.get(AGENT_ENV, "") or "sim"
        argv = _run_agent_argv() + ["job", "--project", self.environ.get("JRUN_PROJECT_ID", ""),
                                    "--task", self.environ.get("JRUN_TASK_ID", ""),
                                    "--parent-run-id", self.run_id, "--agent", agent,
                                    "--prompt", prompt]
        config = self.environ.get(CONFIG_ENV, "")
        if config:
            argv += ["--config", config]
        shown = (f'run-agent job --project $JRUN_PROJECT_ID --task $JRUN_TASK_ID '
                 f'--parent-run-id $JRUN_ID --agent {agent} --prompt "{prompt.splitlines()[0]} ..."')
        self._assistant({"type": "tool_use", "id": "toolu_01" + secrets.token_hex(11),
                         "name": "Bash", "input": {"command": shown,
                                                   "description": "Start a sub-agent",
                                                   "run_in_background": True}})
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=self.environ)

    def write_output(self, text: str) -> None:
        if self.run_folder and os.path.isdir(self.run_folder):
            path = os.path.join(self.run_folder, "output.md")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text if text.endswith("\n") else text + "\n")
            self.tool("Write", {"file_path": path, "content": text[:80] + "..."},
                      f"File created successfully at: {path}", pause=0.2)

    def write_done(self) -> None:
        if self.task_folder and os.path.isdir(self.task_folder):
            path = os.path.join(self.task_folder, "DONE")
            open(path, "w").close()
            self.tool("Bash", {"command": f"touch {path}", "description": "Mark the task done"},
                      "", pause=0.1)


# ---- scenarios ---------------------------------------------------------------------------

def happy(sim: Sim) -> int:
    sim.think("The task asks for a small feature with tests. Plan: read the code, add the "
              "function, start a sub-agent to check the tests, then report.")
    sim.say("I'll start by looking at the project layout.")
    sim.post("PROGRESS", "step 1/4: reading the code")
    sim.tool("Glob", {"pattern": "src/**/*.py"}, "src/app/__init__.py\nsrc/app/slug.py\n"
             "tests/test_slug.py")
    sim.tool("Read", {"file_path": "src/app/slug.py"}, "     1\tdef slugify(text):\n"
             "     2\t    return text.lower()\n")
    child = sim.start_child("scenario: child\nCheck that tests/test_slug.py covers unicode input.")
    sim.say("A sub-agent is checking the tests while I edit the code.")
    sim.post("PROGRESS", "step 2/4: editing src/app/slug.py")
    sim.tool("Edit", {"file_path": "src/app/slug.py", "old_string": "return text.lower()",
                      "new_string": "return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')"},
             "The file src/app/slug.py has been updated.", pause=1.0)
    sim.post("PROGRESS", "step 3/4: running the tests")
    sim.tool("Bash", {"command": "python -m pytest -q", "description": "Run the tests"},
             "........................................ [100%]\n42 passed in 0.84s", pause=1.5)
    sim.post("FACT", "tests: 42 passed")
    child_note = "no sub-agent was started (not inside a run)"
    if child is not None:
        out, _ = child.communicate()
        child_note = ("the sub-agent finished" if child.returncode == 0
                      else f"the sub-agent failed (exit {child.returncode}): {out.strip()[-200:]}")
    sim.say(f"Step 4/4: {child_note}.")
    sim.post("PROGRESS", "step 4/4: writing the summary")
    summary = ("# Slugify: done\n\n- `slugify` now maps every run of other characters to one `-`.\n"
               "- Tests: 42 passed.\n"
               f"- Sub-agent: {child_note}.\n")
    sim.write_output(summary)
    sim.write_done()
    sim.say("Done: slugify handles punctuation and spaces, and the tests pass.", pause=0.1)
    sim.result("Done: slugify handles punctuation and spaces; 42 tests pass.")
    return 0


def flaky(sim: Sim, restart: bool) -> int:
    if not restart:
        sim.say("Fetching the dependencies before building.")
        sim.tool("Bash", {"command": "make deps", "description": "Fetch dependencies"},
                 "error: could not reach the build cache (connection reset)", is_error=True)
        sys.stderr.write("sim-agent: simulated failure on the first attempt: could not reach the "
                         "build cache\n")
        sys.stderr.flush()
        return 1
    sim.say("The previous attempt failed while fetching dependencies; trying again.")
    sim.post("PROGRESS", "retrying after the failed first attempt")
    sim.tool("Bash", {"command": "make deps", "description": "Fetch dependencies"},
             "fetched 12 packages", pause=1.0)
    sim.post("FACT", "dependencies fetched on the second attempt")
    sim.write_output("# Build: done on the second attempt\n\nThe first attempt could not reach "
                     "the build cache; the restart fetched the 12 packages.\n")
    sim.write_done()
    sim.result("Build done on the second attempt.")
    return 0


def long(sim: Sim) -> int:
    sim.say(f"This is a long job: about {LONG_SECONDS // 60} minutes of work.")
    sim.post("PROGRESS", f"long job started ({LONG_SECONDS} steps)")
    for step in range(1, LONG_SECONDS + 1):
        sim.say(f"step {step}/{LONG_SECONDS}: processing batch {step:04d}", pause=1.0)
        if step % 30 == 0:
            sim.post("PROGRESS", f"step {step}/{LONG_SECONDS}")
    sim.write_output(f"# Long job: done\n\nAll {LONG_SECONDS} batches processed.\n")
    sim.write_done()
    sim.result(f"All {LONG_SECONDS} batches processed.")
    return 0


def _wait_for_answer(sim: Sim, after: int) -> str | None:
    """An operator's message on the task bus after offset ``after`` (one without a run id)."""
    from ..bus import MessageBus
    bus_path = sim.environ.get("JRUN_MESSAGE_BUS", "")
    if not bus_path:
        return None
    reader = MessageBus(bus_path).reader(after)
    deadline = time.monotonic() + QUESTION_WAIT * sim.speed
    try:
        while time.monotonic() < deadline:
            for msg in reader.poll():
                if not msg.run_id and msg.type not in ("RUN_START", "RUN_STOP", "RUN_CRASH"):
                    return msg.body.strip()
            time.sleep(0.2)
    finally:
        reader.close()
    return None


def question(sim: Sim) -> int:
    sim.say("Before migrating I need to know which database to target.")
    bus_path = sim.environ.get("JRUN_MESSAGE_BUS", "")
    # Read from before our own post (it carries our run id, so it is no answer): an answer
    # that arrives the moment the question appears is not missed.
    after = os.path.getsize(bus_path) if bus_path and os.path.exists(bus_path) else 0
    sim.post("QUESTION", "Which database should the migration target: postgres or sqlite? "
                         "Answer on this task's bus (type USER).")
    answer = _wait_for_answer(sim, after)
    if answer:
        sim.say(f"The operator answered: {answer}")
        sim.post("DECISION", f"migration target: {answer}")
        text = f"# Migration plan\n\nTarget chosen by the operator: {answer}.\n"
    else:
        sim.say("No answer came; I'll assume postgres and note it.")
        sim.post("DECISION", "migration target: postgres (no answer; assumed)")
        text = "# Migration plan\n\nNo answer came; assumed postgres.\n"
    sim.write_output(text)
    sim.write_done()
    sim.result(text.splitlines()[-1])
    return 0


def child(sim: Sim) -> int:
    sim.say("Sub-agent: checking the tests as asked.")
    sim.tool("Grep", {"pattern": "unicode", "path": "tests"}, "tests/test_slug.py:12: "
             "def test_unicode():", pause=0.4)
    sim.post("PROGRESS", "sub-agent: unicode case is covered")
    sim.write_output("# Sub-agent report\n\n`tests/test_slug.py` covers unicode input "
                     "(`test_unicode`).\n")
    sim.result("The unicode case is covered by test_unicode.")
    return 0


def run(scenario: str, prompt: str, environ: dict[str, str]) -> int:
    sim = Sim(scenario, prompt, environ, speed=_speed(environ))
    sim.init()
    if scenario == "flaky":
        return flaky(sim, is_restart(prompt))
    return {"happy": happy, "long": long, "question": question, "child": child}[scenario](sim)


def _on_signal(signum, _frame) -> None:
    raise Stopped(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conductor.demo.sim_agent",
                                     description="a simulated agent for demos and tests")
    parser.add_argument("--scenario", choices=SCENARIOS, default=None)
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        prompt = sys.stdin.read()
        return run(pick_scenario(prompt, args.scenario), prompt, dict(os.environ))
    except Stopped as exc:
        sys.stderr.write(f"sim-agent: received {exc}; stopping\n")
        sys.stderr.flush()
        return 143
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    sys.exit(main())
