"""The parsed document before typing: scalars, sequences and mappings, each with its line.

Both readers (YAML and the HCL subset) produce this tree, so one decoder gives both formats the
same types, defaults and error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})


@dataclass
class Scalar:
    """A leaf. ``quoted`` is true for quoted, block and explicitly ``!!str``-tagged values."""

    text: str
    line: int
    quoted: bool = False

    @property
    def is_null(self) -> bool:
        return not self.quoted and self.text in NULL_WORDS


@dataclass
class Sequence:
    """A list; ``line`` is where it starts."""

    items: list["Node"] = field(default_factory=list)
    line: int = 0


@dataclass
class Entry:
    """One ``key: value`` of a mapping; ``line`` is the key's line."""

    key: str
    line: int
    value: "Node"


@dataclass
class Mapping:
    """The entries of a mapping in file order (duplicates kept: the decoder reports them)."""

    entries: list[Entry] = field(default_factory=list)
    line: int = 0


Node = Scalar | Sequence | Mapping
