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
    event = _parse_event(line) if found is not None and found.json_stream else None
    if event is None:
        return [DisplayLine("raw", line)]
    return found.display(event)


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _parse_event(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


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
    return DisplayLine("thinking", f"… thinking ({size} chars)")


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
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return cut(lines[0]) + more


def _tool_output(label: str, output: Any) -> DisplayLine:
    first = _first_line(output)
    return DisplayLine("tool", f"  {RESULT_MARK} {label}: {first}" if first else f"  {RESULT_MARK} {label}")


def _system(text: str) -> list[DisplayLine]:
    return [DisplayLine("system", cut(text))]


def _count(value: Any, noun: str) -> str:
    return f"{value} {noun}" + ("" if value == 1 else "s")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- claude stream-json -------------------------------------------------------------------------

def _claude(event: dict[str, Any]) -> list[DisplayLine]:
    kind = event.get("type")
    if kind == "system":
        return _claude_system(event)
    if kind == "assistant":
        return _claude_blocks(event.get("message"))
    if kind == "user":
        return _claude_user(event.get("message"))
    if kind == "result":
        return [_claude_result(event)]
    return _system(f"{kind} {event.get('subtype') or ''}".strip()) if isinstance(kind, str) else []


def _claude_system(event: dict[str, Any]) -> list[DisplayLine]:
    subtype = event.get("subtype") or "event"
    if subtype != "init":
        return _system(f"system {subtype}")
    parts = []
    if event.get("model"):
        parts.append(f"model {event['model']}")
    if event.get("cwd"):
        parts.append(f"cwd {event['cwd']}")
    if isinstance(event.get("tools"), list):
        parts.append(f"{len(event['tools'])} tools")
    return _system("● session init" + (": " + ", ".join(parts) if parts else ""))


def _claude_blocks(message: Any) -> list[DisplayLine]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return _text_lines(content)
    lines: list[DisplayLine] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            lines.extend(_text_lines(block.get("text")))
        elif kind in ("tool_use", "server_tool_use"):
            lines.append(_tool(block.get("name"), block.get("input")))
        elif kind in ("thinking", "redacted_thinking"):
            lines.append(_thinking(block.get("thinking") or block.get("data")))
    return lines


def _claude_user(message: Any) -> list[DisplayLine]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return _system(f"▶ user: {_first_line(content)}")
    lines = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            label = "error" if block.get("is_error") else "ok"
            lines.append(_tool_output(label, _claude_tool_result_text(block.get("content"))))
    return lines


def _claude_tool_result_text(content: Any) -> Any:
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content


def _claude_result(event: dict[str, Any]) -> DisplayLine:
    failed = bool(event.get("is_error")) or (event.get("subtype") not in (None, "success"))
    summary = _first_line(event.get("result")) or str(event.get("subtype") or "")
    details = []
    if _number(event.get("total_cost_usd")):
        details.append(f"${event['total_cost_usd']:.4f}")
    if _number(event.get("num_turns")):
        details.append(_count(event["num_turns"], "turn"))
    mark = FAIL_MARK if failed else OK_MARK
    tail = f" ({', '.join(details)})" if details else ""
    return DisplayLine("result", f"{mark} result: {cut(summary)}{tail}")


# --- codex NDJSON -------------------------------------------------------------------------------

def _codex(event: dict[str, Any]) -> list[DisplayLine]:
    kind = event.get("type")
    if isinstance(event.get("msg"), dict) and kind is None:
        return _codex_legacy(event["msg"])
    if kind == "thread.started":
        return _system(f"● thread started: {event.get('thread_id') or ''}".rstrip(": "))
    if kind == "turn.started":
        return _system("● turn started")
    if kind == "turn.completed":
        return [DisplayLine("result", f"{OK_MARK} turn completed{_codex_usage(event.get('usage'))}")]
    if kind == "turn.failed":
        error = event.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return [DisplayLine("result", cut(f"{FAIL_MARK} turn failed: {message or ''}".rstrip(": ")))]
    if kind == "error":
        return _system(f"error: {event.get('message') or ''}")
    if kind in ("item.started", "item.updated", "item.completed") and isinstance(event.get("item"), dict):
        return _codex_item(kind, event["item"])
    return _system(str(kind)) if isinstance(kind, str) else []


def _codex_usage(usage: Any) -> str:
    if not isinstance(usage, dict):
        return ""
    parts = [f"{label} {usage[key]}" for key, label in
             (("input_tokens", "in"), ("cached_input_tokens", "cached"), ("output_tokens", "out"))
             if _number(usage.get(key))]
    return f" ({', '.join(parts)} tokens)" if parts else ""


def _codex_item(phase: str, item: dict[str, Any]) -> list[DisplayLine]:
    kind = item.get("type")
    done = phase == "item.completed"
    if kind in ("agent_message", "message"):
        return _text_lines(item.get("text")) if done else []
    if kind == "reasoning":
        return [_thinking(item.get("text"))] if done else []
    if kind == "command_execution":
        return [_codex_command(phase, item)] if phase != "item.updated" else []
    if kind == "file_change":
        return [_codex_file_change(item)] if done else []
    if kind == "mcp_tool_call":
        name = ".".join(str(part) for part in (item.get("server"), item.get("tool")) if part)
        return [_tool(name or "mcp", item.get("arguments"))] if phase == "item.started" else []
    if kind == "web_search":
        return [_tool("web_search", item.get("query"))] if phase != "item.updated" else []
    if kind == "todo_list":
        return [_codex_todo(item.get("items"))] if phase != "item.updated" else []
    if kind == "error":
        return _system(f"error: {item.get('message') or ''}")
    return []


def _codex_command(phase: str, item: dict[str, Any]) -> DisplayLine:
    if phase == "item.started":
        return _tool("exec", item.get("command"))
    code = item.get("exit_code")
    label = f"exit {code}" if _number(code) else str(item.get("status") or "done")
    return _tool_output(label, item.get("aggregated_output"))


def _codex_file_change(item: dict[str, Any]) -> DisplayLine:
    changes = item.get("changes") if isinstance(item.get("changes"), list) else []
    parts = [f"{change.get('kind', 'edit')} {change.get('path', '?')}"
             for change in changes if isinstance(change, dict)]
    return _tool("patch", ", ".join(parts))


def _codex_todo(items: Any) -> DisplayLine:
    entries = [entry for entry in items if isinstance(entry, dict)] if isinstance(items, list) else []
    done = sum(1 for entry in entries if entry.get("completed"))
    return DisplayLine("system", f"☐ todo: {done}/{len(entries)} done")


def _codex_legacy(msg: dict[str, Any]) -> list[DisplayLine]:
    """Codex builds before the `thread/turn/item` protocol printed `{"msg": {...}}` events."""
    kind = msg.get("type")
    if kind == "agent_message":
        return _text_lines(msg.get("message"))
    if kind in ("agent_reasoning", "agent_reasoning_raw_content"):
        return [_thinking(msg.get("text"))]
    if kind == "exec_command_begin":
        return [_tool("exec", msg.get("command"))]
    if kind == "exec_command_end":
        return [_tool_output(f"exit {msg.get('exit_code')}", msg.get("stdout") or msg.get("stderr"))]
    if kind == "task_complete":
        return [DisplayLine("result", f"{OK_MARK} task complete")]
    if kind == "error":
        return _system(f"error: {msg.get('message') or ''}")
    return []


# --- gemini stream-json -------------------------------------------------------------------------

def _gemini(event: dict[str, Any]) -> list[DisplayLine]:
    kind = event.get("type")
    if kind == "init":
        model = event.get("model")
        return _system("● session init" + (f": model {model}" if model else ""))
    if kind == "message":
        if event.get("role") not in (None, "", "assistant", "model"):
            return []
        content = event.get("content")
        return _text_lines(content if isinstance(content, str) else _gemini_text(content))
    if kind == "tool_use":
        return [_tool(event.get("tool_name") or event.get("name"), event.get("parameters"))]
    if kind == "tool_result":
        output = event.get("output")
        if output in (None, "") and isinstance(event.get("error"), dict):
            output = event["error"].get("message")
        return [_tool_output(str(event.get("status") or "done"), output)]
    if kind == "error":
        return _system(f"error: {event.get('message') or ''}")
    if kind == "result":
        return [_gemini_result(event)]
    return _system(str(kind)) if isinstance(kind, str) else []


def _gemini_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _gemini_result(event: dict[str, Any]) -> DisplayLine:
    status = str(event.get("status") or "done")
    stats = event.get("stats") if isinstance(event.get("stats"), dict) else {}
    details = []
    if _number(stats.get("total_tokens")):
        details.append(f"{stats['total_tokens']} tokens")
    if _number(stats.get("tool_calls")):
        details.append(_count(stats["tool_calls"], "tool call"))
    if _number(stats.get("duration_ms")):
        details.append(f"{stats['duration_ms'] / 1000:.1f}s")
    mark = OK_MARK if status == "success" else FAIL_MARK
    tail = f" ({', '.join(details)})" if details else ""
    return DisplayLine("result", f"{mark} result: {cut(status)}{tail}")


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
