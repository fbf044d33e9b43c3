"""`run-agent job` with the codex stub (codex-cli 0.171.0 shapes): what a user finds in output.md,
run-info and on the bus when codex answers, fails, or hangs without network."""

from .helpers import PROJECT, TASK, bus, runs

WAITING = "Reconnecting... waiting for network (Connection failed: error sending request)"
THREAD = "01a22c00-0000-7000-8000-00000000c0de"


def job(stubs, prompt, *extra, env=None, agent="codex"):
    return stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--agent", agent, "--prompt", prompt, *extra, env=env)


def test_commentary_is_not_in_output_and_usage_is_recorded(stubs):
    res = job(stubs, "STUB: commentary I'll look first.\nSTUB: say The answer is 42.")
    assert res.returncode == 0, res.stderr
    [info] = runs(stubs.root)
    assert open(info.output_path).read() == "The answer is 42.\n"
    assert (info.status, info.failure, info.session_id) == ("completed", "", THREAD)
    assert (info.input_tokens, info.cached_tokens, info.output_tokens, info.turns) == (1200, 1000, 50, 1)
    assert info.cost_usd == 0.0


def test_reconnect_forever_ends_as_a_network_failure_without_an_idle_timeout(stubs):
    res = job(stubs, "STUB: reconnect-forever")
    assert res.returncode == 1
    [info] = runs(stubs.root)
    assert (info.status, info.failure, info.error_summary) == ("failed", "network", WAITING)
    assert info.session_id == THREAD
    assert open(info.output_path).read() == f"# Agent failed\n\n{WAITING}\n"
    assert [m.body for m in bus(stubs.root) if m.type == "ERROR"] == [f"codex: {WAITING}"]


def test_turn_failed_with_a_bad_key_is_an_auth_failure(stubs):
    words = "unexpected status 401 Unauthorized: Incorrect API key provided: dummy."
    res = job(stubs, f"STUB: commentary working\nSTUB: turn-failed {words}")
    assert res.returncode == 1
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.failure, info.error_summary) == ("failed", 1, "auth", words)
    assert open(info.output_path).read() == f"# Agent failed\n\n{words}\n"


def test_configured_model_and_base_url_reach_the_command_line(stubs, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n  cx:\n    type: codex\n    model: gpt-5.5\n"
                   "    base_url: http://127.0.0.1:9/v1\n    args: [--ephemeral]\n")
    res = job(stubs, "STUB: say ok", "--config", str(cfg), agent="cx")
    assert res.returncode == 0, res.stderr
    [rec] = stubs.records()
    assert rec["argv"][1:] == ["exec", "--dangerously-bypass-approvals-and-sandbox", "--json",
                               "-m", "gpt-5.5", "-c", "openai_base_url=http://127.0.0.1:9/v1",
                               "--ephemeral", "-"]
    assert runs(stubs.root)[0].model == "gpt-5.5"


def test_token_goes_to_both_codex_variables_and_to_no_other_agent(stubs, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n  codex:\n    token: sk-codex-token\n  claude:\n    token: sk-claude\n")
    env = dict(stubs.env, CODEX_API_KEY="env-codex", OPENAI_API_KEY="env-openai", OPENAI_ORG_ID="org-1")
    for agent in ("codex", "claude"):
        res = job(stubs, "STUB: say x", "--config", str(cfg), env=env, agent=agent)
        assert res.returncode == 0, res.stderr
    claude, codex = (rec["env"] for rec in stubs.records())  # recorded as <name>-<run id>.json
    assert (codex["CODEX_API_KEY"], codex["OPENAI_API_KEY"], codex["OPENAI_ORG_ID"]) == (
        "sk-codex-token", "sk-codex-token", "org-1")
    assert not {"CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_ORG_ID"} & set(claude)
    assert claude["ANTHROPIC_API_KEY"] == "sk-claude"
