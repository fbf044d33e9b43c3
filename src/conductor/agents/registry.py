"""The one table of agent backends: type name -> the module that defines ``BACKEND``.

Adding a backend is one module under ``conductor/agents/`` (a :class:`Backend` subclass and
``BACKEND = ThatClass()``) and one line in each table here. Modules are imported on first use,
so a ``run-agent`` that runs claude never imports the REST client, and a run of any agent
imports its own backend only.
"""

from __future__ import annotations

from ..lazymod import load_entry

from .base import AgentError, normalize_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .backend import Backend

_MODULES: dict[str, str] = {
    "claude": "conductor.agents.claude",
    "codex": "conductor.agents.codex",
    "gemini": "conductor.agents.gemini",
    "perplexity": "conductor.agents.perplexity",
    "xai": "conductor.agents.xai",
    "command": "conductor.agents.command",
}
# Every variable each backend keeps its token or account in (its ``token_vars`` and
# ``other_vars``): an agent's environment loses the other backends' ones, and reading them here
# spares every run importing every backend (tests/agents checks the table against them).
_SECRET_VARS: dict[str, tuple[str, ...]] = {
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    "codex": ("CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_ORG_ID"),
    "gemini": ("GEMINI_API_KEY",),
    "perplexity": ("PERPLEXITY_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "command": (),
}
_LOADED: dict[str, Backend] = {}


def types() -> tuple[str, ...]:
    """Every agent type, in the order of the table."""
    return tuple(_MODULES)


def known(agent_type: str) -> bool:
    return normalize_type(agent_type) in _MODULES


def backend(agent_type: str) -> Backend:
    """The backend of a type (compared lower-cased and trimmed, as upstream does); unknown
    types fail with upstream's `unsupported agent type "<t>"`."""
    kind = normalize_type(agent_type)
    found = load_entry(_MODULES, _LOADED, kind, "BACKEND")
    if found is None:
        raise AgentError(f'unsupported agent type "{agent_type}"')
    return found


def token_vars() -> frozenset[str]:
    """Every variable any backend keeps its token or account in: stripped from the
    environment of every agent but their own backend's."""
    names: set[str] = set()
    for kind in _MODULES:
        found = _LOADED.get(kind)
        names.update(_SECRET_VARS[kind] if found is None else (*found.token_vars, *found.other_vars))
    return frozenset(names)
