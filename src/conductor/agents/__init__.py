"""Agent backends: how each agent type is run and how its stream becomes output.md.

No Textual here; the console uses :func:`display_lines` to render agent streams. The REST names
are loaded on first use, because http.client and ssl would slow every `run-agent` start.
"""

from typing import Any

from conductor.agents.base import (
    AGENT_TYPES,
    CLI_TYPES,
    FOREIGN_KEY_VARS,
    REST_TYPES,
    AgentConfigLike,
    AgentError,
    check_type,
    is_rest,
    normalize_type,
    token_env_var,
)
from conductor.agents.cli_agents import (
    GEMINI_NO_STREAM_JSON,
    GEMINI_NOT_RUNNABLE,
    AgentSpec,
    agent_spec,
    check_gemini_help,
    commandline,
    detect_version,
    parse_version,
    resolve_binary,
    version_is_compatible,
)
from conductor.agents.display import DisplayLine, display_lines
from conductor.agents.streams import (
    CLAUDE_PLACEHOLDER,
    GEMINI_REJECTION_SUMMARY,
    extract_output,
    gemini_rejected_stream_json,
)

__all__ = [
    "AGENT_TYPES", "CLI_TYPES", "FOREIGN_KEY_VARS", "REST_TYPES", "AgentConfigLike", "AgentError",
    "check_type", "is_rest", "normalize_type", "token_env_var",
    "GEMINI_NO_STREAM_JSON", "GEMINI_NOT_RUNNABLE", "AgentSpec", "agent_spec", "check_gemini_help",
    "commandline", "detect_version", "parse_version", "resolve_binary", "version_is_compatible",
    "DisplayLine", "display_lines",
    "resolve_token", "run_perplexity", "run_xai", "stream_perplexity", "stream_xai", "xai_endpoint",
    "xai_settings",
    "CLAUDE_PLACEHOLDER", "GEMINI_REJECTION_SUMMARY", "extract_output", "gemini_rejected_stream_json",
]

_REST_NAMES = frozenset({"resolve_token", "run_perplexity", "run_xai", "stream_perplexity", "stream_xai",
                         "xai_endpoint", "xai_settings"})


def __getattr__(name: str) -> Any:
    if name in _REST_NAMES:
        from conductor.agents import rest

        return getattr(rest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
