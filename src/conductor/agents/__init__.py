"""Agent backends: how each agent type is run and how its stream becomes output.md.

Every type-specific fact lives in one backend module, found through :mod:`.registry`. No
Textual here; the console renders streams with :func:`display_lines`. The REST client is
loaded only by the REST agents' own process, because http.client and ssl would slow every
`run-agent` start.
"""


from conductor.agents.backend import Backend, Failure, Launch, Outcome, Usage
from conductor.agents.base import (AGENT_TYPES, AgentConfigLike, AgentError, check_type,
                                   normalize_type, token_env_var)
from conductor.agents.cli_agents import (commandline, detect_version, parse_version,
                                         resolve_binary, version_is_compatible)
from conductor.agents.display import DisplayLine, display_lines
from conductor.agents.registry import backend
from conductor.agents.streams import CLAUDE_PLACEHOLDER, extract_output

__all__ = [
    "AGENT_TYPES", "AgentConfigLike", "AgentError", "check_type", "normalize_type",
    "token_env_var", "Backend", "Failure", "Launch", "Outcome", "Usage", "backend",
    "commandline", "detect_version", "parse_version", "resolve_binary", "version_is_compatible",
    "DisplayLine", "display_lines", "CLAUDE_PLACEHOLDER", "extract_output",
]
