"""The tree of a plainly written config without PyYAML, or None and :mod:`.yaml_reader` decides.

Importing PyYAML costs every ``run-agent job`` about 12 ms, a third of its start-up budget, and
most config files are block mappings of plain words, paths and URLs. This reader accepts only
that: printable lines, ASCII outside comments; ``key:`` or ``key: value`` at consistent indents;
a value that is a conservative plain word, a quoted string without escapes, or a one-line
``[a, b]`` list of such; ``- value`` items; comments. Anything else (anchors, tags, block
scalars, flow mappings, tabs, an empty value, a second document, odd indentation, a ``#`` that
might be inside quotes) returns None and the full YAML reader parses the file, so the tree is
always the one libyaml gives (tests/config compares the two on every accepted form and on
thousands of near misses) and errors stay libyaml's.
"""

from __future__ import annotations

from .tree import Entry, Mapping, Node, Scalar, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

# what may start a plain value, and what may follow: no indicator of YAML's (`#`, `&`, `*`,
# `!`, `|`, `>`, `%`, `@`, backquote, quotes, braces, brackets, `?`), `:` only inside a word
_PLAIN_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._~+$")
_PLAIN_REST = _PLAIN_FIRST | frozenset("-=,():@ ")
_KEY_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_KEY_REST = _KEY_FIRST | frozenset("0123456789-.")
_FLOW_BAD = frozenset(",[]{}")
MAX_DEPTH = 16  # deeper files go to the YAML reader and its depth guard


def simple_tree(data: bytes) -> Node | None:
    """The mapping ``data`` holds when it is written in the plain subset, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines: list[tuple[int, int, str]] = []  # (line number, indent, content)
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw:
            continue
        if not raw.isprintable() or raw[-1] == " ":
            return None  # tabs, CR, other line breaks and controls, a BOM; trailing blanks
        content = raw.lstrip(" ")
        if content[0] == "#":
            continue
        indent = len(raw) - len(content)
        kept = _without_comment(content)
        if kept is None or not kept.isascii():
            return None
        lines.append((number, indent, kept))
    if not lines or lines[0][1] != 0:
        return None
    parser = _Parser(lines)
    root = parser.mapping(0)
    if root is None or parser.pos != len(lines):
        return None
    return root


class _Parser:
    def __init__(self, lines: list[tuple[int, int, str]]) -> None:
        self.lines = lines
        self.pos = 0

    def mapping(self, indent: int, depth: int = 0) -> Mapping | None:
        if depth >= MAX_DEPTH:
            return None
        node = Mapping([], self.lines[self.pos][0])
        while self.pos < len(self.lines):
            number, at, content = self.lines[self.pos]
            if at < indent:
                break
            if at > indent:
                return None
            key, rest = _key(content)
            if key is None:
                return None
            self.pos += 1
            if rest:
                value = _value(rest, number)
            else:
                value = self.nested(indent, depth)
            if value is None:
                return None
            node.entries.append(Entry(key, number, value))
        return node

    def nested(self, indent: int, depth: int) -> Node | None:
        """The block under a ``key:`` line: a deeper mapping, or ``- item`` lines."""
        if self.pos >= len(self.lines):
            return None  # an empty value: libyaml's line for it is not ours to guess
        number, at, content = self.lines[self.pos]
        if content.startswith("- ") and at >= indent:
            return self.sequence(at)
        if at <= indent:
            return None
        return self.mapping(at, depth + 1)

    def sequence(self, indent: int) -> Sequence | None:
        node = Sequence([], self.lines[self.pos][0])
        while self.pos < len(self.lines):
            number, at, content = self.lines[self.pos]
            if at != indent or not content.startswith("- "):
                break
            item = _scalar(content[2:], number)
            if item is None:
                return None
            node.items.append(item)
            self.pos += 1
        if self.pos < len(self.lines) and self.lines[self.pos][1] > indent:
            return None
        return node


def _without_comment(content: str) -> str | None:
    """The line without a trailing ``  # comment``; None when the ``#`` might be inside quotes."""
    at = content.find(" #")
    if at < 0:
        return content
    head = content[:at].rstrip(" ")
    doubles, singles = head.count('"'), head.count("'")
    if (doubles and singles) or doubles % 2 or singles % 2:
        return None
    return head


def _key(content: str) -> tuple[str | None, str]:
    """``(key, value text)`` of a ``key:`` or ``key: value`` line."""
    colon = content.find(":")
    if colon <= 0:
        return None, ""
    key = content[:colon]
    if key[0] not in _KEY_FIRST or not all(ch in _KEY_REST for ch in key):
        return None, ""
    rest = content[colon + 1:]
    if rest and (rest[0] != " " or rest[1:2] == " "):
        return None, ""
    return key, rest[1:]


def _value(text: str, line: int) -> Node | None:
    if text[0] == "[":
        return _flow(text, line)
    return _scalar(text, line)


def _scalar(text: str, line: int, flow: bool = False) -> Scalar | None:
    if not text:
        return None
    first = text[0]
    if first in "\"'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != first or first in inner or (first == '"' and "\\" in inner):
            return None
        return Scalar(inner, line, quoted=True)
    if first == "-":  # `-m`, `--flag`; `- x` is a sequence item
        if len(text) < 2 or text[1] == " ":
            return None
    elif first not in _PLAIN_FIRST:
        return None
    if not all(ch in _PLAIN_REST for ch in text) or ": " in text or "  " in text \
            or text[-1] == ":" or (flow and (":" in text or any(ch in _FLOW_BAD for ch in text))):
        return None
    return Scalar(text, line)


def _flow(text: str, line: int) -> Sequence | None:
    if text[-1] != "]" or "[" in text[1:] or "]" in text[:-1]:
        return None
    inner = text[1:-1].strip(" ")
    node = Sequence([], line)
    if not inner:
        return node
    for part in _split(inner):
        item = _scalar(part, line, flow=True)
        if item is None:
            return None
        node.items.append(item)
    return node


def _split(inner: str) -> Iterator[str]:
    for part in inner.split(","):
        yield part.strip(" ")
