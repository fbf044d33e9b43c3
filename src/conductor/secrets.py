"""Secrets: which values are secret, how they are kept out of agents' environments, and how
they are redacted from agent text we copy (bus, run-info, console, terminal).

The rule, in full (docs/configuration.md, "Secrets"):

* A *secret* is every configured token value: each agent's token (after the
  ``CONDUCTOR_AGENT_<NAME>_TOKEN`` override and token_file), ``api.api_key``, the webhook
  secret, and the values of ``CONDUCTOR_AGENT_*_TOKEN``, ``CONDUCTOR_API_KEY`` and the well-known
  API-key variables (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``, ...) found in our environment.
* Values are trimmed; a value shorter than :data:`MIN_LENGTH` characters is not treated as a
  secret for redaction (it would blank ordinary words) and is not matched by value when
  stripping an environment; such a token is still removed by name.
* Redaction replaces every occurrence of a secret by :data:`MASK`, longest secret first.

No Textual and nothing slow to import: the runner, the CLI and the console use it.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `run-agent bus post` imports this module
    from typing import Iterable, Mapping

MASK = "***"
MIN_LENGTH = 8
_AGENT_PREFIX, _TOKEN_SUFFIX = "CONDUCTOR_AGENT_", "_TOKEN"
API_KEY_VAR = "CONDUCTOR_API_KEY"
# The variables that carry a vendor's API key (spec 4.4), whoever's agent they belong to.
WELL_KNOWN_KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY",
                       "PERPLEXITY_API_KEY", "XAI_API_KEY")


def is_conductor_secret_var(name: str) -> bool:
    """``CONDUCTOR_AGENT_<NAME>_TOKEN`` or ``CONDUCTOR_API_KEY`` (case-insensitive)."""
    upper = name.upper()
    return upper == API_KEY_VAR or (
        upper.startswith(_AGENT_PREFIX) and upper.endswith(_TOKEN_SUFFIX)
        and len(upper) > len(_AGENT_PREFIX) + len(_TOKEN_SUFFIX))


def usable(secrets: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, long enough, unique; longest first (so a secret containing another wins)."""
    found = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_LENGTH}
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def collect(config=None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every secret we know of: the config's tokens and keys, and secret-carrying variables."""
    env = os.environ if environ is None else environ
    values: list[str] = []
    if config is not None:
        values += [agent.token for agent in config.agents.values()]
        values.append(config.api.api_key)
        if config.webhook is not None:
            values.append(config.webhook.secret)
    for name, value in env.items():
        if is_conductor_secret_var(name) or name.upper() in WELL_KNOWN_KEY_VARS:
            values.append(value)
    return usable(values)


@lru_cache(maxsize=32)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(s) for s in secrets))


@lru_cache(maxsize=32)
def _bytes_pattern(secrets: tuple[str, ...]) -> re.Pattern[bytes]:
    return re.compile(b"|".join(re.escape(s.encode("utf-8")) for s in secrets))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of at least MIN_LENGTH characters) replaced by ``***``."""
    keys = usable(secrets)
    if not keys or not text:
        return text
    return _pattern(keys).sub(MASK, text)


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    keys = usable(secrets)
    if not keys or not data:
        return data
    return _bytes_pattern(keys).sub(MASK.encode(), data)


class StreamRedactor:
    """Redacts a byte stream fed in arbitrary chunks: secrets hold no newline, so only the bytes
    after the last newline (at most the longest secret minus one) are held back."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.keys = usable(secrets)
        self.hold = max((len(s.encode("utf-8")) for s in self.keys), default=1) - 1
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        if not self.keys:
            return data
        buf = redact_bytes(self.pending + data, self.keys)
        cut = max(buf.rfind(b"\n") + 1, len(buf) - self.hold)
        self.pending = buf[cut:]
        return buf[:cut]

    def flush(self) -> bytes:
        out, self.pending = redact_bytes(self.pending, self.keys), b""
        return out


def agent_env_filter(env: Mapping[str, str], *, keep: Iterable[str],
                     own_token: str, secrets: Iterable[str]) -> dict[str, str]:
    """The environment without other agents' secrets.

    Removed: every ``CONDUCTOR_AGENT_*_TOKEN`` and ``CONDUCTOR_API_KEY`` (except names in
    ``keep``), and every other variable whose trimmed value equals a secret that is not the
    agent's own token. Names in ``keep`` (the agent's own token variables) always stay.
    """
    kept = {k.upper() for k in keep}
    own = own_token.strip()
    foreign = {s for s in usable(secrets) if s != own}
    out: dict[str, str] = {}
    for name, value in env.items():
        if name.upper() not in kept:
            if is_conductor_secret_var(name) or value.strip() in foreign:
                continue
        out[name] = value
    return out


# ----------------------------------------------------------------------------- process-wide
# The console registers the secrets it knows once at start; its text helpers redact with them.

_KNOWN: tuple[str, ...] = ()


def remember(secrets: Iterable[str]) -> None:
    global _KNOWN
    _KNOWN = usable((*_KNOWN, *secrets))


def known() -> tuple[str, ...]:
    return _KNOWN


def redact_known(text: str) -> str:
    return _pattern(_KNOWN).sub(MASK, text) if _KNOWN and text else text
