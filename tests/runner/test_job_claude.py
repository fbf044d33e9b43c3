"""`run-agent job` with the claude stub (claude-code 2.1.332's streams): an API error is the
run's failure in claude's own words, never its answer; usage, cost and session are recorded."""

import os

import pytest
from .helpers import PROJECT, TASK, bus, runs

SESSION = "5e01c40c-bf4d-4994-8a7e-93074b39b9bd"


def job(stubs, prompt, *extra, env=None):
    return stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", "--prompt", prompt, *extra, env=env)


def run_info_text(info):
    return open(os.path.join(os.path.dirname(info.output_path), "run-info.yaml")).read()


def test_not_logged_in_fails_as_auth_in_claudes_words(stubs):
    res = job(stubs, "STUB: not-logged-in")
    assert res.returncode == 1
    assert res.stderr.strip().endswith(
        "Error: agent execution failed: Not logged in · Please run /login")
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code) == ("failed", 1)
    assert info.error_summary == "Not logged in · Please run /login"
    assert info.failure == "auth"
    assert info.session_id == SESSION and info.model == "claude-opus-5-5"
    assert open(info.output_path).read() == "# Agent failed\n\nNot logged in · Please run /login\n"
    messages = bus(stubs.root)
    assert [m.type for m in messages] == ["RUN_START", "ERROR", "RUN_CRASH"]
    assert messages[1].body == "claude: Not logged in · Please run /login"
    assert "failure: auth\n" in run_info_text(info)


def test_success_records_answer_usage_cost_and_session(stubs):
    res = job(stubs, "STUB: cost 0.5\nSTUB: say the answer")
    assert res.returncode == 0, res.stderr
    [info] = runs(stubs.root)
    assert (info.status, info.failure, info.error_summary) == ("completed", "", "")
    assert open(info.output_path).read() == "the answer\n"
    assert (info.input_tokens, info.output_tokens, info.cached_tokens) == (1000, 200, 0)
    assert (info.cost_usd, info.turns) == (0.5, 1)
    assert (info.session_id, info.model) == (SESSION, "claude-opus-5-5")
    text = run_info_text(info)
    for line in (f"session_id: {SESSION}\n", "model: claude-opus-5-5\n", "input_tokens: 1000\n",
                 "output_tokens: 200\n", "cost_usd: 0.5\n", "turns: 1\n"):
        assert line in text
    assert [m.type for m in bus(stubs.root)] == ["RUN_START", "RUN_STOP"]


def test_argv_and_environment_reach_claude(stubs, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n  claude:\n    model: claude-opus-5-5\n    max_retries: 4\n"
                   "    base_url: http://127.0.0.1:9/\n    args: [--fallback-model, sonnet]\n")
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--config", str(cfg), "--agent", "claude", "--prompt", "STUB: say x")
    assert res.returncode == 0, res.stderr
    [record] = stubs.records()
    assert record["argv"][1:] == [
        "-p", "--input-format", "text", "--output-format", "stream-json", "--verbose", "--tools",
        "default", "--permission-mode", "bypassPermissions", "--model", "claude-opus-5-5",
        "--fallback-model", "sonnet"]
    env = record["env"]
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "4"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/"
    assert env.get("IS_SANDBOX") == ("1" if os.geteuid() == 0 else None)


def test_401_retry_ends_the_run_at_once_as_auth(stubs):
    # the stub would sleep a minute after its retry; the live watch stops it on the 401
    res = job(stubs, "STUB: api-retry 3 401\nSTUB: sleep 60")
    assert res.returncode == 1
    [info] = runs(stubs.root)
    assert info.failure == "auth"
    assert info.error_summary == ("API Error: 401 authentication_failed · the API refused the "
                                  "credentials (claude would retry them unchanged)")
    assert "Invalid API key" not in open(info.stdout_path).read()  # it never got that far


def test_no_network_after_retries_is_a_network_failure(stubs):
    job(stubs, "STUB: api-retry 2 null")
    [info] = runs(stubs.root)
    assert info.failure == "network"
    assert info.error_summary == ("API Error: Connection refused — a firewall or proxy may be "
                                  "blocking it (ECONNREFUSED)")


def test_usage_limit_records_the_reset_time(stubs):
    job(stubs, "STUB: rate-limit 1796055285")
    [info] = runs(stubs.root)
    assert info.failure == "limit"
    assert info.error_summary == "You've hit your 5-hour limit · resets 4:14pm (UTC)"
    assert info.limit_reset == 1796055285 * 10 ** 9


def test_over_budget_is_a_budget_failure(stubs):
    job(stubs, "STUB: say working\nSTUB: over-budget 0.25")
    [info] = runs(stubs.root)
    assert info.failure == "budget"
    assert info.error_summary == "Reached maximum budget ($0.25)"
    assert open(info.output_path).read() == "# Agent failed\n\nReached maximum budget ($0.25)\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="claude's root refusal needs root")
def test_root_without_sandbox_is_refused_before_spawning(stubs, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n  claude:\n    root_sandbox: false\n")
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--config", str(cfg), "--agent", "claude", "--prompt", "STUB: say x")
    assert res.returncode == 1
    [info] = runs(stubs.root)
    assert info.failure == "untrusted"
    assert info.error_summary == (
        'agent "claude": claude refuses --permission-mode bypassPermissions as root without '
        "IS_SANDBOX=1, and root_sandbox is false; set root_sandbox: true (conductor then sets "
        "IS_SANDBOX=1) or run conductor as a non-root user")
    assert stubs.records() == []  # never spawned


@pytest.mark.skipif(os.geteuid() != 0, reason="claude's root refusal needs root")
def test_stub_refuses_root_without_is_sandbox_like_claude(stubs):
    import subprocess
    env = {k: v for k, v in stubs.env.items() if k != "IS_SANDBOX"}
    proc = subprocess.run([os.path.join(stubs.bin, "claude"), "-p", "--permission-mode",
                           "bypassPermissions"], input="STUB: say x", capture_output=True,
                          text=True, env=env)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == ("--dangerously-skip-permissions cannot be used with root/sudo "
                           "privileges for security reasons\n")


def test_claude_login_variables_reach_claude_only(stubs):
    env = dict(stubs.env, CLAUDE_CODE_OAUTH_TOKEN="oauth-x", ANTHROPIC_AUTH_TOKEN="bearer-y")
    assert job(stubs, "STUB: say x", env=env).returncode == 0
    assert stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "codex", "--prompt", "STUB: say y", env=env).returncode == 0
    claude, codex = stubs.records()[0]["env"], stubs.records()[1]["env"]
    assert (claude["CLAUDE_CODE_OAUTH_TOKEN"], claude["ANTHROPIC_AUTH_TOKEN"]) == ("oauth-x", "bearer-y")
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in codex and "ANTHROPIC_AUTH_TOKEN" not in codex
