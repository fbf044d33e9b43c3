"""Paths written in a config file are relative to that file's directory, not to the caller's cwd."""

from __future__ import annotations

import os

from conductor.errors import ConfigError

from .model import Config
from .source import Source


def expand_home(path: str, field: str, source: Source, home: str | None = None) -> str:
    """``~`` and ``~/…`` become the home directory; ``~user`` is refused, as upstream does."""
    if not path.startswith("~"):
        return path
    home = home or os.path.expanduser("~")
    if path == "~":
        return home
    if path.startswith("~/"):
        return os.path.join(home, path[2:])
    raise source.error(field, f"only ~ and ~/ are expanded, not ~user: {path}")


def resolve_path(path: str, base_dir: str, field: str, source: Source) -> str:
    """An absolute, normalised path; "" stays "" (meaning: not configured)."""
    if not path:
        return ""
    if "\0" in path:  # every os call would raise ValueError on it
        raise source.error(field, "contains a NUL byte")
    expanded = expand_home(path, field, source)
    return os.path.normpath(os.path.join(base_dir, expanded))


def resolve_config_paths(config: Config, source: Source, *, strict: bool = True) -> None:
    """Make token_file, storage.runs_dir and storage.extra_roots absolute.

    Lenient loading leaves a token_file it cannot resolve as written (nothing reads it then);
    storage paths must resolve in both modes because resolving them is what lenient loading is for.
    """
    base_dir = os.path.dirname(config.path) if config.path else os.getcwd()
    for name, agent in config.agents.items():
        field = f"agents.{name}.token_file"
        try:
            agent.token_file = resolve_path(agent.token_file, base_dir, field, source)
        except ConfigError:
            if strict:
                raise
    storage = config.storage
    storage.runs_dir = resolve_path(storage.runs_dir, base_dir, "storage.runs_dir", source)
    storage.extra_roots = [
        resolve_path(root, base_dir, f"storage.extra_roots[{index}]", source)
        for index, root in enumerate(storage.extra_roots)
    ]
    # worktree.dir (issue 13): relative to the config's dir too
    try:
        config.worktree.dir = resolve_path(config.worktree.dir, base_dir, "worktree.dir", source)
    except ConfigError:
        if strict:
            raise
