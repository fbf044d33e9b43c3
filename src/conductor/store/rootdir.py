"""Where the runs root is: one rule for every command.

Upstream resolves the root three different ways depending on the command (spec 1.2 and 9 #25):
``task`` ignores ``storage.runs_dir``, ``resume`` defaults to ``./runs`` and a relative ``--root``
is used as given. Every command of ours calls :func:`resolve_runs_root` instead, and always gets
an absolute path back, so a run started from one directory is found from any other.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` costs `run-agent bus post --root` ~3 ms
    from typing import Mapping

ROOT_ENV = "CONDUCTOR_ROOT"
DEFAULT_RELATIVE_ROOT = os.path.join(".run-agent", "runs")


def resolve_runs_root(explicit: str | None, *, config_runs_dir: str | None = None,
                      environ: Mapping[str, str] = os.environ, home: str | None = None) -> str:
    """The runs root: ``--root``, then ``$CONDUCTOR_ROOT``, then ``storage.runs_dir``, then
    ``~/.run-agent/runs``; absolute, with ``~`` expanded."""
    home_dir = home or environ.get("HOME") or os.path.expanduser("~")
    for candidate in (explicit, environ.get(ROOT_ENV), config_runs_dir):
        if candidate:
            return _absolute(candidate, home_dir)
    return os.path.join(os.path.abspath(home_dir), DEFAULT_RELATIVE_ROOT)


def _absolute(path: str, home_dir: str) -> str:
    if path == "~" or path.startswith("~/"):
        path = home_dir + path[1:]
    else:
        path = os.path.expanduser(path)
    return os.path.abspath(path)
