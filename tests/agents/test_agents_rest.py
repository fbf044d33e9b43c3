"""REST backends against a local streaming server on 127.0.0.1 (never a real host)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from conductor.agents import AgentError
from conductor.agents.rest import resolve_token, run_perplexity, run_xai, xai_endpoint, xai_settings
from conductor.agents.rest import _retry_after

from .sse_server import ScriptedServer, chunk, json_reply, sse_reply, status_reply

SRC = Path(__file__).resolve().parents[2] / "src"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def perplexity(server: ScriptedServer, tmp_path: Path, sleep: Sleeps | None = None, **options) -> None:
    run_perplexity("What is new?", token="pplx-token", base_url=server.url + "/chat/completions",
                   model=None, stdout_path=tmp_path / "agent-stdout.txt",
                   stderr_path=tmp_path / "agent-stderr.txt", sleep=Sleeps() if sleep is None else sleep, **options)


def xai(server: ScriptedServer, tmp_path: Path, base_url: str | None = None, **options) -> None:
    run_xai("Hi", token="xai-key", base_url=server.url if base_url is None else base_url, model=None,
            stdout_path=tmp_path / "agent-stdout.txt", stderr_path=tmp_path / "agent-stderr.txt",
            sleep=Sleeps(), **options)


def stdout(tmp_path: Path) -> str:
    return (tmp_path / "agent-stdout.txt").read_text()


def stderr(tmp_path: Path) -> str:
    return (tmp_path / "agent-stderr.txt").read_text()


def test_perplexity_streams_and_dedupes_cumulative_content(tmp_path: Path, capfd) -> None:
    multi_line_event = '{"choices": [{"delta":\n{"content": "!"}}]}'
    replies = [sse_reply([chunk("Hello"), chunk(cumulative="Hello world"), chunk(cumulative="Hello world"),
                          multi_line_event, "[DONE]", chunk("never read")])]
    (tmp_path / "agent-stdout.txt").write_text("old content to be truncated")
    with ScriptedServer(replies) as server:
        perplexity(server, tmp_path)
    assert stdout(tmp_path) == "Hello world!"
    assert stderr(tmp_path) == ""
    [request] = server.requests
    assert request.path == "/chat/completions"
    assert request.headers["Authorization"] == "Bearer pplx-token"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"model": "sonar-reasoning", "stream": True,
                                        "messages": [{"role": "user", "content": "What is new?"}]}
    assert capfd.readouterr() == ("", "")


def test_perplexity_honours_retry_after_on_429(tmp_path: Path) -> None:
    sleeps = Sleeps()
    replies = [status_reply(429, "slow down", {"Retry-After": "3"}), sse_reply([chunk("ok"), "[DONE]"])]
    with ScriptedServer(replies) as server:
        perplexity(server, tmp_path, sleeps)
    assert sleeps == [3.0]
    assert stderr(tmp_path) == "perplexity retry in 3s after status 429\n"
    assert stdout(tmp_path) == "ok"
    assert len(server.requests) == 2


def test_perplexity_backs_off_with_jitter_after_500(tmp_path: Path) -> None:
    sleeps = Sleeps()
    replies = [status_reply(500, "oops"), sse_reply([chunk("recovered"), "[DONE]"])]
    with ScriptedServer(replies) as server:
        perplexity(server, tmp_path, sleeps, rng=random.Random(7))
    expected = 1.0 + random.Random(7).random() * 0.5
    assert sleeps == [pytest.approx(expected)]
    assert 1.0 <= sleeps[0] < 1.5
    assert stderr(tmp_path).startswith("perplexity retry in 1.")
    assert stderr(tmp_path).endswith("s after status 500\n")
    assert stdout(tmp_path) == "recovered"


def test_perplexity_gives_up_after_max_attempts(tmp_path: Path) -> None:
    sleeps = Sleeps()
    with ScriptedServer([status_reply(503, "busy")] * 5) as server:
        with pytest.raises(AgentError) as info:
            perplexity(server, tmp_path, sleeps, rng=random.Random(1))
    assert str(info.value) == "perplexity api error: status 503: busy"
    assert len(server.requests) == 5
    assert [base <= delay < base * 1.5 for base, delay in zip([1, 2, 4, 8], sleeps)] == [True] * 4
    assert len(sleeps) == 4
    assert stderr(tmp_path).count("after status 503\n") == 4


def test_perplexity_client_errors_are_not_retried(tmp_path: Path) -> None:
    with ScriptedServer([status_reply(401, '{"error": "bad key"}\n')]) as server:
        with pytest.raises(AgentError) as info:
            perplexity(server, tmp_path)
    assert str(info.value) == 'perplexity api error: status 401: {"error": "bad key"}'
    assert len(server.requests) == 1


def test_perplexity_error_body_is_cut_at_8_kib(tmp_path: Path) -> None:
    with ScriptedServer([status_reply(400, "e" * 20000)]) as server:
        with pytest.raises(AgentError) as info:
            perplexity(server, tmp_path)
    assert str(info.value) == "perplexity api error: status 400: " + "e" * 8192


def test_perplexity_writes_sources_from_citations(tmp_path: Path) -> None:
    cites = [" https://a.example/1 ", "https://b.example/2"]
    results = [{"title": "C", "url": "https://c.example/3"}]
    events = [chunk("Answer", citations=cites, search_results=results),
              chunk(" text.", citations=cites + ["https://a.example/1"]), "[DONE]"]
    with ScriptedServer([sse_reply(events)]) as server:
        perplexity(server, tmp_path)
    assert stdout(tmp_path) == "Answer text.\n\nSources:\n[1] https://a.example/1\n[2] https://b.example/2\n"


def test_perplexity_falls_back_to_search_result_urls(tmp_path: Path) -> None:
    results = [{"title": "A", "url": "https://a.example"}, {"title": "B", "url": "https://b.example"}]
    with ScriptedServer([sse_reply([chunk("x", search_results=results), "[DONE]"])]) as server:
        perplexity(server, tmp_path)
    assert stdout(tmp_path) == "x\n\nSources:\n[1] https://a.example\n[2] https://b.example\n"


def test_perplexity_error_chunk_fails_after_partial_output(tmp_path: Path) -> None:
    events = [chunk("partial"), {"error": {"message": "quota exceeded", "code": 402}}, chunk("lost")]
    with ScriptedServer([sse_reply(events)]) as server:
        with pytest.raises(AgentError, match=r"^perplexity api error: quota exceeded$"):
            perplexity(server, tmp_path)
    assert stdout(tmp_path) == "partial"


def test_perplexity_finish_reason_error_fails(tmp_path: Path) -> None:
    bad = {"choices": [{"delta": {}, "finish_reason": "error"}]}
    with ScriptedServer([sse_reply([chunk("a"), bad])]) as server:
        with pytest.raises(AgentError, match="^perplexity api error: stream finished with error$"):
            perplexity(server, tmp_path)


def test_perplexity_idle_stream_times_out(tmp_path: Path) -> None:
    events = [chunk("first words"), chunk("never sent")]
    with ScriptedServer([sse_reply(events, stall_after=1)]) as server:
        with pytest.raises(AgentError) as info:
            perplexity(server, tmp_path, idle_timeout=0.3)
    assert str(info.value) == "perplexity stream idle timeout"
    assert stdout(tmp_path) == "first words"


def test_perplexity_retries_transport_errors(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(AgentError) as info:
        run_perplexity("q", token="t", base_url=f"http://127.0.0.1:{port}/chat/completions", model="m",
                       stdout_path=tmp_path / "agent-stdout.txt", stderr_path=tmp_path / "agent-stderr.txt",
                       max_attempts=2, sleep=sleeps)
    assert str(info.value).startswith("perplexity request failed: ")
    assert len(sleeps) == 1
    assert stderr(tmp_path).startswith("perplexity retry in 1")
    assert " after error: " in stderr(tmp_path)


def test_empty_tokens_fail_before_any_request(tmp_path: Path) -> None:
    with ScriptedServer([]) as server:
        with pytest.raises(AgentError, match="^perplexity api token is empty$"):
            run_perplexity("q", token="  ", base_url=server.url, model=None,
                           stdout_path=tmp_path / "o", stderr_path=tmp_path / "e")
        with pytest.raises(AgentError, match="^xai api key is empty$"):
            run_xai("q", token="", base_url=server.url, model=None,
                    stdout_path=tmp_path / "o", stderr_path=tmp_path / "e")
    assert server.requests == []


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    later = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert _retry_after("7") == 7.0
    assert 100 < _retry_after(format_datetime(later, usegmt=True)) <= 120
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _retry_after("soon") is None
    assert _retry_after(None) is None


def test_token_resolution_order() -> None:
    run_env = {"PERPLEXITY_API_KEY": "from-run-env"}
    process_env = {"PERPLEXITY_API_KEY": "from-process", "XAI_API_KEY": "x-process"}
    assert resolve_token("perplexity", "from-config", run_env, process_env) == "from-run-env"
    assert resolve_token("perplexity", "from-config", {}, process_env) == "from-config"
    assert resolve_token("perplexity", "", {}, process_env) == "from-process"
    assert resolve_token("xai", None, {}, {}) == ""


def test_xai_streams_sse_raw(tmp_path: Path, capfd) -> None:
    events = [chunk("Hel"), chunk("Hel"), {"choices": [{"text": "lo"}]}, "[DONE]"]
    with ScriptedServer([sse_reply(events)]) as server:
        xai(server, tmp_path)
    assert stdout(tmp_path) == "HelHello"
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["User-Agent"] == "conductor-loop/xai"
    assert request.headers["Authorization"] == "Bearer xai-key"
    assert request.headers["Accept"] == "text/event-stream"
    assert json.loads(request.body) == {"model": "grok-4", "stream": True,
                                        "messages": [{"role": "user", "content": "Hi"}]}
    assert capfd.readouterr() == ("", "")


def test_xai_single_json_response(tmp_path: Path) -> None:
    document = {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}}]}
    with ScriptedServer([json_reply(document)]) as server:
        xai(server, tmp_path, base_url=server.url + "/v1")
    assert stdout(tmp_path) == "Hi there"
    assert server.requests[0].path == "/v1/chat/completions"


def test_xai_single_json_without_content_fails(tmp_path: Path) -> None:
    with ScriptedServer([json_reply({"choices": [{"message": {"content": ""}}]})]) as server:
        with pytest.raises(AgentError, match="^xai response missing content$"):
            xai(server, tmp_path)


def test_xai_404_error_text(tmp_path: Path) -> None:
    with ScriptedServer([status_reply(404, "not found\n")]) as server:
        with pytest.raises(AgentError) as info:
            xai(server, tmp_path, base_url=server.url + "/proxy/")
    assert str(info.value) == "xai request failed: status 404: not found"
    assert server.requests[0].path == "/proxy/v1/chat/completions"


def test_xai_retries_like_perplexity(tmp_path: Path) -> None:
    replies = [status_reply(429, "", {"Retry-After": "2"}), sse_reply([chunk("fine"), "[DONE]"])]
    with ScriptedServer(replies) as server:
        xai(server, tmp_path)
    assert stderr(tmp_path) == "xai retry in 2s after status 429\n"
    assert stdout(tmp_path) == "fine"


def test_xai_idle_stream_times_out(tmp_path: Path) -> None:
    with ScriptedServer([sse_reply([chunk("a"), chunk("b")], stall_after=1)]) as server:
        with pytest.raises(AgentError, match="^xai stream idle timeout$"):
            xai(server, tmp_path, idle_timeout=0.3)
    assert stdout(tmp_path) == "a"


@pytest.mark.parametrize(("base", "endpoint"), [
    ("https://api.x.ai", "https://api.x.ai/v1/chat/completions"),
    ("https://api.x.ai/", "https://api.x.ai/v1/chat/completions"),
    ("https://gw.example/v1", "https://gw.example/v1/chat/completions"),
    ("https://gw.example/v1/chat/completions", "https://gw.example/v1/chat/completions"),
    ("http://127.0.0.1:8080/proxy", "http://127.0.0.1:8080/proxy/v1/chat/completions"),
])
def test_xai_endpoint_joining(base: str, endpoint: str) -> None:
    assert xai_endpoint(base) == endpoint


def test_xai_settings_env_overrides_config() -> None:
    assert xai_settings("", "", {}, {}) == ("https://api.x.ai", "grok-4")
    assert xai_settings("https://cfg", "grok-cfg", {}, {}) == ("https://cfg", "grok-cfg")
    run_env = {"XAI_BASE_URL": "https://run-env"}
    process_env = {"XAI_API_ENDPOINT": "https://process", "XAI_MODEL": "grok-env"}
    assert xai_settings("https://cfg", "grok-cfg", run_env, process_env) == ("https://process", "grok-env")


def test_child_process_mode_writes_only_the_answer(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "XAI_API_KEY": "k"}
    for name in ("XAI_API_ENDPOINT", "XAI_BASE_URL", "XAI_API_BASE", "XAI_MODEL"):
        env.pop(name, None)
    with ScriptedServer([sse_reply([chunk("from "), chunk("child"), "[DONE]"]),
                         status_reply(404, "nope")]) as server:
        ok = subprocess.run([sys.executable, "-m", "conductor.agents", "xai", "--base-url", server.url],
                            input=b"prompt", capture_output=True, env=env, timeout=30)
        failed = subprocess.run([sys.executable, "-m", "conductor.agents", "xai", "--base-url",
                                 server.url], input=b"prompt", capture_output=True, env=env, timeout=30)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, b"from child", b"")
    assert (failed.returncode, failed.stdout) == (1, b"")
    assert failed.stderr == b"Error: xai request failed: status 404: nope\n"


def test_run_deadline_stops_a_live_stream(tmp_path: Path) -> None:
    with ScriptedServer([sse_reply([chunk("a"), chunk("b")], stall_after=1)]) as server:
        with pytest.raises(AgentError, match="^context deadline exceeded$"):
            perplexity(server, tmp_path, deadline=time.monotonic() + 0.5)
    assert stdout(tmp_path) == "a"
