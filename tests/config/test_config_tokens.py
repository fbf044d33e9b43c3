"""Token precedence, trimming, token_file resolution, env overrides and permission warnings."""

from __future__ import annotations

import os

import pytest

from conductor.config import (agent_token_env_name, check_permissions, load_config, permission_warnings,
                              token_env_var)
from conductor.errors import ConfigError


def test_inline_token(write):
    config = load_config(write("agents:\n  claude:\n    token: '  sk-inline  '\n"), env={})
    assert config.agents["claude"].token == "  sk-inline  "


def test_token_file_is_read_trimmed_relative_to_config_dir(write, workdir):
    (workdir / "conf" / "keys").mkdir(parents=True)
    (workdir / "conf" / "keys" / "claude").write_text("\n  sk-from-file \n\n")
    write("agents:\n  claude:\n    token_file: keys/claude\n", "conf/config.yaml")
    config = load_config("conf/config.yaml", env={})
    agent = config.agents["claude"]
    assert agent.token == "sk-from-file"
    assert agent.token_file == str(workdir / "conf" / "keys" / "claude")


def test_token_file_tilde_expands_to_home(write, home):
    (home / ".anthropic").write_text("sk-home\n")
    config = load_config(write("agents:\n  claude:\n    token_file: ~/.anthropic\n"), env={})
    assert config.agents["claude"].token == "sk-home"
    assert config.agents["claude"].token_file == str(home / ".anthropic")


def test_token_file_tilde_user_is_refused(write):
    with pytest.raises(ConfigError) as info:
        load_config(write("agents:\n  claude:\n    token_file: ~root/tok\n"), env={})
    assert str(info.value) == "config.yaml:3: agents.claude.token_file: only ~ and ~/ are expanded, not ~user: ~root/tok"


def test_env_override_beats_token_file_and_clears_it(write):
    path = write("agents:\n  my-claude.2:\n    type: claude\n    token_file: does-not-exist\n")
    env = {"CONDUCTOR_AGENT_MY_CLAUDE_2_TOKEN": "  sk-env \n"}
    agent = load_config(path, env=env).agents["my-claude.2"]
    assert (agent.token, agent.token_file) == ("sk-env", "")


def test_env_override_beats_inline_token(write):
    path = write("agents:\n  codex:\n    token: sk-inline\n")
    assert load_config(path, env={"CONDUCTOR_AGENT_CODEX_TOKEN": "sk-env"}).agents["codex"].token == "sk-env"


def test_env_override_with_token_and_token_file_set_is_not_a_conflict(write):
    path = write("agents:\n  claude:\n    token: a\n    token_file: missing\n")
    assert load_config(path, env={"CONDUCTOR_AGENT_CLAUDE_TOKEN": "b"}).agents["claude"].token == "b"


def test_blank_env_override_is_ignored(write, workdir):
    (workdir / "tok").write_text("sk-file")
    path = write("agents:\n  claude:\n    token_file: tok\n")
    agent = load_config(path, env={"CONDUCTOR_AGENT_CLAUDE_TOKEN": "   "}).agents["claude"]
    assert (agent.token, agent.token_file) == ("sk-file", str(workdir / "tok"))


def test_api_key_env_turns_auth_on(write):
    path = write("agents:\n  claude: {}\n")
    api = load_config(path, env={"CONDUCTOR_API_KEY": " k1 "}).api
    assert (api.api_key, api.auth_enabled) == ("k1", True)
    assert load_config(path, env={}).api.auth_enabled is False


@pytest.mark.parametrize("name, expected", [
    ("claude", "CONDUCTOR_AGENT_CLAUDE_TOKEN"),
    ("my-agent.v2", "CONDUCTOR_AGENT_MY_AGENT_V2_TOKEN"),
    ("ünï", "CONDUCTOR_AGENT__N__TOKEN"),
    ("straße", "CONDUCTOR_AGENT_STRA_E_TOKEN"),
    ("ſ", "CONDUCTOR_AGENT_S_TOKEN"),
])
def test_agent_token_env_name(name, expected):
    assert agent_token_env_name(name) == expected


@pytest.mark.parametrize("agent_type, var", [
    ("claude", "ANTHROPIC_API_KEY"), ("codex", "CODEX_API_KEY"), ("gemini", "GEMINI_API_KEY"),
    ("perplexity", "PERPLEXITY_API_KEY"), ("xai", "XAI_API_KEY"), (" XAI ", "XAI_API_KEY"),
    ("command", None), ("other", None),
])
def test_token_env_var(agent_type, var):
    assert token_env_var(agent_type) == var


def test_check_permissions(workdir):
    path = workdir / "config.yaml"
    path.write_text("x")
    path.chmod(0o644)
    assert check_permissions(str(path)) == \
        "warning: config.yaml is readable by other users (mode 0644); chmod 600 it"
    path.chmod(0o640)
    assert check_permissions(str(path)) == \
        "warning: config.yaml is readable by other users (mode 0640); chmod 600 it"
    path.chmod(0o600)
    assert check_permissions(str(path)) is None
    assert check_permissions(str(workdir / "missing")) is None


def test_permission_warnings_for_token_file_and_config_with_secret(write, workdir):
    (workdir / "tok").write_text("sk")
    (workdir / "tok").chmod(0o644)
    path = write("agents:\n  claude:\n    token_file: tok\n  codex:\n    token: sk-inline\n", mode=0o644)
    warnings = permission_warnings(load_config(path, env={}), env={})
    assert warnings == [
        "warning: config.yaml is readable by other users (mode 0644); chmod 600 it",
        "warning: tok is readable by other users (mode 0644); chmod 600 it",
    ]


def test_no_config_warning_without_secret_in_it(write, workdir):
    path = write("agents:\n  codex: {}\n", mode=0o644)
    assert permission_warnings(load_config(path, env={}), env={}) == []
    secret_from_env = {"CONDUCTOR_AGENT_CODEX_TOKEN": "sk"}
    assert permission_warnings(load_config(path, env=secret_from_env), env=secret_from_env) == []


def test_token_never_in_repr_or_errors(write, workdir):
    secret = "sk-SECRET-123"
    (workdir / "tok").write_text(secret)
    path = write(f"""
        agents:
          claude:
            token: {secret}
          sim:
            type: command
            command: [run]
            env: {{API: {secret}}}
        api:
          api_key: {secret}
        webhook:
          url: https://example.com
          secret: {secret}
        """)
    config = load_config(path, env={})
    assert config.agents["claude"].token == secret
    text = repr(config) + str(config.agents["claude"]) + repr(config.agents["sim"])
    assert secret not in text
    assert "token='***'" in text and "env={'API': '***'}" in text
    write(f"agents:\n  claude:\n    token: {secret}\n    token_file: tok\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert secret not in str(info.value) and secret not in repr(info.value)


def test_token_list_error_does_not_echo_value(write):
    with pytest.raises(ConfigError) as info:
        load_config(write("agents:\n  claude:\n    token: {sk-SECRET: 1}\n"), env={})
    assert "SECRET" not in str(info.value)


def test_process_environment_is_used_by_default(write, monkeypatch):
    path = write("agents:\n  claude: {}\n")
    monkeypatch.setenv("CONDUCTOR_AGENT_CLAUDE_TOKEN", "sk-process")
    assert load_config(path).agents["claude"].token == "sk-process"
    assert os.environ["CONDUCTOR_AGENT_CLAUDE_TOKEN"] == "sk-process"
