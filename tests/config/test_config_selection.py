"""Agent selection (spec 6.3), deterministic when several agents share a type (spec 9 #28)."""

from __future__ import annotations

import pytest

from conductor.config import AgentConfig, Config, load_config, select_agent
from conductor.errors import ConfigError


def config_with(*agents: tuple[str, str], default: str = "") -> Config:
    config = Config(agents={name: AgentConfig(name=name, type=t) for name, t in agents})
    config.defaults.agent = default
    return config


def test_exact_name_first():
    config = config_with(("claude", "codex"), ("b", "claude"))
    assert select_agent(config, "claude").name == "claude"


@pytest.mark.parametrize("order", [("zeta", "alpha", "mid"), ("mid", "zeta", "alpha"), ("alpha", "mid", "zeta")])
def test_by_type_picks_alphabetically_first_name(order):
    config = config_with(*[(name, "claude") for name in order])
    assert select_agent(config, "CLAUDE ").name == "alpha"


def test_unknown_agent():
    with pytest.raises(ConfigError) as info:
        select_agent(config_with(("a", "claude")), "gemini")
    assert str(info.value) == 'unknown agent "gemini"'


def test_default_agent_then_first_name():
    config = config_with(("b", "codex"), ("a", "claude"), default="codex")
    assert select_agent(config, None).name == "b"
    config.defaults.agent = ""
    assert select_agent(config, "").name == "a"


def test_no_agents_configured(write):
    config = load_config(write(""), env={})
    assert config.agents == {}
    with pytest.raises(ConfigError) as info:
        select_agent(config, None)
    assert str(info.value) == "config.yaml: no agents configured"


def test_unknown_default_agent_names_line(write):
    config = load_config(write("agents:\n  claude: {}\ndefaults:\n  agent: gpt\n"), env={})
    with pytest.raises(ConfigError) as info:
        select_agent(config, None)
    assert str(info.value) == 'config.yaml:4: defaults.agent: unknown agent "gpt"'


def test_requested_unknown_agent_names_file(write):
    config = load_config(write("agents:\n  claude: {}\n"), env={})
    with pytest.raises(ConfigError) as info:
        select_agent(config, "xai")
    assert str(info.value) == 'config.yaml: unknown agent "xai"'


def test_without_config_the_name_is_the_type():
    agent = select_agent(None, " Codex ")
    assert (agent.name, agent.type, agent.token, agent.command) == ("codex", "codex", "", [])


@pytest.mark.parametrize("name, message", [
    (None, "agent is empty"),
    ("  ", "agent is empty"),
    ("gpt", 'unknown agent "gpt"'),
    ("command", 'agent type "command" needs a config entry with a command to run'),
])
def test_without_config_errors(name, message):
    with pytest.raises(ConfigError) as info:
        select_agent(None, name)
    assert str(info.value) == message
