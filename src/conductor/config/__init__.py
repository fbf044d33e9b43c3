"""Configuration: the conductor-loop ``config.yaml`` format (plus the legacy HCL subset), loaded into
typed records, validated with ``file:line: field: message`` errors, and agent tokens resolved.

See docs/configuration.md for the schema and the differences from upstream.
"""

from .hcl import parse_hcl
from .loader import load_config, load_config_lenient
from .model import (AGENT_TYPES, DIVERSIFICATION_STRATEGIES, AgentConfig, ApiConfig, Config, Defaults,
                    Diversification, SseConfig, StorageConfig, WebhookConfig, normalize_agent_type)
from .search import config_candidates, find_config, find_run_config
from .selection import select_agent
from .source import display_path
from .tokens import (agent_token_env_name, check_permissions, permission_warnings,
                     token_env_var)

__all__ = [
    "AGENT_TYPES", "DIVERSIFICATION_STRATEGIES",
    "AgentConfig", "ApiConfig", "Config", "Defaults", "Diversification", "SseConfig",
    "StorageConfig", "WebhookConfig",
    "agent_token_env_name", "check_permissions", "config_candidates", "display_path",
    "find_config", "find_run_config", "load_config", "load_config_lenient", "normalize_agent_type", "parse_hcl",
    "permission_warnings", "select_agent", "token_env_var",
]
