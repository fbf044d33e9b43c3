"""Which agent a run uses (spec 6.3), made deterministic (spec 9 #28)."""

from __future__ import annotations

from conductor.errors import ConfigError

from .model import AGENT_TYPES, AgentConfig, Config, normalize_agent_type
from .source import config_error, display_path


def _error(config: Config | None, message: str, field: str | None = None) -> ConfigError:
    if config is None or not config.path:
        return ConfigError(message)
    line = config.line_of(field) if field else None
    return config_error(display_path(config.path), message, line=line, field_path=field)


def _resolve(config: Config, wanted: str, field: str | None) -> AgentConfig:
    """An exact name, else the alphabetically first agent of that type."""
    if wanted in config.agents:
        return config.agents[wanted]
    agent_type = normalize_agent_type(wanted)
    for name in sorted(config.agents):
        if config.agents[name].type == agent_type:
            return config.agents[name]
    raise _error(config, f'unknown agent "{wanted}"', field)


def select_agent(config: Config | None, name: str | None) -> AgentConfig:
    """The agent asked for by name or type, else ``defaults.agent``, else the first by name.

    Without a config the name is taken as a type and gives an agent with no settings.
    """
    wanted = (name or "").strip()
    if config is None:
        return _bare_agent(wanted)
    if wanted:
        return _resolve(config, wanted, None)
    if config.defaults.agent.strip():
        return _resolve(config, config.defaults.agent.strip(), "defaults.agent")
    if not config.agents:
        raise _error(config, "no agents configured")
    return config.agents[min(config.agents)]


def _bare_agent(wanted: str) -> AgentConfig:
    if not wanted:
        raise ConfigError("agent is empty")
    agent_type = normalize_agent_type(wanted)
    if agent_type not in AGENT_TYPES:
        raise ConfigError(f'unknown agent "{wanted}"')
    from ..agents.registry import backend
    if backend(agent_type).needs_command:
        raise ConfigError(f'agent type "{agent_type}" needs a config entry with a command to run')
    return AgentConfig(name=agent_type, type=agent_type)
