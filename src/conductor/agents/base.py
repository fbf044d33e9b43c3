"""What every agent backend shares: the error type, the shape of an agent config, the known types.

The config layer owns the real agent config class; this package only relies on the attributes
named in :class:`~conductor.agents.configlike.AgentConfigLike`, so the two layers can evolve
without importing each other.
"""

from __future__ import annotations

from conductor.errors import ConductorError


class AgentError(ConductorError):
    """An agent could not be started, checked or run. The message is one upstream-style line."""


AGENT_TYPES: tuple[str, ...] = ("claude", "codex", "gemini", "perplexity", "xai", "command")



def normalize_type(agent_type: str) -> str:
    """Config types are compared lower-cased and trimmed, as upstream does."""
    return (agent_type or "").strip().lower()


def token_env_var(agent_type: str) -> str | None:
    """The environment variable this agent type reads its API token from first (None for
    `command` and unknown types); its backend (:mod:`conductor.agents.registry`) has them all."""
    from .registry import backend, known
    if not known(agent_type):
        return None
    names = backend(agent_type).token_vars
    return names[0] if names else None


def check_type(agent_type: str) -> str:
    """Return the normalised type, or fail with upstream's `unsupported agent type` text."""
    kind = normalize_type(agent_type)
    if kind not in AGENT_TYPES:
        raise AgentError(f'unsupported agent type "{agent_type}"')
    return kind
