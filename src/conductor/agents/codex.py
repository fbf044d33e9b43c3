"""codex (OpenAI Codex CLI, ``@openai/codex``): ``codex exec --json -``, the prompt on stdin.

Verified against codex-cli 0.171.0 (the real binary against a loopback server speaking the
OpenAI Responses API; transcripts in tests/fixtures/real-cli-streams/):

- the key is read from ``CODEX_API_KEY`` and sent as ``Authorization: Bearer``; with only
  ``OPENAI_API_KEY`` set codex sends no Authorization header. The runner puts the token in both
  (custom ``model_providers`` in a user's config.toml may name ``OPENAI_API_KEY``);
- ``-m MODEL`` sets the request's model; ``-c openai_base_url=URL`` points the built-in
  ``openai`` provider at another endpoint (no config.toml needed). Codex tries a WebSocket
  first (5 attempts, printed as ``Reconnecting... k/5`` errors) and then falls back to HTTPS;
- ``codex exec [OPTIONS] resume <thread_id> -`` continues a thread; the exec options (and the
  config's ``args``) stay before ``resume``, where codex accepts all of them;
- stdout is JSONL: ``thread.started{thread_id}``, ``turn.started``, ``item.started/updated/
  completed{item}``, ``turn.completed{usage}``, ``turn.failed{error{message}}`` and top-level
  ``error{message}`` (retries and warnings as well as the final error);
- without network it never exits: after its retries it prints ``Reconnecting... waiting for
  network`` every 30-60 s forever. :class:`CodexWatch` ends such a run (NETWORK) after
  :data:`NETWORK_STRIKES` of those lines in a row;
- 429: ``exceeded retry limit, last status: 429 Too Many Requests`` (codex honours
  ``retry-after`` itself, between ``Reconnecting...`` lines); a ChatGPT plan's
  ``usage_limit_reached``: ``You've hit your usage limit. ... try again at 3:21 PM.`` (local
  time; ``Dec 1st, 2026 3:21 PM`` when not today);
- exit 0 on success, 1 on a failed turn or a startup error (``Error: ...`` on stderr, nothing
  on stdout), 2 for a command line it rejects (``error: unexpected argument ...``).
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Any

from .backend import (AGENT, AUTH, CONFIG, LIMIT, NETWORK, Backend, Failure, Launch, Outcome,
                      StreamWatch, Usage, Verdict, iter_events, number, read_text_tail, text_of)
from .display import (FAIL_MARK, OK_MARK, DisplayLine, _number, _system, _text_lines, _thinking,
                      _tool, _tool_output, as_list, cut)

# "Reconnecting... waiting for network" lines in a row (no progress between them) that end the
# attempt: codex prints one every 30-60 s forever once its own retries are spent.
NETWORK_STRIKES = 3
BASE_URL_KEY = "openai_base_url"

_WAITING = "waiting for network"
# "Reconnecting... 1/5 (unexpected status 401 Unauthorized: <why>, url: …)"
_REFUSED_KEY = re.compile(r"^Reconnecting\.\.\. \d+/\d+ \(unexpected status 401\b")


def _retry_reason(message: str) -> str:
    """The words inside a retry notice's parentheses: what the API said."""
    start, end = message.find("("), message.rfind(")")
    return message[start + 1:end] if 0 <= start < end else message
_RECONNECT = re.compile(r"^Reconnecting\.\.\.\s*(?:(\d+)/(\d+))?")
_AUTH = re.compile(r"\b401\b|Unauthorized|Incorrect API key|invalid[_ ]api[_ ]key|"
                   r"Missing environment variable: `(?:CODEX|OPENAI)_API_KEY`", re.I)
_LIMIT = re.compile(r"\b429\b|Too Many Requests|rate[ _-]limit|usage limit|quota", re.I)
_NETWORK = re.compile(r"waiting for network|error sending request|failed to lookup address|"
                      r"stream disconnected|Connection (?:failed|refused|reset)|timed out", re.I)
_AT = re.compile(r"try again at ([A-Z][a-z]{2} \d{1,2}(?:st|nd|rd|th), \d{4} )?"
                 r"(\d{1,2}):(\d{2}) ?([AP]M)", re.I)
_IN = re.compile(r"(?:try again|retry) in ((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)", re.I)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)")
# the only places codex 0.171 names the model it runs: warnings (as `error` items) for a model
# it has no metadata for, and for a thread resumed with another model than it was recorded with
_MODEL = re.compile(r"^Model metadata for `([^`]+)` not found|but is resuming with `([^`]+)`")


class CodexWatch(StreamWatch):
    """Live reader of codex's JSONL: thread/turn/item events are progress (warnings shown as
    ``error`` items and top-level ``error`` events are not); usage and the thread id as they
    come; :data:`NETWORK_STRIKES` "waiting for network" errors in a row end the attempt."""

    def __init__(self, model: str = "") -> None:
        super().__init__()
        self.model = model
        self.offline = 0  # "waiting for network" errors since the last progress event

    def feed(self, event: dict[str, Any]) -> Verdict:
        kind = text_of(event.get("type"))
        if kind == "error":
            message = text_of(event.get("message"))
            if _REFUSED_KEY.search(message):
                # codex retries a 401 five times (~7 s) with the same key: it cannot succeed
                return Verdict(False, Failure(AUTH, _retry_reason(message)))
            if _WAITING in message:
                self.offline += 1
                if self.offline >= NETWORK_STRIKES:
                    return Verdict(False, Failure(NETWORK, message))
            return Verdict(False)
        if kind == "thread.started":
            self.session_id = text_of(event.get("thread_id")) or self.session_id
        elif kind == "turn.completed":
            _add_turn(self.usage, event.get("usage"))
        elif kind.startswith("item."):
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "error":
                return Verdict(False)
        elif not kind.startswith(("thread.", "turn.")):
            return Verdict(False)
        self.offline = 0
        return Verdict(True)


def _add_turn(usage: Usage, fields: Any) -> None:
    """One ``turn.completed``. Codex prints the thread's running total (a resumed thread's
    first turn includes the earlier runs' tokens), so the latest total replaces the previous
    one. ``input_tokens`` includes ``cached_input_tokens``; ``output_tokens`` includes
    ``reasoning_output_tokens`` (the Responses API counts reasoning as output), so reasoning is
    not added again."""
    usage.turns += 1
    if not isinstance(fields, dict):
        return
    usage.input_tokens = number(fields.get("input_tokens"))
    usage.cached_tokens = number(fields.get("cached_input_tokens"))
    usage.output_tokens = number(fields.get("output_tokens"))


def classify(message: str, now: float | None = None) -> Failure:
    """A codex error message as a failure of the right kind (its words kept whole)."""
    if _AUTH.search(message):
        return Failure(AUTH, message)
    if _LIMIT.search(message):
        return Failure(LIMIT, message, reset_time(message, now))
    if _NETWORK.search(message):
        return Failure(NETWORK, message)
    return Failure(AGENT, message)


def reset_time(message: str, now: float | None = None) -> float | None:
    """When a limit resets, from codex's "try again at 3:21 PM" (local time, today or the
    next such time), "try again at Dec 1st, 2026 3:21 PM", or "try again in 2m3s"."""
    now = time.time() if now is None else now
    found = _AT.search(message)
    if found:
        day, hour, minute, half = found.groups()
        hour = int(hour) % 12 + (12 if half.upper() == "PM" else 0)
        base = _dt.datetime.fromtimestamp(now)
        try:
            if day:
                text = re.sub(r"(\d)(st|nd|rd|th),", r"\1,", day.strip())
                date = _dt.datetime.strptime(text, "%b %d, %Y").date()
            else:
                date = base.date()
            when = _dt.datetime.combine(date, _dt.time(hour, int(minute)))
        except ValueError:
            return None
        stamp = when.timestamp()
        if not day and stamp < now - 60:
            stamp = (when + _dt.timedelta(days=1)).timestamp()
        return stamp
    found = _IN.search(message)
    if found:
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
        seconds = sum(float(value) * units[unit] for value, unit in _PART.findall(found.group(1)))
        return now + seconds if seconds > 0 else None
    return None


def _is_retry_notice(message: str) -> bool:
    """``Reconnecting... k/n (...)`` and ``Reconnecting... waiting for network``: codex is
    still trying; these never end a run by themselves (only a run of "waiting" lines does)."""
    return bool(_RECONNECT.match(message))


class CodexBackend(Backend):
    type = "codex"
    binary = "codex"
    cumulative_session_usage = True  # turn.completed carries the thread's running total
    stderr_is_progress = False       # its reconnect loop logs there forever
    # codex 0.171 reads CODEX_API_KEY; OPENAI_API_KEY is kept for custom providers naming it
    token_vars = ("CODEX_API_KEY", "OPENAI_API_KEY")
    other_vars = ("OPENAI_ORG_ID",)
    json_stream = True
    version_probe = True
    install_hint = "npm install -g @openai/codex"
    versions_verified = "codex-cli 0.171.0"

    def base_argv(self, launch: Launch) -> list[str]:
        argv = [self.binary, "exec", "--dangerously-bypass-approvals-and-sandbox", "--json"]
        model = (getattr(launch.agent, "model", "") or "").strip()
        if model:
            argv += ["-m", model]
        base_url = (getattr(launch.agent, "base_url", "") or "").strip()
        if base_url:
            argv += ["-c", f"{BASE_URL_KEY}={base_url}"]
        return argv

    def argv(self, launch: Launch) -> list[str]:
        """``codex exec <ours> <config args> [resume <thread_id>] -``: the prompt operand
        comes last, so the config's ``args`` go before it (and before ``resume``)."""
        extra = [str(a) for a in (getattr(launch.agent, "args", None) or ())]
        tail = ["resume", launch.resume, "-"] if launch.resume else ["-"]
        return self.base_argv(launch) + extra + tail

    def environment(self, launch: Launch) -> dict[str, str]:
        return {}  # the base URL is a `-c` option, not a variable

    def watch(self) -> StreamWatch | None:
        return CodexWatch()

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        result = Outcome()
        usage = Usage()
        answer: str | None = None
        failed: str = ""
        last_error: str = ""
        started = False
        for event in iter_events(stdout_path):
            kind = event.get("type")
            if kind == "thread.started":
                started = True
                result.session_id = text_of(event.get("thread_id")) or result.session_id
            elif kind == "turn.completed":
                _add_turn(usage, event.get("usage"))
            elif kind == "turn.failed":
                error = event.get("error")
                failed = text_of(error.get("message")) if isinstance(error, dict) else text_of(error)
                failed = failed or "turn failed"
            elif kind == "error":
                message = text_of(event.get("message"))
                if message and not _is_retry_notice(message):
                    last_error = message
            elif kind == "item.completed":
                item = event.get("item")
                if isinstance(item, dict) and item.get("type") == "agent_message":
                    text = text_of(item.get("text"))
                    if text.strip():
                        answer = text
                elif isinstance(item, dict) and item.get("type") == "error":
                    named = _MODEL.search(text_of(item.get("message")))
                    result.model = (named.group(1) or named.group(2)) if named else result.model
        result.answer, result.usage = answer, usage
        if failed:
            result.failure = classify(failed)
        elif exit_code != 0 and last_error:
            result.failure = classify(last_error)
        elif exit_code != 0 and not started and stderr_path:
            result.failure = _startup_failure(read_text_tail(stderr_path), exit_code)
        return result

    def describe_exit(self, exit_code: int) -> Failure | None:
        return None  # 1 is any failure; what failed is in the stream or on stderr

    def display(self, event: dict[str, Any]) -> list[DisplayLine]:
        kind = event.get("type")
        if kind == "error":
            message = text_of(event.get("message"))
            return [DisplayLine("system", cut(f"⚠ {message}" if message else "⚠ error"))]
        if kind == "turn.failed":
            error = event.get("error")
            message = text_of(error.get("message")) if isinstance(error, dict) else text_of(error)
            return [DisplayLine("result", cut(f"{FAIL_MARK} turn failed: {message}"
                                              if message else f"{FAIL_MARK} turn failed"))]
        if kind in ("item.started", "item.updated", "item.completed"):
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "error":
                if kind != "item.completed":
                    return []
                message = text_of(item.get("message"))
                return [DisplayLine("system", cut(f"⚠ {message}" if message else "⚠ error"))]
        if kind == "turn.completed":
            return [DisplayLine("result", f"{OK_MARK} turn completed"
                                          f"{_usage_text(event.get('usage'))}")]
        return _codex(event)


def _usage_text(usage: Any) -> str:
    if not isinstance(usage, dict):
        return ""
    parts = [f"{label} {number(usage.get(key))}" for key, label in
             (("input_tokens", "in"), ("cached_input_tokens", "cached"),
              ("output_tokens", "out"), ("reasoning_output_tokens", "reasoning"))
             if number(usage.get(key))]
    return f" ({', '.join(parts)} tokens)" if parts else ""


def _startup_failure(stderr: str, exit_code: int) -> Failure | None:
    """Codex stopped before its first event: its ``Error: ...`` (exit 1: a bad config value,
    an unknown provider, a thread to resume that does not exist) or clap's ``error: ...``
    (exit 2: a command line it rejects)."""
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith(("Error: ", "error: ")):
            message = line
            if "no rollout found" in message:
                return Failure(AGENT, message)
            failure = classify(message)
            return failure if failure.kind != AGENT else Failure(CONFIG, message)
    return None



# ---- the readable view of codex's events (codex exec --json) ---------------------------------

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
    changes = as_list(item.get("changes"))
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


BACKEND = CodexBackend()
