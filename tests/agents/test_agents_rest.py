"""REST backends (perplexity Agent API, xAI Responses API) against a loopback server.

The child's request loop (``rest.stream``) runs in-process with a recorded sleep; its output
files are then read by the backends' ``outcome`` as the runner does."""

from __future__ import annotations

import io
import json
import os
import random
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from conductor.agents.backend import AGENT, AUTH, CONFIG, LIMIT, NETWORK, NO_ANSWER, Failure, Launch
from conductor.agents.display import DisplayLine
from conductor.agents.perplexity import BACKEND as PPLX
from conductor.agents.rest import (Request, limit_delay, perplexity_endpoint, reset_seconds,
                                   retry_after, stream, xai_endpoint, xai_settings)
from conductor.agents.xai import BACKEND as XAI

from .responses_server import (frames_reply, perplexity_failed, perplexity_stream,
                               xai_failed, xai_stream)
from .sse_server import ScriptedServer, json_reply, status_reply

SRC = Path(__file__).resolve().parents[2] / "src"
NOW = 1_796_000_000.0  # 2026-11-30T...Z, the clock the tests give the client


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Run:
    """One in-process run of the child's request loop; its stdout/stderr kept as files."""

    def __init__(self, tmp_path: Path, name: str, url: str, *, token: str = "secret-token",
                 model: str = "", **options) -> None:
        self.sleeps = Sleeps()
        out, log = io.BytesIO(), io.BytesIO()
        req = Request(name=name, url=url, token=token, prompt="What is new?",
                      model=model or ("perplexity/sonar" if name == "perplexity" else "grok-4.3"),
                      sleep=self.sleeps, clock=lambda: NOW, rng=random.Random(7), **options)
        self.code = stream(req, out, log)
        self.stdout, self.stderr = out.getvalue(), log.getvalue()
        self.stdout_path, self.stderr_path = tmp_path / "agent-stdout.txt", tmp_path / "agent-stderr.txt"
        self.stdout_path.write_bytes(self.stdout)
        self.stderr_path.write_bytes(self.stderr)

    def outcome(self, backend):
        return backend.outcome(str(self.stdout_path), str(self.stderr_path), self.code)


def ndjson(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for e in events)


# --- perplexity ---------------------------------------------------------------------------------

def test_perplexity_streams_events_as_ndjson_and_answers_with_sources(tmp_path: Path) -> None:
    cited = [{"type": "url_citation", "url": "https://c.example/3", "title": "C",
              "start_index": 0, "end_index": 5}]
    events = perplexity_stream(["Hello [1]", " wörld [2]."], annotations=cited)
    with ScriptedServer([frames_reply(events)]) as server:
        run = Run(tmp_path, "perplexity", perplexity_endpoint(server.url))
    assert (run.code, run.stderr) == (0, b"")
    assert run.stdout == ndjson(events)
    [request] = server.requests
    assert request.path == "/v1/agent"
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["Accept"] == "text/event-stream"
    assert json.loads(request.body) == {"model": "perplexity/sonar", "input": "What is new?",
                                        "stream": True}
    outcome = run.outcome(PPLX)
    assert outcome.failure is None
    assert outcome.answer == ("Hello [1] wörld [2].\n\nSources:\n[1] https://a.example/1\n"
                              "[2] https://b.example/2\n[3] https://c.example/3\n")
    assert (outcome.session_id, outcome.model) == ("resp_pplx_1", "perplexity/sonar")
    usage = outcome.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.cost_usd,
            usage.turns) == (1200, 85, 200, 0.006285, 1)


def test_perplexity_search_result_ids_number_the_sources(tmp_path: Path) -> None:
    results = [{"id": 4, "url": "https://d.example", "title": "D", "snippet": ""},
               {"id": 2, "url": "https://b.example", "title": "B", "snippet": ""},
               {"url": "https://x.example", "title": "no id", "snippet": ""}]
    with ScriptedServer([frames_reply(perplexity_stream(["See [2] and [4]."], results=results))]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent")
    assert run.outcome(PPLX).answer == ("See [2] and [4].\n\nSources:\n[2] https://b.example\n"
                                        "[4] https://d.example\n[5] https://x.example\n")


@pytest.mark.parametrize("status", [401, 403])
def test_perplexity_401_403_are_auth_with_the_api_words_and_no_retry(tmp_path: Path, status: int) -> None:
    body = json.dumps({"error": {"message": "Invalid API key", "type": "invalid_request_error",
                                 "code": "invalid_api_key"}})
    with ScriptedServer([status_reply(status, body)]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent")
    assert len(server.requests) == 1 and run.sleeps == []
    assert (run.code, run.stdout) == (4, b"")
    assert run.stderr == f"Error: HTTP {status}: Invalid API key (invalid_api_key)\n".encode()
    outcome = run.outcome(PPLX)
    assert outcome.answer is None
    assert outcome.failure == Failure(AUTH, f"HTTP {status}: Invalid API key (invalid_api_key)")


def test_outcome_classifies_an_error_line_without_a_known_exit_code(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(b"")
    (tmp_path / "err").write_text("xai retry in 1s after status 500\nError: HTTP 403: Forbidden\n")
    assert XAI.outcome(str(tmp_path / "out"), str(tmp_path / "err"), 70).failure == \
        Failure(AUTH, "HTTP 403: Forbidden")


def test_perplexity_short_429_is_waited_out_here(tmp_path: Path) -> None:
    events = perplexity_stream(["ok"])
    with ScriptedServer([status_reply(429, "slow down", {"Retry-After": "3"}),
                         frames_reply(events)]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent")
    assert run.sleeps == [3.0]
    assert run.stderr == b"perplexity retry in 3s after status 429\n"
    assert (run.code, run.stdout) == (0, ndjson(events))
    assert len(server.requests) == 2


def test_long_429_exits_with_the_reset_time_without_waiting(tmp_path: Path) -> None:
    headers = {"x-ratelimit-limit-requests": "50", "x-ratelimit-remaining-requests": "12",
               "x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-tokens": "0",
               "x-ratelimit-reset-tokens": "1h0m0s"}
    with ScriptedServer([status_reply(429, '{"error": {"message": "Rate limit reached"}}',
                                      headers)]) as server:
        run = Run(tmp_path, "xai", server.url + "/v1/responses")
    assert (run.code, run.sleeps, len(server.requests)) == (5, [], 1)
    reset = datetime.fromtimestamp(NOW + 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run.stderr == f"Error: HTTP 429: Rate limit reached (rate limit resets at {reset})\n".encode()
    outcome = run.outcome(XAI)
    assert outcome.failure == Failure(LIMIT, f"HTTP 429: Rate limit reached (rate limit resets at {reset})",
                                      NOW + 3600)


def test_429_without_a_reset_is_retried_then_reported_as_a_limit(tmp_path: Path) -> None:
    with ScriptedServer([status_reply(429, "busy")] * 3) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent", max_attempts=3)
    assert run.code == 5 and len(run.sleeps) == 2
    assert run.stderr.endswith(b"Error: HTTP 429: busy (rate limited; 3 attempts)\n")
    assert run.outcome(PPLX).failure == Failure(LIMIT, "HTTP 429: busy (rate limited; 3 attempts)")


def test_5xx_is_retried_with_jittered_backoff(tmp_path: Path) -> None:
    events = perplexity_stream(["recovered"])
    with ScriptedServer([status_reply(500, "oops"), frames_reply(events)]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent")
    assert run.sleeps == [pytest.approx(1.0 + random.Random(7).random() * 0.5)]
    assert run.stderr.startswith(b"perplexity retry in 1.") and run.stderr.endswith(b"s after status 500\n")
    assert run.code == 0 and run.outcome(PPLX).answer.startswith("recovered\n\nSources:\n")


def test_5xx_until_the_last_attempt_is_a_network_failure(tmp_path: Path) -> None:
    with ScriptedServer([status_reply(503, "busy")] * 5) as server:
        run = Run(tmp_path, "xai", server.url)
    assert (run.code, len(server.requests), len(run.sleeps)) == (6, 5, 4)
    assert [base <= delay < base * 1.5 for base, delay in zip([1, 2, 4, 8], run.sleeps)] == [True] * 4
    assert run.stderr.endswith(b"Error: HTTP 503: busy (5 attempts)\n")
    assert run.outcome(XAI).failure == Failure(NETWORK, "HTTP 503: busy (5 attempts)")


def test_unreachable_api_is_a_network_failure(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = Run(tmp_path, "perplexity", f"http://127.0.0.1:{port}/v1/agent", max_attempts=2)
    assert run.code == 6 and len(run.sleeps) == 1
    last = run.stderr.decode().splitlines()[-1]
    assert last.startswith(f"Error: could not reach 127.0.0.1:{port}: ") and last.endswith("(2 attempts)")
    assert run.outcome(PPLX).failure.kind == NETWORK


def test_perplexity_response_failed_is_an_agent_failure_in_its_words(tmp_path: Path) -> None:
    events = perplexity_failed("Model overloaded, try again", "server_overloaded")
    with ScriptedServer([frames_reply(events)]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent")
    assert (run.code, run.stdout) == (1, ndjson(events))
    assert run.stderr == b"Error: response failed: Model overloaded, try again (server_overloaded)\n"
    outcome = run.outcome(PPLX)
    assert outcome.answer is None
    assert outcome.failure == Failure(AGENT, "response failed: Model overloaded, try again (server_overloaded)")
    assert outcome.session_id == "resp_pplx_f"


def test_xai_response_failed_error_inside_the_response(tmp_path: Path) -> None:
    with ScriptedServer([frames_reply(xai_failed("Internal error"))]) as server:
        run = Run(tmp_path, "xai", server.url)
    assert run.code == 1
    assert run.outcome(XAI).failure == Failure(AGENT, "response failed: Internal error (internal_error)")


def test_stream_without_completed_response_is_no_answer(tmp_path: Path) -> None:
    events = perplexity_stream(["partial text"], complete=False)
    with ScriptedServer([frames_reply(events)]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/v1/agent")
    assert (run.code, run.stdout) == (3, ndjson(events))
    assert run.stderr == b"Error: the stream ended without a completed response\n"
    outcome = run.outcome(PPLX)
    assert outcome.answer is None
    assert outcome.failure == Failure(NO_ANSWER, "the stream ended without a completed response")


def test_completed_without_text_is_no_answer(tmp_path: Path) -> None:
    with ScriptedServer([frames_reply(xai_stream([]))]) as server:
        run = Run(tmp_path, "xai", server.url)
    assert run.code == 3
    assert run.outcome(XAI).failure == Failure(NO_ANSWER, "the response completed without any text")


def test_idle_stream_ends_the_request(tmp_path: Path) -> None:
    events = xai_stream(["first words", "never sent"])
    stall = next(n for n, e in enumerate(events) if e.get("delta") == "never sent")
    with ScriptedServer([frames_reply(events, stall_after=stall)]) as server:
        run = Run(tmp_path, "xai", server.url, idle_timeout=0.3)
    assert run.code == 6
    assert run.stdout == ndjson(events[:stall])
    assert run.stderr == b"Error: the stream went idle: no data for 300ms\n"
    assert run.outcome(XAI).failure == Failure(NETWORK, "the stream went idle: no data for 300ms")


def test_no_token_fails_before_any_request(tmp_path: Path) -> None:
    with ScriptedServer([]) as server:
        run = Run(tmp_path, "xai", server.url, token=" ")
    assert server.requests == []
    assert (run.code, run.stderr) == (4, b"Error: no API token: XAI_API_KEY is not set\n")
    assert run.outcome(XAI).failure == Failure(AUTH, "no API token: XAI_API_KEY is not set")


def test_404_is_a_config_failure(tmp_path: Path) -> None:
    with ScriptedServer([status_reply(404, "not found\n")]) as server:
        run = Run(tmp_path, "perplexity", server.url + "/chat/completions")
    assert (run.code, run.stderr) == (2, b"Error: HTTP 404: not found\n")
    assert run.outcome(PPLX).failure == Failure(CONFIG, "HTTP 404: not found")


# --- xai ----------------------------------------------------------------------------------------

def test_xai_responses_stream_usage_and_cost(tmp_path: Path) -> None:
    events = xai_stream(["Hel", "lo"])
    with ScriptedServer([frames_reply(events)]) as server:
        run = Run(tmp_path, "xai", xai_endpoint(server.url + "/v1"))
    assert (run.code, run.stdout, run.stderr) == (0, ndjson(events), b"")
    [request] = server.requests
    assert request.path == "/v1/responses"
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["User-Agent"] == "conductor-loop/xai"
    assert json.loads(request.body) == {"model": "grok-4.3", "input": "What is new?", "stream": True}
    outcome = run.outcome(XAI)
    assert outcome.answer == "Hello"
    assert (outcome.session_id, outcome.model) == ("resp_xai_1", "grok-4.3")
    usage = outcome.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (900, 40, 512)
    assert usage.cost_usd == pytest.approx(0.0037756)


def test_xai_single_json_document_is_read_as_the_completed_response(tmp_path: Path) -> None:
    document = {"id": "resp_doc", "object": "response", "model": "grok-4.3", "status": "completed",
                "output": [{"type": "message", "role": "assistant",
                            "content": [{"type": "output_text", "text": "Hi there"}]}]}
    with ScriptedServer([json_reply(document)]) as server:
        run = Run(tmp_path, "xai", server.url)
    assert run.code == 0
    assert run.stdout == ndjson([{"type": "response.completed", "response": document}])
    assert run.outcome(XAI).answer == "Hi there"


@pytest.mark.parametrize(("base", "endpoint"), [
    ("https://api.x.ai", "https://api.x.ai/v1/responses"),
    ("https://api.x.ai/", "https://api.x.ai/v1/responses"),
    ("https://gw.example/v1", "https://gw.example/v1/responses"),
    ("https://gw.example/v1/responses", "https://gw.example/v1/responses"),
    ("https://gw.example/v1/chat/completions", "https://gw.example/v1/responses"),
    ("http://127.0.0.1:8080/proxy", "http://127.0.0.1:8080/proxy/v1/responses"),
    ("", "https://api.x.ai/v1/responses"),
])
def test_xai_endpoint_joining(base: str, endpoint: str) -> None:
    assert xai_endpoint(base) == endpoint


@pytest.mark.parametrize(("base", "endpoint"), [
    ("", "https://api.perplexity.ai/v1/agent"),
    ("https://api.perplexity.ai", "https://api.perplexity.ai/v1/agent"),
    ("https://api.perplexity.ai/v1", "https://api.perplexity.ai/v1/agent"),
    ("https://api.perplexity.ai/v1/responses", "https://api.perplexity.ai/v1/responses"),
    ("https://api.perplexity.ai/chat/completions", "https://api.perplexity.ai/v1/agent"),
])
def test_perplexity_endpoint_joining(base: str, endpoint: str) -> None:
    assert perplexity_endpoint(base) == endpoint


def test_xai_settings_env_overrides_config() -> None:
    assert xai_settings("", "", {}) == ("https://api.x.ai", "grok-4.3")
    assert xai_settings("https://cfg", "grok-cfg", {}) == ("https://cfg", "grok-cfg")
    env = {"XAI_BASE_URL": "https://run-env", "XAI_API_ENDPOINT": "https://endpoint",
           "XAI_MODEL": "grok-4.5"}
    assert xai_settings("https://cfg", "grok-cfg", env) == ("https://endpoint", "grok-4.5")


# --- rate-limit headers -------------------------------------------------------------------------

def test_retry_after_accepts_seconds_and_http_dates() -> None:
    later = datetime.fromtimestamp(NOW, timezone.utc) + timedelta(seconds=120)
    assert retry_after("7", NOW) == 7.0
    assert retry_after(format_datetime(later, usegmt=True), NOW) == 120.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0
    assert retry_after("soon", NOW) is None
    assert retry_after(None, NOW) is None


@pytest.mark.parametrize(("value", "seconds"), [
    ("12", 12.0), ("1.5", 1.5), ("6m0s", 360.0), ("250ms", 0.25), ("1h2m3s", 3723.0),
    (str(int(NOW) + 90), 90.0), (str(int(NOW * 1000) + 5000), 5.0), ("later", None), ("", None),
])
def test_ratelimit_reset_values(value: str, seconds: float | None) -> None:
    assert reset_seconds(value, NOW) == (pytest.approx(seconds) if seconds is not None else None)


def test_limit_delay_prefers_retry_after_then_the_exhausted_limit() -> None:
    assert limit_delay({"Retry-After": "40", "x-ratelimit-reset-tokens": "5s"}, NOW) == 40.0
    assert limit_delay({"retry-after-ms": "1500"}, NOW) == 1.5
    both = {"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "90s"}
    assert limit_delay(both, NOW) == 90.0
    assert limit_delay({**both, "x-ratelimit-remaining-requests": "0"}, NOW) == 2.0
    assert limit_delay({}, NOW) is None


# --- the backends -------------------------------------------------------------------------------

class Agent:
    def __init__(self, name: str, type_: str, token: str = "", base_url: str = "", model: str = ""):
        self.name, self.type, self.token, self.base_url, self.model = name, type_, token, base_url, model
        self.token_file, self.command, self.env, self.args = "", [], {}, []


def test_preflight_needs_a_token() -> None:
    [problem] = PPLX.preflight(Launch(agent=Agent("pplx", "perplexity"), environ={"PATH": "/bin"}))
    assert problem == Failure(AUTH, 'agent "pplx": no API token: set PERPLEXITY_API_KEY or the '
                                    'agent\'s "token" or "token_file" in the config')
    [problem] = XAI.preflight(Launch(agent=Agent("grok", "xai"), environ={}))
    assert problem.kind == AUTH and "XAI_API_KEY" in problem.message
    assert XAI.preflight(Launch(agent=Agent("grok", "xai"), environ={"XAI_API_KEY": "k"})) == []
    assert PPLX.preflight(Launch(agent=Agent("pplx", "perplexity", token="t"), environ={})) == []


def test_argv_carries_base_url_and_model_never_the_token() -> None:
    agent = Agent("pplx", "perplexity", token="pplx-secret", base_url="http://h/v1", model="m")
    argv = PPLX.argv(Launch(agent=agent, environ={}))
    assert argv == [sys.executable, "-m", "conductor.agents", "perplexity", "--base-url",
                    "http://h/v1", "--model", "m"]
    assert (PPLX.json_stream, PPLX.default_model, XAI.default_model) == (True, "perplexity/sonar", "grok-4.3")


def test_a_killed_child_leaves_the_verdict_to_the_runner(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(ndjson(xai_stream(["half"], complete=False)))
    outcome = XAI.outcome(str(path), str(tmp_path / "missing"), -15)
    assert (outcome.failure, outcome.answer, outcome.session_id) == (None, None, "resp_xai_1")


def test_watch_reports_usage_and_the_response_id_as_events_arrive() -> None:
    watch = PPLX.watch()
    for event in perplexity_stream(["a"])[:-1]:
        assert watch.feed(event).progress
    assert (watch.session_id, watch.usage.cost_usd) == ("resp_pplx_1", None)
    watch.feed(perplexity_stream(["a"])[-1])
    assert (watch.usage.input_tokens, watch.usage.cost_usd, watch.model) == (1200, 0.006285, "perplexity/sonar")


def test_display_joins_text_deltas_and_shows_searches_and_usage() -> None:
    lines = [line for event in perplexity_stream(["Hello [1]", " world\n\nNext", " line."])
             for line in PPLX.display(event)]
    assert lines == [
        DisplayLine("system", "● response started: model perplexity/sonar"),
        DisplayLine("thinking", "… Searching the web"),
        DisplayLine("tool", "⚙ search: what is new"),
        DisplayLine("tool", "  ↳ 2 results: https://a.example/1, https://b.example/2"),
        DisplayLine("text", "Hello [1]", join=True),
        DisplayLine("text", " world", join=True),
        DisplayLine("text", ""),
        DisplayLine("text", "Next"),
        DisplayLine("text", " line.", join=True),
        DisplayLine("tool", "  ↳ 2 sources: https://a.example/1, https://b.example/2"),
        DisplayLine("result", "✔ response completed (perplexity/sonar, in 1200, cached 200, "
                              "out 85 tokens, $0.0063)"),
    ]
    assert XAI.display(xai_failed("boom")[-1]) == [
        DisplayLine("result", "✘ response failed: boom (internal_error)")]
    assert XAI.display({"type": "error", "code": "x", "message": "bad"}) == [
        DisplayLine("system", "error: bad (x)")]


def test_importing_the_backends_loads_no_http_client() -> None:
    code = ("import sys, conductor.agents.perplexity, conductor.agents.xai, conductor.agents.responses;"
            "print(sorted(m for m in ('http.client', 'ssl', 'socket', 'conductor.agents.rest') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")


def test_child_process_prints_ndjson_and_the_error_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "XAI_API_KEY": "k"}
    for name in ("XAI_API_ENDPOINT", "XAI_BASE_URL", "XAI_API_BASE", "XAI_MODEL"):
        env.pop(name, None)
    events = xai_stream(["from ", "child"])
    with ScriptedServer([frames_reply(events), status_reply(404, "nope")]) as server:
        argv = [sys.executable, "-m", "conductor.agents", "xai", "--base-url", server.url]
        ok = subprocess.run(argv, input=b"prompt", capture_output=True, env=env, timeout=60)
        failed = subprocess.run(argv, input=b"prompt", capture_output=True, env=env, timeout=60)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, ndjson(events), b"")
    assert server.requests[0].headers["Authorization"] == "Bearer k"
    assert json.loads(server.requests[0].body)["input"] == "prompt"
    assert (failed.returncode, failed.stdout, failed.stderr) == (2, b"", b"Error: HTTP 404: nope\n")
