"""Which config file a command uses. Looking never creates anything (spec 9 #26: upstream
writes ``~/.run-agent/conductor-loop.hcl`` on every call, which makes "no config" impossible)."""

from __future__ import annotations

import os

LEGACY_HCL = os.path.join(".run-agent", "conductor-loop.hcl")
USER_CONFIG = os.path.join(".config", "conductor", "config.yaml")
LOCAL_NAMES = ("config.yaml", "config.yml")


def config_candidates(*, cwd: str | None = None, home: str | None = None) -> list[str]:
    """The default places, in the order they are tried."""
    cwd = cwd or os.getcwd()
    home = home or os.path.expanduser("~")
    return [os.path.join(cwd, name) for name in LOCAL_NAMES] + [
        os.path.join(home, USER_CONFIG),
        os.path.join(home, LEGACY_HCL),
    ]


def find_config(explicit: str | None = None, *, cwd: str | None = None,
                home: str | None = None) -> str | None:
    """``--config`` (which must exist), else the first existing default place, else None."""
    if explicit:
        path = explicit if cwd is None or os.path.isabs(explicit) else os.path.join(cwd, explicit)
        if not os.path.exists(path):
            from .source import Source  # (dataclasses: only for the error)
            raise Source(None, explicit).error(None, "config file not found")
        if os.path.isdir(path):
            from .source import Source
            raise Source(None, explicit).error(None, "config path is a directory, not a file")
        return path
    for candidate in config_candidates(cwd=cwd, home=home):
        if os.path.isfile(candidate):
            return candidate
    return None


def find_run_config(explicit: str | None, agent: str | None, *, cwd: str | None = None,
                    home: str | None = None) -> str | None:
    """The config a ``job``/``task`` run loads (spec 6.2): ``--config`` when given; with an
    ``--agent`` that is an agent type (``claude``, ``codex``, ...) and no ``--config``, none at
    all, as upstream: the agent is the bare type, so upstream's starter
    ``~/.run-agent/conductor-loop.hcl`` cannot turn ``--agent claude`` into ``unknown agent``.
    Any other ``--agent`` (a configured name such as ``my-stub``) and no ``--agent`` search
    the default places (upstream would fail those with ``unsupported agent type``)."""
    from ..agents.registry import backend, known
    if not explicit and known(agent or "") and not backend(agent or "").needs_command:
        return None
    return find_config(explicit, cwd=cwd, home=home)
