"""The REST agents' own process: ``python -m conductor.agents perplexity|xai``.

One streamed request per attempt, the prompt read from stdin and the token from the agent's
environment variable (``PERPLEXITY_API_KEY`` / ``XAI_API_KEY``: never on a command line).

- perplexity: its Agent API, ``POST https://api.perplexity.ai/v1/agent`` (the Sonar chat
  completions API was retired on 2026-09-27);
- xai: its Responses API, ``POST https://api.x.ai/v1/responses`` (chat completions is legacy).

What it prints, so REST runs read like the CLI agents (:mod:`conductor.agents.responses`):
stdout holds every event of the stream, one compact JSON object per line and nothing else;
stderr holds retry notes and, on failure, a last line ``Error: <the API's words>``; the exit
code says what happened (``EXIT_*``). Kept from the old client: an idle timeout between
chunks and no total timeout; 5xx and transport errors are retried before the stream starts;
Retry-After is honoured. A 429 is waited out here only when it clears within
:data:`SHORT_LIMIT` seconds; a longer one ends the process with the reset time, so the
supervisor waits without counting an attempt.
"""

from __future__ import annotations

import argparse
import email.utils
import http.client
import json
import os
import random
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from conductor.agents.backend import one_line
from conductor.agents.display import cut
from conductor.agents.perplexity import PERPLEXITY_MODEL, PERPLEXITY_URL
from conductor.agents.responses import (ERROR_PREFIX, EXIT_AUTH, EXIT_CONFIG, EXIT_FAILED,
                                        EXIT_LIMIT, EXIT_NETWORK, EXIT_OK, RESET_WORDS,
                                        TERMINAL, ResponseState, error_words, format_reset)
from conductor.agents.sse import iter_sse_events
from conductor.agents.xai import XAI_BASE_URL, XAI_BASE_URL_VARS, XAI_MODEL, XAI_MODEL_VAR
from conductor.timefmt import format_duration

IDLE_TIMEOUT = 60.0      # the longest wait for the next bytes of a stream
CONNECT_TIMEOUT = 10.0
HEADER_TIMEOUT = 120.0   # until the response headers (a search-first model may think a while)
MAX_ATTEMPTS = 5
MAX_BACKOFF = 30.0
SHORT_LIMIT = 30.0       # a rate limit that resets within this many seconds is waited out here
ERROR_BODY_LIMIT = 16 * 1024
TOKEN_VARS = {"perplexity": "PERPLEXITY_API_KEY", "xai": "XAI_API_KEY"}

Sleep = Callable[[float], None]


class Exit(Exception):
    """Ends the request with an exit code and one line for stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- settings -----------------------------------------------------------------------------------

def resolve_token(agent_type: str, env: Mapping[str, str] | None = None) -> str:
    """The API token from the agent's variable (the runner puts a configured token there)."""
    env = os.environ if env is None else env
    return (env.get(TOKEN_VARS.get(agent_type, "")) or "").strip()


def _first_env(names: Iterable[str], env: Mapping[str, str]) -> str:
    for name in names:
        value = (env.get(name) or "").strip()
        if value:
            return value
    return ""


def xai_settings(configured_base_url: str | None, configured_model: str | None,
                 env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(base_url, model) for xai: the environment's overrides, then the config, then the
    defaults (as upstream)."""
    env = os.environ if env is None else env
    base = _first_env(XAI_BASE_URL_VARS, env) or (configured_base_url or "").strip() or XAI_BASE_URL
    model = _first_env((XAI_MODEL_VAR,), env) or (configured_model or "").strip() or XAI_MODEL
    return base, model


def _endpoint(base_url: str, keep: tuple[str, ...], leaf: str) -> str:
    """``base_url`` as the endpoint: a path already ending in one of ``keep`` is used as is;
    a legacy ``/chat/completions`` ending is dropped; ``.../v1`` gets ``/<leaf>``; anything
    else gets ``/v1/<leaf>``."""
    parts = urlsplit(base_url.strip())
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")]
    if not path.endswith(keep):
        path += f"/{leaf}" if path.endswith("/v1") else f"/v1/{leaf}"
    return parts._replace(path=path).geturl()


def perplexity_endpoint(base_url: str | None) -> str:
    """``https://api.perplexity.ai`` -> ``.../v1/agent``; ``.../v1/responses`` is kept."""
    if not (base_url or "").strip():
        return PERPLEXITY_URL
    return _endpoint(base_url or "", ("/v1/agent", "/v1/responses"), "agent")


def xai_endpoint(base_url: str | None) -> str:
    """``https://api.x.ai`` or ``.../v1`` -> ``.../v1/responses``."""
    return _endpoint((base_url or "").strip() or XAI_BASE_URL, ("/v1/responses",), "responses")


def request_body(model: str, prompt: str) -> bytes:
    body = {"model": model, "input": prompt, "stream": True}
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


# --- HTTP ---------------------------------------------------------------------------------------

@dataclass
class Request:
    """One streamed POST and the policy around it; ``name`` starts every note."""

    name: str
    url: str
    token: str
    model: str
    prompt: str
    idle_timeout: float = IDLE_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    header_timeout: float = HEADER_TIMEOUT
    max_attempts: int = MAX_ATTEMPTS
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time


@dataclass
class _Response:
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    sock: socket.socket


def _connect(req: Request) -> _Response:
    parts = urlsplit(req.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Exit(EXIT_CONFIG, f"invalid API url {req.url!r}")
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = factory(parts.hostname, parts.port, timeout=req.connect_timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Authorization": f"Bearer {req.token}", "Content-Type": "application/json",
               "Accept": "text/event-stream", "User-Agent": f"conductor-loop/{req.name}"}
    try:
        conn.request("POST", target, body=request_body(req.model, req.prompt), headers=headers)
        sock = conn.sock
        sock.settimeout(req.header_timeout)
        return _Response(conn, conn.getresponse(), sock)
    except BaseException:
        conn.close()
        raise


def _post(req: Request, log: IO[bytes]) -> _Response:
    """POST until a 200 arrives. 5xx and transport errors are retried with backoff; a 429 is
    retried only while its reset is near; 401/402/403 and other 4xx end at once."""
    attempts = max(1, req.max_attempts)
    for attempt in range(attempts):
        last = attempt + 1 >= attempts
        try:
            got = _connect(req)
        except (OSError, http.client.HTTPException) as exc:
            if last:
                raise Exit(EXIT_NETWORK, f"could not reach {_host(req.url)}: {_describe(exc)} "
                                         f"({attempts} attempts)") from None
            _wait(req, log, _backoff(req, attempt), f"after error: {_describe(exc)}")
            continue
        status = got.resp.status
        if status == 200:
            return got
        headers = got.resp.headers
        words = f"HTTP {status}: {_error_body(got)}".rstrip(": ")
        if status in (401, 402, 403):
            raise Exit(EXIT_AUTH, words)
        if status == 429:
            delay = limit_delay(headers, req.clock())
            if delay is not None and (delay > SHORT_LIMIT or last):
                reset = format_reset(req.clock() + delay)
                raise Exit(EXIT_LIMIT, f"{words} (rate limit {RESET_WORDS}{reset})")
            if last:
                raise Exit(EXIT_LIMIT, f"{words} (rate limited; {attempts} attempts)")
            _wait(req, log, _backoff(req, attempt) if delay is None else delay,
                  f"after status {status}")
            continue
        if status >= 500:
            if last:
                raise Exit(EXIT_NETWORK, f"{words} ({attempts} attempts)")
            delay = retry_after(headers.get("Retry-After"), req.clock())
            _wait(req, log, min(SHORT_LIMIT, _backoff(req, attempt) if delay is None else delay),
                  f"after status {status}")
            continue
        raise Exit(EXIT_CONFIG if status in (400, 404, 405, 410, 413, 422) else EXIT_FAILED, words)
    raise AssertionError("unreachable")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return str(exc) or type(exc).__name__


def _error_body(got: _Response) -> str:
    """The API's words from an error reply: ``error.message`` of a JSON body, else the text."""
    try:
        data = got.resp.read(ERROR_BODY_LIMIT)
    except (OSError, http.client.HTTPException):
        data = b""
    finally:
        got.conn.close()
    text = data.decode("utf-8", "replace").strip()
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return cut(text, 500)
    if isinstance(document, dict):
        words = error_words(document.get("error") or document.get("detail") or document)
        if words:
            return words
    return cut(text, 500)


def _backoff(req: Request, attempt: int) -> float:
    base = min(float(1 << min(attempt, 16)), MAX_BACKOFF)
    return min(base + req.rng.random() * base / 2, MAX_BACKOFF)


def _wait(req: Request, log: IO[bytes], delay: float, reason: str) -> None:
    _note(log, f"{req.name} retry in {format_duration(delay)} {reason}")
    req.sleep(delay)


def _note(stream: IO[bytes], text: str) -> None:
    stream.write(text.encode("utf-8", "replace") + b"\n")
    stream.flush()


# --- rate limits --------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
        return seconds if 0 <= seconds < 1e9 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def reset_seconds(value: str | None, now: float) -> float | None:
    """An ``x-ratelimit-reset-*`` value as seconds from now: seconds (``12``, ``1.5``), an
    epoch time (seconds or milliseconds), a duration (``6m0s``, ``250ms``, ``1h2m``) or an
    HTTP date."""
    text = (value or "").strip().lower()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number > 1e12:
            return max(0.0, number / 1000 - now)
        if number > 1e9:
            return max(0.0, number - now)
        return number if number >= 0 else None
    parts = _DURATION_RE.findall(text)
    if parts and "".join(amount + unit for amount, unit in parts) == text.replace(" ", ""):
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(amount) * scale[unit] for amount, unit in parts)
    return retry_after(value, now)


def limit_delay(headers: Any, now: float) -> float | None:
    """How long a 429 says to wait: ``Retry-After`` (or ``retry-after-ms``), else the reset of
    the exhausted ``x-ratelimit-*`` limit (the longest reset when none says it is exhausted)."""
    def get(name: str) -> str | None:
        value = headers.get(name) if headers is not None else None
        return value if isinstance(value, str) else None

    delay = retry_after(get("Retry-After"), now)
    if delay is not None:
        return delay
    millis = get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    resets: list[tuple[bool, float]] = []
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset"):
        seconds = reset_seconds(get(name), now)
        if seconds is None:
            continue
        remaining = get(name.replace("-reset", "-remaining"))
        resets.append(((remaining or "").strip() == "0", seconds))
    exhausted = [seconds for spent, seconds in resets if spent]
    chosen = exhausted or [seconds for _, seconds in resets]
    return max(chosen) if chosen else None


# --- the stream ---------------------------------------------------------------------------------

def _lines(req: Request, got: _Response) -> Iterator[bytes]:
    """Response lines; each read waits at most the idle timeout."""
    while True:
        try:
            got.sock.settimeout(req.idle_timeout)
            line = got.resp.readline()
        except TimeoutError:
            raise Exit(EXIT_NETWORK, f"the stream went idle: no data for "
                                     f"{format_duration(req.idle_timeout)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise Exit(EXIT_NETWORK, f"the stream broke: {_describe(exc)}") from None
        if not line:
            return
        yield line


def _events(payloads: Iterable[str]) -> Iterator[dict[str, Any]]:
    """JSON objects of SSE payloads; ``[DONE]``, keep-alives and garbage are skipped. A server
    that sends ``data:`` lines without blank lines between events is read line by line."""
    for payload in payloads:
        try:
            candidates = [json.loads(payload)]
        except (ValueError, RecursionError):
            candidates = []
            for line in payload.split("\n"):
                try:
                    candidates.append(json.loads(line))
                except (ValueError, RecursionError):
                    continue
        yield from (event for event in candidates if isinstance(event, dict))


def _document_events(req: Request, got: _Response) -> Iterator[dict[str, Any]]:
    """A server that answered with one JSON document instead of a stream: the document as the
    event it amounts to."""
    text = b"".join(_lines(req, got)).decode("utf-8", "replace")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise Exit(EXIT_FAILED, f"the API sent no event stream: {cut(text, 300)}") from None
    if not isinstance(document, dict):
        return
    if isinstance(document.get("type"), str):
        yield document
    elif document.get("status") == "failed" or document.get("error"):
        yield {"type": "response.failed", "response": document, "error": document.get("error")}
    else:
        yield {"type": "response.completed", "response": document}


def _write_event(out: IO[bytes], event: dict[str, Any]) -> None:
    try:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it escaped
        line = json.dumps(event, separators=(",", ":")).encode("ascii")
    out.write(line + b"\n")
    out.flush()


def stream(req: Request, out: IO[bytes], log: IO[bytes]) -> int:
    """Run the request: events to ``out`` (NDJSON), notes and the error line to ``log``.
    Returns the exit code."""
    try:
        if not req.token.strip():
            var = TOKEN_VARS.get(req.name, "the token variable")
            raise Exit(EXIT_AUTH, f"no API token: {var} is not set")
        got = _post(req, log)
        state = ResponseState()
        try:
            is_stream = "json" not in (got.resp.getheader("Content-Type") or "").lower()
            events = _events(iter_sse_events(_lines(req, got))) if is_stream \
                else _document_events(req, got)
            for event in events:
                _write_event(out, event)
                state.feed(event)
                if event.get("type") in TERMINAL:
                    break
        finally:
            got.conn.close()
        problem = state.problem()
        if problem is not None:
            raise Exit(*problem)
        return EXIT_OK
    except Exit as done:
        _note(log, ERROR_PREFIX + one_line(done.message))
        return done.code


def main(argv: list[str] | None = None) -> int:
    """Child-process mode: the prompt on stdin, events on stdout, notes and errors on stderr."""
    parser = argparse.ArgumentParser(prog="python -m conductor.agents")
    parser.add_argument("type", choices=("perplexity", "xai"))
    parser.add_argument("--base-url", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT)
    args = parser.parse_args(argv)
    prompt = sys.stdin.buffer.read().decode("utf-8", "replace")
    if args.type == "perplexity":
        url = perplexity_endpoint(args.base_url)
        model = args.model.strip() or PERPLEXITY_MODEL
    else:
        base_url, model = xai_settings(args.base_url, args.model)
        url = xai_endpoint(base_url)
    req = Request(name=args.type, url=url, token=resolve_token(args.type), model=model,
                  prompt=prompt, idle_timeout=args.idle_timeout)
    return stream(req, sys.stdout.buffer, sys.stderr.buffer)
