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

from . import vendor_api as api
from .vendor_api import AUTH_MESSAGE, FINAL

from conductor.bus import MessageBus
from conductor.ids import run_sort_key
from conductor.store import read_run_info
from conductor.store.loopstate import read_loop_state
from waiting import wait_for as _wait_for

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
    return _wait_for(predicate, timeout, interval)


class Rig:
    """One agent type against one loopback server, with a runs root and a conductor config."""

    def __init__(self, tmp_path, clis, agent: str, server: api.VendorServer, defaults=None,
                 oauth: bool = False, codex_provider: bool = True):
        self.tmp = tmp_path
        self.agent = agent
        self.server = server
        self.root = str(tmp_path / "runs")
        self.token = f"sk-e2e-{agent}-{secrets.token_hex(8)}"
        # claude: the token as a subscription login (CLAUDE_CODE_OAUTH_TOKEN in the agent's env)
        # instead of the config's `token` (ANTHROPIC_API_KEY)
        self.oauth = oauth
        # codex: a model provider in CODEX_HOME/config.toml that speaks HTTP only; without
        # it codex uses the built-in provider at the config's base_url (-c openai_base_url),
        # which first tries a WebSocket (refused here: 5 retries, then HTTPS)
        self.codex_provider = codex_provider
        self.agent_home = str(tmp_path / "agent-home")
        self.agent_tmp = str(tmp_path / "agent-tmp")
        os.makedirs(self.agent_home)
        os.makedirs(self.agent_tmp)
        home = str(tmp_path / "home")
        os.makedirs(home)
        # the operator's own keys and settings never reach the test
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("JRUN_", "CONDUCTOR_", "ANTHROPIC_", "OPENAI_", "CODEX_",
                                         "GEMINI_", "GOOGLE_", "CLAUDE", "IS_SANDBOX"))}
        self.env.update(HOME=home, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        PATH=os.pathsep.join([clis.bin, os.path.dirname(sys.executable),
                                              os.environ.get("PATH", "/usr/bin:/bin")]))
        self.config = str(tmp_path / "config.yaml")
        self.write_config(defaults or {})
        self.procs: list[subprocess.Popen] = []

    # ---- the config ----------------------------------------------------------------------------

    def agent_env(self) -> dict[str, str]:
        """The agent's own HOME (its settings, sessions and logs stay in the test's folder)."""
        env = {"HOME": self.agent_home, "TMPDIR": self.agent_tmp}
        if self.agent == "claude" and self.oauth:
            env["CLAUDE_CODE_OAUTH_TOKEN"] = self.token
        elif self.agent == "codex" and self.codex_provider:
            codex_home = os.path.join(self.agent_home, ".codex")
            os.makedirs(codex_home, exist_ok=True)
            with open(os.path.join(codex_home, "config.toml"), "w") as f:
                f.write(f'model_provider = "loopback"\n\n'
                        f'[model_providers.loopback]\n'
                        f'name = "loopback"\n'
                        f'base_url = "{self.server.url}/v1"\n'
                        f'env_key = "CODEX_API_KEY"\n'
                        f'wire_api = "responses"\n'
                        f'supports_websockets = false\n')
            env["CODEX_HOME"] = codex_home
        elif self.agent == "gemini":
            # gemini picks the "gateway" auth when GOOGLE_GEMINI_BASE_URL is set, which headless
            # mode refuses, unless the user's settings select API-key auth
            settings = os.path.join(self.agent_home, ".gemini")
            os.makedirs(settings, exist_ok=True)
            with open(os.path.join(settings, "settings.json"), "w") as f:
                json.dump({"security": {"auth": {"selectedType": "gemini-api-key"}}}, f)
        return env

    def write_config(self, defaults: dict) -> None:
        base_url = self.server.url + ("/v1" if self.agent == "codex" else "")
        agent = {"type": self.agent, "base_url": base_url, "model": MODELS[self.agent],
                 "env": self.agent_env()}
        if not self.oauth:
            agent["token"] = self.token
        config = {"agents": {self.agent: agent}}
        if defaults:
            config["defaults"] = defaults
        with open(self.config, "w") as f:
            json.dump(config, f, indent=2)  # JSON is YAML
        os.chmod(self.config, 0o600)

    # ---- running conductor -----------------------------------------------------------------------

    def command(self, verb: str, *args: str) -> list[str]:
        return [sys.executable, "-m", "conductor", verb, "--root", self.root, "--config",
                self.config, "--project", PROJECT, "--task", TASK, "--agent", self.agent, *args]

    def job(self, prompt: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command("job", "--prompt", prompt, *args), env=self.env,
                              cwd=str(self.tmp), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT)

    def task(self, prompt: str, *args: str) -> subprocess.Popen:
        argv = self.command("task", "--prompt", prompt, "--restart-delay", "10ms",
                            "--child-poll-interval", "50ms", *args)
        self.procs.append(subprocess.Popen(argv, env=self.env, cwd=str(self.tmp),
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True))
        return self.procs[-1]

    def stop_tasks(self) -> None:
        """A task a failed test left running (waiting for an answer, say) is stopped."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()

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

    # ---- what it left ----------------------------------------------------------------------------

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

    def describe(self) -> str:
        """The bus and the runs, for a failed assertion's message."""
        lines = [f"{m.type}: {m.body[:300]!r}" for m in self.bus()]
        lines += [f"run {i.run_id}: {i.status} exit {i.exit_code} failure {i.failure!r} "
                  f"error {i.error_summary[:200]!r} cmd {i.commandline!r}" for i in self.runs()]
        lines.append(f"server replies: {self.server.replies}")
        return "\n".join(lines)

    def loop_state(self):
        return read_loop_state(self.task_dir)

    def stdout_of(self, info) -> str:
        with open(info.stdout_path) as f:
            return f.read()

    def token_header(self) -> tuple[str, str]:
        if self.oauth:
            return "authorization", "Bearer {}"
        return TOKEN_HEADER[self.agent]

    def tokens_received(self) -> set[str]:
        header, _ = self.token_header()
        return {r.header(header) for r in self.server.main_requests}

    def expected_token(self) -> str:
        return self.token_header()[1].format(self.token)


@pytest.fixture
def rig(tmp_path, real_clis):
    made = []

    def make(agent: str, steps, defaults=None, limit_seconds=4.0, limit_requests=None,
             limit_until=None, **options) -> Rig:
        server = SERVERS[agent](steps, limit_seconds=limit_seconds, limit_requests=limit_requests,
                                limit_until=limit_until)
        server.__enter__()
        made.append(Rig(tmp_path, real_clis, agent, server, defaults, **options))
        return made[-1]

    yield make
    for rig_ in made:
        rig_.stop_tasks()
        rig_.server.__exit__(None, None, None)


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

# ---- a tool-using success, as a job --------------------------------------------------------------


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_job_tool_use_success(rig, agent):
    # codex here uses its built-in provider at the config's base_url (`-c openai_base_url=`)
    r = rig(agent, ["tool"], codex_provider=False)
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
    if agent == "codex":  # it tried a WebSocket first (refused with 404), with the same token
        upgrades = [q for q in r.server.requests if q.method == "GET"]
        assert upgrades and {q.header("upgrade") for q in upgrades} == {"websocket"}
        assert {q.header("authorization") for q in upgrades} == {r.expected_token()}
    # what the CLI reported about itself
    assert info.session_id
    assert info.session_id in r.stdout_of(info)
    assert info.model == MODELS[agent]
    for key, value in USAGE[agent].items():
        assert getattr(info, key) == value, key
    if agent == "claude":  # claude prices the turn itself (claude-sonnet-4-5: $3 / $15 per MTok)
        [result] = [json.loads(line) for line in r.stdout_of(info).splitlines()
                    if line.startswith('{"') and json.loads(line).get("type") == "result"]
        assert info.cost_usd == pytest.approx(result["total_cost_usd"]) == pytest.approx(0.0081)


# ---- an auth error (401): failed fast, not restarted ---------------------------------------------

AUTH_REQUESTS = {"claude": 3, "codex": 6, "gemini": 3}
# the CLI's own exit code (gemini: the HTTP status & 0xFF); claude and codex are ended by
# conductor at their first retry notice of the refused key (exit -1, the agent terminated)
AUTH_EXIT = {"codex": -1, "gemini": 401 & 0xFF}
# claude's first retry notice (system/api_retry: error_status 401, error "authentication_failed")
# already names the failure, and conductor ends it there, before claude prints the server's words;
# codex's first notice ("Reconnecting... 1/5 (unexpected status 401 Unauthorized: <words>, …)")
# carries the server's words
AUTH_WORDS = {"claude": "401 authentication_failed", "codex": AUTH_MESSAGE, "gemini": AUTH_MESSAGE}


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_auth_error_stops_the_task_after_one_run(rig, agent):
    r = rig(agent, ["auth"])
    # (--max-restarts: a loop that did restart stops soon instead of a hundred times)
    code, out, err = r.finish(r.task("Say the sentence.", "--max-restarts", "3"))
    assert code != 0
    assert len(r.runs()) == 1, r.describe()  # not restarted
    [info] = r.runs()
    assert r.loop_state().state == "failed"
    if agent in AUTH_EXIT:
        assert info.exit_code == AUTH_EXIT[agent]
    assert info.status == "failed" and info.exit_code != 0
    assert info.failure == "auth"
    assert AUTH_WORDS[agent] in info.error_summary and "\n" not in info.error_summary
    assert read(info.output_path) == f"# Agent failed\n\n{info.error_summary}\n"
    errors = [m.body for m in r.bus() if m.type == "ERROR"]
    assert errors and AUTH_WORDS[agent] in errors[0], r.describe()
    assert "RUN_START" in r.types()
    assert r.tokens_received() == {r.expected_token()}
    # the CLI gave up at once instead of retrying for minutes (claude: CLAUDE_CODE_MAX_RETRIES
    # and its first 401 notice; codex 0.171 would retry a 401 five times, "Reconnecting... n/5",
    # and is ended at the first)
    assert len(r.server.main_requests) <= AUTH_REQUESTS[agent]
    assert not os.path.exists(os.path.join(r.task_dir, "DONE"))


# ---- a rate limit with a reset a few seconds ahead: the task waits and resumes -------------------

def run_through_limit(r: Rig, *flags: str):
    """Run the task through one limit wait; the LOOP-STATE states seen while it ran."""
    proc = r.task("List the task folder, then say the sentence.", *flags)
    seen = []

    def waiting():
        state = r.loop_state()
        if state is not None:
            seen.append(state)
        return (state is not None and state.state == "limit") or proc.poll() is not None
    wait_for(waiting)
    code, out, err = r.finish(proc)
    assert code == 0, err + r.describe()
    limited = [s for s in seen if s.state == "limit"]
    assert limited, f"LOOP-STATE never showed a limit wait: {seen}"
    assert limited[0].failures == 0 and limited[0].until
    first, second = r.runs()
    assert (first.status, first.failure) == ("failed", "limit")
    assert (second.status, second.exit_code) == ("completed", 0)
    assert read(second.output_path) == FINAL + "\n"
    assert os.path.exists(os.path.join(r.task_dir, "DONE"))
    waits = [m.body for m in r.bus() if m.type == "INFO" and m.body.startswith("waiting: limit")]
    assert len(waits) == 1 and waits[0].endswith("this wait does not count as an attempt")
    assert not [m for m in r.bus() if m.type == "WARNING"]  # not a failed attempt
    assert r.server.replies[-2:] == ["tool", "final"]
    assert r.tokens_received() == {r.expected_token()}
    return first, second, limited[0]


def test_claude_usage_limit_waits_until_the_reset_claude_reports(rig):
    # a subscription login: claude prints the reset (rate_limit_event resetsAt); an API key's
    # 429 carries none (then the loop waits limit_wait_max, as for gemini below)
    r = rig("claude", ["limit", "tool+done"], limit_seconds=3.0, oauth=True)
    first, second, state = run_through_limit(r)
    reset = int(r.server.reported_reset)
    assert first.limit_reset == reset * 10 ** 9
    assert round(state.until / 10 ** 9) == reset
    assert "hit your 5-hour limit" in first.error_summary


def test_claude_short_rate_limit_is_retried_by_claude_itself(rig):
    # an API key's 429 with a retry-after of a few seconds: claude waits and retries on its own
    # (system/api_retry events), and conductor lets it: one run, no limit wait
    r = rig("claude", ["limit", "tool+done"], limit_seconds=2.0)
    code, out, err = r.finish(r.task("List the task folder, then say the sentence."))
    assert code == 0, err + r.describe()
    [info] = r.runs()
    assert (info.status, info.exit_code, info.failure) == ("completed", 0, "")
    assert read(info.output_path) == FINAL + "\n"
    retries = [json.loads(line) for line in r.stdout_of(info).splitlines()
               if '"api_retry"' in line]
    assert retries and {e["error_status"] for e in retries} == {429}
    assert not [m for m in r.bus() if m.body.startswith("waiting: limit")]


def test_codex_usage_limit_waits_for_the_reset(rig):
    # codex prints the reset to the minute ("try again at 2:16 PM"): the limit here resets at
    # a whole minute at least 10 s ahead, the server lets the next request through anyway, and
    # the wait is capped at 3 s so the test does not sit it out
    minute = (int(time.time()) // 60 + 1) * 60
    if minute - time.time() < 10:
        minute += 60
    r = rig("codex", ["limit", "tool+done"], limit_until=minute, limit_requests=1)
    first, second, state = run_through_limit(r, "--limit-wait-max", "3s")
    assert first.limit_reset == minute * 10 ** 9
    assert "try again at" in first.error_summary


def test_gemini_quota_limit_waits_then_succeeds(rig):
    # gemini ends at a daily-quota 429 ("You have exhausted your daily quota") without a reset
    # time: the loop waits its fallback, capped here by --limit-wait-max
    r = rig("gemini", ["limit", "tool+done"], limit_seconds=2.0)
    first, second, state = run_through_limit(r, "--limit-wait-max", "3s")
    assert "quota" in first.error_summary


# ---- a budget stop (claude reports cost): a QUESTION, then the operator's answer resumes it ------

def test_claude_budget_question_and_answer_resume_the_session(rig):
    r = rig("claude", ["tool", "tool+done"])
    proc = r.task("List the task folder, then say the sentence.", "--max-cost-usd", "0.001")
    question = wait_for(lambda: next((m for m in r.bus() if m.type == "QUESTION"), None)
                        or proc.poll() is not None)
    assert question is not True, f"no QUESTION; task ended: {r.finish(proc)}\n{r.describe()}"
    assert question.body.startswith("budget of $0.001 reached"), question.body
    state = wait_for(lambda: r.loop_state())
    assert state.state == "budget" and state.question == question.msg_id
    [first] = r.runs()
    # the attempt that spent it: claude's first model call cost more than the whole budget
    assert (first.status, first.failure) == ("failed", "budget"), r.describe()
    assert first.cost_usd > 0.001 and first.session_id
    assert "--max-budget-usd 0.001" in first.commandline
    r.post("USER", "0.5")
    code, out, err = r.finish(proc)
    assert code == 0, err + r.describe()
    runs = r.runs()
    # the answer resumed claude's session, with what is left of the new budget
    assert f"--resume {first.session_id}" in runs[1].commandline, r.describe()
    assert "--max-budget-usd 0.49" in runs[1].commandline
    assert (runs[-1].status, runs[-1].exit_code) == ("completed", 0)
    assert read(runs[-1].output_path) == FINAL + "\n"
    assert os.path.exists(os.path.join(r.task_dir, "DONE"))
    # the resumed attempt continued the conversation: its first request held the first prompt
    first_prompt = json.dumps(r.server.main_requests[0].body["messages"][0])
    assert first_prompt[:200] in json.dumps(r.server.main_requests[1].body["messages"]), \
        r.describe()


# ---- a resume: the next attempt continues the recorded session -----------------------------------

# the request header that names the CLI's session (gemini sends none)
SESSION_HEADER = {"claude": "x-claude-code-session-id", "codex": "thread-id"}
RESUME_FLAG = {"claude": "--resume {}", "codex": " resume {} -", "gemini": "--resume {}"}


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
    if agent in SESSION_HEADER:  # and the CLI said it was the same session
        header = SESSION_HEADER[agent]
        assert {q.header(header) for q in r.server.main_requests} == {first.session_id}
    assert r.server.replies == ["tool", "final", "tool", "final"]
