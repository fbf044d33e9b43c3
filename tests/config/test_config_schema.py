"""Decoding of every section: defaults, types, command agents, keymap, lenient loading."""

from __future__ import annotations

import os
import shutil

import pytest

from conductor.config import (AgentConfig, ApiConfig, Config, Defaults, Diversification, SseConfig,
                              StorageConfig, WebhookConfig, load_config, load_config_lenient)
from conductor.errors import ConfigError

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "config.yaml")

FULL = """
agents:
  Claude:
    token: sk-1
    base_url: https://x
    model: opus
  sim:
    type: " Command "
    command: python -m conductor.demo.sim_agent --speed 2
    env:
      SIM_SEED: 42
      EMPTY:
defaults:
  agent: sim
  max_concurrent_runs: 0x10
  max_concurrent_root_tasks: 1_000
  diversification:
    enabled: yes
    strategy: weighted
    agents: [Claude, sim]
    weights: [2, 1]
    fallback_on_failure: true
api:
  host: 127.0.0.1
  port: 0
  cors_origins: [http://a]
  auth_enabled: on
  api_key: k
  sse:
    poll_interval_ms: 100
storage:
  runs_dir: ./runs
  extra_roots: [/abs/root, ../other]
webhook:
  url: https://hooks.example.com/x
  events: [run_stop]
keymap:
  quit: ctrl+q
  stop_run: "x,ctrl+k"
  help: [question_mark, f1]
theme: nord
unknown_section: {anything: [1, 2]}
"""


def test_full_config_is_typed(write, workdir):
    config = load_config(write(FULL), env={})
    assert config.path == str(workdir / "config.yaml")
    assert config.agents == {
        "Claude": AgentConfig(name="Claude", type="claude", token="sk-1", base_url="https://x", model="opus"),
        "sim": AgentConfig(name="sim", type="command",
                           command=["python", "-m", "conductor.demo.sim_agent", "--speed", "2"],
                           env={"SIM_SEED": "42", "EMPTY": ""}),
    }
    assert config.defaults == Defaults(
        agent="sim", timeout=None, max_concurrent_runs=16, max_concurrent_root_tasks=1000,
        diversification=Diversification(enabled=True, strategy="weighted", agents=["Claude", "sim"],
                                        weights=[2, 1], fallback_on_failure=True))
    assert config.api == ApiConfig(host="127.0.0.1", port=14355, cors_origins=["http://a"], auth_enabled=True,
                                   api_key="k", sse=SseConfig(100, 1000, 30, 10))
    assert config.storage == StorageConfig(
        runs_dir=str(workdir / "runs"), extra_roots=["/abs/root", str(workdir.parent / "other")])
    assert config.webhook == WebhookConfig(url="https://hooks.example.com/x", events=["run_stop"], timeout="10s")
    assert config.keymap == {"quit": "ctrl+q", "stop_run": "x,ctrl+k", "help": "question_mark,f1"}
    assert config.theme == "nord"


def test_empty_file_gives_defaults(write):
    config = load_config(write(""), env={})
    assert config == Config(path=config.path)
    assert config.api.port == 14355 and config.api.host == "0.0.0.0" and config.webhook is None
    assert config.defaults.timeout is None


def test_null_sections_give_defaults(write):
    config = load_config(write("agents:\ndefaults:\napi:\nstorage:\nwebhook:\nkeymap:\n"), env={})
    assert config == Config(path=config.path)


def test_timeout_is_optional_but_kept(write):
    assert load_config(write("defaults:\n  timeout: 300\n"), env={}).defaults.timeout == 300
    assert load_config(write("defaults:\n  agent: x\n"), env={}).defaults.timeout is None


def test_agent_with_no_settings_takes_its_name_as_type(write):
    config = load_config(write("agents:\n  Gemini:\n  XAI: {}\n"), env={})
    assert [(a.name, a.type) for a in config.agents.values()] == [("Gemini", "gemini"), ("XAI", "xai")]


def test_command_as_list_keeps_arguments_verbatim(write):
    config = load_config(write("agents:\n  s:\n    type: command\n    command: [sh, -c, 'echo \"a b\"; cat']\n"),
                         env={})
    assert config.agents["s"].command == ["sh", "-c", 'echo "a b"; cat']


def test_plain_scalars_read_as_text_in_string_fields(write):
    config = load_config(write("agents:\n  claude:\n    model: 4.5\n    base_url: yes\n"), env={})
    assert (config.agents["claude"].model, config.agents["claude"].base_url) == ("4.5", "yes")


def test_yaml_anchors_and_merge_keys(write):
    text = """
        base: &base
          type: command
          command: [run]
        agents:
          a: *base
          b:
            <<: *base
            command: [other]
        """
    config = load_config(write(text), env={})
    assert config.agents["a"].command == ["run"]
    assert (config.agents["b"].type, config.agents["b"].command) == ("command", ["other"])


def test_quoted_numbers_are_accepted_for_integers(write):
    assert load_config(write("api:\n  port: '8080'\n"), env={}).api.port == 8080


def test_lenient_ignores_bad_sections_and_tokens(write, workdir):
    path = write("""
        agents:
          claude:
            type: nonsense
            token_file: missing
            token: also
          bad: [1]
        defaults:
          timeout: -1
        api:
          port: lots
        storage:
          runs_dir: data/runs
        """)
    with pytest.raises(ConfigError):
        load_config(path, env={})
    config = load_config_lenient(path, env={})
    assert config.storage.runs_dir == str(workdir / "data" / "runs")
    assert config.api.port == 14355
    assert config.defaults.timeout == -1
    assert config.agents == {}


def test_lenient_keeps_unvalidated_agents_and_does_not_read_tokens(write, workdir):
    path = write("agents:\n  x:\n    type: nonsense\n    token_file: ~nobody/t\n")
    agent = load_config_lenient(path, env={}).agents["x"]
    assert (agent.type, agent.token, agent.token_file) == ("nonsense", "", "~nobody/t")


def test_lenient_still_fails_on_syntax(write):
    with pytest.raises(ConfigError) as info:
        load_config_lenient(write("storage: [\n"), env={})
    assert str(info.value).startswith("config.yaml:2: invalid YAML: ")


def test_runs_dir_is_relative_to_config_dir_not_cwd(write, workdir, monkeypatch):
    write("storage:\n  runs_dir: runs\n", "proj/config.yaml")
    monkeypatch.chdir(workdir.parent)
    config = load_config_lenient(str(workdir / "proj" / "config.yaml"), env={})
    assert config.storage.runs_dir == str(workdir / "proj" / "runs")


def test_deep_nesting_is_an_error_not_a_crash(workdir):
    (workdir / "config.yaml").write_text("agents: " + "[" * 10000)
    with pytest.raises(ConfigError):
        load_config("config.yaml", env={})
    (workdir / "config.yaml").write_text("agents:\n  a:\n    " + "- " * 20000 + "x\n")
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml", env={})
    # refused by our own depth check before YAML sees it, whatever libyaml would say (0.2.6
    # stops at 1000 levels in its own words; older ones parse on)
    assert str(info.value) == "config.yaml:3: invalid YAML: nested deeper than 64 levels"
    # nesting by indentation alone is counted too
    (workdir / "config.yaml").write_text("".join(" " * i + f"k{i}:\n" for i in range(1200)))
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml", env={})
    assert str(info.value) == "config.yaml:65: invalid YAML: nested deeper than 64 levels"


def test_example_config_loads(workdir, monkeypatch):
    shutil.copy(EXAMPLE, workdir / "config.yaml")
    config = load_config("config.yaml", env={})
    sim = config.agents["sim"]
    assert (sim.type, sim.command) == ("command", ["python", "-m", "conductor.demo.sim_agent"])
    assert config.defaults.agent == "sim"
