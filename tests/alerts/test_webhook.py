"""The upstream webhook (spec 6.5) against a local HTTP server: body bytes, signature,
retries, the WARN on final failure, and a delivery that outlives the job process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conductor.store import read_run_info
from conductor.timefmt import format_rfc3339nano
from waiting import wait_for

from .helpers import PROJECT, PY, TASK, Bench

SECRET = "s3cret"


class Receiver:
    """Answers each POST with the next status of ``statuses`` (the last repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.posts: list[tuple[float, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                index = len(receiver.posts)
                receiver.posts.append((time.monotonic(), dict(self.headers.items()), body))
                self.send_response(receiver.statuses[min(index, len(receiver.statuses) - 1)])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


def _webhook(url: str, events: str = "") -> str:
    text = f"webhook:\n  url: {url}\n  secret: {SECRET}\n  timeout: 5s\n"
    return text + (f"  events: [{events}]\n" if events else "")


def _job(bench: Bench, cfg: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "conductor", "job", "--root", bench.root, "--project",
                           PROJECT, "--task", TASK, "--config", cfg, "--agent", "sim",
                           "--prompt", "x"], env=bench.env, capture_output=True, text=True,
                          timeout=120)


def test_run_stop_body_signature_and_retries_outlive_the_job(tmp_path: Path,
                                                             receiver_factory) -> None:
    bench = Bench(tmp_path)
    receiver = receiver_factory([503, 500, 200])  # fail twice, then succeed
    cfg = bench.config("echo hello\n", webhook=_webhook(receiver.url))
    result = _job(bench, cfg)
    job_ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    wait_for(lambda: len(receiver.posts) == 3, what="three attempts")
    # the job process had exited before the delivery that succeeded
    assert receiver.posts[2][0] > job_ended
    # upstream's sleeps between attempts: 1 s, then 2 s
    gaps = [b[0] - a[0] for a, b in zip(receiver.posts, receiver.posts[1:])]
    assert 0.95 <= gaps[0] < 5 and 1.95 <= gaps[1] < 6, gaps
    runs_dir = os.path.join(bench.task_dir, "runs")
    [name] = os.listdir(runs_dir)
    info = read_run_info(os.path.join(runs_dir, name, "run-info.yaml"))
    duration = (info.end_time - info.start_time) / 1e9
    for _when, headers, body in receiver.posts:
        assert body.startswith((
            '{"event":"run_stop","project_id":"proj","task_id":"%s","run_id":"%s",'
            '"agent_type":"command","status":"completed","exit_code":0,'
            '"started_at":"%s","stopped_at":"%s","duration_seconds":'
            % (TASK, info.run_id, format_rfc3339nano(info.start_time),
               format_rfc3339nano(info.end_time))).encode())
        assert body.endswith(b"}") and b"error_summary" not in body
        assert json.loads(body)["duration_seconds"] == pytest.approx(duration)
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "conductor-loop/1.0"
        assert headers["X-Conductor-Signature"] == "sha256=" + hmac.new(
            SECRET.encode(), body, hashlib.sha256).hexdigest()
    wait_for(bench.delivered, what="the delivery marked done")
    assert not [m for m in bench.bus() if m.type == "WARN"]


def test_three_failures_warn_on_the_bus(tmp_path: Path, receiver_factory) -> None:
    bench = Bench(tmp_path)
    receiver = receiver_factory([503])
    cfg = bench.config("echo hello\n", webhook=_webhook(receiver.url))
    assert _job(bench, cfg).returncode == 0
    warn = wait_for(lambda: [m for m in bench.bus() if m.type == "WARN"], what="the WARN")
    assert [m.body for m in warn] == [
        "webhook delivery failed: webhook delivery failed after 3 attempts: "
        "webhook returned status 503 (event run_stop)"]
    assert len(receiver.posts) == 3


def test_task_events_go_where_events_name_them(tmp_path: Path, receiver_factory) -> None:
    bench = Bench(tmp_path)
    receiver = receiver_factory([200])
    cfg = bench.config('touch "$JRUN_TASK_FOLDER/DONE"\n',
                       webhook=_webhook(receiver.url, events="done"))
    result = bench.run_task(cfg)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: receiver.posts and bench.delivered(), what="the done POST")
    [(_when, headers, body)] = receiver.posts  # done only: run_stop is not named
    facts = json.loads(body)
    assert list(facts) == ["event", "project_id", "task_id", "run_id", "status", "old_state",
                           "new_state", "time"]
    assert (facts["event"], facts["task_id"], facts["new_state"]) == ("done", TASK, "completed")
    assert headers["X-Conductor-Signature"] == "sha256=" + hmac.new(
        SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_a_placed_run_stop_is_posted_by_its_supervisor(tmp_path: Path, receiver_factory,
                                                       monkeypatch, subprocess_env) -> None:
    """A run placed through an executor (the fake remote one of the runner tests): its node
    side has no config, so the supervisor posts run_stop, once."""
    from conductor.alerts.targets import Targets
    from conductor.config.model import AgentConfig
    from conductor.executor import registry
    from conductor.runner.ralph import TaskRequest, run_task
    monkeypatch.setitem(registry._MODULES, "fake", "runner.fake_executor")
    found = registry.executor("fake")
    found.reset()
    try:
        receiver = receiver_factory([200])
        script = tmp_path / "agent.sh"
        script.write_text('cat >/dev/null; touch "$JRUN_TASK_FOLDER/DONE"\n')
        root = str(tmp_path / "runs")
        run_task(TaskRequest(
            root=root, project=PROJECT, task=TASK, prompt="go", executor="fake",
            agent=AgentConfig(name="sim", type="command", command=["/bin/sh", str(script)]),
            placed_poll=0.05, restart_delay=0.01, environ=subprocess_env,
            alerts=Targets([], {"url": receiver.url, "events": [], "secret": "",
                                "timeout": 5.0})))
        from conductor.alerts import outbox
        task_dir = os.path.join(root, PROJECT, TASK)
        wait_for(lambda: receiver.posts and not outbox.pending(task_dir), what="the run_stop POST")
        [(_when, _headers, body)] = receiver.posts
        facts = json.loads(body)
        assert (facts["event"], facts["status"], facts["exit_code"]) == ("run_stop", "completed", 0)
        assert "X-Conductor-Signature" not in _headers
    finally:
        registry._LOADED.pop("fake", None)


def test_a_run_that_never_started_posts_run_stop_failed(tmp_path: Path, receiver_factory) -> None:
    bench = Bench(tmp_path)
    receiver = receiver_factory([200])
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n  sim:\n    type: command\n    command: [/nonexistent/agent]\n"
                   + _webhook(receiver.url))
    result = _job(bench, str(cfg))
    assert result.returncode == 1
    wait_for(lambda: receiver.posts and bench.delivered(), what="the run_stop POST")
    [(_when, _headers, body)] = receiver.posts
    facts = json.loads(body)
    assert (facts["event"], facts["status"], facts["exit_code"]) == ("run_stop", "failed", -1)
    assert list(facts)[-1] == "error_summary" and "/nonexistent/agent" in facts["error_summary"]
