"""Configuration: the conductor-loop ``config.yaml`` format (plus the legacy HCL subset), loaded into
typed records, validated with ``file:line: field: message`` errors, and agent tokens resolved.

See docs/configuration.md for the schema and the differences from upstream.
"""

from conductor.lazymod import lazy_names

# Names are loaded on first use (PEP 562): `run-agent bus post --project` asks only whether a
# config file exists (search), and the loader brings YAML, dataclasses and the validator.
_WHERE = {
    "parse_hcl": "hcl",
    "load_config": "loader", "load_config_lenient": "loader",
    "AGENT_TYPES": "model", "DIVERSIFICATION_STRATEGIES": "model", "AgentConfig": "model",
    "ApiConfig": "model", "Config": "model", "Defaults": "model", "Diversification": "model",
    "SseConfig": "model", "StorageConfig": "model", "WebhookConfig": "model",
    "normalize_agent_type": "model",
    "config_candidates": "search", "find_config": "search", "find_run_config": "search",
    "select_agent": "selection",
    "display_path": "source",
    "agent_token_env_name": "tokens", "check_permissions": "tokens",
    "permission_warnings": "tokens", "token_env_var": "tokens",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())


__all__ = [
    "AGENT_TYPES", "DIVERSIFICATION_STRATEGIES",
    "AgentConfig", "ApiConfig", "Config", "Defaults", "Diversification", "SseConfig",
    "StorageConfig", "WebhookConfig",
    "agent_token_env_name", "check_permissions", "config_candidates", "display_path",
    "find_config", "find_run_config", "load_config", "load_config_lenient", "normalize_agent_type", "parse_hcl",
    "permission_warnings", "select_agent", "token_env_var",
]
