"""Where a config value came from, so every error can say ``file:line: field: message``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from conductor.errors import ConfigError

from .model import nearest_line


def display_path(path: str, *, cwd: str | None = None, home: str | None = None) -> str:
    """The shortest clear name for a file: as given when relative, else relative to the
    working directory when inside it, else ``~/...`` when inside the home directory."""
    if not os.path.isabs(path):
        return path
    cwd = cwd or _safe_cwd()
    home = home or os.path.expanduser("~")
    for base, prefix in ((cwd, ""), (home, "~/")):
        if base and os.path.isabs(base):
            rel = os.path.relpath(path, base)
            if rel != os.curdir and not rel.startswith(os.pardir):
                return prefix + rel
    return path


def _safe_cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


def config_error(display: str | None, message: str, *, line: int | None = None,
                 field_path: str | None = None) -> ConfigError:
    """A :class:`ConfigError`; the field prefix is left out of the text when the message already
    starts with it (``api.port must be between 0 and 65535``), but kept on the error object."""
    shown = field_path
    if field_path and message.startswith(field_path):
        shown = None
    err = ConfigError(message, path=display, line=line, field=shown)
    err.field = field_path
    return err


@dataclass
class Source:
    """The file being decoded: its absolute path, its display name and the line of each field."""

    path: str | None
    display: str | None
    lines: dict[str, int] = field(default_factory=dict)

    def note(self, field_path: str, line: int) -> None:
        self.lines.setdefault(field_path, line)

    def line_of(self, field_path: str) -> int | None:
        return nearest_line(self.lines, field_path)

    def error(self, field_path: str | None, message: str, line: int | None = None) -> ConfigError:
        if line is None and field_path:
            line = self.line_of(field_path)
        return config_error(self.display, message, line=line, field_path=field_path)
