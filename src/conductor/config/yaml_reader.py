"""YAML text to a :mod:`tree` with a line for every key and value.

We build the tree from libyaml's event stream with our own stack instead of ``yaml.compose``:
the C composer recurses once per nesting level and crashes the interpreter (segfault) on a
file of ``[[[[…``; the event parser is iterative. Values stay text; the decoder types them.
"""

from __future__ import annotations

import yaml

from ..formats.yamlguard import MAX_ALIAS_NODES, deep_line
from .source import Source
from .tree import Entry, Mapping, Node, Scalar, Sequence

MAX_DEPTH = 64  # flow nesting (`[[[`); a config needs a handful of levels
_STR_TAGS = frozenset({"tag:yaml.org,2002:str", "!!str"})
_NULL_TAGS = frozenset({"tag:yaml.org,2002:null", "!!null"})

try:  # libyaml is a dependency in practice; the pure loader keeps tests running without it
    _LOADER = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _LOADER = yaml.SafeLoader  # type: ignore[misc]


class _Builder:
    """Assembles nodes from events; mappings alternate key, value."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.root: Node | None = None
        self.stack: list[Sequence | Mapping] = []
        self.pending_key: list[Scalar | None] = []
        self.anchors: dict[str, Node] = {}
        self.documents = 0
        # Aliases share nodes, so a kilobyte of aliases of aliases is billions of nodes to the
        # decoder. Count nodes as if aliases were copies: ``sizes`` holds each closed anchor's
        # expanded size (an anchor still open is absent: an alias to it is a cycle).
        self.count = 0
        self.alias_nodes = 0
        self.starts: list[tuple[str | None, int]] = []
        self.sizes: dict[str, int] = {}

    def add(self, node: Node, line: int) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, Sequence):
            parent.items.append(node)
            return
        key = self.pending_key[-1]
        if key is None:
            if not isinstance(node, Scalar):
                raise self.source.error(None, "invalid YAML: mapping keys must be plain values", line)
            self.pending_key[-1] = node
            return
        parent.entries.append(Entry(key.text, key.line, node))
        self.pending_key[-1] = None

    def open(self, node: Sequence | Mapping, anchor: str | None, line: int) -> None:
        self.add(node, line)
        self.remember(anchor, node)
        self.sizes.pop(anchor or "", None)
        self.starts.append((anchor, self.count))
        self.count += 1
        self.stack.append(node)
        self.pending_key.append(None)

    def close(self) -> None:
        self.stack.pop()
        self.pending_key.pop()
        anchor, start = self.starts.pop()
        if anchor:
            self.sizes[anchor] = self.count - start

    def remember(self, anchor: str | None, node: Node) -> None:
        if anchor:
            self.anchors[anchor] = node

    def alias(self, anchor: str, line: int) -> None:
        target = self.anchors.get(anchor)
        if target is None:
            raise self.source.error(None, f'invalid YAML: unknown alias "{anchor}"', line)
        size = self.sizes.get(anchor)
        if size is not None:
            self.alias_nodes += size
            self.count += size
        if size is None or self.alias_nodes > MAX_ALIAS_NODES:  # None: inside its own anchor
            raise self.source.error(None, f"YAML aliases expand beyond {MAX_ALIAS_NODES} nodes",
                                    line)
        self.add(target, line)


def _scalar(event: yaml.ScalarEvent, line: int) -> Scalar:
    if event.tag in _NULL_TAGS:
        return Scalar("", line)
    quoted = bool(event.style) or event.tag in _STR_TAGS
    return Scalar(event.value, line, quoted=quoted)


def parse_yaml(data: bytes, source: Source) -> Node | None:
    """The single document of ``data`` as a tree; None for an empty file or a comment-only one."""
    # Our own depth check first: libyaml 0.2.6 stops at 1000 levels in its own words, older
    # ones take seconds on deep flow nesting; either way the message must be ours.
    deep = deep_line(data.decode("latin-1"), MAX_DEPTH)
    if deep is not None:
        raise source.error(None, f"invalid YAML: nested deeper than {MAX_DEPTH} levels", deep)
    builder = _Builder(source)
    try:
        for event in yaml.parse(data, Loader=_LOADER):
            _apply(builder, event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise source.error(None, f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise source.error(None, f"invalid YAML: {_reader_reason(exc)}", _reader_line(exc, data)) from None
    return builder.root


def _apply(builder: _Builder, event: yaml.Event) -> None:
    line = event.start_mark.line + 1
    if isinstance(event, yaml.DocumentStartEvent):
        builder.documents += 1
        if builder.documents > 1:
            raise builder.source.error(None, "invalid YAML: expected a single document, found another", line)
    elif isinstance(event, yaml.ScalarEvent):
        node = _scalar(event, line)
        builder.add(node, line)
        builder.remember(event.anchor, node)
        builder.count += 1
        if event.anchor:
            builder.sizes[event.anchor] = 1
    elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)) \
            and event.flow_style and len(builder.stack) >= MAX_DEPTH:
        # libyaml's parser slows down with every flow level (100k `[` took 20 s): stop early
        raise builder.source.error(None, f"invalid YAML: nested deeper than {MAX_DEPTH} levels", line)
    elif isinstance(event, yaml.SequenceStartEvent):
        builder.open(Sequence([], line), event.anchor, line)
    elif isinstance(event, yaml.MappingStartEvent):
        builder.open(Mapping([], line), event.anchor, line)
    elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
        builder.close()
    elif isinstance(event, yaml.AliasEvent):
        builder.alias(event.anchor, line)


def _reader_reason(exc: yaml.YAMLError) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else "unreadable text"


def _reader_line(exc: yaml.YAMLError, data: bytes) -> int | None:
    position = getattr(exc, "position", None)
    if not isinstance(position, int) or position < 0:
        return None
    return data[:position].count(b"\n") + 1
