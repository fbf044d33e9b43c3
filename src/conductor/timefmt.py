"""Time as upstream writes it: UTC, RFC 3339 with up to nine fraction digits.

Times are plain ``int`` nanoseconds since the Unix epoch, so nanoseconds survive a read and
a write (the completion-propagation key hashes them). Go's zero time
(``0001-01-01T00:00:00Z``) is represented by ``None``.

Calendar arithmetic is done here on integers (with ``time.gmtime`` to format), not with
``datetime``: every ``run-agent bus post`` imports this module, and ``datetime`` costs it ~1.5 ms.
"""

from __future__ import annotations

import re
import time

from . import lazyre
from .formats.civil import days_from_civil, month_days

NS = 1_000_000_000
ZERO_TIME_TEXT = "0001-01-01T00:00:00Z"
_ZERO_NS = -62135596800 * NS  # 0001-01-01T00:00:00Z

_TS_RE = lazyre.Pattern(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?"
    r"[ \t]*(Z|z|[+-]\d{1,2}(?::?\d{2})?)?)?$",
    re.ASCII,
)


def now_ns() -> int:
    return time.time_ns()


def check_civil(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
                second: int = 0) -> None:
    """Raise ValueError (with ``datetime``'s words) unless this is a real date and time."""
    if not 1 <= year <= 9999:
        raise ValueError(f"year {year} is out of range")
    if not 1 <= month <= 12:
        raise ValueError("month must be in 1..12")
    if not 1 <= day <= month_days(year, month):
        raise ValueError("day is out of range for month")
    if not 0 <= hour <= 23:
        raise ValueError("hour must be in 0..23")
    if not 0 <= minute <= 59:
        raise ValueError("minute must be in 0..59")
    if not 0 <= second <= 59:
        raise ValueError("second must be in 0..59")


class _SecondCache:
    """The texts of the last second formatted: ids and timestamps made in a burst share it."""

    __slots__ = ("second", "rfc", "day", "clock")

    def __init__(self) -> None:
        self.second: int | None = None
        self.rfc = self.day = self.clock = ""

    def load(self, seconds: int) -> "_SecondCache":
        if seconds != self.second:
            t = time.gmtime(seconds)
            self.day = f"{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}"
            self.clock = f"{t.tm_hour:02d}{t.tm_min:02d}{t.tm_sec:02d}"
            self.rfc = (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
                        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
            self.second = seconds
        return self


_LAST = _SecondCache()


def format_rfc3339nano(ns: int | None) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: trailing fraction zeros trimmed, no fraction if zero."""
    if ns is None or ns == _ZERO_NS:
        return ZERO_TIME_TEXT
    seconds, frac = divmod(ns, NS)
    text = _LAST.load(seconds).rfc
    if frac:
        return f"{text}.{frac:09d}".rstrip("0") + "Z"
    return text + "Z"


def format_compact(ns: int) -> tuple[str, str]:
    """``(YYYYMMDD, HHMMSS)`` in UTC, the pieces ids are built from."""
    cache = _LAST.load(ns // NS)
    return cache.day, cache.clock


def format_display(ns: int | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, as ``bus read`` prints it."""
    if ns is None:
        return "0001-01-01 00:00:00"
    return _LAST.load(ns // NS).rfc.replace("T", " ")


def parse_timestamp(text: str) -> int | None:
    """Parse what a YAML 1.1 timestamp or RFC 3339 text may be; return ns (UTC) or None for zero.

    Accepts ``T`` or space separators, ``Z`` or numeric offsets, any number of fraction digits
    (nanoseconds kept, extra digits cut), and date-only values. Raises ``ValueError`` otherwise.
    """
    m = _TS_RE.match(text.strip())
    if not m:
        raise ValueError(f"invalid timestamp {text!r}")
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if m[4] is None:
        hour = minute = second = 0
        frac = 0
        offset = 0
    else:
        hour, minute, second = int(m[4]), int(m[5]), int(m[6])
        frac = int((m[7] or "0")[:9].ljust(9, "0"))
        offset = _parse_offset(m[8])
    try:
        check_civil(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"invalid timestamp {text!r}: {exc}") from None
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    ns = seconds * NS + frac
    return None if ns == _ZERO_NS else ns


def _parse_offset(zone: str | None) -> int:
    if zone is None or zone in ("Z", "z"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours = int(digits[:-2]) if len(digits) > 2 else int(digits)
    minutes = int(digits[-2:]) if len(digits) > 2 else 0
    return sign * (hours * 3600 + minutes * 60)


def is_go_timestamp(text: str) -> bool:
    """True when yaml.v3 would resolve this plain scalar to a timestamp (so it must be quoted)."""
    m = re.match(r"^\d{4}-", text)
    if not m:
        return False
    for pattern in (_GO_TS_T, _GO_TS_SPACE, _GO_DATE):
        mm = pattern.match(text)
        if mm:
            try:
                check_civil(*(int(x) for x in mm.groups()[:6] if x is not None))
            except ValueError:
                return False
            return True
    return False


_GO_TS_T = lazyre.Pattern(r"^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?"
                          r"(?:Z|[+-]\d{2}:\d{2})$", re.ASCII)
_GO_TS_SPACE = lazyre.Pattern(
    r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?$", re.ASCII)
_GO_DATE = lazyre.Pattern(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", re.ASCII)


_DURATION_RE = lazyre.Pattern(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": NS,
            "m": 60 * NS, "h": 3600 * NS}


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` syntax (``500ms``, ``30m``, ``1h30m``), returned in seconds.

    A bare ``0`` is accepted; any other bare number is rejected, as upstream does.
    """
    s = text.strip()
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m:
            if re.fullmatch(r"[0-9.]+", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m[1]) * _UNIT_NS[m[2]]
        pos = m.end()
    return sign * total / NS


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String()`` for a duration given in seconds (``1h30m0s``, ``1.5s``, ``200ms``)."""
    ns = round(seconds * NS)
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < NS:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                text = _trim(ns / size, size) + unit
                break
    else:
        h, rem = divmod(ns, 3600 * NS)
        m, rem = divmod(rem, 60 * NS)
        sec = _trim(rem / NS, NS) + "s"
        text = (f"{h}h{m}m" if h else (f"{m}m" if m else "")) + sec
    return ("-" if neg else "") + text


def _trim(value: float, _size: int) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
