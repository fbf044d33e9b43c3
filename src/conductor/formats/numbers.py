"""Integer texts, as the two readers that take them accept them.

Two rules, deliberately apart:

* :func:`go_int_value` -- the forms yaml.v3 resolves a plain scalar to an int by (Go's
  ``strconv.ParseInt(s, 0, 64)`` on the YAML 1.1 shapes): ``0x``/``0o``/``0b`` prefixes and a
  leading ``0`` meaning octal, no underscores. Used for run-info fields and to decide whether
  a string must be quoted so that yaml.v3 reads it back as a string.
* :func:`config_int_value` -- what the config decoder takes for an integer field: decimal with
  leading zeros *kept decimal*, ``0x``/``0o``/``0b`` prefixes, and underscores anywhere after
  the first digit.
"""

from __future__ import annotations

import re

GO_INT_TEXT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)",
                         re.ASCII)
INT64 = 2 ** 63
_BASES = {"x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2}


def go_int_value(text: str) -> int | None:
    """The value of ``text`` in yaml.v3's integer forms (unbounded), or None if it is not one.

    The caller applies the range it needs (int64, uint64)."""
    if not GO_INT_TEXT.fullmatch(text):
        return None
    body = text.lstrip("+-")
    if len(body) > 1 and body[0] == "0":
        base = _BASES.get(body[1])
        value = int(body, 8) if base is None else int(body[2:], base)
    else:
        value = int(body)
    return -value if text[0] == "-" else value


_CONFIG_INT_TEXT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)",
                              re.ASCII)


def config_int_value(text: str) -> int | None:
    """A config integer: decimal (leading zeros allowed, still decimal), 0x, 0o, 0b, with
    underscores; surrounding whitespace ignored; None if it is not one (or over 40 chars)."""
    body = text.strip()
    if not _CONFIG_INT_TEXT.fullmatch(body) or len(body) > 40:
        return None
    sign = -1 if body[0] == "-" else 1
    body = body.lstrip("+-")
    try:
        if body[:2].lower() in ("0x", "0o", "0b"):
            return sign * int(body, 0)
        return sign * int(body.replace("_", ""), 10)
    except ValueError:
        return None
