"""Agent backends: how each agent type is run and how its stream becomes output.md.

Every type-specific fact lives in one backend module, found through :mod:`.registry`. No
Textual here; the console renders streams with :func:`display_lines`. The REST client is
loaded only by the REST agents' own process, because http.client and ssl would slow every
`run-agent` start.
"""

from conductor.agents.backend import Backend, Failure, Launch, Outcome, Usage
from conductor.agents.base import AGENT_TYPES, AgentError, check_type, normalize_type, token_env_var
# after the submodule `backend`, so that `conductor.agents.backend` is the registry's function
from conductor.agents.registry import backend
from conductor.lazymod import lazy_names

# The rest is loaded on first use (PEP 562): `run-agent job` needs the error type, the version
# probe and one backend, not the console's stream renderer (json) or typing.
_WHERE = {
    "AgentConfigLike": "configlike",
    "commandline": "cli_agents", "detect_version": "cli_agents", "parse_version": "cli_agents",
    "resolve_binary": "cli_agents", "version_is_compatible": "cli_agents",
    "DisplayLine": "display", "display_lines": "display",
    "CLAUDE_PLACEHOLDER": "streams", "extract_output": "streams",
}

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())


__all__ = [
    "AGENT_TYPES", "AgentConfigLike", "AgentError", "check_type", "normalize_type",
    "token_env_var", "Backend", "Failure", "Launch", "Outcome", "Usage", "backend",
    "commandline", "detect_version", "parse_version", "resolve_binary", "version_is_compatible",
    "DisplayLine", "display_lines", "CLAUDE_PLACEHOLDER", "extract_output",
]
