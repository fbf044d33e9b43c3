"""A light stand-in for ``@dataclass`` on the paths agents and scripts run often.

Importing ``dataclasses`` (with ``inspect``) costs a fresh ``run-agent bus post``, ``list`` or
``status`` about a fifth of its start-up, so the classes on those paths take equality and
``repr`` over the fields named in ``_compared`` from :class:`Record`, as a dataclass would, and
either write their ``__init__`` by hand or, with many fields, take :class:`Fields`' (defaults
are class attributes). :func:`replace` copies either kind, and a dataclass too.
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


class Fields(Record):
    """A record whose fields are ``_compared``, in order, with their defaults as class
    attributes (immutable values only: a default is shared, never copied). ``__init__`` takes
    them by position or by name, and refuses a name that is not a field, as a dataclass does."""

    _names: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._names = frozenset(cls._compared)

    def __init__(self, *args, **kwargs) -> None:
        names = self._compared
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} arguments")
        for name, value in zip(names, args):
            setattr(self, name, value)
        for name, value in kwargs.items():
            if name not in self._names:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
            setattr(self, name, value)

    def replace(self, **changes):
        """A copy with ``changes`` (as ``dataclasses.replace``)."""
        return replace(self, **changes)


def replace(obj, /, **changes):
    """A copy of ``obj`` with ``changes`` (a :class:`Record` with a ``__dict__``, or a
    dataclass)."""
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses
        return dataclasses.replace(obj, **changes)
    compared = obj._compared
    for name in changes:
        if name not in compared:
            raise TypeError(f"{type(obj).__name__} has no field {name!r}")
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new
