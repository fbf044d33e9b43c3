"""API tokens: where they come from, in which order, and how their files are guarded.

Precedence (spec 6.5): ``CONDUCTOR_AGENT_<NAME>_TOKEN`` > ``token_file`` > ``token``.
A token's value never goes into a message; only the file it came from does.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from typing import Mapping

from ..agents.base import token_env_var  # noqa: F401 - one table of token variables, re-exported here
from .model import Config
from .source import Source, display_path

API_KEY_ENV = "CONDUCTOR_API_KEY"
_NOT_ENV_CHAR = re.compile(r"[^A-Z0-9]")


def agent_token_env_name(agent_name: str) -> str:
    """``CONDUCTOR_AGENT_<NAME>_TOKEN``, NAME upper-cased with every non-[A-Z0-9] char as ``_``."""
    return f"CONDUCTOR_AGENT_{''.join(_env_char(ch) for ch in agent_name)}_TOKEN"


def _env_char(ch: str) -> str:
    """One character per character, like Go's per-rune mapping (``ß`` does not become ``SS``)."""
    upper = ch.upper()
    return upper if len(upper) == 1 and not _NOT_ENV_CHAR.match(upper) else "_"


def apply_env_overrides(config: Config, env: Mapping[str, str]) -> None:
    """A non-blank per-agent variable replaces the token and clears token_file;
    ``CONDUCTOR_API_KEY`` sets the API key and turns auth on."""
    for name, agent in config.agents.items():
        value = (env.get(agent_token_env_name(name)) or "").strip()
        if value:
            agent.token = value
            agent.token_file = ""
    api_key = (env.get(API_KEY_ENV) or "").strip()
    if api_key:
        config.api.api_key = api_key
        config.api.auth_enabled = True


def read_token_files(config: Config, source: Source) -> None:
    """Replace each agent's token by the trimmed content of its token_file."""
    for name, agent in config.agents.items():
        if not agent.token_file:
            continue
        field = f"agents.{name}.token_file"
        try:
            with open(agent.token_file, encoding="utf-8", errors="replace") as handle:
                content = handle.read(1 << 20)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise source.error(field, f'read token_file for agent "{name}": {reason}') from None
        token = content.strip()
        if not token:
            raise source.error(field, f"token file is empty: {agent.token_file}")
        agent.token = token


def check_permissions(path: str, display: str | None = None) -> str | None:
    """A warning when a file that may hold secrets is readable by group or others."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o044:
        return None
    name = display or display_path(path)
    return f"warning: {name} is readable by other users (mode {mode:04o}); chmod 600 it"


def _holds_secret(config: Config) -> bool:
    return (any(agent.token and not agent.token_file for agent in config.agents.values())
            or bool(config.api.api_key) or bool(config.webhook and config.webhook.secret))


def permission_warnings(config: Config, env: Mapping[str, str] | None = None) -> list[str]:
    """Warnings for token files, and for the config file when it holds a secret itself."""
    env = os.environ if env is None else env
    warnings: list[str] = []
    if config.path and _holds_secret(_without_env_secrets(config, env)):
        warning = check_permissions(config.path)
        if warning:
            warnings.append(warning)
    for agent in config.agents.values():
        if agent.token_file:
            warning = check_permissions(agent.token_file)
            if warning and warning not in warnings:
                warnings.append(warning)
    return warnings


def _without_env_secrets(config: Config, env: Mapping[str, str]) -> Config:
    """The config as the file wrote it, as far as secrets go: env-provided ones do not count."""
    agents = {name: agent for name, agent in config.agents.items()
              if not (env.get(agent_token_env_name(name)) or "").strip()}
    api = config.api if not (env.get(API_KEY_ENV) or "").strip() else replace(config.api, api_key="")
    return replace(config, agents=agents, api=api)
