"""A REST agent (perplexity) run by `run-agent job` against a local SSE server on 127.0.0.1."""

import json
import os
import sys

from helpers import PROJECT, TASK, bus, runs

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agents.sse_server import ScriptedServer, chunk, sse_reply, status_reply  # noqa: E402


def test_perplexity_job_streams_to_files_with_retry_and_citations(stubs, tmp_path):
    replies = [
        status_reply(429, "slow down", {"Retry-After": "0"}),
        sse_reply([chunk("Hello"), chunk(" world"), {**chunk(None), "citations": ["https://a.example/1"]},
                   "[DONE]"]),
    ]
    with ScriptedServer(replies) as server:
        cfg = tmp_path / "config.yaml"
        cfg.write_text("agents:\n  pplx:\n    type: perplexity\n    token: pplx-secret-token\n"
                       f"    base_url: {server.url}/chat/completions\n    model: sonar-test\n")
        res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--config",
                        str(cfg), "--agent", "pplx", "--prompt", "what is up")
        assert res.returncode == 0, res.stderr
        assert len(server.requests) == 2
        request = server.requests[-1]
    assert request.headers["Authorization"] == "Bearer pplx-secret-token"
    body = json.loads(request.body)
    assert body["model"] == "sonar-test" and body["stream"] is True
    assert body["messages"][0]["content"].startswith("JRUN_TASK_FOLDER=")
    assert body["messages"][0]["content"].endswith("\n---\n\nwhat is up\n")
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.agent, info.agent_version) == ("completed", 0, "perplexity", "")
    assert info.pid not in (0, os.getpid()) and info.pid == info.pgid  # its own process (spec 9 #16)
    assert info.commandline.startswith(f"{sys.executable} -m conductor.agents perplexity --base-url ")
    expected = "Hello world\n\nSources:\n[1] https://a.example/1\n"
    assert open(info.stdout_path).read() == expected
    assert open(info.output_path).read() == expected
    assert "perplexity retry in" in open(info.stderr_path).read()
    for path in (info.prompt_path, info.stdout_path, info.stderr_path,
                 os.path.join(os.path.dirname(info.prompt_path), "run-info.yaml")):
        assert "pplx-secret-token" not in open(path).read()
    assert all("pplx-secret-token" not in m.body for m in bus(stubs.root))
    assert res.stdout == "" and "pplx-secret-token" not in res.stderr


def test_perplexity_error_fails_the_run_with_the_api_text(stubs, tmp_path):
    with ScriptedServer([status_reply(401, "bad key")]) as server:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"agents:\n  pplx:\n    type: perplexity\n    token: t\n    base_url: {server.url}/x\n")
        res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--config",
                        str(cfg), "--agent", "pplx", "--prompt", "q")
    assert res.returncode == 1
    [info] = runs(stubs.root)
    assert info.status == "failed" and info.error_summary == "agent reported failure"
    assert "perplexity api error: status 401: bad key" in open(info.stderr_path).read()
    crash = bus(stubs.root)[-1]
    assert crash.type == "RUN_CRASH" and "perplexity api error: status 401: bad key" in crash.body
