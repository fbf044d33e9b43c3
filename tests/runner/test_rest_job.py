"""REST agents (perplexity, xai) run by `run-agent job` against a loopback server speaking the
perplexity Agent API and the xAI Responses API."""

import json
import os
import sys
from datetime import datetime, timezone

from .helpers import PROJECT, TASK, bus, runs

from agents.responses_server import frames_reply, perplexity_failed, perplexity_stream, xai_stream
from agents.sse_server import ScriptedServer, status_reply


def job(stubs, tmp_path, agent_yaml, prompt="what is up"):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n" + agent_yaml)
    env = {k: v for k, v in stubs.env.items()
           if k not in ("XAI_API_ENDPOINT", "XAI_BASE_URL", "XAI_API_BASE", "XAI_MODEL",
                        "PERPLEXITY_API_KEY", "XAI_API_KEY")}
    return stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--config",
                     str(cfg), "--agent", next(iter(agent_yaml.split(":"))).strip(), "--prompt",
                     prompt, env=env)


def pplx(url, extra=""):
    return ("  pplx:\n    type: perplexity\n    token: pplx-secret-token\n"
            f"    base_url: {url}\n{extra}")


def ndjson(events):
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


def failed_run(stubs, kind, summary):
    [info] = runs(stubs.root)
    assert (info.status, info.failure, info.error_summary) == ("failed", kind, summary)
    assert open(info.output_path).read() == f"# Agent failed\n\n{summary}\n"
    errors = [m for m in bus(stubs.root) if m.type == "ERROR"]
    assert [m.body for m in errors] == [f"{info.agent}: {summary}"]
    return info


def test_perplexity_job_answers_with_sources_usage_and_cost(stubs, tmp_path):
    events = perplexity_stream(["Hello [1]", " world [2]."])
    with ScriptedServer([status_reply(429, "slow down", {"Retry-After": "0"}),
                         frames_reply(events)]) as server:
        res = job(stubs, tmp_path, pplx(server.url, "    model: sonar-test\n"))
    assert (res.returncode, res.stdout) == (0, "")
    assert len(server.requests) == 2
    request = server.requests[-1]
    assert request.path == "/v1/agent"
    assert request.headers["Authorization"] == "Bearer pplx-secret-token"
    body = json.loads(request.body)
    assert (body["model"], body["stream"]) == ("sonar-test", True)
    assert body["input"].startswith("JRUN_TASK_FOLDER=") and body["input"].endswith("\n---\n\nwhat is up\n")
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.agent, info.failure) == ("completed", 0, "perplexity", "")
    assert info.pid not in (0, os.getpid()) and info.pid == info.pgid  # its own process
    assert info.commandline.startswith(f"{sys.executable} -m conductor.agents perplexity --base-url ")
    assert open(info.stdout_path).read() == ndjson(events)
    assert open(info.output_path).read() == ("Hello [1] world [2].\n\nSources:\n"
                                             "[1] https://a.example/1\n[2] https://b.example/2\n")
    assert open(info.stderr_path).read() == "perplexity retry in 0s after status 429\n"
    assert (info.model, info.session_id) == ("perplexity/sonar", "resp_pplx_1")
    assert (info.input_tokens, info.output_tokens, info.cached_tokens, info.cost_usd,
            info.turns) == (1200, 85, 200, 0.006285, 1)
    for path in (info.prompt_path, info.stdout_path, info.stderr_path, info.output_path,
                 os.path.join(os.path.dirname(info.prompt_path), "run-info.yaml")):
        assert "pplx-secret-token" not in open(path).read()
    assert all("pplx-secret-token" not in m.body for m in bus(stubs.root))
    assert [m.type for m in bus(stubs.root)] == ["RUN_START", "RUN_STOP"]
    assert "pplx-secret-token" not in res.stderr


def test_xai_job_reads_the_responses_stream(stubs, tmp_path):
    events = xai_stream(["Grok ", "says hi"])
    with ScriptedServer([frames_reply(events)]) as server:
        res = job(stubs, tmp_path, f"  grok:\n    type: xai\n    token: xai-secret-key\n"
                                   f"    base_url: {server.url}/v1\n")
    assert res.returncode == 0, res.stderr
    [request] = server.requests
    assert request.path == "/v1/responses"
    assert request.headers["Authorization"] == "Bearer xai-secret-key"
    assert json.loads(request.body)["model"] == "grok-4.3"
    [info] = runs(stubs.root)
    assert (info.status, info.model, info.session_id) == ("completed", "grok-4.3", "resp_xai_1")
    assert open(info.output_path).read() == "Grok says hi\n"
    assert (info.input_tokens, info.output_tokens, info.cached_tokens) == (900, 40, 512)
    assert abs(info.cost_usd - 0.0037756) < 1e-12


def test_bad_token_fails_the_run_as_auth(stubs, tmp_path):
    body = '{"error": {"message": "Invalid API key", "code": "invalid_api_key"}}'
    with ScriptedServer([status_reply(401, body)]) as server:
        res = job(stubs, tmp_path, pplx(server.url))
    assert res.returncode == 1
    assert server.requests[0].headers["Authorization"] == "Bearer pplx-secret-token"
    info = failed_run(stubs, "auth", "HTTP 401: Invalid API key (invalid_api_key)")
    assert info.exit_code == 4
    assert open(info.stderr_path).read() == "Error: HTTP 401: Invalid API key (invalid_api_key)\n"
    assert bus(stubs.root)[-1].type == "RUN_CRASH"


def test_long_rate_limit_records_when_it_resets(stubs, tmp_path):
    reset_epoch = 1_900_000_000
    with ScriptedServer([status_reply(429, '{"error": {"message": "Too many requests"}}',
                                      {"x-ratelimit-reset": str(reset_epoch)})]) as server:
        job(stubs, tmp_path, pplx(server.url))
    assert len(server.requests) == 1
    reset = datetime.fromtimestamp(reset_epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = failed_run(stubs, "limit", f"HTTP 429: Too many requests (rate limit resets at {reset})")
    assert info.limit_reset == reset_epoch * 10 ** 9


def test_response_failed_is_the_runs_error(stubs, tmp_path):
    with ScriptedServer([frames_reply(perplexity_failed("Upstream model error", "model_error"))]) as server:
        job(stubs, tmp_path, pplx(server.url))
    info = failed_run(stubs, "agent", "response failed: Upstream model error (model_error)")
    assert info.session_id == "resp_pplx_f"


def test_stream_ending_without_an_answer(stubs, tmp_path):
    events = perplexity_stream(["half an answer"], complete=False)
    with ScriptedServer([frames_reply(events)]) as server:
        job(stubs, tmp_path, pplx(server.url))
    info = failed_run(stubs, "no-answer", "the stream ended without a completed response")
    assert open(info.stdout_path).read() == ndjson(events)


def test_idle_stream_is_a_network_failure(stubs, tmp_path):
    events = xai_stream(["first", "never sent"])
    stall = next(n for n, e in enumerate(events) if e.get("delta") == "never sent")
    with ScriptedServer([frames_reply(events, stall_after=stall)]) as server:
        job(stubs, tmp_path, f"  grok:\n    type: xai\n    token: k\n    base_url: {server.url}\n"
                             "    args: [--idle-timeout, '0.5']\n")
    failed_run(stubs, "network", "the stream went idle: no data for 500ms")


def test_missing_token_is_refused_before_spawning(stubs, tmp_path):
    with ScriptedServer([]) as server:
        res = job(stubs, tmp_path, f"  grok:\n    type: xai\n    base_url: {server.url}\n")
    assert res.returncode == 1 and server.requests == []
    [info] = runs(stubs.root)
    assert (info.status, info.failure, info.pid) == ("failed", "auth", 0)
    assert info.error_summary == ('agent "grok": no API token: set XAI_API_KEY or the agent\'s '
                                  '"token" or "token_file" in the config')
