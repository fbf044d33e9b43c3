"""Readable console lines from one line of an agent's stdout.

Agents print machine streams (claude stream-json, codex NDJSON, gemini stream-json). The console
shows them as prose, one line per tool call, folded thinking and a result summary. Pure functions:
no Textual, no state, and :func:`display_lines` never raises on any input.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

from ..words import count, plural
from .streams import parse_event


DisplayKind = Literal["text", "tool", "thinking", "result", "system", "raw"]
SUMMARY_LIMIT = 200
TOOL_MARK = "⚙"
RESULT_MARK = "↳"
OK_MARK = "✔"
FAIL_MARK = "✘"
_ARGUMENT_KEYS = ("command", "cmd", "file_path", "path", "absolute_path", "pattern", "url", "query",
                  "description", "prompt", "subject", "content")


@dataclass(frozen=True)
class DisplayLine:
    """One line for the console, with a kind the view can style."""

    kind: DisplayKind
    text: str
    # a streamed chunk that continues the previous row of the same kind (gemini sends words
    # in pieces): the view appends it to that row instead of starting a new one
    join: bool = False


def display_lines(agent_type: str, raw_line: str) -> list[DisplayLine]:
    """Render one stdout line; lines that are not JSON events pass through as `raw`."""
    try:
        return _display(agent_type, raw_line)
    except Exception:  # noqa: BLE001 - the console must never crash on an odd line
        return [DisplayLine("raw", _strip_eol(str(raw_line)))]


def _display(agent_type: str, raw_line: str) -> list[DisplayLine]:
    from .registry import backend, known
    line = _strip_eol(raw_line)
    found = backend(agent_type) if known(agent_type) else None
    event = parse_event(line) if found is not None and found.json_stream else None
    if event is None or found is None:
        return [DisplayLine("raw", line)]
    return found.display(event)


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


# --- shared helpers -----------------------------------------------------------------------------

def cut(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """One line of at most `limit` characters; an ellipsis marks a cut."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _text_lines(text: Any) -> list[DisplayLine]:
    if not isinstance(text, str) or not text.strip():
        return []
    return [DisplayLine("text", part) for part in text.strip("\n").split("\n")]


def _thinking(text: Any) -> DisplayLine:
    size = len(text) if isinstance(text, str) else 0
    return DisplayLine("thinking", f"… thinking ({count(size, 'char')})")


def _tool(name: Any, arguments: Any) -> DisplayLine:
    label = str(name) if name not in (None, "") else "tool"
    summary = argument_summary(arguments)
    return DisplayLine("tool", cut(f"{TOOL_MARK} {label}: {summary}" if summary else f"{TOOL_MARK} {label}"))


def argument_summary(arguments: Any) -> str:
    """The most telling argument of a tool call (its command, path, pattern…), else compact JSON."""
    if arguments in (None, "", {}, []):
        return ""
    if isinstance(arguments, str):
        return cut(arguments)
    if isinstance(arguments, list):
        return cut(" ".join(str(part) for part in arguments))
    if isinstance(arguments, dict):
        for key in _ARGUMENT_KEYS:
            value = arguments.get(key)
            if isinstance(value, str) and value.strip():
                return cut(value)
            if isinstance(value, list) and value:
                return cut(" ".join(str(part) for part in value))
    return cut(json.dumps(arguments, ensure_ascii=False, separators=(",", ":")))


def _first_line(text: Any) -> str:
    if not isinstance(text, str):
        text = "" if text is None else json.dumps(text, ensure_ascii=False)
    lines = [part for part in text.splitlines() if part.strip()]
    if not lines:
        return ""
    more = f" (+{count(len(lines) - 1, 'line')})" if len(lines) > 1 else ""
    return cut(lines[0]) + more


def _tool_output(label: str, output: Any) -> DisplayLine:
    first = _first_line(output)
    return DisplayLine("tool", f"  {RESULT_MARK} {label}: {first}" if first else f"  {RESULT_MARK} {label}")


def _system(text: str) -> list[DisplayLine]:
    return [DisplayLine("system", cut(text))]


def _count(value: Any, noun: str) -> str:
    """``1 tool call``, ``2 tool calls`` (a float count is shown as it came)."""
    return f"{value} {plural(1 if value == 1 else 2, noun)}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sniff_stream_type(path: str, limit: int = 4096) -> str | None:
    """Which agent's stream format a stdout file holds (for ``command`` agents that wrap one).

    Looks at the first JSON lines only: claude (system/assistant/user/result events with a
    message or subtype), codex (thread./turn./item. events), gemini (init, or role-tagged
    message events). None when the file is missing, empty or not a known stream.
    """
    import json as _json
    from ..errors import ConductorError
    from ..store import safefs
    try:  # a link or FIFO planted at the name is refused without blocking
        fd = safefs.open_view(path)
        if fd is None:
            return None
        try:
            head = os.pread(fd, limit, 0)
        finally:
            os.close(fd)
    except (OSError, ConductorError):
        return None
    for raw in head.split(b"\n")[:20]:
        raw = raw.strip()
        if not raw.startswith(b"{"):
            continue
        try:
            event = _json.loads(raw)
        except (ValueError, RecursionError):  # a line of 4,000 "[" fits in the sniffed head
            continue
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            continue
        if kind.startswith(("thread.", "turn.", "item.")):
            return "codex"
        if kind == "init" or (kind == "message" and "role" in event):
            return "gemini"
        if kind in ("system", "assistant", "user", "result") and ("message" in event or "subtype" in event):
            return "claude"
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when an event's field is an object, else {} (events are untrusted JSON)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when an event's field is an array, else []."""
    return value if isinstance(value, list) else []
