"""The shape of an agent config as this package reads it (the config layer provides the class).

A module of its own: the Protocol needs ``typing`` at run time, and nothing on the runner's path
checks against it (it is an annotation there), so ``run-agent job`` does not import typing.
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence, runtime_checkable


@runtime_checkable
class AgentConfigLike(Protocol):
    """The attributes of a configured agent this package reads (the config layer provides them)."""

    name: str
    type: str
    token: str
    token_file: str
    base_url: str
    model: str
    command: Sequence[str]
    env: Mapping[str, str]
