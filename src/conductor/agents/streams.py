"""Turn a finished agent-stdout.txt into the text of output.md (spec 7.2).

The file is read one line at a time with no line-length limit: a single multi-megabyte JSON
event is parsed like any other (upstream's 1 MiB scanner silently stopped there, spec 9 #22).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterator


CLAUDE_PLACEHOLDER = (
    "# Agent Output\n\n*The agent did not write output.md. Raw output is available in the stdout tab.*\n"
)
GEMINI_REJECTION_MARKERS: tuple[str, ...] = (
    "unknown flag", "unrecognized option", "output-format", "stream-json", "invalid flag",
)
GEMINI_REJECTION_SUMMARY = "gemini CLI rejected --output-format stream-json"

_CODEX_EVENT_TYPES = frozenset({"result", "response.completed", "turn.completed", "message"})
_CODEX_EVENT_KEYS = ("result", "output_text", "text", "content", "message")
_CODEX_OBJECT_KEYS = ("text", "content", "result", "message", "output", "output_text")
_CODEX_MESSAGE_ITEMS = frozenset({"", "agent_message", "message"})
_GEMINI_KEYS = ("text", "content", "result", "message")


def open_stream(path: str | os.PathLike[str]):
    """A binary reader of the regular file ``path``. The agent owns its run dir and may have
    put a link or a FIFO at the name: a link is not followed and a FIFO does not block, both
    are an ``OSError`` (``ELOOP``, or ``EINVAL`` "not a regular file") like a missing file."""
    from ..store.safefs import open_leaf
    return os.fdopen(open_leaf(os.fspath(path)), "rb")


def iter_json_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """JSON objects of a stream file, one per line; blank, non-JSON and non-object lines are skipped."""
    with open_stream(path) as stream:
        for raw in stream:
            line = raw.strip()
            if not line:
                continue
            try:
                event = json.loads(line.decode("utf-8", "replace"))
            except (ValueError, RecursionError):
                continue
            if isinstance(event, dict):
                yield event


def extract_output(agent_type: str, stdout_path: str | os.PathLike[str]) -> str | None:
    """output.md text from an agent's stdout (its backend's answer), or None when the stream
    holds no answer or the type prints no JSON stream."""
    from .registry import backend, known
    if not known(agent_type) or not backend(agent_type).json_stream:
        return None
    try:
        return backend(agent_type).outcome(os.fspath(stdout_path), "", 0).answer
    except (OSError, RecursionError):
        return None


def extract_claude(path: str | os.PathLike[str]) -> str | None:
    """The first successful result event wins; otherwise every assistant text block, joined."""
    texts: list[str] = []
    for event in iter_json_events(path):
        kind = event.get("type")
        if kind == "result":
            result = event.get("result")
            if event.get("is_error") is not True and isinstance(result, str) and result.strip():
                return result
        elif kind == "assistant":
            texts.extend(_claude_text_blocks(event.get("message")))
    return "\n".join(texts) if texts else None


def _claude_text_blocks(message: Any) -> Iterator[str]:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                yield text


def extract_codex(path: str | os.PathLike[str]) -> str | None:
    """Accumulate agent messages and final results, skipping repeats of text already emitted."""
    emitted = ""
    for event in iter_json_events(path):
        for text in _codex_texts(event):
            emitted = _accumulate_codex(emitted, text)
    emitted = emitted.strip()
    return emitted or None


def _codex_texts(event: dict[str, Any]) -> Iterator[str]:
    if _str(event.get("type")) in _CODEX_EVENT_TYPES:
        text = _first_text(event, _CODEX_EVENT_KEYS, _codex_text)
        if text:
            yield text
    item = event.get("item")
    if isinstance(item, dict) and (_str(item.get("type")) or "") in _CODEX_MESSAGE_ITEMS:
        text = (_codex_text(item.get("text")) or _codex_text(item.get("output_text"))
                or _codex_text(item.get("content")) or _codex_text(item.get("message")))
        if text:
            yield text


def _str(value: Any) -> str | None:
    """A field that should be a string; anything else (a list from a broken stream) is None, so
    it cannot reach a set lookup (``{"type": []}`` made the runner crash)."""
    return value if isinstance(value, str) else None


def _codex_text(value: Any) -> str:
    """Recursive extractor: strings trimmed, objects by key preference, arrays joined by newlines."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return _first_text(value, _CODEX_OBJECT_KEYS, _codex_text)
    if isinstance(value, list):
        return "\n".join(part for part in map(_codex_text, value) if part)
    return ""


def _first_text(obj: dict[str, Any], keys: tuple[str, ...], extract: Callable[[Any], str]) -> str:
    for key in keys:
        text = extract(obj.get(key))
        if text:
            return text
    return ""


def _accumulate_codex(emitted: str, text: str) -> str:
    if emitted.startswith(text):
        return emitted
    if text.startswith(emitted):
        return text
    separator = "" if not emitted or emitted.endswith("\n") else "\n"
    return emitted + separator + text


def extract_gemini(path: str | os.PathLike[str]) -> str | None:
    """A result event with text wins; otherwise assistant messages, cumulative or delta, concatenated."""
    emitted = ""
    for event in iter_json_events(path):
        if event.get("type") == "result":
            result = _gemini_text(event.get("result"))
            if result.strip():
                return result
            continue
        text = _gemini_message_text(event)
        if not text:
            continue
        if text.startswith(emitted):
            emitted = text
        elif not emitted.startswith(text):
            emitted += text
    emitted = emitted.strip()
    return emitted or None


def _gemini_message_text(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind == "assistant":
        message = event.get("message")
        return _gemini_role_text(message) if isinstance(message, dict) else _gemini_text(message)
    if kind != "message":
        return ""
    if "content" not in event and isinstance(event.get("message"), dict):
        return _gemini_role_text(event["message"])
    return _gemini_role_text(event)


def _gemini_role_text(message: dict[str, Any]) -> str:
    role = message.get("role")
    if role not in (None, "", "assistant", "model"):
        return ""
    return _gemini_text(message.get("content"))


def _gemini_text(value: Any) -> str:
    """Like the codex extractor, but strings keep their spaces: gemini streams word-sized deltas."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _first_text(value, _GEMINI_KEYS, _gemini_text)
    if isinstance(value, list):
        return "\n".join(part for part in map(_gemini_text, value) if part)
    return ""


def gemini_rejected_stream_json(stderr_path: str | os.PathLike[str]) -> bool:
    """True when gemini's stderr says it did not accept `--output-format stream-json` (spec 4.3 step 8)."""
    tail = ""
    keep = max(len(marker) for marker in GEMINI_REJECTION_MARKERS)
    try:
        with open_stream(stderr_path) as stream:
            while chunk := stream.read(1 << 16):
                window = (tail + chunk.decode("utf-8", "replace")).lower()
                if any(marker in window for marker in GEMINI_REJECTION_MARKERS):
                    return True
                tail = window[-keep:]
    except OSError:
        return False
    return False

