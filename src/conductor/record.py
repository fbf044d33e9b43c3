"""A light stand-in for ``@dataclass`` on the paths agents run often.

Importing ``dataclasses`` (with ``inspect``) costs ``run-agent bus post`` about 8 ms of its 35 ms
budget, so the few classes on that path write their ``__init__`` by hand and take equality and
``repr`` over the fields named in ``_compared`` from :class:`Record`, as a dataclass would.
"""

from __future__ import annotations


class Record:
    __slots__ = ()
    _compared: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._compared)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._compared)
        return f"{type(self).__name__}({inner})"
