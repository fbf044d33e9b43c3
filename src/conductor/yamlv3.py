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
    from typing import Any, Iterable

from . import lazyre
from .formats.numbers import INT64, go_int_value
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
    """Would yaml.v3 resolve ``text`` to an int (int64 when negative, else up to uint64)?"""
    value = go_int_value(text)
    return value is not None and -INT64 <= value < 2 * INT64


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
    def order(x: str, y: str) -> int:
        return -1 if go_key_less(x, y) else (1 if go_key_less(y, x) else 0)
    return sorted(keys, key=functools.cmp_to_key(order))


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
