"""Typed errors. Each carries what a user needs to fix the problem: the file and the field.

The CLI turns any :class:`ConductorError` into ``Error: <message>`` and exit code 1 in one
place (``conductor.cli.main``); the console shows the same one-line text.
"""

from __future__ import annotations


class ConductorError(Exception):
    """Base class of every error we raise on purpose."""

    # what a verb had done when it failed (orchestrator.verbs sets it; None elsewhere)
    partial: object = None


class IdError(ConductorError, ValueError):
    """An id (project, task, run, message) is malformed or unsafe as a path component."""


class LayoutError(ConductorError):
    """A path would leave the runs root, or a file is not what the layout says it must be."""


class LockTimeout(ConductorError):
    """An exclusive lock could not be taken before the deadline."""

    def __init__(self, message: str = "lock timeout") -> None:
        super().__init__(message)


class RunInfoError(ConductorError):
    """run-info.yaml could not be read or written."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class BusError(ConductorError):
    """A message bus could not be read or appended to."""


class ConfigError(ConductorError):
    """A configuration file is invalid. The message names file, line (when known) and field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)


class UsageError(ConductorError):
    """A command was called with invalid flags or arguments."""
