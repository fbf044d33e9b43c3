"""The line-based HCL subset of ``~/.run-agent/conductor-loop.hcl`` (spec 6.6).

``name {`` opens a block, ``}`` closes it, ``key = value`` lines go in between; no nesting.
Blocks ``defaults``, ``api`` and ``storage`` are sections; any other block is an agent named by
the block. Whole-line ``#`` and ``//`` lines are comments. Unlike upstream (spec 9 #27) we also
strip an inline comment after a quoted value, and after an unquoted value when it starts with
`` #`` or `` //`` (a space first, so ``http://host`` and ``a#b`` stay intact).
"""

from __future__ import annotations

import json
import re

from .source import Source
from .tree import Entry, Mapping, Node, Scalar

SECTION_KEYS: dict[str, frozenset[str]] = {
    "defaults": frozenset({"agent", "timeout", "max_concurrent_runs", "max_concurrent_root_tasks"}),
    "api": frozenset({"host", "port"}),
    "storage": frozenset({"runs_dir"}),
}
AGENT_KEYS = frozenset({"type", "token", "token_file", "base_url", "model", "command"})
_SECRET_KEYS = frozenset({"token", "api_key", "secret"})

_BLOCK_OPEN = re.compile(r"^([A-Za-z0-9_.-]+)\s*\{$")
_KEY = re.compile(r"^([A-Za-z0-9_.-]+)\s*=\s*(.*)$")
_FIRST_WORD = re.compile(r"^([A-Za-z0-9_.-]+)")
_INLINE_COMMENT = re.compile(r"\s(#|//)")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}


def _quote(text: str) -> str:
    """Go's %q closely enough for an error message."""
    return json.dumps(text, ensure_ascii=False)


def _shown(line: str) -> str:
    """The offending line for an error, with any secret value hidden."""
    match = _KEY.match(line)
    if match and match.group(1) in _SECRET_KEYS:
        return _quote(f"{match.group(1)} = ***")
    word = _FIRST_WORD.match(line)
    if word and word.group(1) in _SECRET_KEYS:  # a malformed secret line: `token "sk-..."`
        return _quote(f"{word.group(1)} ***")
    return _quote(line)


def _is_comment(line: str) -> bool:
    return line.startswith("#") or line.startswith("//")


def _quoted_value(raw: str) -> tuple[str, str] | None:
    """(unescaped value, text after the closing quote), or None when the quote never closes.
    ``\\"``, ``\\\\`` and ``\\n`` are unescaped; other backslashes are kept as written."""
    out: list[str] = []
    i = 1
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == '"':
            return "".join(out), raw[i + 1:].strip()
        out.append(ch)
        i += 1
    return None


def _value(raw: str) -> Scalar | None:
    """The value of ``key = <raw>``; None when it is malformed."""
    if raw.startswith('"'):
        parsed = _quoted_value(raw)
        if parsed is None:
            return None
        text, rest = parsed
        if rest and not _is_comment(rest):
            return None
        return Scalar(text, 0, quoted=True)
    cut = _INLINE_COMMENT.search(raw)
    if cut:
        raw = raw[:cut.start()]
    return Scalar(raw.strip(), 0)


class _Blocks:
    """Collects blocks in file order; a repeated block adds to the first one (a repeated key wins)."""

    def __init__(self) -> None:
        self.sections: dict[str, Entry] = {}
        self.agents: dict[str, Entry] = {}

    def open(self, name: str, line: int) -> Mapping:
        table = self.sections if name in SECTION_KEYS else self.agents
        if name not in table:
            table[name] = Entry(name, line, Mapping([], line))
        node = table[name].value
        assert isinstance(node, Mapping)
        return node

    def tree(self) -> Mapping:
        root = Mapping([], 1)
        root.entries.extend(self.sections.values())
        if self.agents:
            first = min(entry.line for entry in self.agents.values())
            root.entries.append(Entry("agents", first, Mapping(list(self.agents.values()), first)))
        return root


def parse_hcl(text: str, source: Source) -> Node:
    """The HCL subset as a tree shaped like the YAML schema (agents under ``agents``)."""
    blocks = _Blocks()
    current: tuple[str, int, Mapping] | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or _is_comment(line):
            continue
        if current is None:
            match = _BLOCK_OPEN.match(line)
            if not match:
                raise source.error(None, f"expected block open (name {{), got: {_shown(line)}", number)
            current = (match.group(1), number, blocks.open(match.group(1), number))
            continue
        if line == "}":
            current = None
            continue
        _add_pair(current, line, number, source)
    if current is not None:
        raise source.error(None, f'unexpected end of file: block "{current[0]}" not closed', current[1])
    return blocks.tree()


def _add_pair(block: tuple[str, int, Mapping], line: str, number: int, source: Source) -> None:
    match = _KEY.match(line)
    value = _value(match.group(2)) if match else None
    if match is None or value is None:
        raise source.error(None, f"expected key = value, got: {_shown(line)}", number)
    name, _, mapping = block
    key = match.group(1)
    if key not in SECTION_KEYS.get(name, AGENT_KEYS):
        return
    value.line = number
    mapping.entries[:] = [entry for entry in mapping.entries if entry.key != key]
    mapping.entries.append(Entry(key, number, value))
