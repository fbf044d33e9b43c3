"""claude (Claude Code, ``@anthropic-ai/claude-code``; verified with 2.1.332).

``claude -p`` with stream-json output and the prompt on stdin. What the program does, as
checked against the real 2.1.332 binary (transcripts in tests/fixtures/real-cli-streams/ and
tests/fixtures/claude-2.1.332/):

- As root it refuses ``--permission-mode bypassPermissions`` (stderr: ``--dangerously-skip-
  permissions cannot be used with root/sudo privileges for security reasons``, exit 1) unless
  ``IS_SANDBOX=1`` is in its environment; we set it as root unless ``root_sandbox: false``.
- An API error (no login, a bad key, no network, a rate or usage limit) is printed as a
  *synthetic* assistant message (``model:"<synthetic>"``, ``is_api_error_message:true``) and then
  a ``result`` with ``subtype:"success"`` **and** ``is_error:true``, exit 1. Its text is the
  failure's message, never the answer.
- Before giving up it retries ``CLAUDE_CODE_MAX_RETRIES`` times (default 10, ~3 minutes),
  printing one ``system/api_retry`` event per attempt; we default it to 2.
- A 429 whose ``retry-after`` is long is not retried at all. A subscription's usage limit
  prints a ``rate_limit_event`` {rate_limit_info{status:"rejected", resetsAt}} and the message
  ``You've hit your 5-hour limit · resets 4:14pm (UTC)`` whose event carries
  ``api_error:"usage_limit_reached"`` and ``api_error_params.rate_limit_info.resetsAt``.
- ``--max-budget-usd`` ends the run with ``subtype:"error_max_budget_usd"`` and
  ``errors:["Reached maximum budget ($X)"]`` (no ``result`` text).
- ``--resume <id>`` keeps the session id; an unknown id gives ``error_during_execution`` with
  ``errors:["No conversation found with session ID: <id>"]``.
- One ``assistant`` event per content block; the blocks of one API message share
  ``message.id`` and each repeats that message's usage.

Usage: ``input_tokens`` counts every prompt token, i.e. ``input_tokens +
cache_creation_input_tokens + cache_read_input_tokens``; ``cached_tokens`` is the
``cache_read_input_tokens`` part of it (a subset, so :attr:`Usage.tokens` = input + output is
every token the model processed, as for codex).
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from .backend import (AGENT, AUTH, BUDGET, LIMIT, NETWORK, NO_ANSWER, UNTRUSTED, Backend,
                      Failure, Launch, Outcome, StreamWatch, Usage, Verdict, iter_events, money,
                      number, one_line, read_text_tail, text_of)
from ..words import count
from .display import (FAIL_MARK, OK_MARK, DisplayLine, _first_line, _system, _text_lines,
                      _thinking, _tool, _tool_output, cut)

DEFAULT_MAX_RETRIES = 2
SYNTHETIC_MODEL = "<synthetic>"
ROOT_REFUSAL = "cannot be used with root/sudo privileges"
_AUTH_STATUSES = frozenset({401, 403})


class ClaudeBackend(Backend):
    type = "claude"
    binary = "claude"
    token_vars = ("ANTHROPIC_API_KEY",)
    # claude's other ways to hold a credential: never handed to another agent
    other_vars = ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
    base_url_var = "ANTHROPIC_BASE_URL"
    json_stream = True
    version_probe = True
    install_hint = "npm install -g @anthropic-ai/claude-code"
    versions_verified = "2.1.332"

    # ---- starting ------------------------------------------------------------------------

    def base_argv(self, launch: Launch) -> list[str]:
        argv = [self.binary, "-p", "--input-format", "text", "--output-format", "stream-json",
                "--verbose", "--tools", "default", "--permission-mode", "bypassPermissions"]
        model = self.model(launch)
        if model:
            argv += ["--model", model]
        if launch.budget_usd is not None:
            argv += ["--max-budget-usd", format_usd(launch.budget_usd)]
        if launch.resume:
            argv += ["--resume", launch.resume]
        return argv

    def environment(self, launch: Launch) -> dict[str, str]:
        env = super().environment(launch)
        retries = getattr(launch.agent, "max_retries", None)
        if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0:
            env["CLAUDE_CODE_MAX_RETRIES"] = str(retries)
        elif not (launch.environ.get("CLAUDE_CODE_MAX_RETRIES") or "").strip():
            env["CLAUDE_CODE_MAX_RETRIES"] = str(DEFAULT_MAX_RETRIES)
        if launch.euid == 0 and getattr(launch.agent, "root_sandbox", True) is not False:
            env["IS_SANDBOX"] = "1"
        return env

    def preflight(self, launch: Launch) -> list[Failure]:
        problems = super().preflight(launch)
        if problems:
            return problems
        if launch.euid == 0 and getattr(launch.agent, "root_sandbox", True) is False:
            own_env = getattr(launch.agent, "env", None) or {}
            sandbox = own_env.get("IS_SANDBOX", launch.environ.get("IS_SANDBOX", ""))
            if sandbox != "1":
                name = getattr(launch.agent, "name", "") or self.type
                return [Failure(UNTRUSTED, (
                    f'agent "{name}": claude refuses --permission-mode bypassPermissions as root '
                    "without IS_SANDBOX=1, and root_sandbox is false; set root_sandbox: true "
                    "(conductor then sets IS_SANDBOX=1) or run conductor as a non-root user"))]
        # No login check: claude also logs in through ANTHROPIC_AUTH_TOKEN,
        # CLAUDE_CODE_OAUTH_TOKEN, ~/.claude/.credentials.json, an apiKeyHelper, Bedrock,
        # Vertex or Foundry; a missing login ends the run as an AUTH failure instead.
        return []

    # ---- reading -------------------------------------------------------------------------

    def watch(self) -> StreamWatch:
        return ClaudeWatch()

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        reader = _Reader()
        for event in iter_events(stdout_path):
            reader.feed(event)
        outcome = Outcome(usage=reader.usage(), session_id=reader.session_id,
                          model=reader.model)
        if reader.answer is not None:
            outcome.answer = reader.answer
            return outcome
        if reader.texts:
            # partial work of a run that failed or never finished; the runner writes it only
            # when there is no failure
            outcome.answer = "\n".join(reader.texts)
        outcome.failure = reader.failure()
        if outcome.failure is None and stderr_path:
            refusal = [line for line in read_text_tail(stderr_path).splitlines()
                       if ROOT_REFUSAL in line]
            if refusal:
                outcome.failure = Failure(UNTRUSTED, (
                    f"{refusal[-1].strip()} (claude runs as root only with IS_SANDBOX=1: set "
                    "the agent's root_sandbox to true, or run as a non-root user)"))
        if outcome.failure is None and outcome.answer is None and exit_code == 0 \
                and not reader.results:
            outcome.failure = Failure(NO_ANSWER, "claude exited without a result")
        return outcome

    def display(self, event: dict[str, Any]) -> list[DisplayLine]:
        kind = event.get("type")
        if kind == "system":
            return _display_system(event)
        if kind == "assistant":
            if is_api_error(event):
                text = " ".join(_message_texts(event.get("message"))) or "API error"
                return [DisplayLine("result", cut(f"{FAIL_MARK} error: {text}"))]
            return _display_blocks(event.get("message"))
        if kind == "user":
            return _display_user(event.get("message"))
        if kind == "result":
            return [_display_result(event)]
        if kind == "rate_limit_event":
            return _display_rate_limit(event)
        return _system(f"{kind} {event.get('subtype') or ''}".strip()) if isinstance(kind, str) \
            else []


# ---- the stream ----------------------------------------------------------------------------

def is_api_error(event: dict[str, Any]) -> bool:
    """An assistant event that is claude's own error text, not the model's."""
    message = event.get("message")
    return event.get("is_api_error_message") is True or (
        isinstance(message, dict) and message.get("model") == SYNTHETIC_MODEL)


def _message_texts(message: Any) -> list[str]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [content] if content.strip() else []
    out = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text")
            if isinstance(text, str) and text.strip():
                out.append(text)
    return out


def usage_of(raw: Any) -> Usage:
    """A claude ``usage`` object as :class:`Usage` (cache reads and writes counted as input,
    the reads also as cached)."""
    if not isinstance(raw, dict):
        return Usage()
    fresh = number(raw.get("input_tokens")) + number(raw.get("cache_creation_input_tokens"))
    cached = number(raw.get("cache_read_input_tokens"))
    return Usage(input_tokens=fresh + cached, output_tokens=number(raw.get("output_tokens")),
                 cached_tokens=cached)


def result_usage(result: dict[str, Any], messages: "_MessageUsage") -> Usage:
    """A result's usage, cost and turns. A result ended by ``--max-budget-usd`` reports all-zero
    ``usage`` but the real figures in ``modelUsage`` (seen with 2.1.332): then those are
    summed, and failing them the streamed messages' usage."""
    usage = usage_of(result.get("usage"))
    if not (usage.input_tokens or usage.output_tokens):
        usage = model_usage(result.get("modelUsage"))
    if not (usage.input_tokens or usage.output_tokens):
        usage = messages.total()
    usage.cost_usd = money(result.get("total_cost_usd"))
    usage.turns = number(result.get("num_turns"))
    return usage


def model_usage(raw: Any) -> Usage:
    """The sum of a result's ``modelUsage`` {model: {inputTokens, cacheReadInputTokens, …}}."""
    total = Usage()
    for entry in raw.values() if isinstance(raw, dict) else ():
        if isinstance(entry, dict):
            total = total + usage_of({
                "input_tokens": entry.get("inputTokens"),
                "cache_creation_input_tokens": entry.get("cacheCreationInputTokens"),
                "cache_read_input_tokens": entry.get("cacheReadInputTokens"),
                "output_tokens": entry.get("outputTokens")})
    return total


class _MessageUsage:
    """Usage summed over API messages: the per-block events of one ``message.id`` repeat (and
    may grow) the same usage, so each id counts once, with its largest figures."""

    def __init__(self) -> None:
        self.by_id: dict[str, Usage] = {}

    def add(self, message: Any) -> bool:
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            return False
        key = text_of(message.get("id")) or f"#{len(self.by_id)}"
        new = usage_of(message["usage"])
        old = self.by_id.get(key)
        if old is not None:
            new = Usage(max(old.input_tokens, new.input_tokens),
                        max(old.output_tokens, new.output_tokens),
                        max(old.cached_tokens, new.cached_tokens))
            if new == old:
                return False
        self.by_id[key] = new
        return True

    def total(self) -> Usage:
        total = Usage()
        for usage in self.by_id.values():
            total = total + usage
        return total


class _Reader:
    """What a whole stream says (:meth:`ClaudeBackend.outcome`)."""

    def __init__(self) -> None:
        self.session_id = ""
        self.model = ""
        self.answer: str | None = None
        self.texts: list[str] = []
        self.results: list[dict[str, Any]] = []
        self.api_errors: list[dict[str, Any]] = []
        self.retries: list[dict[str, Any]] = []
        self.rate_limit: dict[str, Any] | None = None
        self.messages = _MessageUsage()

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if not self.session_id and isinstance(event.get("session_id"), str):
            self.session_id = event["session_id"]
        if kind == "system":
            if event.get("subtype") == "init":
                self.session_id = text_of(event.get("session_id")) or self.session_id
                self.model = text_of(event.get("model")) or self.model
            elif event.get("subtype") == "api_retry":
                self.retries.append(event)
        elif kind == "assistant":
            if is_api_error(event):
                self.api_errors.append(event)
                return
            message = event.get("message")
            self.texts.extend(_message_texts(message))
            self.messages.add(message)
            if not self.model and isinstance(message, dict):
                model = text_of(message.get("model"))
                self.model = model if model != SYNTHETIC_MODEL else ""
        elif kind == "rate_limit_event":
            info = event.get("rate_limit_info")
            if isinstance(info, dict) and info.get("status") == "rejected":
                self.rate_limit = info
        elif kind == "result":
            self.results.append(event)
            result = event.get("result")
            if self.answer is None and not _failed(event) and isinstance(result, str) \
                    and result.strip():
                self.answer = result
            if not self.model and isinstance(event.get("modelUsage"), dict):
                self.model = next((k for k in event["modelUsage"] if isinstance(k, str)), "")

    def usage(self) -> Usage:
        if self.results:
            return result_usage(self.results[-1], self.messages)
        return self.messages.total()

    def failure(self) -> Failure | None:
        failed = [event for event in self.results if _failed(event)]
        error = self.api_errors[-1] if self.api_errors else None
        if failed:
            return classify(failed[-1], error, self.retries[-1] if self.retries else None,
                            self.rate_limit)
        if error is not None:  # the stream ended before its result
            return classify(None, error, self.retries[-1] if self.retries else None,
                            self.rate_limit)
        return None


def _failed(result: dict[str, Any]) -> bool:
    return result.get("is_error") is True or result.get("subtype") not in (None, "success")


def result_message(result: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    """The agent's own words for a failed result: its ``result`` text, else its first
    ``errors`` entry, else the synthetic error message, else its subtype."""
    if result is not None:
        text = result.get("result")
        if isinstance(text, str) and text.strip():
            return one_line(text)
        errors = result.get("errors")
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, str) and item.strip():
                    return one_line(item)
    if error is not None:
        texts = _message_texts(error.get("message"))
        if texts:
            return one_line(" ".join(texts))
    subtype = text_of(result.get("subtype")) if result is not None else ""
    return f"claude failed ({subtype})" if subtype else "claude failed"


def classify(result: dict[str, Any] | None, error: dict[str, Any] | None,
             retry: dict[str, Any] | None, rate_limit: dict[str, Any] | None) -> Failure:
    """The failure a failed result (or a synthetic API error without a result) stands for."""
    message = result_message(result, error)
    subtype = text_of(result.get("subtype")) if result is not None else ""
    if subtype == "error_max_budget_usd":
        return Failure(BUDGET, message)
    if subtype == "error_max_turns":
        return Failure(AGENT, message)
    fields: dict[str, Any] = {}
    for source in (retry, error, result):  # later sources win
        if source is not None:
            fields.update({k: v for k, v in source.items() if v is not None})
    status = fields.get("api_error_status") or (retry or {}).get("error_status")
    status = number(status) or None
    codes = {text_of(fields.get(k)).lower() for k in ("error", "api_error", "api_error_type")}
    lower = message.lower()
    if ("not logged in" in lower or "/login" in lower or "invalid api key" in lower
            or "authentication_failed" in codes or "authentication_error" in codes
            or status in _AUTH_STATUSES or "oauth token" in lower
            or "credit balance" in lower):
        return Failure(AUTH, message)
    if (status == 429 or codes & {"rate_limit", "rate_limit_error", "usage_limit_reached"}
            or "rate limit" in lower or "usage limit" in lower or "hit your" in lower):
        return Failure(LIMIT, message, reset_time(message, error, rate_limit))
    if ("connection_failed" in codes or "econnrefused" in lower or "connection refused" in lower
            or "connection error" in lower or "enotfound" in lower or "etimedout" in lower
            or (status is None and retry is not None)):
        return Failure(NETWORK, message)
    return Failure(AGENT, message)


_RESET_EPOCH = re.compile(r"\|\s*(\d{10})\b")
_RESET_CLOCK = re.compile(
    r"resets\s+(?:(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2}),?\s+(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)"
    r"(?:\s*\((?P<tz>[^)]+)\))?", re.IGNORECASE)
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}


def reset_time(message: str, error: dict[str, Any] | None = None,
               rate_limit: dict[str, Any] | None = None, now: float | None = None) -> float | None:
    """When a limit resets (epoch seconds): the ``resetsAt`` claude reports in a
    ``rate_limit_event`` or the error's ``api_error_params``, else a time in the message
    (``… · resets 4:14pm (UTC)``, ``… resets Dec 3, 5pm (Europe/Berlin)``, or the older
    ``…|1765000000``), read relative to the error event's timestamp. None when unknown."""
    for info in (_params_info(error), rate_limit):
        if isinstance(info, dict):
            value = number(info.get("resetsAt"))
            if value > 1e11:  # milliseconds
                value = value // 1000
            if value > 0:
                return float(value)
    found = _RESET_EPOCH.search(message)
    if found:
        return float(found.group(1))
    clock = _RESET_CLOCK.search(message)
    if clock is None:
        return None
    if now is None:
        now = _event_time(error) or time.time()
    zone: Any = timezone.utc
    name = (clock.group("tz") or "").strip()
    if name and name.upper() not in ("UTC", "GMT", "Z"):
        try:
            from zoneinfo import ZoneInfo
            zone = ZoneInfo(name)
        except Exception:  # noqa: BLE001 - an unknown zone name: read the time as UTC
            zone = timezone.utc
    hour = int(clock.group("hour")) % 12 + (12 if clock.group("ampm").lower() == "pm" else 0)
    minute = int(clock.group("minute") or 0)
    base = datetime.fromtimestamp(now, zone)
    try:
        if clock.group("month"):
            month = _MONTHS.get(clock.group("month").lower())
            if month is None:
                return None
            at = base.replace(month=month, day=int(clock.group("day")), hour=hour, minute=minute,
                              second=0, microsecond=0)
            if at.timestamp() < now - 86400:
                at = at.replace(year=at.year + 1)
        else:
            at = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if at.timestamp() <= now:
                at = at + timedelta(days=1)
    except ValueError:
        return None
    return at.timestamp()


def _params_info(error: dict[str, Any] | None) -> Any:
    params = error.get("api_error_params") if isinstance(error, dict) else None
    return params.get("rate_limit_info") if isinstance(params, dict) else None


def _event_time(event: dict[str, Any] | None) -> float | None:
    stamp = text_of((event or {}).get("timestamp"))
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def format_usd(value: float) -> str:
    """A dollar amount for ``--max-budget-usd``: plain decimal, no exponent (0.5, 0.012345)."""
    text = f"{max(0.0, float(value)):.6f}".rstrip("0").rstrip(".")
    return text or "0"


# ---- live --------------------------------------------------------------------------------------

class ClaudeWatch(StreamWatch):
    """Session and model from ``init``, usage as the API messages arrive (each ``message.id``
    once), then the result's own totals and cost. ``api_retry`` events are not progress (a bad
    key or no network retries for minutes), and a retry on HTTP 401/403 ends the attempt at once:
    another try with the same credentials cannot succeed."""

    def __init__(self) -> None:
        super().__init__()
        self.messages = _MessageUsage()

    def feed(self, event: dict[str, Any]) -> Verdict:
        kind = event.get("type")
        if not self.session_id and isinstance(event.get("session_id"), str):
            self.session_id = event["session_id"]
        if kind == "system":
            subtype = event.get("subtype")
            if subtype == "init":
                self.session_id = text_of(event.get("session_id")) or self.session_id
                self.model = text_of(event.get("model")) or self.model
            elif subtype == "api_retry":
                status = number(event.get("error_status"))
                if status in _AUTH_STATUSES:
                    error = text_of(event.get("error")) or "authentication_failed"
                    return Verdict(progress=False, failure=Failure(AUTH, (
                        f"API Error: {status} {error} · the API refused the credentials "
                        "(claude would retry them unchanged)")))
                return Verdict(progress=False)
            return Verdict()
        if kind == "assistant":
            if is_api_error(event):
                return Verdict(progress=False)
            if self.messages.add(event.get("message")):
                self.usage = self._with_totals(self.messages.total())
            return Verdict()
        if kind == "result":
            self.usage = result_usage(event, self.messages)
            return Verdict()
        if kind == "rate_limit_event":
            return Verdict(progress=False)
        return Verdict()

    def _with_totals(self, usage: Usage) -> Usage:
        usage.cost_usd, usage.turns = self.usage.cost_usd, self.usage.turns
        return usage


# ---- display -----------------------------------------------------------------------------------

def _display_system(event: dict[str, Any]) -> list[DisplayLine]:
    subtype = event.get("subtype") or "event"
    if subtype == "init":
        parts = []
        if event.get("model"):
            parts.append(f"model {event['model']}")
        if event.get("cwd"):
            parts.append(f"cwd {event['cwd']}")
        if isinstance(event.get("tools"), list):
            parts.append(count(len(event["tools"]), "tool"))
        return _system("● session init" + (": " + ", ".join(parts) if parts else ""))
    if subtype == "api_retry":
        return _system(retry_line(event))
    if subtype == "thinking_tokens":
        return []  # the thinking block that follows is shown folded
    return _system(f"system {subtype}")


def retry_line(event: dict[str, Any]) -> str:
    """``retry 3/10 in 2.2s (401 authentication_failed)``; ``(no response)`` when the API
    was not reached."""
    attempt, most = number(event.get("attempt")), number(event.get("max_retries"))
    delay = number(event.get("retry_delay_ms")) / 1000
    status = number(event.get("error_status"))
    error = text_of(event.get("error"))
    reason = str(status) if status else "no response"
    if error and error != "unknown":
        reason += f" {error}"
    return f"retry {attempt}/{most} in {delay:.1f}s ({reason})"


def _display_blocks(message: Any) -> list[DisplayLine]:
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


def _display_user(message: Any) -> list[DisplayLine]:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return _system(f"▶ user: {_first_line(content)}")
    lines = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            label = "error" if block.get("is_error") else "ok"
            output = block.get("content")
            if isinstance(output, list):
                output = "\n".join(str(part.get("text", "")) for part in output
                                   if isinstance(part, dict))
            lines.append(_tool_output(label, output))
    return lines


def _display_result(event: dict[str, Any]) -> DisplayLine:
    failed = _failed(event)
    summary = _first_line(event.get("result"))
    if not summary and isinstance(event.get("errors"), list):
        summary = next((_first_line(e) for e in event["errors"] if isinstance(e, str) and e), "")
    summary = summary or str(event.get("subtype") or "")
    details = []
    cost = money(event.get("total_cost_usd"))
    if cost is not None:
        details.append(f"${cost:.4f}")
    turns = event.get("num_turns")
    if isinstance(turns, int) and not isinstance(turns, bool):
        details.append(f"{turns} turn" + ("" if turns == 1 else "s"))
    mark = FAIL_MARK if failed else OK_MARK
    tail = f" ({', '.join(details)})" if details else ""
    return DisplayLine("result", f"{mark} result: {cut(summary)}{tail}")


def _display_rate_limit(event: dict[str, Any]) -> list[DisplayLine]:
    info = event.get("rate_limit_info")
    if not isinstance(info, dict):
        return []
    status = text_of(info.get("status")) or "unknown"
    if status == "allowed":
        return []
    text = f"rate limit {status}"
    if info.get("rateLimitType"):
        text += f" ({info['rateLimitType']})"
    reset = number(info.get("resetsAt"))
    if 0 < reset < 1 << 40:
        text += ", resets " + datetime.fromtimestamp(reset, timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC")
    return _system(text)


BACKEND = ClaudeBackend()

__all__ = ["ClaudeBackend", "ClaudeWatch", "BACKEND", "DEFAULT_MAX_RETRIES", "classify",
           "reset_time", "retry_line", "usage_of", "is_api_error", "format_usd"]
