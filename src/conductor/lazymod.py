"""Package names loaded on first use (PEP 562), for packages whose submodules are costly.

``run-agent bus post`` imports ``conductor.store`` and ``conductor.config`` for one or two names
each; loading every submodule (YAML, dataclasses, the validator) would triple its start-up. A
package lists where each name lives and gets its ``__getattr__`` and ``__dir__`` from here.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the fast verbs' import lists are pinned, typing is not in them
    from typing import Any, Callable


def lazy_names(package: str, where: dict[str, str],
               namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: a name in ``where`` is imported from the
    submodule it names on first access and kept in ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__


def load_entry(table: dict[str, str], loaded: dict[str, Any], key: str, attr: str) -> Any:
    """The ``attr`` of the module ``table[key]`` names, imported on first use and kept in
    ``loaded``; None when ``key`` is not in the table. The one loader of the registries (agent
    backends, executors): a verb imports only the entries it uses."""
    found = loaded.get(key)
    if found is None:
        module = table.get(key)
        if module is None:
            return None
        found = loaded[key] = getattr(importlib.import_module(module), attr)
    return found
