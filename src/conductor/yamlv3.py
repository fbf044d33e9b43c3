"""Emit YAML the way Go's ``gopkg.in/yaml.v3`` does, for the two documents we share with upstream.

Only what run-info.yaml and bus headers need: block mappings of scalars, of sequences of
mappings and of string maps, with a 4-space indent, no line wrapping, and yaml.v3's choice of
plain, single-quoted, double-quoted or literal style (spec 2.2). One deliberate difference: a
string holding U+2028/U+2029 (which yaml.v3 would write raw and a YAML reader would turn into a
line break) is double-quoted, so it reads back unchanged.
"""

from __future__ import annotations

import functools
import math
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs every `run-agent` call ~2 ms
    from typing import Any, Iterable, Iterator

from . import lazyre
from .timefmt import is_go_timestamp

INDENT = 4

_RESOLVE_MAP = {
    "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
    ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
    "-.inf", "-.Inf", "-.INF",
}
_OLD_BOOL = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
             "n", "N", "no", "No", "NO", "off", "Off", "OFF"}
_BASE60 = lazyre.Pattern(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$", re.ASCII)
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", re.ASCII)
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$",
                     re.ASCII)
_GO_FLOAT = lazyre.Pattern(
    r"^[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][-+]?[0-9]+"
    r"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$", re.ASCII)


class Raw:
    """A scalar written exactly as given (timestamps, which yaml.v3 writes unquoted)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raw) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Raw({self.text!r})"


def _go_int(text: str) -> bool:
    if not _GO_INT.match(text):
        return False
    body = text.lstrip("+-")
    neg = text.startswith("-")
    if len(body) > 1 and body[0] == "0" and body[1] in "xXoObB":
        value = int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1].lower()])
    elif len(body) > 1 and body[0] == "0":
        value = int(body, 8)
    else:
        value = int(body)
    return value <= 2**63 if neg else value < 2**64


def _go_float(text: str) -> bool:
    if not _GO_FLOAT.match(text):
        return False
    lowered = text.lower().lstrip("+-")
    if lowered.startswith(("inf", "nan")):
        return True
    try:
        value = float.fromhex(text) if "x" in lowered else float(text)
    except (ValueError, OverflowError):
        return False
    return not math.isinf(value)


def resolves_to_non_string(text: str) -> bool:
    """Would yaml.v3 read this plain scalar as something other than a string?"""
    if text in _RESOLVE_MAP:
        return True
    first = text[0]
    if first == ".":
        return _go_float(text)
    if first in "+-0123456789":
        if is_go_timestamp(text):
            return True
        plain = text.replace("_", "")
        if _go_int(plain):
            return True
        if _YAML_FLOAT.match(plain) and _go_float(plain):
            return True
    return False


def _is_printable(ch: str) -> bool:
    o = ord(ch)
    return (o == 0x0A or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF
            or (0xE000 <= o <= 0xFFFD and o != 0xFEFF))


_BREAKS = "\r\n\x85\u2028\u2029"


class _Analysis:
    __slots__ = ("multiline", "block_plain", "single_quoted", "block")

    def __init__(self, multiline: bool, block_plain: bool, single_quoted: bool, block: bool) -> None:
        self.multiline = multiline
        self.block_plain = block_plain
        self.single_quoted = single_quoted
        self.block = block


def _analyze(value: str) -> _Analysis:
    if not value:
        return _Analysis(False, True, True, False)
    block_ind = value.startswith(("---", "..."))
    line_breaks = special = tabs = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = False
    prev_space = prev_break = False
    preceded_ws = True
    n = len(value)
    for i, ch in enumerate(value):
        followed_ws = i + 1 >= n or value[i + 1] in " \t"
        if i == 0:
            if ch in "#,[]{}&*!|>'\"%@`":
                block_ind = True
            elif ch in "?:" and followed_ws:
                block_ind = True
            elif ch == "-" and followed_ws:
                block_ind = True
        else:
            if ch == ":" and followed_ws:
                block_ind = True
            elif ch == "#" and preceded_ws:
                block_ind = True
        if ch == "\t":
            tabs = True
        elif not _is_printable(ch) or ch in "\u2028\u2029":
            special = True
        if ch == " ":
            leading_space = leading_space or i == 0
            trailing_space = trailing_space or i == n - 1
            break_space = break_space or prev_break
            prev_space, prev_break = True, False
        elif ch in _BREAKS:
            line_breaks = True
            leading_break = leading_break or i == 0
            trailing_break = trailing_break or i == n - 1
            space_break = space_break or prev_space
            prev_space, prev_break = False, True
        else:
            prev_space = prev_break = False
        preceded_ws = ch in " \t" or ch in _BREAKS
    block_plain = single = block = True
    if leading_space or leading_break or trailing_space or trailing_break:
        block_plain = False
    if trailing_space:
        block = False
    if break_space:
        block_plain = single = False
    if space_break or tabs or special:
        block_plain = single = False
    if space_break or special:
        block = False
    if line_breaks:
        block_plain = False
    if block_ind:
        block_plain = False
    return _Analysis(line_breaks, block_plain, single, block)


def scalar_style(value: str, *, key: bool = False) -> str:
    """``plain``, ``single``, ``double`` or ``literal``, as yaml.v3 would choose for a string."""
    if "\n" in value:
        requested = "literal"
    elif not resolves_to_non_string(value) and not _OLD_BOOL.__contains__(value) \
            and not (_BASE60.match(value) if value[:1] in "+-0123456789" and ":" in value else False):
        requested = "plain"
    else:
        requested = "double"
    a = _analyze(value)
    if key and a.multiline:
        return "double"
    if requested == "plain":
        if not a.block_plain or (not value and key):
            requested = "single"
    if requested == "single" and not a.single_quoted:
        return "double"
    if requested == "literal" and (not a.block or key):
        return "double"
    return requested


_ESCAPES = {"\x00": "0", "\x07": "a", "\x08": "b", "\t": "t", "\n": "n", "\x0b": "v",
            "\x0c": "f", "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N",
            "\xa0": "_", "\u2028": "L", "\u2029": "P"}


def _double_quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in '"\\' or ch in _BREAKS or not _is_printable(ch) or ch == "\ufeff":
            esc = _ESCAPES.get(ch)
            if esc is None:
                o = ord(ch)
                esc = f"x{o:02X}" if o <= 0xFF else (f"u{o:04X}" if o <= 0xFFFF else f"U{o:08X}")
            out.append("\\" + esc)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _literal(value: str, indent: int) -> str:
    hints = "|"
    # A leading tab also gets the indentation indicator: yaml.v3 omits it there and then
    # cannot read its own output ("found a tab character where an indentation space is expected").
    if value[:1] in (" ", "\t") or value[:1] in _BREAKS:
        hints += str(INDENT)
    if not value.endswith("\n"):
        hints += "-"
    elif len(value) == 1 or value[-2] == "\n":
        hints += "+"
    pad = " " * indent
    lines = value.split("\n")
    if value.endswith("\n"):
        lines.pop()
    body = "\n".join(pad + line if line else "" for line in lines)
    return hints + "\n" + body


# Letters first, then letters, digits and "_./-": yaml.v3 writes these plain unless they are one
# of its keywords (ids, types and keys, which are most of what we write). Checked by a test
# against the full analysis.
_PLAIN_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*\Z", re.ASCII)


def render_scalar(value: str, indent: int = 0, *, key: bool = False) -> str:
    """The text of one string scalar; ``indent`` is the column literal-block lines start at."""
    if _PLAIN_SAFE.match(value) and value not in _RESOLVE_MAP and value not in _OLD_BOOL:
        return value
    if len(value) <= 64 and "\n" not in value:
        return _render_short(value, key)
    return _render(value, indent, key)


@functools.lru_cache(maxsize=2048)
def _render_short(value: str, key: bool) -> str:
    """Short one-line scalars repeat (run ids, project and task ids): remember their text."""
    return _render(value, 0, key)


def _render(value: str, indent: int, key: bool) -> str:
    style = scalar_style(value, key=key)
    if style == "plain":
        return value
    if style == "single":
        return "'" + value.replace("'", "''") + "'"
    if style == "double":
        return _double_quoted(value)
    return _literal(value, indent)


def go_key_less(a: str, b: str) -> bool:
    """yaml.v3's ordering of string map keys: letters before other runes, digit runs by value."""
    ar, br = a, b
    digits = False
    for i in range(min(len(ar), len(br))):
        if ar[i] == br[i]:
            digits = ar[i].isdigit()
            continue
        al, bl = ar[i].isalpha(), br[i].isalpha()
        if al and bl:
            return ar[i] < br[i]
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ar[i] == "0" or br[i] == "0":
            j = i - 1
            while j >= 0 and ar[j].isdigit():
                if ar[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(ar) and ar[ai].isdigit():
            an = an * 10 + int(ar[ai]) if ar[ai] in "0123456789" else an
            ai += 1
        bi = i
        while bi < len(br) and br[bi].isdigit():
            bn = bn * 10 + int(br[bi]) if br[bi] in "0123456789" else bn
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ar[i] < br[i]
    return len(ar) < len(br)


def sorted_keys(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=functools.cmp_to_key(
        lambda x, y: -1 if go_key_less(x, y) else (1 if go_key_less(y, x) else 0)))


def _value(value: Any, indent: int) -> str:
    """Render a mapping value that sits on the key's line (scalars) or below it (collections)."""
    if isinstance(value, Raw):
        return " " + value.text
    if isinstance(value, bool):
        return " true" if value else " false"
    if isinstance(value, int):
        return f" {value}"
    if isinstance(value, str):
        return " " + render_scalar(value, indent + INDENT)
    raise TypeError(f"unsupported scalar {type(value).__name__}")


def emit_mapping(items: Iterable[tuple[str, Any]], indent: int = 0) -> str:
    """A block mapping. Values: str, int, :class:`Raw`, dict of str, list of item lists/dicts."""
    pad = " " * indent
    out: list[str] = []
    for key, value in items:
        k = render_scalar(key, key=True)
        if isinstance(value, dict):
            out.append(f"{pad}{k}:\n")
            out.append(emit_mapping(((kk, value[kk]) for kk in sorted_keys(value)), indent + INDENT))
        elif isinstance(value, list):
            out.append(f"{pad}{k}:\n")
            for entry in value:
                pairs = list(entry.items()) if isinstance(entry, dict) else list(entry)
                inner = emit_mapping(pairs, indent + INDENT + 2)
                out.append(pad + " " * INDENT + "- " + inner[indent + INDENT + 2:])
        else:
            out.append(f"{pad}{k}:{_value(value, indent)}\n")
    return "".join(out)


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
