"""Text shapes the read-only verbs share with upstream: Go's tabwriter, Go's JSON encoder, Go's
time and duration renderings.

Agents and scripts parse these outputs, so they are reproduced byte for byte rather than
approximated: column padding as ``tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`` gives it, JSON as
``json.Encoder`` writes it (``<``, ``>`` and ``&`` escaped, integral floats without ``.0``).
"""

from __future__ import annotations

import math
import time

from ..timefmt import NS, format_duration, format_rfc3339nano

TAB_PADDING = 2


def tab_table(rows: list[list[str]]) -> str:
    """Rows of cells aligned as Go's tabwriter (min width 0, padding 2, pad char space).

    Every cell but the last of a line is padded to its column's widest cell plus two spaces;
    the last cell is written as is. Widths count characters (Go counts runes).
    """
    if not rows:
        return ""
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], len(cell) + TAB_PADDING)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else "") + "\n")
    return "".join(lines)


# ---- JSON ------------------------------------------------------------------------------------

_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
               "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(text: str) -> str:
    out = []
    for ch in text:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _go_float(value: float) -> str:
    """``encoding/json``'s float64: shortest form, exponent only below 1e-6 or from 1e21."""
    if not math.isfinite(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = repr(value)
        if "e" in text or "E" in text:
            text = f"{value:.20f}".rstrip("0").rstrip(".")
        return text[:-2] if text.endswith(".0") else text
    mantissa, _, exponent = repr(value).partition("e")
    mantissa = mantissa[:-2] if mantissa.endswith(".0") else mantissa
    sign = exponent[0] if exponent[0] in "+-" else "+"
    digits = exponent.lstrip("+-").lstrip("0") or "0"
    return f"{mantissa}e{sign}{digits.zfill(2)}"


def go_json(value: object, indent: str | None = "  ") -> str:
    """``json.NewEncoder`` output (``SetIndent("", indent)`` unless ``indent`` is None), with
    the trailing newline. Dicts keep their insertion order, as Go keeps struct field order."""
    return _encode(value, indent, "") + "\n"


def _encode(value: object, indent: str | None, prefix: str) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, dict):
        items = [(_go_string(str(k)), v) for k, v in value.items()]
        if not items:
            return "{}"
        if indent is None:
            return "{" + ",".join(f"{k}:{_encode(v, None, '')}" for k, v in items) + "}"
        inner = prefix + indent
        body = ",\n".join(f"{inner}{k}: {_encode(v, indent, inner)}" for k, v in items)
        return "{\n" + body + "\n" + prefix + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if indent is None:
            return "[" + ",".join(_encode(v, None, "") for v in value) + "]"
        inner = prefix + indent
        body = ",\n".join(f"{inner}{_encode(v, indent, inner)}" for v in value)
        return "[\n" + body + "\n" + prefix + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# ---- times and durations ---------------------------------------------------------------------

def local_minute(ns: int) -> str:
    """``2006-01-02 15:04`` in local time."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ns // NS))


def local_second(ns: int) -> str:
    """``2006-01-02 15:04:05`` in local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // NS))


def rfc3339_seconds(ns: int) -> str:
    """Go's ``time.RFC3339`` of a UTC time: whole seconds, ``Z``."""
    return format_rfc3339nano(ns - ns % NS)


def round_to_seconds(ns: int) -> int:
    """Go's ``Duration.Round(time.Second)``: halves away from zero; returns whole seconds."""
    whole, rest = divmod(abs(ns), NS)
    if rest * 2 >= NS:
        whole += 1
    return whole if ns >= 0 else -whole


def go_seconds(ns: int) -> str:
    """A duration rounded to seconds, in Go's form (``1m30s``, ``0s``)."""
    return format_duration(round_to_seconds(ns))


def go_quote(text: str) -> str:
    """Go's ``%q`` for the plain strings we quote (ids, filter values)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
