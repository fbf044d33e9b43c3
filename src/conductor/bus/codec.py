"""Bytes of bus entries: the encoder and the parser (spec 3.2-3.3), with the defects of spec 9 fixed.

Format facts kept from upstream: an entry is ``---\\n`` + YAML header + ``---\\n`` + body, the
body ends with a newline, and entries after the first are preceded by one empty line.

What we do differently, without changing the format:

* A body line made of ``---`` (after any number of spaces, before any CRs) would end the body
  early and let the following lines forge a message. The writer adds one leading space to such
  lines and the reader removes it again, so bodies round-trip and can never forge or swallow an
  entry. Upstream readers show the extra space.
* The empty line that separates two entries is not part of the body before it (upstream's reader
  leaves it there, so a body depends on whether its message is last).
* A torn entry (a writer killed mid-append) whose header still parses no longer swallows the
  next entry: a ``---`` followed by a complete header that is itself closed by ``---`` starts a
  new entry instead of a body.
* Upstream's writer does not neutralise ``---`` in bodies, so an upstream body may hold a
  ``---``-delimited block (a Markdown rule, front matter). Inside a body, a ``---`` line ends the
  body only when it starts an entry: the next line (after any further ``---`` lines, which torn
  appends leave) begins ``msg_id:`` (spec 10's resync pair), or the lines up to the next ``---``
  decode as a header with a ``msg_id`` or a ``ts``. Otherwise the ``---`` and what follows are
  body text (upstream reads a block that decodes as YAML as a new message with no id and no
  time, and drops one that does not decode). See docs/bus-format.md.

The format cannot tell ``x`` from ``x\\n``: :func:`normalise_body` says what a body reads back as.
"""

from __future__ import annotations

import gc
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs every `run-agent` call ~2 ms
    from typing import Any

from .. import lazyre
from ..timefmt import format_rfc3339nano, parse_timestamp
from ..formats.yamlguard import AliasLimitError, check_aliases, too_nested
from ..yamlv3 import INDENT, Raw, emit_mapping, render_scalar
from .message import Link, Message, Parent

DELIM = b"---"
_MSG_ID_KEY = b"msg_id:"
_NEEDS_GUARD = lazyre.Pattern(r"^( *)---(\r*)$", re.MULTILINE)
_GUARDED = lazyre.Pattern(rb"^ +---\r*$")
_SIMPLE_LINE = lazyre.Pattern(r"([a-z_]+):(?: +(.*))?\Z")
_PLAIN_NULLS = {"", "~", "null", "Null", "NULL"}
_UNSAFE_FIRST = set("'\"!&*|>%@`{[#,?:-")
_STRING_FIELDS = ("msg_id", "type", "project_id", "task_id", "run_id", "issue_id")


# --------------------------------------------------------------------------- encoding

def guard_body(body: str) -> str:
    """Add one space before every body line that is ``---`` after optional spaces."""
    return _NEEDS_GUARD.sub(r" \1---\2", body)


def normalise_body(body: str) -> str:
    """What a body reads back as: one trailing LF, then one trailing CR, are not kept."""
    if body.endswith("\n"):
        body = body[:-1]
    if body.endswith("\r"):
        body = body[:-1]
    return body


def header_items(msg: Message) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = [
        ("msg_id", msg.msg_id),
        ("ts", Raw(format_rfc3339nano(msg.ts))),
        ("type", msg.type),
        ("project_id", msg.project_id),
        ("task_id", msg.task_id),
        ("run_id", msg.run_id),
    ]
    if msg.issue_id:
        items.append(("issue_id", msg.issue_id))
    if msg.parents:
        parents = []
        for p in msg.parents:
            entry: dict[str, Any] = {"msg_id": p.msg_id}
            if p.kind:
                entry["kind"] = p.kind
            if p.meta:
                entry["meta"] = dict(p.meta)
            parents.append(entry)
        items.append(("parents", parents))
    if msg.links:
        links = []
        for link in msg.links:
            entry = {"url": link.url}
            if link.label:
                entry["label"] = link.label
            if link.kind:
                entry["kind"] = link.kind
            links.append(entry)
        items.append(("links", links))
    if msg.meta:
        items.append(("meta", dict(msg.meta)))
    return items


def encode_entry(msg: Message) -> bytes:
    """One entry, without the separating newline the appender writes before non-first entries."""
    if msg.parents or msg.links or msg.meta:
        header = emit_mapping(header_items(msg))
    else:  # the flat header of nearly every message, without the general emitter's walk
        r = render_scalar
        header = (f"msg_id: {r(msg.msg_id, INDENT)}\nts: {format_rfc3339nano(msg.ts)}\n"
                  f"type: {r(msg.type, INDENT)}\nproject_id: {r(msg.project_id, INDENT)}\n"
                  f"task_id: {r(msg.task_id, INDENT)}\nrun_id: {r(msg.run_id, INDENT)}\n")
        if msg.issue_id:
            header += f"issue_id: {r(msg.issue_id, INDENT)}\n"
    body = msg.body
    if "---" in body:
        body = guard_body(body)
    if not body.endswith("\n"):
        body += "\n"
    return f"---\n{header}---\n{body}".encode("utf-8")


# --------------------------------------------------------------------------- header decoding

class _Bad(Exception):
    """The header does not decode the way upstream's struct decoding would accept."""


class _Refused(_Bad):
    """The header is refused by a limit of ours; ``line`` counts from the header's first line."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(why)
        self.line = line
        self.why = why


def _fast_value(raw: str | None) -> tuple[str | None, bool]:
    """(value, quoted) for simple scalars; raises _Bad when the slow path must decide."""
    if raw is None:
        return None, False
    value = raw.rstrip(" ")
    if value in _PLAIN_NULLS:
        return None, False
    first = value[0]
    if first == "'":
        inner = value[1:-1]
        if len(value) >= 2 and value[-1] == "'" and "'" not in inner.replace("''", ""):
            return inner.replace("''", "'"), True
        raise _Bad
    if first == '"':
        if len(value) >= 2 and value[-1] == '"' and '"' not in value[1:-1] and "\\" not in value:
            return value[1:-1], True
        raise _Bad
    if first in _UNSAFE_FIRST or " #" in value or ": " in value or value.endswith(":") \
            or "\t" in value:
        raise _Bad
    return value, False


def _decode_fast(lines: list[str]) -> dict[str, tuple[str | None, bool]] | None:
    """Flat ``key: simple value`` headers by hand; None hands anything else to YAML."""
    fields: dict[str, tuple[str | None, bool]] = {}
    try:
        for line in lines:
            if line.endswith("\r"):
                line = line.rstrip("\r")
            m = _SIMPLE_LINE.match(line)
            if m is None or m.group(1) in fields:
                return None
            fields[m.group(1)] = _fast_value(m.group(2))
    except _Bad:
        return None
    return fields


def _node_value(node: Any, depth: int = 0) -> Any:
    import yaml
    if depth > 20:
        raise _Bad
    if isinstance(node, yaml.ScalarNode):
        if not node.style and node.value in _PLAIN_NULLS:  # plain style: None, or "" from libyaml
            return None
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_node_value(n, depth + 1) for n in node.value]
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise _Bad
            key = "" if (not knode.style and knode.value in _PLAIN_NULLS) else knode.value
            if key in out:
                raise _Bad
            out[key] = _node_value(vnode, depth + 1)
        return out
    raise _Bad


def _decode_slow(text: str) -> dict[str, Any] | None:
    import yaml  # only headers with nested or quoted values need it
    if too_nested(text):
        raise _Bad
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, ValueError, RecursionError):
        raise _Bad from None
    if node is None:
        return None
    if "*" in text:  # only an alias can make the walk below expand (spec 9: alias bombs)
        try:
            check_aliases(node)
        except AliasLimitError as exc:
            raise _Refused(exc.line, f"header: YAML aliases expand beyond {exc.limit} nodes") \
                from None
    value = _node_value(node)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad
    return value


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _Bad


def _as_map(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad
    return {k: _as_str(v) for k, v in value.items()}


def _as_ts(value: Any, quoted: bool = True) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _Bad from None


def _parents(value: Any) -> list[Parent]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad
    out = []
    for item in value:
        if item is None:
            continue
        if isinstance(item, str):
            if item:
                out.append(Parent(item))
            continue
        if not isinstance(item, dict):
            raise _Bad
        out.append(Parent(_as_str(item.get("msg_id")), _as_str(item.get("kind")),
                          _as_map(item.get("meta"))))
    return out


def _links(value: Any) -> list[Link]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise _Bad
        out.append(Link(_as_str(item.get("url")), _as_str(item.get("label")),
                        _as_str(item.get("kind"))))
    return out


def decode_header(lines: list[str], refusals: list[tuple[int, str]] | None = None
                  ) -> Message | None:
    """The message a header decodes to, or None where upstream's decoder would fail.

    A header refused by one of our limits (not by YAML) is also None, and ``(line within the
    header, why)`` is added to ``refusals`` when given, for the reader to warn about.
    """
    try:
        fast = _decode_fast(lines)
        if fast is not None:
            msg = Message()
            for key, (value, _quoted) in fast.items():
                if key in _STRING_FIELDS:
                    setattr(msg, key, value or "")
                elif key == "ts":
                    msg.ts = _as_ts(value)
                elif key in ("parents", "links", "meta") and value is not None:
                    raise _Bad  # a scalar where a collection belongs
            return msg
        data = _decode_slow("\n".join(lines) + "\n")
        msg = Message()
        if data is None:
            return msg
        for key in _STRING_FIELDS:
            if key in data:
                setattr(msg, key, _as_str(data[key]))
        if "ts" in data:
            msg.ts = _as_ts(data["ts"])
        msg.parents = _parents(data.get("parents"))
        msg.links = _links(data.get("links"))
        msg.meta = _as_map(data.get("meta"))
        return msg
    except _Refused as exc:
        if refusals is not None:
            refusals.append((exc.line, exc.why))
        return None
    except _Bad:
        return None


# --------------------------------------------------------------------------- legacy lines

_LEGACY = lazyre.Pattern(r"^\[([^\]]*)\] (.*)\Z", re.DOTALL)
_LEGACY_TS = lazyre.Pattern(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
                            r"(?:(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?\Z", re.ASCII)
_LEGACY_TYPE = lazyre.Pattern(r"^[A-Za-z0-9_/-]+\Z", re.ASCII)


def parse_legacy_line(line: str, line_no: int) -> Message | None:
    """``[<ts>] <TYPE>: <body>`` lines written by the old shell tool."""
    m = _LEGACY.match(line.rstrip("\r\n"))
    if m is None or not _LEGACY_TS.match(m.group(1)):
        return None
    content = m.group(2)
    if not content.strip():
        return None
    try:
        ts = parse_timestamp(m.group(1))
    except ValueError:
        return None
    kind, sep, rest = content.partition(":")
    if sep and kind and _LEGACY_TYPE.match(kind):
        msg_type = kind.upper()
        body = rest.strip() or content
    else:
        msg_type, body = "INFO", content
    return Message(msg_id=f"LEGACY-LINE-{line_no:09d}", ts=ts, type=msg_type, body=body)


# --------------------------------------------------------------------------- the parser

_SEEK, _HEADER, _BODY = 0, 1, 2


def _is_delim(line: bytes) -> bool:
    return line == DELIM or (line.startswith(DELIM) and line.rstrip(b"\r") == DELIM)


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _is_fragment(line: bytes) -> bool:
    """The start of a ``---`` line that a killed writer left behind."""
    return line.rstrip(b"\r") in (b"-", b"--")


def _torn_tail(lines: list[bytes]) -> int:
    """How many trailing lines are ``-``/``--`` left by killed writers after the separator."""
    k = 0
    while k < len(lines) and _is_fragment(lines[-1 - k]):
        k += 1
    if k and k < len(lines) and not lines[-1 - k].rstrip(b"\r"):
        return k
    return 0


def _finish_body(lines: list[bytes], ended_by_delim: bool) -> str:
    if ended_by_delim:
        torn = _torn_tail(lines)
        if torn:
            lines = lines[:-torn]  # torn "\n-", "\n--" after the separator are not this body's
    if ended_by_delim and lines and not lines[-1].rstrip(b"\r"):
        lines = lines[:-1]
    raw = b"\n".join(line[1:] if _GUARDED.match(line) else line for line in lines)
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "replace")


class ParseResult:
    """``refused``: headers skipped by a limit of ours (not by YAML), as ``(line index in the
    data, byte offset in the file, why)``, for the reader to warn about."""

    __slots__ = ("messages", "consumed", "lines_consumed", "refused")

    def __init__(self, messages: list[Message], consumed: int, lines_consumed: int,
                 refused: list[tuple[int, int, str]] | None = None) -> None:
        self.messages = messages
        self.consumed = consumed
        self.lines_consumed = lines_consumed
        self.refused = refused or []


# The header every writer we know of produces: the flat keys in order, with plain values (or
# "" for empty ones). Matching it is only a shortcut: what it captures is what decode_header
# would return (a test compares the two), and anything else goes to decode_header.
_ID = r'(?:""|([A-Za-z0-9_][A-Za-z0-9_.-]*))'
_CANON_HEADER = lazyre.Pattern(
    r"msg_id: " + _ID + r"\nts: ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.([0-9]{1,9}))?Z\ntype: " + _ID + r"\nproject_id: " + _ID + r"\ntask_id: " + _ID
    + r"\nrun_id: " + _ID + r"(?:\nissue_id: " + _ID + r")?\Z", re.ASCII)
_NULL_WORDS = frozenset(("null", "Null", "NULL"))
_SECONDS: dict[str, int | None] = {}


def _canon_header(text: bytes, match=None) -> Message | None:  # type: ignore[no-untyped-def]
    try:
        m = (match or _CANON_HEADER.match)(text.decode("ascii"))
    except UnicodeDecodeError:
        return None
    if m is None:
        return None
    msg_id, second, frac, typ, project, task, run, issue = m.groups()
    if not _NULL_WORDS.isdisjoint((msg_id, typ, project, task, run, issue)):
        return None
    base = _SECONDS.get(second, 0)
    if base == 0:
        try:
            base = parse_timestamp(second + "Z")
        except ValueError:
            return None
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        _SECONDS[second] = base
    if base is None:
        return None  # Go's zero time and its neighbours: the general decoder decides
    # positional, in Message's field order (msg_id, ts, type, project, task, run, issue): faster
    return Message(msg_id or "", base + int(frac.ljust(9, "0")) if frac else base, typ or "",
                   project or "", task or "", run or "", issue or "")


def _fast_entry(parts: list[bytes], i: int, stop_at: int, match=None  # type: ignore[no-untyped-def]
                ) -> tuple[Message, int] | None:
    """A whole entry whose header starts at line ``i`` and whose body ends at a ``---`` line.

    Returns the message and the index of that closing line, or None for anything that needs the
    line-by-line parser (a header it must decode, a body that may be a torn entry's header, a
    torn tail, the last entry of the data).
    """
    try:
        j = parts.index(DELIM, i, stop_at)
        k = parts.index(DELIM, j + 1, stop_at)
    except ValueError:
        return None
    msg = _canon_header(b"\n".join(parts[i:j]), match)
    if msg is None:
        return None
    if k > j + 1 and parts[j + 1].startswith(b"msg_id:"):
        return None  # maybe a torn entry's header follows: _next_is_header decides
    if k + 1 >= stop_at or not parts[k + 1].startswith(b"msg_id:"):
        return None  # a "---" not followed by an id: _ends_body decides whether it is body text
    body = parts[j + 1:k]
    if body and not body[-1]:
        body.pop()  # the empty line before the next entry
    if body and body[-1][:1] == b"-" and _is_fragment(body[-1]):
        return None
    raw = b"\n".join(body)
    if b"---" in raw:
        raw = b"\n".join(line[1:] if _GUARDED.match(line) else line for line in body)
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    msg.body = raw.decode("utf-8", "replace")
    return msg, k


class _Offsets:
    """Byte offsets of lines of ``data``, found by walking from the last one asked for."""

    __slots__ = ("parts", "idx", "pos", "n", "size")

    def __init__(self, parts: list[bytes], size: int) -> None:
        self.parts, self.idx, self.pos, self.n, self.size = parts, 0, 0, len(parts), size

    def __getitem__(self, idx: int) -> int:
        if idx >= self.n:
            return self.size
        if idx >= self.idx:
            self.pos += sum(map(len, self.parts[self.idx:idx])) + idx - self.idx
        else:
            self.pos -= sum(map(len, self.parts[idx:self.idx])) + self.idx - idx
        self.idx = idx
        return self.pos


def parse(data: bytes, *, base_offset: int = 0, final: bool = True,
          first_line_no: int = 1) -> ParseResult:
    """Parse the entries in ``data``.

    ``final`` says that ``data`` ends where the file ends: a last entry whose body ends with a
    newline is then complete (spec 3.3's EOF rule). Without it, the last entry is left for the
    next call. ``consumed`` is how many bytes are settled; parsing again from there gives the
    rest. ``first_line_no`` numbers legacy lines.

    The cyclic garbage collector is paused while a big piece is parsed: parsing makes no
    reference cycles, and collections triggered by its many new objects cost a quarter of the
    time of reading a large bus (a megabyte's parse takes a few milliseconds).
    """
    if len(data) < 65536 or not gc.isenabled():
        return _parse(data, base_offset, final, first_line_no)
    gc.disable()
    try:
        return _parse(data, base_offset, final, first_line_no)
    finally:
        gc.enable()


def _parse(data: bytes, base_offset: int, final: bool, first_line_no: int) -> ParseResult:
    parts = data.split(b"\n")
    complete_last = data.endswith(b"\n")
    if complete_last:
        parts.pop()
    n = len(parts)
    starts = _Offsets(parts, len(data))
    # Whole entries at once, unless a "---\r" line may be a delimiter list.index cannot see.
    fast = b"---\r" not in data
    match = _CANON_HEADER.compiled.match if fast else None

    out: list[Message] = []
    refusals: list[tuple[int, str]] = []
    refused: list[tuple[int, int, str]] = []
    state = _SEEK
    header: list[str] = []
    body: list[bytes] = []
    current: Message | None = None
    entry_start = 0
    settled = 0  # offset up to which everything is decided (SEEK state)
    i = 0
    stop_at = n
    if not complete_last and not final:
        stop_at = n - 1  # a partial last line waits
    while i < stop_at:
        if fast and state == _HEADER and not header:
            found = _fast_entry(parts, i, stop_at, match)
            if found is not None:
                msg, k = found
                msg.offset = base_offset + entry_start
                out.append(msg)
                entry_start = starts[k]
                i = k + 1
                continue
        line = parts[i]
        delim = _is_delim(line)
        if state == _SEEK:
            if delim:
                state, header, entry_start = _HEADER, [], starts[i]
            else:
                legacy = parse_legacy_line(_text(line), first_line_no + i) if line.startswith(b"[") \
                    else None
                if legacy is not None:
                    legacy.offset = base_offset + starts[i]
                    out.append(legacy)
                settled = starts[i + 1]
        elif state == _HEADER:
            if not delim:
                header.append(_text(line))
            else:
                decoded = decode_header(header, refusals)
                if decoded is None:
                    if refusals:
                        at = i - len(header) + refusals[0][0] - 1
                        refused.append((at, base_offset + starts[at], refusals.pop()[1]))
                    header, entry_start = [], starts[i]
                else:
                    verdict = _next_is_header(parts, i + 1, stop_at, final)
                    if verdict is None:
                        break  # cannot decide until more data arrives
                    if verdict:
                        header, entry_start = [], starts[i]
                    else:
                        current, body, state = decoded, [], _BODY
                        current.offset = base_offset + entry_start
        else:  # _BODY
            if delim:
                verdict = _ends_body(parts, i + 1, stop_at, final)
                if verdict is None:
                    break  # cannot decide until more data arrives
                if not verdict:
                    body.append(line)  # a "---" inside an upstream body: text
                    i += 1
                    continue
                assert current is not None
                current.body = _finish_body(body, True)
                out.append(current)
                current = None
                state, header, entry_start = _HEADER, [], starts[i]
            else:
                body.append(line)
        i += 1

    consumed = entry_start
    if state == _SEEK:
        consumed = settled
    elif state == _BODY and final and i == n and body:
        assert current is not None
        if complete_last:
            current.body = _finish_body(body, False)
            out.append(current)
            consumed = len(data)
        elif _torn_tail(body):
            current.body = _finish_body(body, True)  # complete; torn entries follow it
            out.append(current)
            consumed = starts[n - 1]
    if refused:
        refused = [r for r in refused if r[1] < base_offset + consumed]  # the rest comes again
    return ParseResult(out, consumed, data.count(b"\n", 0, consumed), refused)


def _ends_body(parts: list[bytes], j: int, stop_at: int, final: bool) -> bool | None:
    """A ``---`` inside a body (``j`` is the line after it): does it start an entry?

    Yes when only ``---`` and empty lines follow it to the end of the file (upstream ends the
    body there too; it is what a torn append leaves); when the next line that is neither
    ``---`` nor empty begins ``msg_id:``, or is a start of it or of ``---`` (``ms``, ``-``:
    torn appends leave these, and ``---`` and empty lines before them); or when the lines up
    to the next ``---`` decode as a header with a msg_id or a ts. No when they do not, or when
    no ``---`` closes them before the end of the file. None when the data ends before it is
    decided.
    """
    n = j
    while n < stop_at and (_is_delim(parts[n]) or not parts[n].rstrip(b"\r")):
        n += 1  # "---" and separator lines left by torn appends ("\n---\n" cut short)
    if n >= stop_at and final and n == len(parts):
        return True
    if n < stop_at:
        line = parts[n].rstrip(b"\r")
        if line.startswith(_MSG_ID_KEY) or _MSG_ID_KEY.startswith(line) or DELIM.startswith(line):
            return True  # an entry, or what a torn append leaves: "ms", "-", "--"
    while j < stop_at and _is_delim(parts[j]):
        j += 1
    k = j
    while k < stop_at and not _is_delim(parts[k]):
        k += 1
    if k >= stop_at:
        return False if final else None
    msg = decode_header([_text(p) for p in parts[j:k]])
    return bool(msg is not None and (msg.msg_id or msg.ts is not None))


def _next_is_header(parts: list[bytes], j: int, stop_at: int, final: bool) -> bool | None:
    """After a header's closing ``---``: is what follows another entry's complete header?

    True when the next line starts ``msg_id:`` and the lines up to the next ``---`` decode as a
    header with a msg_id, and that ``---`` closes a header (its previous line is not the empty
    separator line that precedes new entries). None when the data ends before it is decided.
    """
    if j >= stop_at or not parts[j].startswith(b"msg_id:"):
        if j >= stop_at and not final:
            return None
        return False
    k = j + 1
    while k < stop_at and not _is_delim(parts[k]):
        k += 1
    if k >= stop_at:
        return None if not final else False
    if not parts[k - 1].rstrip(b"\r"):
        return False
    msg = decode_header([_text(p) for p in parts[j:k]])
    return bool(msg is not None and msg.msg_id)
