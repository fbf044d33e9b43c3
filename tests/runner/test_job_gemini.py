"""`run-agent job` with the gemini stub (gemini-cli 0.61.0's behaviour, tests/fixtures/stub_gemini.py)."""

import os

from .helpers import PROJECT, TASK, bus, runs

UNTRUSTED = ("Gemini CLI is not running in a trusted directory. To proceed, either use "
             "`--skip-trust`, set the `GEMINI_CLI_TRUST_WORKSPACE=true` environment variable, or "
             "trust this directory in interactive mode. For more details, see "
             "https://geminicli.com/docs/cli/trusted-folders/#headless-and-automated-environments")


def job(stubs, prompt, *extra, env=None):
    return stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "gemini", "--prompt", prompt, *extra, env=env)


def config(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def errors(stubs):
    return [m.body for m in bus(stubs.root) if m.type == "ERROR"]


def test_an_untrusted_task_folder_no_longer_fails(stubs):
    res = job(stubs, "STUB: say Let me look.\nSTUB: tool\nSTUB: chunks There is one file here.")
    assert res.returncode == 0, res.stderr
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.failure, info.error_summary) == ("completed", 0, "", "")
    assert open(info.output_path).read() == "There is one file here.\n"
    assert info.commandline == ("gemini --screen-reader true --approval-mode yolo --output-format "
                                f"stream-json --skip-trust < {info.prompt_path}")
    assert (info.session_id, info.model, info.agent_version) == ("g-1", "gemini-2.5-pro", "0.61.0")
    assert (info.input_tokens, info.output_tokens, info.cached_tokens, info.turns) == (10, 5, 0, 2)
    [record] = stubs.records()
    assert record["env"]["GEMINI_CLI_TRUST_WORKSPACE"] == "true"
    assert record["env"]["GEMINI_CLI_NO_RELAUNCH"] == "true"
    assert errors(stubs) == []


def test_trust_folder_false_fails_untrusted_in_geminis_words(stubs, tmp_path):
    cfg = config(tmp_path, "agents:\n  gemini:\n    trust_folder: false\n")
    env = {k: v for k, v in stubs.env.items() if k != "GEMINI_CLI_TRUST_WORKSPACE"}
    res = job(stubs, "STUB: say never", "--config", cfg, env=env)
    assert res.returncode != 0
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.failure) == ("failed", 55, "untrusted")
    assert info.error_summary == UNTRUSTED
    assert "--skip-trust" not in info.commandline
    assert open(info.output_path).read() == f"# Agent failed\n\n{UNTRUSTED}\n"
    assert errors(stubs) == [f"gemini: {UNTRUSTED}"]


def test_an_api_error_is_the_failure_not_the_answer(stubs):
    res = job(stubs, "STUB: api-error 400 API key not valid. Please pass a valid API key.")
    assert res.returncode != 0
    [info] = runs(stubs.root)
    summary = "API key not valid. Please pass a valid API key. (HTTP 400 INVALID_ARGUMENT)"
    assert (info.status, info.exit_code, info.failure) == ("failed", 144, "auth")
    assert info.error_summary == summary
    assert open(info.output_path).read() == f"# Agent failed\n\n{summary}\n"
    assert errors(stubs) == [f"gemini: {summary}"]


def test_an_error_event_fails_the_run(stubs):
    res = job(stubs, "STUB: error Maximum session turns exceeded\nSTUB: say partial")
    [info] = runs(stubs.root)
    assert (info.status, info.failure) == ("failed", "agent")
    assert info.error_summary == "Maximum session turns exceeded"
    assert errors(stubs) == ["gemini: Maximum session turns exceeded"]
    assert res.returncode != 0


def test_no_key_fails_auth_with_geminis_reason(stubs):
    env = {k: v for k, v in stubs.env.items() if k != "GEMINI_API_KEY"}
    res = job(stubs, "STUB: say never", env=dict(env, STUB_GEMINI_REQUIRE_KEY="1"))
    assert res.returncode != 0
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.failure) == ("failed", 41, "auth")
    assert info.error_summary == (
        f"Please set an Auth method in your {env['HOME']}/.gemini/settings.json or specify one of "
        "the following environment variables before running: GEMINI_API_KEY, "
        "GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA")


def test_model_from_config_goes_to_dash_m(stubs, tmp_path):
    cfg = config(tmp_path, "agents:\n  gemini:\n    model: gemini-2.5-flash\n")
    assert job(stubs, "STUB: say ok", "--config", cfg).returncode == 0
    [info] = runs(stubs.root)
    assert info.commandline.endswith("--skip-trust -m gemini-2.5-flash < " + info.prompt_path)
    assert info.model == "gemini-2.5-flash"


def test_a_version_probe_slower_than_the_old_10_s_limit_still_runs(stubs):
    # the old runner called gemini "not found" when `gemini --help` took over 10 s
    res = job(stubs, "STUB: say still here", env=dict(stubs.env, STUB_VERSION_SLEEP="11"))
    assert res.returncode == 0, res.stderr
    [info] = runs(stubs.root)
    assert (info.status, info.agent_version) == ("completed", "0.61.0")
    assert open(info.output_path).read() == "still here\n"


def test_a_version_probe_that_times_out_leaves_the_version_empty(stubs, tmp_path, monkeypatch):
    from conductor.agents.gemini import BACKEND
    from conductor.config.model import AgentConfig
    from conductor.runner.job import JobRequest, run_job
    monkeypatch.setattr(BACKEND, "version_timeout", 0.5)
    never = str(tmp_path / "never-created")
    env = dict(stubs.env, STUB_VERSION_WAIT_FILE=never)  # --version blocks until killed
    result = run_job(JobRequest(root=stubs.root, project=PROJECT, task=TASK,
                                prompt="STUB: say probed", agent=AgentConfig(name="gemini", type="gemini"),
                                environ=env))
    assert result.exit_code == 0
    [info] = runs(stubs.root)
    assert (info.status, info.agent_version) == ("completed", "")
    assert open(info.output_path).read() == "probed\n"
    assert not os.path.exists(never)


def test_a_rate_limit_is_a_limit_failure_with_its_reset_time(stubs):
    res = job(stubs, "STUB: api-error 429 Resource has been exhausted (e.g. check quota).")
    assert res.returncode != 0
    [info] = runs(stubs.root)
    summary = "Resource has been exhausted (e.g. check quota). (HTTP 429 RESOURCE_EXHAUSTED)"
    assert (info.status, info.exit_code, info.failure, info.error_summary) == (
        "failed", 173, "limit", summary)
    assert info.limit_reset is not None and info.limit_reset > info.start_time
    assert errors(stubs) == [f"gemini: {summary}"]
