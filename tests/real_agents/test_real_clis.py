"""conductor driving the REAL claude, codex and gemini CLIs, end to end.

Each test runs ``python -m conductor job|task`` with a conductor config whose agent points at a
loopback server (:mod:`vendor_api`) that speaks the vendor's model API: the CLIs themselves are
the unmodified npm packages (see conftest.py), they run their real tools in the task folder, and
print their real event streams, errors and usage. The tests assert what an operator sees:
output.md, run-info, the task's message bus, LOOP-STATE.json, exit codes, and that the token from
the config is what reached the model API.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time

import pytest

import vendor_api as api
from vendor_api import AUTH_MESSAGE, FINAL

from conductor.bus import MessageBus
from conductor.ids import run_sort_key
from conductor.store import read_run_info
from conductor.store.loopstate import read_loop_state

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "src")
PROJECT = "e2e"
TASK = "task-20261130-140000-real-cli"
RUN_TIMEOUT = 180          # a safety net for a hung CLI, never a timed assertion

MODELS = {"claude": "claude-sonnet-4-5", "codex": "gpt-5.1-codex", "gemini": "gemini-2.5-flash"}
SERVERS = {"claude": api.AnthropicServer, "codex": api.ResponsesServer, "gemini": api.GeminiServer}
# the header each CLI sends the token in, and how
TOKEN_HEADER = {"claude": ("x-api-key", "{}"), "codex": ("authorization", "Bearer {}"),
                "gemini": ("x-goog-api-key", "{}")}


def wait_for(predicate, timeout=RUN_TIMEOUT, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


class Rig:
    """One agent type against one loopback server, with a runs root and a conductor config."""

    def __init__(self, tmp_path, clis, agent: str, server: api.VendorServer, defaults=None):
        self.tmp = tmp_path
        self.agent = agent
        self.server = server
        self.root = str(tmp_path / "runs")
        self.token = f"sk-e2e-{agent}-{secrets.token_hex(8)}"
        self.agent_home = str(tmp_path / "agent-home")
        self.agent_tmp = str(tmp_path / "agent-tmp")
        os.makedirs(self.agent_home)
        os.makedirs(self.agent_tmp)
        home = str(tmp_path / "home")
        os.makedirs(home)
        # the operator's own keys and settings never reach the test
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("JRUN_", "CONDUCTOR_", "ANTHROPIC_", "OPENAI_", "CODEX_",
                                         "GEMINI_", "GOOGLE_", "CLAUDE"))}
        self.env.update(HOME=home, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        PATH=os.pathsep.join([clis.bin, os.path.dirname(sys.executable),
                                              os.environ.get("PATH", "/usr/bin:/bin")]))
        self.config = str(tmp_path / "config.yaml")
        self.write_config(defaults or {})

    # ---- the config ----------------------------------------------------------------------------

    def agent_env(self) -> dict[str, str]:
        env = {"HOME": self.agent_home, "TMPDIR": self.agent_tmp}
        if self.agent == "claude":
            # TODO(be-claude): the backend sets IS_SANDBOX=1 as root itself
            env["IS_SANDBOX"] = "1"
        elif self.agent == "codex":
            codex_home = os.path.join(self.agent_home, ".codex")
            os.makedirs(codex_home, exist_ok=True)
            with open(os.path.join(codex_home, "config.toml"), "w") as f:
                f.write(f'model_provider = "loopback"\n\n'
                        f'[model_providers.loopback]\n'
                        f'name = "loopback"\n'
                        f'base_url = "{self.server.url}/v1"\n'
                        f'env_key = "OPENAI_API_KEY"\n'
                        f'wire_api = "responses"\n'
                        f'supports_websockets = false\n')
            env["CODEX_HOME"] = codex_home
        elif self.agent == "gemini":
            settings = os.path.join(self.agent_home, ".gemini")
            os.makedirs(settings, exist_ok=True)
            with open(os.path.join(settings, "settings.json"), "w") as f:
                json.dump({"security": {"auth": {"selectedType": "gemini-api-key"}}}, f)
            # TODO(be-gemini): the backend passes --skip-trust itself
            env["GEMINI_CLI_TRUST_WORKSPACE"] = "true"
        return env

    def write_config(self, defaults: dict) -> None:
        base_url = self.server.url + ("/v1" if self.agent == "codex" else "")
        agent = {"type": self.agent, "token": self.token, "base_url": base_url,
                 "model": MODELS[self.agent], "env": self.agent_env()}
        config = {"agents": {self.agent: agent}}
        if defaults:
            config["defaults"] = defaults
        with open(self.config, "w") as f:
            json.dump(config, f, indent=2)  # JSON is YAML

    # ---- running conductor -----------------------------------------------------------------------

    def command(self, verb: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "conductor", verb, "--root", self.root, "--config",
                self.config, "--project", PROJECT, "--task", TASK, "--agent", self.agent, *args]

    def job(self, prompt: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command("job", "--prompt", prompt, *args), env=self.env,
                              cwd=str(self.tmp), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)

    def task(self, prompt: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.command("task", "--prompt", prompt, "--restart-delay", "10ms",
                                             "--child-poll-interval", "50ms", *args),
                                env=self.env, cwd=str(self.tmp), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen) -> tuple[int, str, str]:
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"run-agent task did not end: {err[-2000:]}")
        return proc.returncode, out, err

    def post(self, kind: str, body: str) -> None:
        res = subprocess.run([sys.executable, "-m", "conductor", "bus", "post", "--root", self.root,
                              "--project", PROJECT, "--task", TASK, "--type", kind,
                              "--body", body], env=self.env, capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, res.stderr

    # ---- what it left -------------------------------------------------------------------------------

    @property
    def task_dir(self) -> str:
        return os.path.join(self.root, PROJECT, TASK)

    def runs(self):
        d = os.path.join(self.task_dir, "runs")
        if not os.path.isdir(d):
            return []
        infos = [read_run_info(os.path.join(d, name, "run-info.yaml")) for name in os.listdir(d)
                 if os.path.exists(os.path.join(d, name, "run-info.yaml"))]
        return sorted(infos, key=lambda i: run_sort_key(i.start_time, i.run_id))

    def bus(self):
        path = os.path.join(self.task_dir, "TASK-MESSAGE-BUS.md")
        return MessageBus(path).read_all() if os.path.exists(path) else []

    def types(self) -> list[str]:
        return [m.type for m in self.bus()]

    def loop_state(self):
        return read_loop_state(self.task_dir)

    def stdout_of(self, info) -> str:
        with open(info.stdout_path) as f:
            return f.read()

    def tokens_received(self) -> set[str]:
        header, _ = TOKEN_HEADER[self.agent]
        return {r.header(header) for r in self.server.main_requests}

    def expected_token(self) -> str:
        return TOKEN_HEADER[self.agent][1].format(self.token)


@pytest.fixture
def rig(tmp_path, real_clis):
    made = []

    def make(agent: str, steps, defaults=None, limit_seconds=4.0) -> Rig:
        server = SERVERS[agent](steps, limit_seconds=limit_seconds)
        server.__enter__()
        made.append(server)
        return Rig(tmp_path, real_clis, agent, server, defaults)

    yield make
    for server in made:
        server.__exit__(None, None, None)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def tool_output_seen(server: api.VendorServer) -> str:
    """The conversation of the model request that followed the tool call, as text."""
    kinds = server.replies
    assert "tool" in kinds, kinds
    return json.dumps(server.main_requests[kinds.index("tool") + 1].body)


USAGE = {  # what each CLI reports for one tool-using turn against the loopback server
    "claude": dict(input_tokens=2 * api.AnthropicServer.input_tokens,
                   output_tokens=2 * api.AnthropicServer.output_tokens),
    "codex": dict(input_tokens=2 * api.ResponsesServer.input_tokens,
                  output_tokens=2 * api.ResponsesServer.output_tokens,
                  cached_tokens=2 * api.ResponsesServer.cached_tokens),
    "gemini": dict(input_tokens=2 * api.GeminiServer.input_tokens,
                   output_tokens=2 * api.GeminiServer.output_tokens),
}

# ---- a tool-using success, as a job ---------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_job_tool_use_success(rig, agent):
    r = rig(agent, ["tool"])
    res = r.job("List the task folder, then say the sentence.")
    assert res.returncode == 0, res.stderr
    [info] = r.runs()
    assert (info.status, info.exit_code, info.error_summary, info.failure) == (
        "completed", 0, "", "")
    assert read(info.output_path) == FINAL + "\n"
    assert r.types() == ["RUN_START", "RUN_STOP"]
    # the CLI really ran `ls -1` in the task folder and sent the listing back to the model
    assert "TASK.md" in tool_output_seen(r.server)
    assert r.tokens_received() == {r.expected_token()}
    assert r.server.replies == ["tool", "final"]
    # what the CLI reported about itself
    assert info.session_id
    assert info.session_id in r.stdout_of(info)
    assert info.model == MODELS[agent]
    for key, value in USAGE[agent].items():
        assert getattr(info, key) == value, key
    if agent == "claude":
        assert info.cost_usd > 0


# ---- an auth error (401): failed fast, not restarted ----------------------------------------------------

AUTH_REQUESTS = {"claude": 3, "codex": 6, "gemini": 3}


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_auth_error_stops_the_task_after_one_run(rig, agent):
    r = rig(agent, ["auth"])
    # (--max-restarts: a loop that did restart stops soon instead of a hundred times)
    code, out, err = r.finish(r.task("Say the sentence.", "--max-restarts", "3"))
    assert code != 0
    [info] = r.runs()  # not restarted
    assert info.status == "failed" and info.exit_code != 0
    assert info.failure == "auth"
    assert AUTH_MESSAGE in info.error_summary and "\n" not in info.error_summary
    assert read(info.output_path) == f"# Agent failed\n\n{info.error_summary}\n"
    [error] = [m for m in r.bus() if m.type == "ERROR"]
    assert AUTH_MESSAGE in error.body
    assert r.types()[:1] == ["RUN_START"]
    assert r.tokens_received() == {r.expected_token()}
    # the CLI gave up at once instead of retrying for minutes (claude: CLAUDE_CODE_MAX_RETRIES;
    # codex 0.171 retries a 401 five times in ~7 s, "Reconnecting... n/5")
    assert len(r.server.main_requests) <= AUTH_REQUESTS[agent]
    assert not os.path.exists(os.path.join(r.task_dir, "DONE"))


# ---- a rate limit with a reset a few seconds ahead: the task waits and resumes --------------------------

@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_rate_limit_waits_for_the_reset_then_succeeds(rig, agent):
    r = rig(agent, ["limit", "tool+done"], limit_seconds=4.0)
    proc = r.task("List the task folder, then say the sentence.")
    seen = []

    def limit_state():
        state = r.loop_state()
        if state is not None:
            seen.append(state)
        return state is not None and state.state == "limit" or proc.poll() is not None
    wait_for(limit_state)
    code, out, err = r.finish(proc)
    assert code == 0, err
    limited = [s for s in seen if s.state == "limit"]
    assert limited, f"LOOP-STATE never showed a limit wait: {seen}"
    assert limited[0].failures == 0 and limited[0].until
    first, second = r.runs()
    assert first.failure == "limit" and first.status == "failed"
    assert (second.status, second.exit_code) == ("completed", 0)
    assert read(second.output_path) == FINAL + "\n"
    assert os.path.exists(os.path.join(r.task_dir, "DONE"))
    assert r.server.replies[-2:] == ["tool", "final"]
    assert r.tokens_received() == {r.expected_token()}


# ---- a budget stop (claude reports cost): a QUESTION, then the operator's answer resumes it ---------------

def test_claude_budget_question_and_answer_resume_the_session(rig):
    r = rig("claude", ["tool", "tool+done"])
    proc = r.task("List the task folder, then say the sentence.", "--max-cost-usd", "0.001")
    question = wait_for(lambda: next((m for m in r.bus() if m.type == "QUESTION"), None)
                        or proc.poll() is not None)
    assert question is not True, f"no QUESTION; task ended: {r.finish(proc)}"
    assert question.body.startswith("budget of $0.001 reached")
    state = wait_for(lambda: r.loop_state())
    assert state.state == "budget" and state.question == question.msg_id
    [first] = r.runs()
    assert (first.status, first.exit_code) == ("completed", 0)
    assert first.cost_usd > 0.001 and first.session_id
    r.post("USER", "0.5")
    code, out, err = r.finish(proc)
    assert code == 0, err
    first, second = r.runs()
    assert f"--resume {first.session_id}" in second.commandline
    assert (second.status, second.exit_code) == ("completed", 0)
    assert read(second.output_path) == FINAL + "\n"
    assert os.path.exists(os.path.join(r.task_dir, "DONE"))
    # the second attempt continued the conversation: the first answer is in its history
    resumed = json.dumps(r.server.main_requests[2].body)
    assert FINAL in resumed


# ---- a resume: the next attempt continues the recorded session -------------------------------------------

RESUME_FLAG = {"claude": "--resume {}", "codex": "exec resume {}", "gemini": "--resume {}"}


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_restart_resumes_the_recorded_session(rig, agent):
    r = rig(agent, ["tool", "tool+done"], defaults={"resume": "always"})
    code, out, err = r.finish(r.task("List the task folder, then say the sentence."))
    assert code == 0, err
    first, second = r.runs()
    assert first.session_id
    assert RESUME_FLAG[agent].format(first.session_id) in second.commandline
    assert read(second.output_path) == FINAL + "\n"
    # the model saw the first attempt's conversation again
    assert FINAL in json.dumps(r.server.main_requests[2].body)
    assert r.server.replies == ["tool", "final", "tool", "final"]
