"""gemini (Google Gemini CLI, ``@google/gemini-cli``, verified with 0.61.0): stream-json output,
the prompt on stdin.

What gemini 0.61 does, as this backend relies on it (checked against the real program, see
tests/fixtures/real-cli-streams/ and docs/agents.md):

- Headless mode refuses to run in a folder the user never marked trusted (exit 55); ``--skip-trust``
  (or ``GEMINI_CLI_TRUST_WORKSPACE=true``) trusts the folder for this one session.
- The stream: ``init{session_id, model}``, ``message{role:"user"}`` (the prompt echoed),
  ``message{role:"assistant", content, delta:true}`` chunks that split words, ``tool_use``,
  ``tool_result``, ``error{severity, message}`` and one ``result{status, error?, stats}``. The
  result carries no text: the answer is the assistant text after the last tool call.
- An API error ends the run with ``result{status:"error", error{type, message}}`` and an exit code
  that is the HTTP status & 0xFF (400 -> 144, 429 -> 173). Errors before the session (no auth,
  untrusted folder, a bad ``--resume``) print nothing on stdout: the reason is on stderr and the
  exit code names it (41 auth, 42 input, 55 untrusted ...).
"""

from __future__ import annotations

import calendar
import json
import os
import re
import time
from typing import Any

from . import display as _display
from .backend import (AGENT, AUTH, CONFIG, LIMIT, NETWORK, NO_ANSWER, UNTRUSTED, Backend, Failure,
                      Launch, Outcome, StreamWatch, Usage, Verdict, iter_events, number,
                      one_line, read_text_tail, text_of)
from .display import DisplayLine
from .streams import GEMINI_REJECTION_SUMMARY, gemini_rejected_stream_json

# The stream's event types (gemini 0.61 JsonStreamEventType); anything else is not progress.
EVENT_TYPES = frozenset({"init", "message", "tool_use", "tool_result", "error", "result"})
TRUST_VAR = "GEMINI_CLI_TRUST_WORKSPACE"
API_KEY_AUTH = "gemini-api-key"
GATEWAY_AUTH = "gateway"  # what a base URL selects by default; headless mode refuses it

# gemini's own exit codes (packages/core ExitCodes) and what each means for the loop
EXIT_CODES: dict[int, tuple[str, str]] = {
    41: (AUTH, "no usable authentication"),
    42: (CONFIG, "bad input"),
    44: (CONFIG, "sandbox error"),
    52: (CONFIG, "configuration error"),
    53: (AGENT, "session turn limit reached"),
    54: (AGENT, "tool error"),
    55: (UNTRUSTED, "the folder is not trusted"),
    130: (AGENT, "cancelled"),
}
SIGNAL_EXITS = frozenset({137, 143})  # SIGKILL / SIGTERM through a shell: the runner's own stop

_ANSI = re.compile(r"(?:\x1b\[|\x9b)[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# stderr lines that never explain a failure: start-up chatter, retries, stack frames
_NOISE = ("Warning: 256-color", "YOLO mode is enabled", "Approval mode overridden",
          "Ripgrep is not available", "[STARTUP]", "[Routing]", "Attempt ", "(node:",
          "(Use `node", "Loaded cached credentials", "Data collection is disabled")
_AUTH_MARKS = ("api key not valid", "api_key_invalid", "invalid api key", "unauthenticated",
               "permission_denied", "permission denied", "invalid auth method",
               "please set an auth method", "must specify the gemini_api_key")
_LIMIT_MARKS = ("resource_exhausted", "resource has been exhausted", "quota", "rate limit",
                "too many requests")
_NETWORK_MARKS = ("fetch failed", "econnrefused", "enotfound", "etimedout", "econnreset",
                  "eai_again", "socket hang up", "network")
_RETRY_DELAY = re.compile(
    r'"?retryDelay"?\s*[:=]\s*"?(\d+(?:\.\d+)?)s|retry (?:after|in) (\d+(?:\.\d+)?)\s*s', re.I)


class GeminiBackend(Backend):
    type = "gemini"
    binary = "gemini"
    token_vars = ("GEMINI_API_KEY",)
    base_url_var = "GOOGLE_GEMINI_BASE_URL"
    json_stream = True
    version_probe = True        # `gemini --version` takes 5-16 s on a loaded machine: see
    version_timeout = 30.0      # version_timeout; a timeout only leaves the version empty
    install_hint = "npm install -g @google/gemini-cli"
    versions_verified = "0.61.0"

    # ---- starting ------------------------------------------------------------------------

    def base_argv(self, launch: Launch) -> list[str]:
        argv = [self.binary, "--screen-reader", "true", "--approval-mode", "yolo",
                "--output-format", "stream-json"]
        if _trusts(launch):
            argv.append("--skip-trust")
        model = self.model(launch)
        if model:
            argv += ["-m", model]
        if launch.resume:
            argv += ["--resume", launch.resume]
        return argv

    def environment(self, launch: Launch) -> dict[str, str]:
        env = super().environment(launch)
        if _trusts(launch):
            env[TRUST_VAR] = "true"
        # gemini relaunches itself in a second node process only to raise the heap limit;
        # this skips that start (about a second of CPU per attempt)
        env["GEMINI_CLI_NO_RELAUNCH"] = "true"
        return env

    def preflight(self, launch: Launch) -> list[Failure]:
        problems = super().preflight(launch)
        if problems:
            return problems
        configured = dict(getattr(launch.agent, "env", None) or {})
        base_url = (getattr(launch.agent, "base_url", "") or "").strip() or \
            (configured.get(self.base_url_var) or launch.environ.get(self.base_url_var) or "").strip()
        if base_url and not auth_type_selected(_settings_files(launch, configured)):
            name = getattr(launch.agent, "name", "") or self.type
            return [Failure(AUTH, (
                f'agent "{name}": with a base_url gemini picks "gateway" auth, which it refuses '
                f'headless (exit 41 "Invalid auth method selected."); select API-key auth in '
                f'~/.gemini/settings.json: {{"security":{{"auth":{{"selectedType":"{API_KEY_AUTH}"}}}}}}'))]
        return []

    # ---- reading -------------------------------------------------------------------------

    def watch(self) -> StreamWatch:
        return GeminiWatch()

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        seen = Transcript()
        for event in iter_events(stdout_path):
            seen.feed(event)
        answer = seen.answer()
        failure = None
        if seen.result is not None:
            if seen.result.get("status") == "error":
                failure = result_failure(seen.result, exit_code)
            elif seen.error:
                failure = Failure(AGENT, seen.error)
            elif not answer:
                failure = Failure(NO_ANSWER, "gemini finished without an answer")
        elif exit_code < 0 or exit_code in SIGNAL_EXITS:
            pass  # stopped from outside (timeout, operator): the runner names that
        elif exit_code != 0:
            if stderr_path and gemini_rejected_stream_json(stderr_path):
                failure = Failure(CONFIG, GEMINI_REJECTION_SUMMARY)
            else:
                stderr = read_text_tail(stderr_path) if stderr_path else ""
                failure = exit_failure(exit_code, stderr, seen.error)
        elif not answer and seen.events:
            failure = Failure(NO_ANSWER, seen.error or "gemini's stream ended without a result")
        return Outcome(answer=None if failure else answer, failure=failure, usage=seen.usage(),
                       session_id=seen.session_id, model=seen.model(),
                       resumable=seen.turns > 0)

    def describe_exit(self, exit_code: int) -> Failure | None:
        return describe_exit(exit_code)

    def display(self, event: dict[str, Any]) -> list[DisplayLine]:
        return display(event)


# ---- the stream -----------------------------------------------------------------------------

class Transcript:
    """What a gemini stream said so far: fed each event in order."""

    def __init__(self) -> None:
        self.events = 0
        self.session_id = ""
        self.init_model = ""
        self.result: dict[str, Any] | None = None
        self.error = ""          # the last error event of severity "error"
        self.turns = 0
        self._text: list[str] = []
        self._in_turn = False     # the model is talking (text or tool calls) since the last result

    def feed(self, event: dict[str, Any]) -> bool:
        """Take one event; True when it is one of gemini's own event types."""
        kind = event.get("type")
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            return False
        self.events += 1
        if kind == "init":
            self.session_id = text_of(event.get("session_id")) or self.session_id
            self.init_model = text_of(event.get("model")) or self.init_model
        elif kind == "message" and event.get("role") in ("assistant", "model"):
            self._start_turn()
            content = text_of(event.get("content"))
            if event.get("delta") is True:
                self._text.append(content)
            else:
                self._text = [content]
        elif kind == "tool_use":
            self._start_turn()
            self._text = []  # text before a tool call is commentary, not the answer
        elif kind == "tool_result":
            self._text = []
            self._in_turn = False  # the model's next words are a new turn
        elif kind == "error" and event.get("severity") != "warning":
            self.error = one_line(text_of(event.get("message"))) or self.error
        elif kind == "result":
            self.result = event
        return True

    def _start_turn(self) -> None:
        if not self._in_turn:
            self._in_turn = True
            self.turns += 1

    def answer(self) -> str | None:
        text = "".join(self._text).strip()
        return text or None

    def stats(self) -> dict[str, Any]:
        stats = (self.result or {}).get("stats")
        return stats if isinstance(stats, dict) else {}

    def usage(self) -> Usage:
        stats = self.stats()
        return Usage(input_tokens=number(stats.get("input_tokens")),
                     output_tokens=number(stats.get("output_tokens")),
                     cached_tokens=number(stats.get("cached")), cost_usd=None, turns=self.turns)

    def model(self) -> str:
        """The model that did the work: init's, unless that is the router's "auto", then the
        model of result.stats.models with the most tokens (the router's own small model
        counts a few)."""
        if self.init_model and self.init_model != "auto":
            return self.init_model
        models = self.stats().get("models")
        if isinstance(models, dict):
            used = [(number(v.get("total_tokens")), k) for k, v in models.items()
                    if isinstance(k, str) and isinstance(v, dict)]
            used = [pair for pair in used if pair[0] > 0]
            if used:
                return max(used)[1]
        return self.init_model


class GeminiWatch(StreamWatch):
    """The live reader: session and model from init, usage from the result; every gemini
    event is progress. Errors are left to the program (it ends the run itself) and to
    :meth:`GeminiBackend.outcome`."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = Transcript()
        self.error = ""

    def feed(self, event: dict[str, Any]) -> Verdict:
        real = self.seen.feed(event)
        self.session_id = self.seen.session_id
        self.model = self.seen.model()
        self.error = self.seen.error
        if event.get("type") == "result":
            self.usage = self.seen.usage()
        return Verdict(progress=real)


# ---- failures -------------------------------------------------------------------------------

def result_failure(result: dict[str, Any], exit_code: int) -> Failure:
    """The failure of a ``result{status:"error"}``, in gemini's words."""
    error = _display.as_dict(result.get("error"))
    raw = text_of(error.get("message")) or text_of(error.get("type")) or "gemini reported an error"
    message, code = api_message(raw)
    kind = classify(raw, code or http_status(exit_code))
    reset_at = None
    if kind == LIMIT:
        delay = retry_delay(raw)
        if delay is not None:
            reset_at = _epoch(text_of(result.get("timestamp"))) + delay
    return Failure(kind, message, reset_at)


def describe_exit(exit_code: int) -> Failure | None:
    """gemini's own exit codes and the HTTP-status ones, named (None for the others)."""
    named = EXIT_CODES.get(exit_code)
    if named is not None:
        return Failure(named[0], f"gemini: {named[1]} (exit {exit_code})")
    status = http_status(exit_code)
    if status:
        return Failure(_status_kind(status), f"gemini: HTTP {status} (exit {exit_code})")
    return None


def exit_failure(exit_code: int, stderr: str, stream_error: str = "") -> Failure:
    """A run that printed no result: the exit code names the kind, stderr gives the words."""
    named = describe_exit(exit_code)
    line = stream_error or stderr_reason(stderr)
    if "error resuming session" in stderr.lower():
        # the session to resume was never saved (gemini saves none when its first model request
        # fails, e.g. on a 429): not a bad input for ever; the next attempt starts fresh
        return Failure(AGENT, line or "gemini could not resume the session")
    if named is None:
        kind = classify(line, 0)
        return Failure(kind, line or f"gemini exited with status {exit_code}")
    return Failure(named.kind, line or named.message)


def api_message(raw: str) -> tuple[str, int]:
    """gemini's ``[API Error: ...]`` text as one readable line, and the HTTP code in it (0)."""
    text = raw.strip()
    inner, rest = text, ""
    if text.startswith("[API Error:"):
        end = text.rfind("]")
        inner, rest = text[len("[API Error:"):end if end > 0 else len(text)].strip(), \
            text[end + 1:] if end > 0 else ""
    payload = None
    if inner.startswith("{"):
        try:
            payload = json.loads(inner)
        except ValueError:
            payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        code = number(err.get("code"))
        status = text_of(err.get("status"))
        words = text_of(err.get("message")) or inner
        tag = " ".join(part for part in (f"HTTP {code}" if code else "", status) if part)
        return one_line(f"{words} ({tag})" if tag else words), code
    code_match = re.search(r'"code"\s*:\s*(\d{3})', inner)
    return one_line(f"{inner} {rest}" if rest.strip() else inner), \
        int(code_match.group(1)) if code_match else 0


def classify(text: str, status: int) -> str:
    low = text.lower()
    if status in (401, 403) or any(mark in low for mark in _AUTH_MARKS):
        return AUTH
    if status == 429 or any(mark in low for mark in _LIMIT_MARKS):
        return LIMIT
    if any(mark in low for mark in _NETWORK_MARKS):
        return NETWORK
    return AGENT


def retry_delay(text: str) -> float | None:
    """The seconds an API error asks to wait ("retryDelay": "30s", "retry after 30s")."""
    match = _RETRY_DELAY.search(text)
    if not match:
        return None
    return float(match.group(1) or match.group(2))


def http_status(exit_code: int) -> int:
    """gemini exits with an HTTP status & 0xFF: 144..255 are 400..511 (0 for other codes)."""
    return exit_code + 256 if 144 <= exit_code <= 255 else 0


def _status_kind(status: int) -> str:
    if status in (401, 403):
        return AUTH
    if status == 429:
        return LIMIT
    return AGENT


def stderr_reason(stderr: str) -> str:
    """The first line of gemini's stderr that says something: no colour codes, no start-up
    chatter, no retry log, no stack frames."""
    for raw in _ANSI.sub("", stderr).splitlines():
        if not raw.strip() or raw[:1].isspace():
            continue
        line = raw.strip()
        if line.startswith(_NOISE) or not any(ch.isalnum() for ch in line):
            continue
        return one_line(line)
    return ""


def _epoch(stamp: str) -> float:
    """An ISO-8601 UTC timestamp of the stream as epoch seconds (now when there is none)."""
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z", stamp.strip())
    if not match:
        return time.time()
    parts = [int(part) for part in match.groups()[:6]]
    return calendar.timegm((*parts, 0, 0, 0)) + float(match.group(7) or 0)


# ---- starting helpers ------------------------------------------------------------------------

def _trusts(launch: Launch) -> bool:
    return getattr(launch.agent, "trust_folder", True) is not False


def _settings_files(launch: Launch, configured: dict[str, str]) -> list[str]:
    """The settings files gemini merges (system defaults, user, workspace, system)."""
    def var(name: str) -> str:
        return (configured.get(name) or launch.environ.get(name) or "").strip()

    home = var("GEMINI_CLI_HOME") or var("HOME") or os.path.expanduser("~")
    files = [var("GEMINI_CLI_SYSTEM_DEFAULTS_PATH") or "/etc/gemini-cli/system-defaults.json",
             os.path.join(home, ".gemini", "settings.json")]
    if launch.cwd:
        files.append(os.path.join(launch.cwd, ".gemini", "settings.json"))
    files.append(var("GEMINI_CLI_SYSTEM_SETTINGS_PATH") or "/etc/gemini-cli/settings.json")
    return files


def auth_type_selected(paths: list[str]) -> bool:
    """True when one of the settings files selects an auth type other than "gateway"
    (``security.auth.selectedType``), or one of them cannot be read as JSON (then we cannot
    tell and do not object)."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(1 << 20)
        except OSError:
            continue
        try:
            settings = json.loads(_strip_comments(text))
        except ValueError:
            return True
        if not isinstance(settings, dict):
            continue
        security = _display.as_dict(settings.get("security"))
        auth = _display.as_dict(security.get("auth"))
        selected = text_of(auth.get("selectedType")) or text_of(settings.get("selectedAuthType"))
        if selected and selected != GATEWAY_AUTH:
            return True
    return False


def _strip_comments(text: str) -> str:
    """JSON with // line comments (gemini accepts them in settings.json) as plain JSON."""
    out, in_string, escaped, i = [], False, False, 0
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            escaped = ch == "\\" and not escaped
            if ch == '"' and not escaped:
                in_string = False
        elif ch == '"':
            in_string, escaped = True, False
            out.append(ch)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# ---- display --------------------------------------------------------------------------------

def display(event: dict[str, Any]) -> list[DisplayLine]:
    """Readable lines for one gemini event. Streamed assistant chunks (``delta:true``) come as
    ``join=True`` text lines: the view appends such a line to the previous text row; a newline
    inside a chunk starts a new row."""
    kind = event.get("type")
    if kind == "init":
        model = text_of(event.get("model"))
        return _display._system("● session init" + (f": model {model}" if model else ""))
    if kind == "message":
        if event.get("role") not in ("assistant", "model"):
            return []  # the prompt, echoed
        return _text_chunk(text_of(event.get("content")), event.get("delta") is True)
    if kind == "tool_use":
        return [_display._tool(event.get("tool_name"), event.get("parameters"))]
    if kind == "tool_result":
        output = event.get("output")
        if output in (None, "") and isinstance(event.get("error"), dict):
            output = event["error"].get("message")
        return [_display._tool_output(text_of(event.get("status")) or "done", output)]
    if kind == "error":
        label = "warning" if event.get("severity") == "warning" else "error"
        return _display._system(f"{label}: {text_of(event.get('message'))}")
    if kind == "result":
        return [_result_line(event)]
    return []


def _text_chunk(text: str, delta: bool) -> list[DisplayLine]:
    if not delta:
        text = text.strip("\n")
    if not text:
        return []
    parts = text.split("\n")
    lines = [DisplayLine("text", parts[0], join=delta)] if parts[0] or not delta else []
    return lines + [DisplayLine("text", part) for part in parts[1:]]


def _result_line(event: dict[str, Any]) -> DisplayLine:
    stats = _display.as_dict(event.get("stats"))
    details = []
    if number(stats.get("total_tokens")):
        details.append(_display._count(number(stats["total_tokens"]), "token"))
    if number(stats.get("tool_calls")):
        details.append(_display._count(number(stats["tool_calls"]), "tool call"))
    if number(stats.get("duration_ms")):
        details.append(f"{number(stats['duration_ms']) / 1000:.1f}s")
    tail = f" ({', '.join(details)})" if details else ""
    if event.get("status") == "error":
        error = _display.as_dict(event.get("error"))
        message, _code = api_message(text_of(error.get("message")) or "error")
        return DisplayLine("result", f"{_display.FAIL_MARK} result: error: "
                           f"{_display.cut(message)}{tail}")
    status = text_of(event.get("status")) or "done"
    mark = _display.OK_MARK if status == "success" else _display.FAIL_MARK
    return DisplayLine("result", f"{mark} result: {_display.cut(status)}{tail}")


BACKEND = GeminiBackend()
