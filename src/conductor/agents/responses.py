"""What the REST agents (perplexity, xai) print, and how it is read: Responses-style events.

Both vendors stream "Responses" events today: perplexity's Agent API (``POST /v1/agent``) and
xAI's Responses API (``POST /v1/responses``). The child process (``python -m conductor.agents
<type>``, :mod:`conductor.agents.rest`) writes every event it receives to its stdout as one
compact JSON object per line, notes and errors to stderr, and exits with one of the codes
below. This module reads that: :class:`ResponseState` folds the events into the answer,
its sources, usage, the response id and model; :class:`ResponsesBackend` is the backend both
REST types share (``outcome``, ``watch``, ``display``, ``preflight``).

Light on purpose: the runner and the console import it; http.client and ssl are imported
only by the child (:mod:`conductor.agents.rest`).
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from typing import Any

from .backend import (AGENT, AUTH, CONFIG, LIMIT, NETWORK, NO_ANSWER, Backend, Failure, Launch,
                      Outcome, StreamWatch, Usage, Verdict, iter_events, last_lines, money,
                      number, read_text_tail, text_of)
from .display import FAIL_MARK, OK_MARK, DisplayLine, _system, _tool, _tool_output, cut
from ..words import count

# ---- the child's exit codes ----------------------------------------------------------------
EXIT_OK = 0          # the response completed with an answer
EXIT_FAILED = 1      # the API reported the response failed (response.failed, an error event)
EXIT_CONFIG = 2      # a request the API refuses as such (400, 404, 422) or bad arguments
EXIT_NO_ANSWER = 3   # the stream ended without a completed response, or with an empty one
EXIT_AUTH = 4        # no token, or HTTP 401/402/403
EXIT_LIMIT = 5       # HTTP 429 that does not clear within a short wait
EXIT_NETWORK = 6     # the API could not be reached, or the stream broke or went idle
EXIT_KINDS: dict[int, str] = {
    EXIT_FAILED: AGENT, EXIT_CONFIG: CONFIG, EXIT_NO_ANSWER: NO_ANSWER, EXIT_AUTH: AUTH,
    EXIT_LIMIT: LIMIT, EXIT_NETWORK: NETWORK,
}
ERROR_PREFIX = "Error: "     # the child's last stderr line when it fails
RESET_WORDS = "resets at "   # "... (rate limit resets at 2026-11-30T15:40:00Z)"
_RESET_RE = re.compile(r"resets at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")
TICKS_PER_USD = 10_000_000_000  # xAI's usage.cost_in_usd_ticks

TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})


def format_reset(epoch: float) -> str:
    """The reset time as the child prints it (UTC, seconds)."""
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_reset(text: str) -> float | None:
    found = _RESET_RE.search(text or "")
    if not found:
        return None
    when = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return when.timestamp()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def error_words(value: Any) -> str:
    """The API's own words from an error object (``{"message", "code", "type"}``) or string."""
    if isinstance(value, str):
        return cut(value, 500)
    error = _dict(value)
    message = text_of(error.get("message")).strip()
    code = error.get("code")
    code = code if isinstance(code, str) and code.strip() else error.get("type")
    code = code.strip() if isinstance(code, str) else ""
    if message and code and code not in message:
        return cut(f"{message} ({code})", 500)
    return cut(message or code, 500)


def usage_of(usage: Any) -> Usage:
    """Tokens and cost from a Responses ``usage`` object: perplexity reports
    ``cost.total_cost`` (USD) and ``input_tokens_details.cache_read_input_tokens``; xAI reports
    ``cost_in_usd_ticks`` (1e-10 USD) and ``input_tokens_details.cached_tokens``."""
    usage = _dict(usage)
    details = _dict(usage.get("input_tokens_details") or usage.get("prompt_tokens_details"))
    cost = None
    reported = usage.get("cost")
    if isinstance(reported, dict):
        if reported.get("currency") in (None, "USD", "usd"):
            cost = money(reported.get("total_cost"))
    else:
        cost = money(reported)
    ticks = usage.get("cost_in_usd_ticks")
    if cost is None and isinstance(ticks, (int, float)) and not isinstance(ticks, bool):
        cost = money(ticks / TICKS_PER_USD)
    return Usage(
        input_tokens=number(usage.get("input_tokens")) or number(usage.get("prompt_tokens")),
        output_tokens=number(usage.get("output_tokens")) or number(usage.get("completion_tokens")),
        cached_tokens=number(details.get("cached_tokens")) or number(details.get("cache_read_input_tokens")),
        cost_usd=cost)


class ResponseState:
    """Everything one Responses event stream says, fed one event at a time."""

    def __init__(self) -> None:
        self.response_id = ""
        self.model = ""
        self.usage = Usage()
        self.status = ""          # "completed", "failed", "incomplete", "error" once terminal
        self.reason = ""          # the API's words for failed / incomplete / error
        self._streamed: dict[str, str] = {}   # message item -> its text so far
        self._final: list[str] | None = None  # message texts of the completed response
        self._results: list[tuple[Any, str]] = []  # search results (id, url), in order
        self._cited: list[str] = []               # url_citation annotations, in order

    # ---- feeding ---------------------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if not isinstance(kind, str):
            return
        response = _dict(event.get("response"))
        if response:
            self._response(response)
        if kind == "response.output_text.delta":
            key = self._key(event)
            self._streamed[key] = self._streamed.get(key, "") + text_of(event.get("delta"))
        elif kind == "response.output_text.done" and isinstance(event.get("text"), str):
            self._streamed[self._key(event)] = event["text"]
        elif kind == "response.output_item.done":
            self._item(_dict(event.get("item")), self._key(event))
        elif kind == "response.reasoning.search_results":
            self._search_results(event.get("results"))
            if isinstance(event.get("usage"), dict):
                self.usage = usage_of(event["usage"])
        elif kind == "response.completed":
            self.status = "completed"
            self._final = [text for text in (self._item(_dict(item), f"#final{n}")
                                              for n, item in enumerate(_list(response.get("output"))))
                           if text is not None]
        elif kind == "response.failed":
            self.status = "failed"
            self.reason = error_words(event.get("error") or response.get("error")) or \
                "the response failed"
        elif kind == "response.incomplete":
            self.status = "incomplete"
            why = _dict(response.get("incomplete_details")).get("reason")
            self.reason = f"the response is incomplete: {why}" if isinstance(why, str) and why \
                else "the response is incomplete"
        elif kind == "error":
            self.status = "error"
            self.reason = error_words(event.get("error") or event) or "the API reported an error"

    @staticmethod
    def _key(event: dict[str, Any]) -> str:
        item = event.get("item_id") or _dict(event.get("item")).get("id")
        if isinstance(item, str) and item:
            return item
        return f"#{number(event.get('output_index'))}"

    def _response(self, response: dict[str, Any]) -> None:
        if isinstance(response.get("id"), str) and response["id"]:
            self.response_id = response["id"]
        if isinstance(response.get("model"), str) and response["model"]:
            self.model = response["model"]
        if isinstance(response.get("usage"), dict):
            self.usage = usage_of(response["usage"])

    def _item(self, item: dict[str, Any], key: str) -> str | None:
        """Collect what an output item holds; the text of a message item (else None)."""
        kind = item.get("type")
        if kind == "search_results":
            self._search_results(item.get("results"))
            return None
        if kind != "message":
            return None
        parts = []
        for part in _list(item.get("content")):
            part = _dict(part)
            if part.get("type") not in ("output_text", "text", None):
                continue
            parts.append(text_of(part.get("text")))
            for note in _list(part.get("annotations")):
                note = _dict(note)
                if note.get("type") in ("url_citation", None):
                    _add(self._cited, note.get("url"))
        text = "".join(parts)
        if not key.startswith("#final"):
            self._streamed[key] = text
        return text

    def _search_results(self, results: Any) -> None:
        known = {url for _, url in self._results}
        for result in _list(results):
            result = _dict(result)
            url = text_of(result.get("url")).strip()
            if url and url not in known:
                known.add(url)
                self._results.append((result.get("id"), url))

    # ---- reading ---------------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    def text(self) -> str:
        """The answer's text: the completed response's messages, else what was streamed."""
        texts = self._final if self._final else list(self._streamed.values())
        return "\n\n".join(text.strip("\n") for text in texts if text.strip())

    def answer(self) -> str | None:
        """output.md: the text and its sources, when the response completed with text."""
        text = self.text()
        if not self.completed or not text.strip():
            return None
        return text + self.sources()

    def source_list(self) -> list[tuple[int, str]]:
        """(number, url): search results keep their ``id`` (the text's ``[n]`` markers refer
        to it); cited URLs that are no search result follow."""
        numbered: dict[str, int] = {}
        used: set[int] = set()
        for ident, url in self._results:
            if isinstance(ident, int) and not isinstance(ident, bool) and 0 < ident < 10 ** 6 \
                    and ident not in used:
                numbered[url] = ident
                used.add(ident)
        for url in [url for _, url in self._results] + self._cited:
            if url not in numbered:
                number_ = max(used, default=0) + 1
                numbered[url] = number_
                used.add(number_)
        return sorted(((n, url) for url, n in numbered.items()))

    def sources(self) -> str:
        found = self.source_list()
        if not found:
            return ""
        return "\n\nSources:\n" + "".join(f"[{n}] {url}\n" for n, url in found)

    def problem(self) -> tuple[int, str] | None:
        """(exit code, message) when the stream holds no answer; None when it does."""
        if self.status in ("failed", "error"):
            return EXIT_FAILED, f"response failed: {self.reason}"
        if self.status == "incomplete":
            return EXIT_NO_ANSWER, self.reason
        if not self.completed:
            return EXIT_NO_ANSWER, "the stream ended without a completed response"
        if not self.text().strip():
            return EXIT_NO_ANSWER, "the response completed without any text"
        return None


def _add(target: list[str], value: Any) -> None:
    if isinstance(value, str) and value.strip() and value.strip() not in target:
        target.append(value.strip())


def read_state(stdout_path: str) -> ResponseState:
    state = ResponseState()
    for event in iter_events(stdout_path):
        state.feed(event)
    return state


def child_error(stderr_path: str) -> str:
    """The child's last ``Error: ...`` line, without the prefix ("" when there is none)."""
    if not stderr_path:
        return ""
    for line in reversed(last_lines(read_text_tail(stderr_path, 16 * 1024), 20)):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX):].strip()
    return ""


class ResponsesWatch(StreamWatch):
    """Live: every event the API sent is progress; usage, id and model as they arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.state = ResponseState()

    def feed(self, event: dict[str, Any]) -> Verdict:
        self.state.feed(event)
        self.usage = self.state.usage
        self.session_id = self.state.response_id
        self.model = self.state.model
        return Verdict()


class ResponsesBackend(Backend):
    """A REST agent run as ``python -m conductor.agents <type>`` (its own process, its own
    group). The token reaches it only through its environment variable, never argv. Resume is
    not supported: each attempt is one fresh request; the session id recorded is the
    response id, for reference."""

    json_stream = True
    token_config_hint = 'the agent\'s "token" or "token_file" in the config'

    def base_argv(self, launch: Launch) -> list[str]:
        argv = [sys.executable, "-m", "conductor.agents", self.type]
        if (getattr(launch.agent, "base_url", "") or "").strip():
            argv += ["--base-url", launch.agent.base_url.strip()]
        if (getattr(launch.agent, "model", "") or "").strip():
            argv += ["--model", launch.agent.model.strip()]
        return argv

    def environment(self, launch: Launch) -> dict[str, str]:
        return {}

    def preflight(self, launch: Launch) -> list[Failure]:
        problems = super().preflight(launch)
        if problems:
            return problems
        if not self.has_token(launch):
            name = getattr(launch.agent, "name", "") or self.type
            return [Failure(AUTH, f'agent "{name}": no API token: set {self.token_vars[0]} or '
                                  f'{self.token_config_hint}')]
        return []

    def watch(self) -> StreamWatch | None:
        return ResponsesWatch()

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        state = read_state(stdout_path)
        result = Outcome(usage=state.usage, session_id=state.response_id, model=state.model)
        if state.completed and not state.usage:
            result.usage = Usage(turns=1)
        elif state.completed:
            result.usage.turns = 1
        answer = state.answer()
        if exit_code == 0 and answer is not None:
            result.answer = answer
            return result
        if exit_code < 0:
            return result  # killed (idle timeout, a stop): the runner says why
        result.failure = self.failure(exit_code, child_error(stderr_path), state)
        return result

    def failure(self, exit_code: int, said: str, state: ResponseState) -> Failure:
        problem = state.problem() or (EXIT_NO_ANSWER, "the response held no answer")
        kind = EXIT_KINDS.get(exit_code)
        if kind is None:
            kind = _kind_of(said) or EXIT_KINDS[problem[0]]
        message = said or problem[1]
        return Failure(kind, message, parse_reset(said) if kind == LIMIT else None)

    def describe_exit(self, exit_code: int) -> Failure | None:
        kind = EXIT_KINDS.get(exit_code)
        return Failure(kind, f"{self.type} exited with code {exit_code}") if kind else None

    def display(self, event: dict[str, Any]) -> list[DisplayLine]:
        return display_event(event)


def _kind_of(said: str) -> str | None:
    found = re.match(r"HTTP (\d{3})\b", said or "")
    if not found:
        return None
    status = int(found.group(1))
    if status in (401, 402, 403):
        return AUTH
    if status == 429:
        return LIMIT
    return NETWORK if status >= 500 else CONFIG


# ---- the console -------------------------------------------------------------------------------

def display_event(event: dict[str, Any]) -> list[DisplayLine]:
    kind = event.get("type")
    if not isinstance(kind, str):
        return []
    response = _dict(event.get("response"))
    if kind == "response.created":
        model = text_of(response.get("model"))
        return _system("● response started" + (f": model {model}" if model else ""))
    if kind == "response.output_text.delta":
        return _delta_lines(text_of(event.get("delta")))
    if kind in ("response.reasoning.started", "response.reasoning.stopped"):
        thought = text_of(event.get("thought"))  # a short public note ("Searching the web")
        return [DisplayLine("thinking", cut(f"… {thought}"))] if thought.strip() else []
    if kind == "response.reasoning.search_queries":
        return [_tool("search", "; ".join(q for q in _list(event.get("queries")) if isinstance(q, str)))]
    if kind == "response.reasoning.search_results":
        return [_results_line(event.get("results"), "result")]
    if kind == "response.reasoning.fetch_url_queries":
        return [_tool("fetch_url", [u for u in _list(event.get("urls")) if isinstance(u, str)])]
    if kind == "response.reasoning.fetch_url_results":
        return [_results_line(event.get("contents"), "page")]
    if kind == "response.output_item.added":
        return _tool_item(_dict(event.get("item")))
    if kind == "response.completed":
        return _completed_lines(response)
    if kind == "response.failed":
        words = error_words(event.get("error") or response.get("error")) or "failed"
        return [DisplayLine("result", cut(f"{FAIL_MARK} response failed: {words}"))]
    if kind == "response.incomplete":
        why = text_of(_dict(response.get("incomplete_details")).get("reason"))
        return [DisplayLine("result", cut(f"{FAIL_MARK} response incomplete: {why}".rstrip(": ")))]
    if kind == "error":
        return _system(f"error: {error_words(event.get('error') or event)}")
    if kind.startswith("response."):
        return []  # in_progress, content parts, done events: nothing new to show
    return _system(kind)


def _delta_lines(delta: str) -> list[DisplayLine]:
    """A text chunk continues the current text row; each newline in it starts a new row."""
    pieces = delta.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [DisplayLine("text", pieces[0], join=True)] if pieces[0] else []
    lines.extend(DisplayLine("text", piece) for piece in pieces[1:])
    return lines


def _results_line(results: Any, noun: str) -> DisplayLine:
    urls = [text_of(_dict(r).get("url")) for r in _list(results)]
    urls = [url for url in urls if url]
    label = f"{len(_list(results))} {noun}" + ("" if len(_list(results)) == 1 else "s")
    return _tool_output(label, ", ".join(urls))


def _tool_item(item: dict[str, Any]) -> list[DisplayLine]:
    kind = text_of(item.get("type"))
    if kind in ("", "message", "reasoning", "search_results", "fetch_url_results"):
        return []
    if kind == "function_call":
        return [_tool(item.get("name") or "function", item.get("arguments"))]
    if kind == "mcp_call":
        return [_tool(f"{item.get('server_label') or 'mcp'}.{item.get('name') or ''}",
                      item.get("arguments"))]
    action = _dict(item.get("action"))
    return [_tool(kind.removesuffix("_call"), action.get("query") or action.get("url") or "")]


def _completed_lines(response: dict[str, Any]) -> list[DisplayLine]:
    state = ResponseState()
    state.feed({"type": "response.completed", "response": response})
    usage = state.usage
    details = [text_of(response.get("model"))] if text_of(response.get("model")) else []
    if usage.input_tokens or usage.output_tokens:
        tokens = f"in {usage.input_tokens}"
        if usage.cached_tokens:
            tokens += f", cached {usage.cached_tokens}"
        details.append(f"{tokens}, out {count(usage.output_tokens, 'token')}")
    if usage.cost_usd is not None:
        details.append(f"${usage.cost_usd:.4f}")
    lines = []
    cited = state.source_list()
    if cited:
        lines.append(_tool_output(f"{len(cited)} source" + ("" if len(cited) == 1 else "s"),
                                  ", ".join(url for _, url in cited)))
    tail = f" ({', '.join(details)})" if details else ""
    if state.text().strip():
        lines.append(DisplayLine("result", cut(f"{OK_MARK} response completed{tail}")))
    else:
        lines.append(DisplayLine("result", cut(f"{FAIL_MARK} response completed without text{tail}")))
    return lines


__all__ = [
    "EXIT_OK", "EXIT_FAILED", "EXIT_CONFIG", "EXIT_NO_ANSWER", "EXIT_AUTH", "EXIT_LIMIT",
    "EXIT_NETWORK", "EXIT_KINDS", "ERROR_PREFIX", "TERMINAL", "ResponseState", "ResponsesBackend",
    "ResponsesWatch", "display_event", "usage_of", "error_words", "format_reset", "parse_reset",
]
