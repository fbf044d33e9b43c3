"""Loading a config file: parse, decode, environment overrides, paths, validation, tokens.

``load_config`` is for commands that run agents; ``load_config_lenient`` is for commands that
only need ``storage.runs_dir`` and must keep working while an agent entry is being edited.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `run-agent job` does not import typing
    from typing import Mapping

from .decode import decode_config
from .model import Config
from .paths import resolve_config_paths
from .source import Source, display_path
from .tokens import apply_env_overrides, read_token_files
from .tree import Node
from .validate import validate_config
from .yaml_simple import simple_tree

MAX_CONFIG_BYTES = 1 << 20  # a config is a few KiB; a bigger file is refused unread


def _read(path: str, source: Source) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except IsADirectoryError:
        raise source.error(None, "cannot read config: is a directory") from None
    except OSError as exc:
        raise source.error(None, f"cannot read config: {(exc.strerror or str(exc)).lower()}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise source.error(None, f"larger than {MAX_CONFIG_BYTES >> 20} MiB; refusing to read it")
    return data


def _decode_text(data: bytes, source: Source) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise source.error(None, "not valid UTF-8 text", line) from None


def _parse(path: str, source: Source) -> Node | None:
    data = _read(path, source)
    if path.lower().endswith(".hcl"):
        from .hcl import parse_hcl  # the legacy format: YAML configs do not load it
        return parse_hcl(_decode_text(data, source), source)
    tree = simple_tree(data)  # most configs: without importing PyYAML (12 ms)
    if tree is not None:
        return tree
    from .yaml_reader import parse_yaml
    return parse_yaml(data, source)


def _load(path: str, env: Mapping[str, str] | None, *, strict: bool) -> Config:
    if not path:
        raise Source(None, None).error(None, "config path is empty")
    source = Source(os.path.abspath(path), display_path(path))
    config = decode_config(_parse(path, source), source, strict=strict)
    apply_env_overrides(config, os.environ if env is None else env)
    resolve_config_paths(config, source, strict=strict)
    if strict:
        validate_config(config, source)
        read_token_files(config, source)
    return config


def load_config(path: str, *, env: Mapping[str, str] | None = None) -> Config:
    """The full pipeline of spec 6.2: every problem is a ConfigError naming file, line and field.
    An empty file is a valid config with no agents (``select_agent`` says what is missing)."""
    return _load(path, env, strict=True)


def load_config_lenient(path: str, *, env: Mapping[str, str] | None = None) -> Config:
    """Decode, apply overrides and resolve paths, without validation or reading token files.
    A section that does not decode keeps its defaults; a file that does not parse still fails."""
    return _load(path, env, strict=False)
