"""The claude backend on claude-code 2.1.332's real streams: the answer, the failure in the
agent's own words, usage, session, the live watch and the console lines; argv, environment and
preflight as root and not."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conductor.agents.backend import (AGENT, AUTH, BUDGET, LIMIT, NETWORK, NO_ANSWER, SPAWN,
                                      UNTRUSTED, Failure, Launch, Usage)
from conductor.agents.claude import BACKEND, reset_time, retry_line
from conductor.agents.display import DisplayLine
from conductor.config.model import AgentConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL = FIXTURES / "real-cli-streams"
MORE = FIXTURES / "claude-2.1.332"
BASE_ARGV = ["claude", "-p", "--input-format", "text", "--output-format", "stream-json",
             "--verbose", "--tools", "default", "--permission-mode", "bypassPermissions"]
NO_STDERR = ""


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def outcome(path: Path, stderr: str = NO_STDERR, code: int = 1):
    return BACKEND.outcome(str(path), stderr, code)


def lines(path: Path) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for event in events(path) for line in BACKEND.display(event)]


def watched(path: Path):
    """The watch after the whole stream (or the first failure), and the verdicts it gave."""
    watch = BACKEND.watch()
    verdicts = []
    for event in events(path):
        verdicts.append(watch.feed(event))
        if verdicts[-1].failure is not None:
            break
    return watch, verdicts


# ---- outcome on every real transcript ------------------------------------------------------------

def test_tool_use_answer_usage_session_model() -> None:
    got = outcome(REAL / "claude-tool-use.jsonl", code=0)
    assert got.answer == "There is one file here: `prompt.md`."
    assert got.failure is None
    assert got.usage == Usage(input_tokens=28190, output_tokens=101, cached_tokens=24000,
                              cost_usd=0.02358, turns=2)
    assert got.usage.tokens == 28291
    assert (got.session_id, got.model) == ("5e01c40c-bf4d-4994-8a7e-93074b39b9bd", "claude-opus-5-5")


def test_not_logged_in_is_an_auth_failure_never_the_answer() -> None:
    got = outcome(REAL / "claude-not-logged-in.jsonl")
    assert got.answer is None
    assert got.failure == Failure(AUTH, "Not logged in · Please run /login")
    assert got.failure.fatal
    assert got.usage == Usage(cost_usd=0.0, turns=1)
    assert (got.session_id, got.model) == ("a0f4a270-a5ea-44c2-b0ca-5c9b1e78dbf4", "claude-opus-5-5")


def test_invalid_key_is_an_auth_failure() -> None:
    got = outcome(REAL / "claude-invalid-key.jsonl")
    assert got.answer is None
    assert got.failure == Failure(AUTH, "Invalid API key · Fix external API key")
    assert got.session_id == "f8e44fa9-2420-48e7-980d-ef843bd23ede"


def test_no_network_is_a_network_failure() -> None:
    got = outcome(REAL / "claude-no-network.jsonl")
    assert got.answer is None
    assert got.failure == Failure(
        NETWORK, "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)")
    assert not got.failure.fatal and BACKEND.retryable(got.failure)
    assert got.session_id == "37fe93cf-fd6b-47c2-b7a2-7a88227e5704"


def test_root_refusal_on_stderr_is_untrusted_and_names_the_fix(tmp_path: Path) -> None:
    empty = tmp_path / "agent-stdout.txt"
    empty.write_text("")
    got = outcome(empty, str(REAL / "claude-root-refused.stderr.txt"))
    assert got.answer is None
    assert got.failure == Failure(UNTRUSTED, (
        "--dangerously-skip-permissions cannot be used with root/sudo privileges for security "
        "reasons (claude runs as root only with IS_SANDBOX=1: set the agent's root_sandbox to "
        "true, or run as a non-root user)"))
    assert "\n" not in got.failure.message


def test_rate_limit_429_is_a_limit_without_a_reset_time() -> None:
    for name in ("claude-rate-limit-429.jsonl", "claude-rate-limit-retried.jsonl"):
        got = outcome(MORE / name)
        assert got.answer is None
        assert got.failure.kind == LIMIT and got.failure.reset_at is None
    assert outcome(MORE / "claude-rate-limit-429.jsonl").failure.message == (
        "API Error: Request rejected (429) · This request would exceed the rate limit for your "
        "organization of 50 requests per minute.")


def test_usage_limit_carries_the_reset_time_claude_reported() -> None:
    got = outcome(MORE / "claude-usage-limit.jsonl")
    assert got.failure == Failure(LIMIT, "You've hit your 5-hour limit · resets 4:14pm (UTC)",
                                  1796055285.0)


def test_max_budget_is_a_budget_failure_with_the_model_usage() -> None:
    got = outcome(MORE / "claude-max-budget.jsonl")
    assert got.answer is None
    assert got.failure == Failure(BUDGET, "Reached maximum budget ($0.01)")
    # the result's `usage` is all zero after a budget stop; modelUsage has the figures
    assert got.usage == Usage(input_tokens=2000000, output_tokens=50, cost_usd=8.001, turns=1)


def test_unknown_resume_session_is_an_agent_failure() -> None:
    got = outcome(MORE / "claude-resume-unknown.jsonl")
    assert got.failure == Failure(
        AGENT, "No conversation found with session ID: 00000000-0000-0000-0000-000000000000")


def test_error_max_turns_keeps_partial_text_but_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in [
        {"type": "assistant", "message": {"id": "m1", "content": [{"type": "text", "text": "half"}]}},
        {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 3,
         "errors": ["Reached maximum number of turns (3)"]}]) + "\n")
    got = outcome(path)
    assert got.failure == Failure(AGENT, "Reached maximum number of turns (3)")
    assert got.answer == "half"  # the runner never writes it: a failure wins


def test_clean_exit_without_a_result_is_no_answer(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(events(REAL / "claude-tool-use.jsonl")[0]) + "\n")
    assert outcome(path, code=0).failure == Failure(NO_ANSWER, "claude exited without a result")
    assert outcome(path, code=137).failure is None  # the runner reports the exit code


# ---- the live watch ------------------------------------------------------------------------------

def test_watch_counts_each_api_message_once_then_takes_the_result() -> None:
    watch = BACKEND.watch()
    stream = events(REAL / "claude-tool-use.jsonl")
    seen = []
    for event in stream:
        assert watch.feed(event).progress
        seen.append((watch.usage.input_tokens, watch.usage.output_tokens, watch.usage.cached_tokens))
    # init, thinking_tokens, 3 blocks of msg_01MOCKA, tool result, msg_01MOCKB, result
    assert seen == [(0, 0, 0), (0, 0, 0), (14095, 1, 12000), (14095, 1, 12000), (14095, 1, 12000),
                    (14095, 1, 12000), (28190, 2, 24000), (28190, 101, 24000)]
    assert watch.usage == Usage(28190, 101, 24000, 0.02358, 2)
    assert (watch.session_id, watch.model) == ("5e01c40c-bf4d-4994-8a7e-93074b39b9bd",
                                                 "claude-opus-5-5")


def test_watch_ends_a_401_retry_loop_at_once() -> None:
    watch, verdicts = watched(REAL / "claude-invalid-key.jsonl")
    assert len(verdicts) == 2  # init, then the first api_retry
    assert verdicts[-1].progress is False
    assert verdicts[-1].failure == Failure(AUTH, (
        "API Error: 401 authentication_failed · the API refused the credentials "
        "(claude would retry them unchanged)"))
    assert watch.session_id == "f8e44fa9-2420-48e7-980d-ef843bd23ede"


def test_watch_retries_without_status_or_429_are_not_progress_nor_failures() -> None:
    for path in (REAL / "claude-no-network.jsonl", MORE / "claude-rate-limit-retried.jsonl"):
        watch, verdicts = watched(path)
        retries = [v for e, v in zip(events(path), verdicts) if e.get("subtype") == "api_retry"]
        assert retries and all(not v.progress and v.failure is None for v in retries)
        assert all(v.failure is None for v in verdicts)


def test_watch_not_logged_in_and_budget() -> None:
    watch, verdicts = watched(REAL / "claude-not-logged-in.jsonl")
    assert [v.progress for v in verdicts] == [True, False, True]
    assert all(v.failure is None for v in verdicts)  # outcome() names it
    watch, _ = watched(MORE / "claude-max-budget.jsonl")
    assert watch.usage == Usage(2000000, 50, 0, 8.001, 1)


# ---- display -------------------------------------------------------------------------------------

def test_display_tool_use() -> None:
    assert lines(REAL / "claude-tool-use.jsonl") == [
        ("system", "● session init: model claude-opus-5-5, cwd /scratch/work/cl, 23 tools"),
        ("thinking", "… thinking (42 chars)"),
        ("text", "Let me look at the files."),
        ("tool", "⚙ Bash: ls -1"),
        ("tool", "  ↳ ok: err.txt (+2 lines)"),
        ("text", "There is one file here: `prompt.md`."),
        ("result", "✔ result: There is one file here: `prompt.md`. ($0.0236, 2 turns)"),
    ]


def test_display_not_logged_in() -> None:
    assert lines(REAL / "claude-not-logged-in.jsonl") == [
        ("system", "● session init: model claude-opus-5-5, cwd /scratch/work, 23 tools"),
        ("result", "✘ error: Not logged in · Please run /login"),
        ("result", "✘ result: Not logged in · Please run /login ($0.0000, 1 turn)"),
    ]


def test_display_retries() -> None:
    shown = lines(REAL / "claude-invalid-key.jsonl")
    assert shown[1:4] == [("system", "retry 1/10 in 0.6s (401 authentication_failed)"),
                          ("system", "retry 2/10 in 1.0s (401 authentication_failed)"),
                          ("system", "retry 3/10 in 2.2s (401 authentication_failed)")]
    assert shown[-2:] == [("result", "✘ error: Invalid API key · Fix external API key"),
                          ("result", "✘ result: Invalid API key · Fix external API key ($0.0000, 1 turn)")]
    shown = lines(REAL / "claude-no-network.jsonl")
    assert shown[1] == ("system", "retry 1/10 in 0.6s (no response)")
    assert shown[-2] == ("result", "✘ error: API Error: Connection refused — a firewall or proxy "
                                   "may be blocking it (ECONNREFUSED)")
    assert retry_line({"attempt": 1, "max_retries": 2, "retry_delay_ms": 2458,
                       "error_status": 429, "error": "rate_limit"}) == "retry 1/2 in 2.5s (429 rate_limit)"


def test_display_limits_budget() -> None:
    assert lines(MORE / "claude-usage-limit.jsonl")[1:] == [
        ("system", "rate limit rejected (five_hour), resets 2026-11-30 16:14 UTC"),
        ("result", "✘ error: You've hit your 5-hour limit · resets 4:14pm (UTC)"),
        ("result", "✘ result: You've hit your 5-hour limit · resets 4:14pm (UTC) ($0.0000, 1 turn)"),
    ]
    assert lines(MORE / "claude-max-budget.jsonl")[1:] == [
        ("tool", "⚙ Bash: echo hi"),
        ("result", "✘ result: Reached maximum budget ($0.01) ($8.0010, 1 turn)"),
    ]


def test_display_never_raises_on_odd_events() -> None:
    for event in ({"type": "system", "subtype": "api_retry"}, {"type": "rate_limit_event"},
                  {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}},
                  {"type": "assistant", "is_api_error_message": True, "message": None},
                  {"type": "result", "errors": [3, None]}, {"type": 5}):
        assert isinstance(BACKEND.display(event), list)
    assert BACKEND.display({"type": "assistant", "is_api_error_message": True}) == [
        DisplayLine("result", "✘ error: API error")]


# ---- reset times ---------------------------------------------------------------------------------

def test_reset_time_from_the_message() -> None:
    now = datetime(2026, 11, 30, 14, 14, 45, tzinfo=timezone.utc).timestamp()
    at = datetime(2026, 11, 30, 16, 14, tzinfo=timezone.utc).timestamp()
    assert reset_time("You've hit your 5-hour limit · resets 4:14pm (UTC)", now=now) == at
    assert reset_time("limit · resets 1am (UTC)", now=now) == \
        datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc).timestamp()
    assert reset_time("resets Dec 3, 5pm (Europe/Berlin)", now=now) == \
        datetime(2026, 12, 3, 16, 0, tzinfo=timezone.utc).timestamp()
    assert reset_time("Claude AI usage limit reached|1796055285", now=now) == 1796055285.0
    assert reset_time("API Error: Request rejected (429) · Usage limit reached", now=now) is None


def test_reset_time_is_read_from_the_error_event_time() -> None:
    error = {"timestamp": "2026-11-30T14:14:45.641Z"}
    assert reset_time("resets 4:14pm (UTC)", error) == \
        datetime(2026, 11, 30, 16, 14, tzinfo=timezone.utc).timestamp()


# ---- argv, environment, preflight ----------------------------------------------------------------

@pytest.fixture
def path_with_claude(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "claude"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    return str(bin_dir)


def launch(path: str = "/nonexistent", euid: int = 1000, environ: dict | None = None,
           **config) -> Launch:
    resume = config.pop("resume", "")
    budget = config.pop("budget_usd", None)
    agent = AgentConfig(name=config.pop("name", "cl"), type="claude", **config)
    return Launch(agent=agent, environ={"PATH": path, **(environ or {})}, resume=resume,
                  budget_usd=budget, euid=euid)


def test_argv_plain_and_with_everything() -> None:
    assert BACKEND.argv(launch()) == BASE_ARGV
    assert BACKEND.argv(launch(model="claude-opus-5-5", budget_usd=0.25, resume="sess-1",
                               args=["--fallback-model", "sonnet"])) == BASE_ARGV + [
        "--model", "claude-opus-5-5", "--max-budget-usd", "0.25", "--resume", "sess-1",
        "--fallback-model", "sonnet"]
    assert BACKEND.argv(launch(budget_usd=1e-05))[-2:] == ["--max-budget-usd", "0.00001"]
    assert BACKEND.argv(launch(budget_usd=0.0))[-2:] == ["--max-budget-usd", "0"]


def test_environment_as_root_and_not() -> None:
    assert BACKEND.environment(launch(euid=0)) == {"CLAUDE_CODE_MAX_RETRIES": "2",
                                                    "IS_SANDBOX": "1"}
    assert BACKEND.environment(launch(euid=1000, base_url="http://127.0.0.1:9/",
                                      max_retries=0)) == {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/", "CLAUDE_CODE_MAX_RETRIES": "0"}
    assert BACKEND.environment(launch(euid=0, root_sandbox=False, max_retries=7)) == {
        "CLAUDE_CODE_MAX_RETRIES": "7"}
    # the operator's own CLAUDE_CODE_MAX_RETRIES stands unless the config sets max_retries
    assert BACKEND.environment(launch(environ={"CLAUDE_CODE_MAX_RETRIES": "5"})) == {}


def test_preflight(path_with_claude: str) -> None:
    assert BACKEND.preflight(launch(path_with_claude, euid=0)) == []
    assert BACKEND.preflight(launch(path_with_claude, euid=1000, root_sandbox=False)) == []
    [problem] = BACKEND.preflight(launch(path_with_claude, euid=0, root_sandbox=False))
    assert problem == Failure(UNTRUSTED, (
        'agent "cl": claude refuses --permission-mode bypassPermissions as root without '
        "IS_SANDBOX=1, and root_sandbox is false; set root_sandbox: true (conductor then sets "
        "IS_SANDBOX=1) or run conductor as a non-root user"))
    # an IS_SANDBOX=1 the operator set himself (environment or the agent's env) is honoured
    assert BACKEND.preflight(launch(path_with_claude, euid=0, root_sandbox=False,
                                    environ={"IS_SANDBOX": "1"})) == []
    assert BACKEND.preflight(launch(path_with_claude, euid=0, root_sandbox=False,
                                    env={"IS_SANDBOX": "1"})) == []
    # no key and no login is not refused here (claude has many ways to log in): the run says
    assert BACKEND.preflight(launch(path_with_claude, euid=1000,
                                    environ={"HOME": os.devnull})) == []
    [missing] = BACKEND.preflight(launch("/nonexistent", euid=0, root_sandbox=False))
    assert missing == Failure(SPAWN, 'agent "cl": binary "claude" not found in PATH '
                                     "(install: npm install -g @anthropic-ai/claude-code)")


def test_claude_credentials_stay_with_claude() -> None:
    assert BACKEND.token_vars == ("ANTHROPIC_API_KEY",)
    assert set(BACKEND.other_vars) == {"ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"}
