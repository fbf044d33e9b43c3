"""REST agents (perplexity, xai): one streamed chat completion whose text becomes the run's stdout.

What we changed from upstream (spec 9 #23): there is no total timeout that cuts a live stream,
only an idle timeout between chunks; both backends retry 429, >= 500 and transport errors before
the stream starts; the text goes only to the run's stdout file (flushed per chunk), never to our
own terminal. ``python -m conductor.agents`` runs one request as a child process, so a
runner can give REST runs their own pid and process group (spec 9 #16).
"""

from __future__ import annotations

import argparse
import email.utils
import http.client
import json
import os
import random
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

from conductor.agents.base import AgentError, token_env_var
from conductor.agents.sse import DONE, iter_sse_data_lines, iter_sse_events
from conductor.timefmt import format_duration

PERPLEXITY_URL = "https://api.perplexity.ai/chat/completions"
PERPLEXITY_MODEL = "sonar-reasoning"
XAI_BASE_URL = "https://api.x.ai"
XAI_MODEL = "grok-4"
XAI_BASE_URL_VARS = ("XAI_API_ENDPOINT", "XAI_BASE_URL", "XAI_API_BASE")
XAI_MODEL_VAR = "XAI_MODEL"
IDLE_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
MAX_ATTEMPTS = 5
MAX_BACKOFF = 32.0
PERPLEXITY_ERROR_BODY_LIMIT = 8 * 1024
XAI_ERROR_BODY_LIMIT = 16 * 1024

Sleep = Callable[[float], None]


# --- settings -----------------------------------------------------------------------------------

def resolve_token(agent_type: str, configured: str | None, run_env: Mapping[str, str] | None = None,
                  process_env: Mapping[str, str] | None = None) -> str:
    """The API token: the run's env var (which carries an injected config token), else the
    configured token, else our own environment (spec 7.4). "" when there is none."""
    var = token_env_var(agent_type)
    process_env = os.environ if process_env is None else process_env
    candidates = ((run_env or {}).get(var or ""), configured, process_env.get(var or ""))
    return next((value.strip() for value in candidates if value and value.strip()), "")


def _first_env(names: tuple[str, ...], run_env: Mapping[str, str] | None,
               process_env: Mapping[str, str] | None) -> str:
    process_env = os.environ if process_env is None else process_env
    for name in names:
        for env in (run_env or {}, process_env):
            value = (env.get(name) or "").strip()
            if value:
                return value
    return ""


def xai_settings(configured_base_url: str | None, configured_model: str | None,
                 run_env: Mapping[str, str] | None = None,
                 process_env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(base_url, model) for xai: env overrides, then config, then the defaults (spec 6.5, 7.5)."""
    base = (_first_env(XAI_BASE_URL_VARS, run_env, process_env) or (configured_base_url or "").strip()
            or XAI_BASE_URL)
    model = (_first_env((XAI_MODEL_VAR,), run_env, process_env) or (configured_model or "").strip()
             or XAI_MODEL)
    return base, model


def xai_endpoint(base_url: str) -> str:
    """`.../v1/chat/completions` is kept, `.../v1` gets `/chat/completions`, anything else gets both."""
    parts = urlsplit((base_url or XAI_BASE_URL).strip())
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    return parts._replace(path=path).geturl()


def chat_body(model: str, prompt: str) -> bytes:
    """The request body both backends send: the whole prompt as one user message, streamed."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


# --- HTTP with retries --------------------------------------------------------------------------

@dataclass
class _Request:
    """One POST and the policy around it; `name` prefixes every message (`perplexity`, `xai`)."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str]
    log: IO[bytes]
    error_prefix: str
    error_body_limit: int
    header_timeout: float
    idle_timeout: float = IDLE_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    max_attempts: int = MAX_ATTEMPTS
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    deadline: float | None = None


@dataclass
class _Response:
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    sock: socket.socket


def _connect(req: _Request) -> _Response:
    parts = urlsplit(req.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentError(f"{req.name} request failed: invalid url {req.url!r}")
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = factory(parts.hostname, parts.port, timeout=_cap(req, req.connect_timeout))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=req.body, headers=req.headers)
        sock = conn.sock
        sock.settimeout(_cap(req, req.header_timeout))
        return _Response(conn, conn.getresponse(), sock)
    except BaseException:
        conn.close()
        raise


def _cap(req: _Request, timeout: float) -> float:
    if req.deadline is None:
        return timeout
    remaining = req.deadline - time.monotonic()
    if remaining <= 0:
        raise AgentError("context deadline exceeded")
    return min(timeout, remaining)


def _post(req: _Request) -> _Response:
    """POST until a 200 arrives; retry 429, >= 500 and transport errors with backoff."""
    for attempt in range(max(1, req.max_attempts)):
        last = attempt + 1 >= max(1, req.max_attempts)
        try:
            got = _connect(req)
        except (OSError, http.client.HTTPException) as exc:
            if last:
                raise AgentError(f"{req.name} request failed: {_describe(exc)}") from None
            _wait(req, _backoff(req, attempt), f"after error: {_describe(exc)}")
            continue
        status = got.resp.status
        if status == 200:
            return got
        if not last and (status == 429 or status >= 500):
            delay = _retry_after(got.resp.getheader("Retry-After"))
            got.conn.close()
            _wait(req, _backoff(req, attempt) if delay is None else delay, f"after status {status}")
            continue
        raise AgentError(f"{req.error_prefix}: status {status}: {_error_body(got, req.error_body_limit)}")
    raise AssertionError("unreachable")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    return str(exc) or type(exc).__name__


def _error_body(got: _Response, limit: int) -> str:
    try:
        data = got.resp.read(limit)
    except (OSError, http.client.HTTPException):
        data = b""
    finally:
        got.conn.close()
    return data.decode("utf-8", "replace").strip()


def _backoff(req: _Request, attempt: int) -> float:
    base = min(float(1 << min(attempt, 16)), MAX_BACKOFF)
    return base + req.rng.random() * base / 2


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
        return seconds if seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _wait(req: _Request, delay: float, reason: str) -> None:
    _write_line(req.log, f"{req.name} retry in {format_duration(delay)} {reason}")
    if req.deadline is not None and time.monotonic() + delay >= req.deadline:
        raise AgentError("context deadline exceeded")
    req.sleep(delay)


def _write_line(stream: IO[bytes], text: str) -> None:
    stream.write(text.encode("utf-8") + b"\n")
    stream.flush()


def _lines(req: _Request, got: _Response) -> Iterator[bytes]:
    """Response lines; each read may wait at most the idle timeout (and never past the deadline)."""
    while True:
        try:
            got.sock.settimeout(_cap(req, req.idle_timeout))
            line = got.resp.readline()
        except TimeoutError:
            if req.deadline is not None and time.monotonic() >= req.deadline:
                raise AgentError("context deadline exceeded") from None
            raise AgentError(f"{req.name} stream idle timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            raise AgentError(f"{req.name} stream read failed: {_describe(exc)}") from None
        if not line:
            return
        yield line


def _emit(out: IO[bytes], text: str) -> None:
    if text:
        out.write(text.encode("utf-8"))
        out.flush()


def _choice(chunk: Any) -> dict[str, Any]:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    return first if isinstance(first, dict) else {}


def _nested_str(obj: dict[str, Any], outer: str, inner: str) -> str:
    value = obj.get(outer)
    text = value.get(inner) if isinstance(value, dict) else None
    return text if isinstance(text, str) else ""


def _chunk_error(chunk: Any) -> str:
    error = chunk.get("error") if isinstance(chunk, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return error if isinstance(error, str) else ""


# --- perplexity ---------------------------------------------------------------------------------

@dataclass
class _PerplexityStream:
    """Dedupes cumulative content and collects sources across chunks."""

    emitted: str = ""
    citations: list[str] = field(default_factory=list)
    search_urls: list[str] = field(default_factory=list)

    def feed(self, chunk: Any) -> str:
        message = _chunk_error(chunk)
        if message:
            raise AgentError(f"perplexity api error: {message}")
        if not isinstance(chunk, dict):
            return ""
        self._collect_sources(chunk)
        choice = _choice(chunk)
        if choice.get("finish_reason") == "error":
            raise AgentError("perplexity api error: stream finished with error")
        content = _nested_str(choice, "delta", "content") or _nested_str(choice, "message", "content")
        fresh = content[len(self.emitted):] if content.startswith(self.emitted) else content
        self.emitted += fresh
        return fresh

    def _collect_sources(self, chunk: dict[str, Any]) -> None:
        citations = chunk.get("citations")
        for url in citations if isinstance(citations, list) else []:
            _add_unique(self.citations, url)
        results = chunk.get("search_results")
        for result in results if isinstance(results, list) else []:
            if isinstance(result, dict):
                _add_unique(self.search_urls, result.get("url"))

    def sources(self) -> str:
        urls = self.citations or self.search_urls
        if not urls:
            return ""
        return "\n\nSources:\n" + "".join(f"[{n}] {url}\n" for n, url in enumerate(urls, 1))


def _add_unique(target: list[str], value: Any) -> None:
    if isinstance(value, str) and value.strip() and value.strip() not in target:
        target.append(value.strip())


def stream_perplexity(prompt: str, *, token: str, out: IO[bytes], log: IO[bytes],
                      base_url: str | None = None, model: str | None = None,
                      idle_timeout: float = IDLE_TIMEOUT, max_attempts: int = MAX_ATTEMPTS,
                      sleep: Sleep = time.sleep, header_timeout: float = CONNECT_TIMEOUT,
                      deadline: float | None = None, rng: random.Random | None = None) -> None:
    """Stream a perplexity answer into `out`; retry notes go to `log`. Raises AgentError."""
    if not (token or "").strip():
        raise AgentError("perplexity api token is empty")
    req = _Request(
        name="perplexity", url=(base_url or "").strip() or PERPLEXITY_URL,
        body=chat_body((model or "").strip() or PERPLEXITY_MODEL, prompt),
        headers={"Authorization": f"Bearer {token.strip()}", "Content-Type": "application/json",
                 "Accept": "text/event-stream"},
        log=log, error_prefix="perplexity api error", error_body_limit=PERPLEXITY_ERROR_BODY_LIMIT,
        header_timeout=header_timeout, idle_timeout=idle_timeout, max_attempts=max_attempts,
        sleep=sleep, rng=rng or random.Random(), deadline=deadline)
    got = _post(req)
    state = _PerplexityStream()
    try:
        for payload in iter_sse_events(_lines(req, got)):
            if payload.strip() == DONE:
                break
            _emit(out, state.feed(_loads(payload)))
    finally:
        got.conn.close()
    _emit(out, state.sources())


def _loads(payload: str) -> Any:
    """A chunk's JSON; keep-alives and malformed chunks count as empty."""
    try:
        return json.loads(payload)
    except ValueError:
        return None


# --- xai ----------------------------------------------------------------------------------------

def stream_xai(prompt: str, *, token: str, out: IO[bytes], log: IO[bytes],
               base_url: str | None = None, model: str | None = None,
               idle_timeout: float = IDLE_TIMEOUT, max_attempts: int = MAX_ATTEMPTS,
               sleep: Sleep = time.sleep, header_timeout: float = 60.0,
               deadline: float | None = None, rng: random.Random | None = None) -> None:
    """Stream an xAI answer (SSE or one JSON document) into `out`. Raises AgentError."""
    if not (token or "").strip():
        raise AgentError("xai api key is empty")
    req = _Request(
        name="xai", url=xai_endpoint((base_url or "").strip() or XAI_BASE_URL),
        body=chat_body((model or "").strip() or XAI_MODEL, prompt),
        headers={"Authorization": f"Bearer {token.strip()}", "Content-Type": "application/json",
                 "Accept": "text/event-stream", "User-Agent": "conductor-loop/xai"},
        log=log, error_prefix="xai request failed", error_body_limit=XAI_ERROR_BODY_LIMIT,
        header_timeout=header_timeout, idle_timeout=idle_timeout, max_attempts=max_attempts,
        sleep=sleep, rng=rng or random.Random(), deadline=deadline)
    got = _post(req)
    try:
        if "text/event-stream" in (got.resp.getheader("Content-Type") or "").lower():
            _xai_events(req, got, out)
        else:
            _xai_document(req, got, out)
    finally:
        got.conn.close()


def _xai_content(chunk: Any) -> str:
    choice = _choice(chunk)
    text = choice.get("text")
    return (_nested_str(choice, "delta", "content") or _nested_str(choice, "message", "content")
            or (text if isinstance(text, str) else ""))


def _xai_events(req: _Request, got: _Response, out: IO[bytes]) -> None:
    for payload in iter_sse_data_lines(_lines(req, got)):
        if payload.strip() == DONE:
            return
        chunk = _loads(payload)
        message = _chunk_error(chunk)
        if message:
            raise AgentError(f"xai stream error: {message}")
        _emit(out, _xai_content(chunk))


def _xai_document(req: _Request, got: _Response, out: IO[bytes]) -> None:
    data = b"".join(_lines(req, got))
    try:
        document = json.loads(data.decode("utf-8", "replace"))
    except ValueError as exc:
        raise AgentError(f"xai decode response: {exc}") from None
    message = _chunk_error(document)
    if message:
        raise AgentError(f"xai api error: {message}")
    content = (_nested_str(_choice(document), "message", "content") or _xai_content(document))
    if not content:
        raise AgentError("xai response missing content")
    _emit(out, content)


# --- file-level entry points --------------------------------------------------------------------

def run_perplexity(prompt: str, *, token: str, base_url: str | None, model: str | None,
                   stdout_path: str | os.PathLike[str], stderr_path: str | os.PathLike[str],
                   idle_timeout: float = IDLE_TIMEOUT, max_attempts: int = MAX_ATTEMPTS,
                   sleep: Sleep = time.sleep, **options: Any) -> None:
    """Run one perplexity request; the run's stdout/stderr files are truncated first (spec 7.3)."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as log:
        stream_perplexity(prompt, token=token, out=out, log=log, base_url=base_url, model=model,
                          idle_timeout=idle_timeout, max_attempts=max_attempts, sleep=sleep, **options)


def run_xai(prompt: str, *, token: str, base_url: str | None, model: str | None,
            stdout_path: str | os.PathLike[str], stderr_path: str | os.PathLike[str],
            idle_timeout: float = IDLE_TIMEOUT, max_attempts: int = MAX_ATTEMPTS,
            sleep: Sleep = time.sleep, **options: Any) -> None:
    """Run one xAI request; the run's stdout/stderr files are truncated first (spec 7.3)."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as log:
        stream_xai(prompt, token=token, out=out, log=log, base_url=base_url, model=model,
                   idle_timeout=idle_timeout, max_attempts=max_attempts, sleep=sleep, **options)


def main(argv: list[str] | None = None) -> int:
    """Child-process mode: prompt on stdin, answer on stdout, retries and errors on stderr.

    The token comes from the agent's env var (PERPLEXITY_API_KEY / XAI_API_KEY), so it never
    appears on a command line.
    """
    parser = argparse.ArgumentParser(prog="python -m conductor.agents")
    parser.add_argument("type", choices=("perplexity", "xai"))
    parser.add_argument("--base-url", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT)
    args = parser.parse_args(argv)
    prompt = sys.stdin.buffer.read().decode("utf-8", "replace")
    out, log = sys.stdout.buffer, sys.stderr.buffer
    try:
        if args.type == "perplexity":
            stream_perplexity(prompt, token=resolve_token("perplexity", None), out=out, log=log,
                              base_url=args.base_url, model=args.model, idle_timeout=args.idle_timeout)
        else:
            base_url, model = xai_settings(args.base_url, args.model)
            stream_xai(prompt, token=resolve_token("xai", None), out=out, log=log,
                       base_url=base_url, model=model, idle_timeout=args.idle_timeout)
    except AgentError as exc:
        _write_line(log, f"Error: {exc}")
        return 1
    return 0
