"""The one table of executors: name -> the module that defines ``EXECUTOR``.

Adding an executor is one module under ``conductor/executor/`` (an :class:`Executor` subclass
and ``EXECUTOR = ThatClass()``) and one line here. Modules are imported on first use, so a
``list`` of local runs never imports another executor's client code.
"""

from __future__ import annotations

from ..lazymod import load_entry

from ..errors import ConductorError
from .base import LOCAL, Executor

_MODULES: dict[str, str] = {
    LOCAL: "conductor.executor.local",
    "slurm": "conductor.executor.slurm",
}
_LOADED: dict[str, Executor] = {}


class UnknownExecutor(ConductorError):
    pass


def names() -> tuple[str, ...]:
    """Every executor, in the order of the table."""
    return tuple(_MODULES)


def executor(name: str = "") -> Executor:
    """The executor called ``name`` ("" is local: what a record without ``executor`` ran on)."""
    key = (name or LOCAL).strip().lower()
    found = load_entry(_MODULES, _LOADED, key, "EXECUTOR")
    if found is None:
        raise UnknownExecutor(f'unknown executor "{name}" (known: {", ".join(_MODULES)})')
    return found


def register(name: str, module: str) -> None:
    """Add an executor at run time (tests; a plug-in). The table above is for the built-in ones."""
    _MODULES[name] = module
    _LOADED.pop(name, None)


def where(info) -> str:
    """Where a record's run executes, in a few words, for the console and the CLI ("pid 4242",
    "pid 4242 on build7", the executor's own words for its runs)."""
    from .base import placement_of
    try:
        found = executor(getattr(info, "executor", ""))
    except UnknownExecutor:
        return f"{info.executor} (unknown executor)"
    return found.where(placement_of(info))
