"""Regular expressions compiled on first use.

Compiling a pattern costs 0.1-0.5 ms; a module-level ``re.compile`` pays that in every process
that imports the module, used or not. ``run-agent bus post`` runs once per agent message and
uses few of the patterns its modules define, so the rarely used ones are declared with
:class:`Pattern` and compiled the first time they match anything.
"""

from __future__ import annotations

import re


class Pattern:
    """The part of ``re.Pattern``'s interface we use, compiled on the first call."""

    __slots__ = ("_source", "_flags", "_compiled")

    def __init__(self, source: str | bytes, flags: int = 0) -> None:
        self._source, self._flags = source, flags
        self._compiled: re.Pattern | None = None

    @property
    def compiled(self) -> re.Pattern:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source, self._flags)
        return compiled

    @property
    def pattern(self) -> str | bytes:
        return self._source

    def match(self, string, *args):  # type: ignore[no-untyped-def]
        return self.compiled.match(string, *args)

    def fullmatch(self, string, *args):  # type: ignore[no-untyped-def]
        return self.compiled.fullmatch(string, *args)

    def search(self, string, *args):  # type: ignore[no-untyped-def]
        return self.compiled.search(string, *args)

    def sub(self, repl, string, count=0):  # type: ignore[no-untyped-def]
        return self.compiled.sub(repl, string, count)

    def split(self, string, maxsplit=0):  # type: ignore[no-untyped-def]
        return self.compiled.split(string, maxsplit)

    def finditer(self, string, *args):  # type: ignore[no-untyped-def]
        return self.compiled.finditer(string, *args)
