"""The tree of a config file to typed records, with upstream defaults applied.

Unknown keys are ignored (upstream decodes non-strictly); a known key with a value of the wrong
shape is an error naming its line and field. Values of secret fields never appear in messages.
"""

from __future__ import annotations

import re

from .. import lazyre

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `run-agent job` does not import typing
    from typing import Callable

from .model import (DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_SSE_DISCOVERY_INTERVAL_MS,
                    DEFAULT_SSE_HEARTBEAT_INTERVAL_S, DEFAULT_SSE_MAX_CLIENTS_PER_RUN,
                    DEFAULT_SSE_POLL_INTERVAL_MS, DEFAULT_WEBHOOK_TIMEOUT, AgentConfig, ApiConfig,
                    Config, Defaults, Diversification, SseConfig, StorageConfig, WebhookConfig,
                    WorktreeConfig, normalize_agent_type)
from .model import DEFAULT_HOOK_TIMEOUT, HookConfig
from .model import SlurmConfig  # issue 14
from .source import Source
from .tree import Entry, Mapping, Node, Scalar, Sequence
from conductor.errors import ConfigError
from conductor.formats.numbers import config_int_value

_TRUE = frozenset({"true", "yes", "on", "y"})
_FALSE = frozenset({"false", "no", "off", "n"})
_MERGE_KEY = "<<"


def _kind(node: Node) -> str:
    return "a list" if isinstance(node, Sequence) else "a mapping"


_NUMBER_TEXT = lazyre.Pattern(r"[0-9]{1,12}(?:\.[0-9]{0,12})?|\.[0-9]{1,12}", re.ASCII)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class Decoder:
    """Typed reads of tree nodes; each read records the field's line in the source."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def fail(self, field: str, message: str, node: Node | None = None) -> ConfigError:
        line = getattr(node, "line", None) or None
        return self.source.error(field, message, line)

    def entries(self, node: Node | None, field: str, shape: str = "must be a mapping") -> list[Entry]:
        """The entries of a mapping (null counts as empty); duplicate keys are an error."""
        if node is None or (isinstance(node, Scalar) and node.is_null):
            return []
        if not isinstance(node, Mapping):
            raise self.fail(field, shape, node)
        found: dict[str, Entry] = {}
        for entry in self._merged(node, field):
            child = f"{field}.{entry.key}" if field else entry.key
            if entry.key in found:
                raise self.source.error(child, f"duplicate key (first defined at line {found[entry.key].line})",
                                        entry.line)
            found[entry.key] = entry
            self.source.note(child, entry.line)
        return list(found.values())

    def _merged(self, node: Mapping, field: str) -> list[Entry]:
        """Entries with YAML merge keys (``<<: *base``) expanded; explicit keys win."""
        explicit = [e for e in node.entries if e.key != _MERGE_KEY]
        keys = {e.key for e in explicit}
        merged: list[Entry] = []
        for entry in node.entries:
            if entry.key != _MERGE_KEY:
                continue
            sources = entry.value.items if isinstance(entry.value, Sequence) else [entry.value]
            for src in sources:
                if not isinstance(src, Mapping):
                    raise self.fail(field, "a merge key (<<) must refer to a mapping", entry.value)
                for inner in src.entries:
                    if inner.key not in keys and inner.key != _MERGE_KEY:
                        keys.add(inner.key)
                        merged.append(Entry(inner.key, entry.line, inner.value))
        return explicit + merged

    def string(self, node: Node, field: str) -> str:
        if isinstance(node, Scalar):
            return "" if node.is_null else node.text
        raise self.fail(field, f"must be a string, got {_kind(node)}", node)

    def integer(self, node: Node, field: str) -> int | None:
        if not isinstance(node, Scalar):
            raise self.fail(field, f"must be an integer, got {_kind(node)}", node)
        if node.is_null:
            return None
        value = config_int_value(node.text)
        if value is None:
            raise self.fail(field, f'must be an integer, got "{_clip(node.text)}"', node)
        return value

    def number(self, node: Node, field: str) -> float | None:
        """A non-negative decimal number (a cost in USD); null is None."""
        if not isinstance(node, Scalar):
            raise self.fail(field, f"must be a number, got {_kind(node)}", node)
        if node.is_null:
            return None
        text = node.text.strip().lstrip("$")
        if not _NUMBER_TEXT.fullmatch(text):
            raise self.fail(field, f'must be a number, got "{_clip(node.text)}"', node)
        return float(text)

    def boolean(self, node: Node, field: str) -> bool:
        if not isinstance(node, Scalar):
            raise self.fail(field, f"must be true or false, got {_kind(node)}", node)
        if node.is_null:
            return False
        word = node.text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise self.fail(field, f'must be true or false, got "{_clip(node.text)}"', node)

    def items(self, node: Node, field: str, what: str) -> list[tuple[str, Node]]:
        """(field[i], item) pairs of a list; null counts as empty."""
        if isinstance(node, Scalar) and node.is_null:
            return []
        if not isinstance(node, Sequence):
            got = _kind(node) if not isinstance(node, Scalar) else "a single value"
            raise self.fail(field, f"must be a list of {what}, got {got}", node)
        pairs = []
        for index, item in enumerate(node.items):
            child = f"{field}[{index}]"
            self.source.note(child, getattr(item, "line", 0) or node.line)
            pairs.append((child, item))
        return pairs

    def strings(self, node: Node, field: str) -> list[str]:
        return [self.string(item, child) for child, item in self.items(node, field, "strings")]

    def integers(self, node: Node, field: str) -> list[int]:
        values = []
        for child, item in self.items(node, field, "integers"):
            value = self.integer(item, child)
            if value is None:
                raise self.fail(child, "must be an integer, got null", item)
            values.append(value)
        return values


if TYPE_CHECKING:
    Reader = Callable[[Decoder, Node, str], object]


def _fill(decoder: Decoder, node: Node | None, field: str, target: object,
          readers: dict[str, Reader], shape: str = "must be a mapping") -> None:
    """Set each known key of a mapping on ``target`` through its reader; ignore the others."""
    for entry in decoder.entries(node, field, shape):
        reader = readers.get(entry.key)
        if reader is not None:
            value = reader(decoder, entry.value, f"{field}.{entry.key}")
            setattr(target, entry.key, value)


_STR: Reader = Decoder.string
_INT: Reader = Decoder.integer
_BOOL: Reader = Decoder.boolean
_NUMBER: Reader = Decoder.number
_STRS: Reader = Decoder.strings
_INTS: Reader = Decoder.integers


def _int_or_zero(decoder: Decoder, node: Node, field: str) -> int:
    return decoder.integer(node, field) or 0


def _command(decoder: Decoder, node: Node, field: str) -> list[str]:
    """A list of strings, or one string split like a shell would."""
    if isinstance(node, Scalar) and not node.is_null:
        try:
            import shlex  # a `command:` written as one string
            return shlex.split(node.text)
        except ValueError as exc:
            raise decoder.fail(field, f"cannot split the command: {str(exc).lower()}", node) from None
    return decoder.strings(node, field)


def _string_map(decoder: Decoder, node: Node, field: str) -> dict[str, str]:
    return {e.key: decoder.string(e.value, f"{field}.{e.key}") for e in decoder.entries(node, field)}


def _agent(decoder: Decoder, name: str, node: Node) -> AgentConfig:
    field = f"agents.{name}"
    agent = AgentConfig(name=name, type="")
    _fill(decoder, node, field, agent, {
        "type": _STR, "token": _STR, "token_file": _STR, "base_url": _STR, "model": _STR,
        "command": _command, "env": _string_map, "args": _command, "max_retries": _INT,
        "root_sandbox": _BOOL, "trust_folder": _BOOL, "executor": _STR,
    }, "must be a mapping of agent settings (type, token, model, ...)")
    agent.type = normalize_agent_type(agent.type or name)
    return agent


def _agents(decoder: Decoder, node: Node) -> dict[str, AgentConfig]:
    entries = decoder.entries(node, "agents", "must be a mapping of agent name to settings")
    return {entry.key: _agent(decoder, entry.key, entry.value) for entry in entries}


def _diversification(decoder: Decoder, node: Node, field: str) -> Diversification | None:
    if isinstance(node, Scalar) and node.is_null:
        return None
    result = Diversification()
    _fill(decoder, node, field, result, {
        "enabled": _BOOL, "strategy": _STR, "agents": _STRS, "weights": _INTS,
        "fallback_on_failure": _BOOL,
    })
    return result


def _defaults(decoder: Decoder, node: Node) -> Defaults:
    result = Defaults()
    _fill(decoder, node, "defaults", result, {
        "agent": _STR, "timeout": _INT, "max_concurrent_runs": _int_or_zero,
        "max_concurrent_root_tasks": _int_or_zero, "diversification": _diversification,
        "max_cost_usd": _NUMBER, "max_tokens": _INT, "max_restarts": _INT,
        "failure_limit": _INT, "limit_wait_max": _STR, "resume": _STR, "executor": _STR,
    })
    return result


def _sse(decoder: Decoder, node: Node, field: str) -> SseConfig:
    result = SseConfig(0, 0, 0, 0)
    _fill(decoder, node, field, result, {
        "poll_interval_ms": _int_or_zero, "discovery_interval_ms": _int_or_zero,
        "heartbeat_interval_s": _int_or_zero, "max_clients_per_run": _int_or_zero,
    })
    result.poll_interval_ms = result.poll_interval_ms or DEFAULT_SSE_POLL_INTERVAL_MS
    result.discovery_interval_ms = result.discovery_interval_ms or DEFAULT_SSE_DISCOVERY_INTERVAL_MS
    result.heartbeat_interval_s = result.heartbeat_interval_s or DEFAULT_SSE_HEARTBEAT_INTERVAL_S
    result.max_clients_per_run = result.max_clients_per_run or DEFAULT_SSE_MAX_CLIENTS_PER_RUN
    return result


def _api(decoder: Decoder, node: Node) -> ApiConfig:
    result = ApiConfig(host="", port=0)
    _fill(decoder, node, "api", result, {
        "host": _STR, "port": _int_or_zero, "cors_origins": _STRS, "auth_enabled": _BOOL,
        "api_key": _STR, "sse": _sse,
    })
    result.host = result.host or DEFAULT_API_HOST
    result.port = result.port or DEFAULT_API_PORT
    return result


def _storage(decoder: Decoder, node: Node) -> StorageConfig:
    result = StorageConfig()
    _fill(decoder, node, "storage", result, {"runs_dir": _STR, "extra_roots": _STRS})
    return result


def _webhook(decoder: Decoder, node: Node) -> WebhookConfig | None:
    if isinstance(node, Scalar) and node.is_null:
        return None
    result = WebhookConfig(timeout="")
    _fill(decoder, node, "webhook", result, {"url": _STR, "events": _STRS, "secret": _STR, "timeout": _STR})
    result.timeout = result.timeout or DEFAULT_WEBHOOK_TIMEOUT
    return result


def _keymap(decoder: Decoder, node: Node) -> dict[str, str]:
    """Action id -> key(s); a list of keys is joined with commas."""
    keymap: dict[str, str] = {}
    for entry in decoder.entries(node, "keymap", "must be a mapping of action id to key"):
        field = f"keymap.{entry.key}"
        if isinstance(entry.value, Sequence):
            keymap[entry.key] = ",".join(decoder.strings(entry.value, field))
        elif isinstance(entry.value, Scalar) and not entry.value.is_null:
            keymap[entry.key] = entry.value.text
        else:
            got = "null" if isinstance(entry.value, Scalar) else _kind(entry.value)
            raise decoder.fail(field, f'must be a key such as "ctrl+q" or comma-separated keys, got {got}',
                               entry.value)
    return keymap


def _theme(decoder: Decoder, node: Node) -> str:
    return decoder.string(node, "theme")


def _worktree(decoder: Decoder, node: Node) -> WorktreeConfig:
    result = WorktreeConfig()
    _fill(decoder, node, "worktree", result, {
        "enabled": _BOOL, "dir": _STR, "base": _STR, "setup": _command,
        "setup_timeout": _STR, "copy": _STRS,
    }, "must be a mapping (enabled, dir, base, setup, setup_timeout, copy)")
    return result


def _hooks(decoder: Decoder, node: Node) -> list[HookConfig]:
    """``hooks:``, a list of {command, on, timeout} (ours, issue 13)."""
    hooks = []
    for field, item in decoder.items(node, "hooks", "hooks (mappings with command, on, timeout)"):
        hook = HookConfig(timeout="")
        _fill(decoder, item, field, hook, {"command": _command, "on": _STRS, "timeout": _STR},
              "must be a mapping with command (a list of words), on and timeout")
        hook.timeout = hook.timeout or DEFAULT_HOOK_TIMEOUT
        hooks.append(hook)
    return hooks


def _slurm(decoder: Decoder, node: Node) -> SlurmConfig | None:
    """``slurm:`` (issue 14): the Slurm executor's sbatch options."""
    if isinstance(node, Scalar) and node.is_null:
        return None
    result = SlurmConfig()
    _fill(decoder, node, "slurm", result, {
        "partition": _STR, "time": _STR, "cpus": _int_or_zero, "mem": _STR, "account": _STR,
        "qos": _STR, "args": _command,
    }, "must be a mapping of sbatch settings (partition, time, cpus, mem, account, args)")
    return result


_SECTIONS: dict[str, Callable[[Decoder, Node], object]] = {
    "agents": _agents, "defaults": _defaults, "api": _api, "storage": _storage,
    "webhook": _webhook, "keymap": _keymap, "theme": _theme,
    "worktree": _worktree,
    "hooks": _hooks,
    "slurm": _slurm,
}


def decode_config(root: Node | None, source: Source, *, strict: bool = True) -> Config:
    """A :class:`Config` from a parsed file. Lenient mode keeps the default for any section that
    does not decode, so one bad section cannot hide ``storage.runs_dir``."""
    decoder = Decoder(source)
    config = Config(path=source.path, lines=source.lines)
    shape = "the top level must be a mapping (agents:, defaults:, storage:, ...)"
    if (isinstance(root, Scalar) and not root.is_null) or isinstance(root, Sequence):
        raise source.error(None, shape, root.line)
    for entry in decoder.entries(root, ""):
        section = _SECTIONS.get(entry.key)
        if section is None:
            continue
        try:
            setattr(config, entry.key, section(decoder, entry.value))
        except ConfigError:
            if strict:
                raise
    return config
