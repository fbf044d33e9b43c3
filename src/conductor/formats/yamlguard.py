"""The guard run on YAML text before a library composes it (depth) and on the composed
document after (aliases): libyaml crashes the interpreter on very deep nesting, and a kilobyte
of aliases of aliases expands to billions of nodes for anything that walks the document."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs every `run-agent` call ~2 ms
    from typing import Any, Iterator

from .. import lazyre


MAX_FLOW_BRACKETS = 1000
MAX_BLOCK_CHAIN = 200
# "- - - - x" (or "? ? x") nests one block collection per indicator without a bracket
_BLOCK_CHAIN = lazyre.Pattern(r"(?:[-?][ \t]+){%d,}" % MAX_BLOCK_CHAIN)


def too_nested(text: str) -> bool:
    """libyaml's composer crashes the interpreter on very deep nesting (100k ``[``, or 100k
    ``- `` on one line, which nests block sequences without a bracket), and newer libyaml
    (0.2.6) stops at 1000 levels with an error in its own words.

    Our documents never need more than a handful of levels, so text with over a thousand
    opening brackets, a chain of 200 block indicators, or over 200 levels of any kind
    (:func:`deep_line`) is refused before YAML sees it.
    """
    return (text.count("[") + text.count("{") > MAX_FLOW_BRACKETS
            or _BLOCK_CHAIN.search(text) is not None
            or deep_line(text, MAX_BLOCK_CHAIN) is not None)


# One line of block context: indentation, then "- "/"? "/": " indicators, then an optional key.
_INDICATORS = lazyre.Pattern(r"(?:[-?:](?:[ \t]+|$))*")
_BLOCK_KEY = lazyre.Pattern(
    r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s\[\]{}#'"|>&*!%@`][^#]*?)[ \t]*:(?:[ \t]+|$)""")
# In flow context: brackets, quoted scalars (which may hold brackets) and comments.
_FLOW_TOKEN = lazyre.Pattern(
    r"""[\[\]{}]|"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?|(?:^|(?<=[ \t]))#""")


def deep_line(text: str, limit: int) -> int | None:
    """The line (1-based) on which ``text`` first nests deeper than ``limit`` collections, or None.

    Our own depth check, run on the text before any YAML library sees it, so that a deeply
    nested document is refused with our message whatever the library would do (crash, take
    seconds, or stop with its own wording). It follows YAML's structure closely enough for
    that: block levels from indentation and chains of ``- ``/``? `` on one line, plus a key;
    flow levels from brackets outside quoted scalars and comments; block scalar (``|``,
    ``>``) contents are skipped. It may count one level where YAML sees two (a sequence at
    its parent key's indentation), never the other way round, so ``limit`` is a lower bound
    of the depth it refuses.
    """
    stack: list[int] = []  # columns of the open block collections
    flow = 0
    scalar_indent = -1  # while >= 0, lines indented deeper belong to a block scalar
    for number, line in enumerate(text.split("\n"), 1):
        body = line.lstrip(" ")
        if not body.strip() or (not flow and body.startswith("#")):
            continue
        indent = len(line) - len(body)
        if scalar_indent >= 0:
            if indent > scalar_indent:
                continue
            scalar_indent = -1
        pos = indent
        if not flow:
            while stack and stack[-1] > indent:
                stack.pop()
            chain = _INDICATORS.match(line, pos)
            columns = [pos + i for i, ch in enumerate(line[pos:chain.end()])
                       if ch in "-?:" and (i == 0 or line[pos + i - 1] in " \t")]
            pos = chain.end()
            key = _BLOCK_KEY.match(line, pos)
            if key is not None:
                columns.append(pos)
                pos = key.end()
            for column in columns:
                if not stack or stack[-1] < column:
                    stack.append(column)
            if len(stack) > limit:
                return number
            rest = line[pos:].lstrip(" \t")
            if rest[:1] in ("|", ">"):
                scalar_indent = indent
                continue
            if rest[:1] not in ("[", "{"):
                continue  # a plain or quoted scalar, or nothing: no flow collection here
            pos = len(line) - len(rest)
        for token in _FLOW_TOKEN.finditer(line, pos):
            ch = token.group()
            if ch in ("[", "{"):
                flow += 1
                if len(stack) + flow > limit:
                    return number
            elif ch in ("]", "}"):
                flow -= 1
                if not flow:
                    break  # back in block context: the rest of the line is not structure
            elif ch == "#":
                break
    return None



# An alias adds a copy of its anchor's node wherever it is used, so a kilobyte of aliases of
# aliases ("billion laughs") expands to billions of nodes for anything that walks the document.
# Neither upstream nor we write anchors in run-info or bus headers; a person's config may use
# them, so the bound is on what aliases add, not on aliases themselves.
MAX_ALIAS_NODES = 10_000


class AliasLimitError(ValueError):
    """Aliases in a composed document would expand to more than the limit (or to a cycle)."""

    def __init__(self, line: int, limit: int) -> None:
        self.line = line
        self.limit = limit
        super().__init__(f"line {line}: YAML aliases expand beyond {limit} nodes")


def check_aliases(root: Any, limit: int = MAX_ALIAS_NODES) -> None:
    """Raise :class:`AliasLimitError` if expanding the aliases of a composed PyYAML document
    would add more than ``limit`` nodes, or if an alias sits inside the node it names.

    The composer gives every use of an anchor the same node object, so the document is a graph:
    each node's expanded size is computed once, and each second use of a node (an alias) adds
    that size to the count. No recursion: a deep document cannot exhaust the stack. The line
    reported is that of the collection holding the alias that crosses the limit.
    """
    if root is None:
        return
    sizes: dict[int, int] = {}  # id(node) -> expanded size, for nodes fully walked
    extra = 0
    # frames: [node, iterator over children, expanded size so far]
    stack: list[list[Any]] = [[root, _children(root), 1]]
    open_ids = {id(root)}
    while stack:
        frame = stack[-1]
        child = next(frame[1], None)
        if child is None:
            stack.pop()
            open_ids.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[2]
            if stack:
                stack[-1][2] += frame[2]
            continue
        seen = sizes.get(id(child))
        if seen is not None:
            extra += seen
            frame[2] += seen
            if extra > limit:
                raise AliasLimitError(frame[0].start_mark.line + 1, limit)
        elif id(child) in open_ids:
            raise AliasLimitError(frame[0].start_mark.line + 1, limit)
        else:
            stack.append([child, _children(child), 1])
            open_ids.add(id(child))


def _children(node: Any) -> Iterator[Any]:
    value = node.value
    if isinstance(value, str):  # a scalar
        return iter(())
    if value and isinstance(value[0], tuple):  # a mapping: (key, value) pairs
        return (item for pair in value for item in pair)
    return iter(value)
