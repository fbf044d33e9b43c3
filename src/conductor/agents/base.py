"""What every agent backend shares: the error type, the shape of an agent config, the known types.

The config layer owns the real agent config class; this package only relies on the attributes
named in :class:`AgentConfigLike`, so the two layers can evolve without importing each other.
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence, runtime_checkable

from conductor.errors import ConductorError


class AgentError(ConductorError):
    """An agent could not be started, checked or run. The message is one upstream-style line."""


@runtime_checkable
class AgentConfigLike(Protocol):
    """The attributes of a configured agent this package reads (the config layer provides them)."""

    name: str
    type: str
    token: str
    token_file: str
    base_url: str
    model: str
    command: Sequence[str]
    env: Mapping[str, str]


CLI_TYPES: tuple[str, ...] = ("claude", "codex", "gemini", "command")
REST_TYPES: tuple[str, ...] = ("perplexity", "xai")
AGENT_TYPES: tuple[str, ...] = CLI_TYPES + REST_TYPES

_TOKEN_ENV_VARS: dict[str, str] = {
    "claude": "ANTHROPIC_API_KEY",
    "codex": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "perplexity": "PERPLEXITY_API_KEY",
    "xai": "XAI_API_KEY",
}

# Every key the runner strips from an agent's environment except the agent's own (spec 4.4).
FOREIGN_KEY_VARS: frozenset[str] = frozenset(_TOKEN_ENV_VARS.values()) | {"OPENAI_ORG_ID"}


def normalize_type(agent_type: str) -> str:
    """Config types are compared lower-cased and trimmed, as upstream does."""
    return (agent_type or "").strip().lower()


def token_env_var(agent_type: str) -> str | None:
    """The environment variable that carries this agent type's API token (None for `command`)."""
    return _TOKEN_ENV_VARS.get(normalize_type(agent_type))


def is_rest(agent_type: str) -> bool:
    """REST agents run as HTTP requests, not as a CLI process."""
    return normalize_type(agent_type) in REST_TYPES


def check_type(agent_type: str) -> str:
    """Return the normalised type, or fail with upstream's `unsupported agent type` text."""
    kind = normalize_type(agent_type)
    if kind not in AGENT_TYPES:
        raise AgentError(f'unsupported agent type "{agent_type}"')
    return kind
