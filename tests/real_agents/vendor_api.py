"""Loopback model servers that speak each vendor's wire protocol, for the real agent CLIs.

The real ``claude``, ``codex`` and ``gemini`` programs run unmodified; only the network edge is
replaced: each CLI is pointed at one of these servers on 127.0.0.1 (claude: ANTHROPIC_BASE_URL,
codex: a model provider in its config.toml, gemini: GOOGLE_GEMINI_BASE_URL). The server decides
what the *model* says; everything else (tool execution, the event stream, usage accounting,
session ids, retries, error texts) is the real program's.

A server is scripted with a list of *steps*, one consumed by each main model request (the last
step repeats):

- ``"tool"``: the model asks for the shell tool to run ``ls -1``; once the conversation holds the
  tool's result, it answers with :data:`FINAL` (so retries and resumed sessions stay coherent);
- ``"answer"``: the model answers :data:`FINAL` at once;
- ``"auth"``: HTTP 401 in the vendor's error shape;
- ``"limit"``: HTTP 429 in the vendor's rate-limit shape, with a reset :attr:`limit_seconds`
  ahead (``retry-after`` and the vendor's reset headers/body); the step repeats until the reset
  time has passed (whatever the CLI's own retries do), or after :attr:`limit_requests` 429s,
  then the next step runs.

Side requests a CLI makes besides the conversation (claude's title request without tools,
``count_tokens``, gemini's non-streaming helpers, codex's websocket probe) get a harmless answer
or a 404. Every request is recorded (method, path, lower-cased headers, decoded JSON body).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FINAL = "The listing is done: the task folder holds the files shown."
LIMIT_MESSAGE = "Rate limit reached for this test: please retry after the reset."
AUTH_MESSAGE = "invalid api key (loopback test server)"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body, or the raw text

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # a client hanging up mid-stream is fine
        pass


class VendorServer:
    """One loopback server; subclasses speak one vendor's protocol."""

    model = "test-model"

    def __init__(self, steps: list[str] | tuple[str, ...] = ("tool",), limit_seconds: float = 5.0,
                 limit_requests: int | None = None, limit_until: float | None = None):
        self.steps = list(steps) or ["answer"]
        self.limit_seconds = limit_seconds
        self.reset_at: float | None = limit_until  # the first limit's reset, if fixed
        # a limit step ends after this many 429s even before its reset (None: at the reset)
        self.limit_requests = limit_requests
        self.limited = 0
        self.requests: list[Request] = []
        self.main_requests: list[Request] = []
        self.replies: list[str] = []           # the step each main request got
        self.lock = threading.Lock()
        owner = self

        class Handler(_Handler):
            vendor = owner

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "VendorServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- scripting ----------------------------------------------------------------------------

    def next_step(self) -> str:
        """The step for the next main request. ``limit`` holds until its reset has passed; the
        other steps last until :meth:`step_done` (the last step repeats)."""
        with self.lock:
            while True:
                step = self.steps[0]
                if step != "limit":
                    return step
                now = time.time()
                if self.reset_at is None:
                    self.reset_at = now + self.limit_seconds
                spent = self.limit_requests is not None and self.limited >= self.limit_requests
                if now < self.reset_at and not spent:
                    self.limited += 1
                    return step
                self.reset_at = None
                self.limited = 0
                if len(self.steps) == 1:
                    self.steps = ["answer"]
                else:
                    self.steps.pop(0)

    def step_done(self) -> None:
        """The current step's turn is over (its answer or its error was sent)."""
        with self.lock:
            if len(self.steps) > 1 and self.steps[0] != "limit":
                self.steps.pop(0)

    def answer(self, step: str, has_tool_result: bool) -> str:
        """What a main request gets: ``error`` (auth, limit), ``tool`` (a tool call) or
        ``final`` (the sentence). Records the step and ends the turn when it answers."""
        if step in ("auth", "limit"):
            if step == "auth":
                self.step_done()
            return step
        if step.startswith("tool") and not has_tool_result:
            return "tool"
        self.step_done()
        return "final"

    def command(self, step: str, body: Any) -> str:
        """The shell command of a tool call: ``ls -1``, and for ``tool+done`` also creating
        the task's DONE file (the path the prompt's preamble names)."""
        if step != "tool+done":
            return "ls -1"
        match = re.search(r"When done, create: ([^\s\"\\]+/DONE)", json.dumps(body))
        return f"ls -1 && touch {match.group(1)}" if match else "ls -1"

    def main_request(self, request: Request, has_tool_result: bool) -> tuple[str, str]:
        """Record a main (conversation) request; return (its step, what it gets)."""
        with self.lock:
            self.main_requests.append(request)
        step = self.next_step()
        kind = self.answer(step, has_tool_result)
        with self.lock:
            self.replies.append(kind)
        return step, kind

    def retry_after(self) -> int:
        return max(1, int((self.reset_at or time.time()) - time.time() + 0.999))

    @property
    def reported_reset(self) -> int:
        """The reset (whole epoch seconds) the last 429 reported."""
        return self._reported

    def report_reset(self) -> int:
        self._reported = int((self.reset_at or time.time()) + 0.999)
        return self._reported

    _reported = 0

    def tokens_seen(self, header: str) -> list[str]:
        return [r.header(header) for r in self.requests]

    # ---- per vendor -------------------------------------------------------------------------

    def route(self, handler: "_Handler", request: Request) -> None:
        handler.send_json(404, {"error": {"message": f"no such endpoint: {request.path}"}})


class _Handler(BaseHTTPRequestHandler):
    vendor: VendorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self, method: str) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(method, self.path, headers, body)
        with self.vendor.lock:
            self.vendor.requests.append(request)
        return request

    def do_POST(self) -> None:
        self.vendor.route(self, self._record("POST"))

    def do_GET(self) -> None:
        self.vendor.route(self, self._record("GET"))

    # ---- replies ------------------------------------------------------------------------------

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, events: list[tuple[str | None, Any]]) -> None:
        """An SSE stream of (event name or None, JSON data), then the connection closes."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in events:
            frame = (f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
            self.wfile.write(frame.encode())
            self.wfile.flush()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# ---- Anthropic Messages (claude) ----------------------------------------------------------------

class AnthropicServer(VendorServer):
    """``POST /v1/messages`` (SSE when ``stream`` is true), ``/v1/messages/count_tokens``."""

    model = "claude-test-model"
    input_tokens = 1200
    output_tokens = 30

    def route(self, handler: _Handler, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        body = request.body if isinstance(request.body, dict) else {}
        if request.method == "POST" and path == "/v1/messages/count_tokens":
            handler.send_json(200, {"input_tokens": self.input_tokens})
            return
        if request.method != "POST" or path != "/v1/messages":
            handler.send_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                               "message": f"no {path} here"}})
            return
        if not body.get("tools"):  # a side request (a title, a summary): answer it, no step
            self._reply(handler, body, [("text", "Listing the folder")], "end_turn")
            return
        step, kind = self.main_request(request, self._has_tool_result(body))
        if kind == "auth":
            handler.send_json(401, {"type": "error", "error": {
                "type": "authentication_error", "message": AUTH_MESSAGE}},
                {"request-id": "req_test_auth"})
        elif kind == "limit":
            reset = self.reset_at or time.time()
            handler.send_json(429, {"type": "error", "error": {
                "type": "rate_limit_error", "message": LIMIT_MESSAGE}}, {
                "request-id": "req_test_limit",
                "retry-after": str(self.retry_after()),
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": _iso(reset),
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-reset": str(self.report_reset()),
                "anthropic-ratelimit-unified-representative-claim": "five_hour",
            })
        elif kind == "tool":
            self._reply(handler, body, [("thinking", "I should list the folder."),
                                        ("tool_use", {"command": self.command(step, body),
                                                      "description": "List the folder"})],
                        "tool_use")
        else:
            self._reply(handler, body, [("text", FINAL)], "end_turn")

    @staticmethod
    def _has_tool_result(body: dict) -> bool:
        messages = body.get("messages") or []
        if not messages:
            return False
        content = messages[-1].get("content")
        return isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content)

    def _reply(self, handler: _Handler, body: dict, blocks: list[tuple[str, Any]],
               stop_reason: str) -> None:
        model = body.get("model") or self.model
        message_id = "msg_" + uuid.uuid4().hex[:24]
        usage = {"input_tokens": self.input_tokens, "output_tokens": 1,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not body.get("stream"):
            content = []
            for kind, value in blocks:
                if kind == "text":
                    content.append({"type": "text", "text": value})
            handler.send_json(200, {"id": message_id, "type": "message", "role": "assistant",
                                    "model": model, "content": content,
                                    "stop_reason": stop_reason, "stop_sequence": None,
                                    "usage": dict(usage, output_tokens=self.output_tokens)})
            return
        events: list[tuple[str | None, Any]] = [("message_start", {
            "type": "message_start", "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}})]
        for index, (kind, value) in enumerate(blocks):
            if kind == "text":
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": part} for part in _halves(value)]
            elif kind == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": value},
                          {"type": "signature_delta", "signature": "c2lnbmF0dXJl"}]
            else:
                start = {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:20],
                         "name": "Bash", "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": part}
                          for part in _halves(json.dumps(value))]
            events.append(("content_block_start", {"type": "content_block_start",
                                                   "index": index, "content_block": start}))
            for delta in deltas:
                events.append(("content_block_delta", {"type": "content_block_delta",
                                                       "index": index, "delta": delta}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}))
        events.append(("message_stop", {"type": "message_stop"}))
        handler.send_sse(events)


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [part for part in (text[:middle], text[middle:]) if part]


# ---- OpenAI Responses (codex) --------------------------------------------------------------------

class ResponsesServer(VendorServer):
    """``POST /v1/responses`` (SSE). A websocket upgrade (``GET``) is refused with 404."""

    model = "gpt-test-model"
    input_tokens = 900
    cached_tokens = 100
    output_tokens = 25

    def route(self, handler: _Handler, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        body = request.body if isinstance(request.body, dict) else {}
        if request.method != "POST" or not path.endswith("/responses"):
            handler.send_json(404, {"error": {"message": f"no {request.method} {path} here",
                                              "type": "invalid_request_error"}})
            return
        step, kind = self.main_request(request, self._has_tool_result(body))
        if kind == "auth":
            handler.send_json(401, {"error": {
                "message": f"Incorrect API key provided: {AUTH_MESSAGE}",
                "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})
        elif kind == "limit":
            seconds = self.retry_after()
            handler.send_json(429, {"error": {
                "type": "usage_limit_reached", "message": LIMIT_MESSAGE, "plan_type": "plus",
                "resets_at": self.report_reset(), "resets_in_seconds": seconds}}, {
                "retry-after": str(seconds),
                "x-ratelimit-reset-requests": f"{seconds}s",
                "x-codex-primary-used-percent": "100",
                "x-codex-primary-window-minutes": "300",
                "x-codex-primary-reset-after-seconds": str(seconds),
                "x-codex-primary-reset-at": str(self.reported_reset),
            })
        elif kind == "tool":
            self._reply(handler, body, self._tool_call(body, self.command(step, body)))
        else:
            self._reply(handler, body, None)

    @staticmethod
    def _has_tool_result(body: dict) -> bool:
        items = body.get("input") or []
        return bool(items) and isinstance(items[-1], dict) and str(
            items[-1].get("type", "")).endswith("call_output")

    @staticmethod
    def _tools(body: dict) -> dict[str, str]:
        """Every tool the request offers, name -> type: the top-level ``tools`` and those in
        ``additional_tools`` input items (codex 0.171 sends its default models' tools there,
        grouped in namespaces)."""
        found: dict[str, str] = {}

        def walk(tools: Any) -> None:
            for tool in tools if isinstance(tools, list) else []:
                if not isinstance(tool, dict):
                    continue
                if tool.get("type") == "namespace":
                    walk(tool.get("tools"))
                elif isinstance(tool.get("name"), str):
                    found.setdefault(tool["name"], str(tool.get("type", "")))

        walk(body.get("tools"))
        for item in body.get("input") or []:
            if isinstance(item, dict) and item.get("type") == "additional_tools":
                walk(item.get("tools"))
        return found

    def _tool_call(self, body: dict, command: str) -> dict:
        """A call of the shell tool the request offers: ``exec_command`` / ``shell_command`` /
        ``shell`` as a function call, or, in codex's code mode (a custom ``exec`` tool that runs
        JavaScript), a script that calls ``tools.exec_command``."""
        tools = self._tools(body)
        call_id = "call_" + uuid.uuid4().hex[:16]
        if tools.get("exec_command") == "function":
            name, arguments = "exec_command", {"cmd": command}
        elif tools.get("shell_command") == "function":
            name, arguments = "shell_command", {"command": command}
        elif tools.get("exec") == "custom":
            script = (f"const result = await tools.exec_command({json.dumps({'cmd': command})});\n"
                      f"text(result);\n")
            return {"type": "custom_tool_call", "id": "ctc_" + uuid.uuid4().hex[:16],
                    "status": "completed", "call_id": call_id, "name": "exec", "input": script}
        else:
            name, arguments = "shell", {"command": ["bash", "-lc", command]}
        return {"type": "function_call", "id": "fc_" + uuid.uuid4().hex[:16], "status": "completed",
                "call_id": call_id, "name": name, "arguments": json.dumps(arguments)}

    def _reply(self, handler: _Handler, body: dict, call: dict | None) -> None:
        response_id = "resp_" + uuid.uuid4().hex[:20]
        model = body.get("model") or self.model
        events: list[tuple[str | None, Any]] = []

        def emit(kind: str, **data: Any) -> None:
            events.append((kind, dict(type=kind, sequence_number=len(events), **data)))

        base = {"id": response_id, "object": "response", "created_at": int(time.time()),
                "model": model, "output": []}
        emit("response.created", response=dict(base, status="in_progress"))
        if call is not None:
            if call["type"] == "function_call":
                emit("response.output_item.added", output_index=0,
                     item=dict(call, status="in_progress", arguments=""))
                emit("response.function_call_arguments.delta", output_index=0,
                     item_id=call["id"], delta=call["arguments"])
            else:
                emit("response.output_item.added", output_index=0,
                     item=dict(call, status="in_progress", input=""))
                emit("response.custom_tool_call_input.delta", output_index=0,
                     item_id=call["id"], delta=call["input"])
            emit("response.output_item.done", output_index=0, item=call)
            output = [call]
        else:
            item_id = "msg_" + uuid.uuid4().hex[:16]
            emit("response.output_item.added", output_index=0, item={
                "type": "message", "id": item_id, "role": "assistant", "status": "in_progress",
                "content": []})
            for part in _halves(FINAL):
                emit("response.output_text.delta", output_index=0, item_id=item_id,
                     content_index=0, delta=part)
            item = {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": FINAL, "annotations": []}]}
            emit("response.output_item.done", output_index=0, item=item)
            output = [item]
        emit("response.completed", response=dict(base, status="completed", output=output, usage={
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.input_tokens + self.output_tokens}))
        handler.send_sse(events)


# ---- Gemini generateContent (gemini) -------------------------------------------------------------

class GeminiServer(VendorServer):
    """``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` (and the non-streaming
    ``:generateContent`` / ``:countTokens`` helpers the CLI may call)."""

    model = "gemini-test-model"
    input_tokens = 800
    output_tokens = 20

    def route(self, handler: _Handler, request: Request) -> None:
        path = request.path.split("?", 1)[0]
        body = request.body if isinstance(request.body, dict) else {}
        if request.method != "POST" or ":" not in path:
            handler.send_json(404, {"error": {"code": 404, "message": f"no {path} here",
                                              "status": "NOT_FOUND"}})
            return
        method = path.rsplit(":", 1)[1]
        if method == "countTokens":
            handler.send_json(200, {"totalTokens": self.input_tokens})
            return
        if method == "generateContent":  # a helper (routing, next speaker, ...): a short JSON
            handler.send_json(200, self._chunk([{"text": "{}"}], final=True))
            return
        if method != "streamGenerateContent":
            handler.send_json(404, {"error": {"code": 404, "message": f"no {method} here",
                                              "status": "NOT_FOUND"}})
            return
        step, kind = self.main_request(request, self._has_tool_result(body))
        if kind == "auth":
            handler.send_json(401, {"error": {
                "code": 401, "message": f"API key not valid. {AUTH_MESSAGE}",
                "status": "UNAUTHENTICATED", "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}})
        elif kind == "limit":
            seconds = self.retry_after()
            handler.send_json(429, {"error": {
                "code": 429, "message": LIMIT_MESSAGE, "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                        "quotaMetric":
                            "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                        "quotaDimensions": {"model": self.model, "location": "global"},
                        "quotaValue": "50"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                     "retryDelay": f"{seconds}s"}]}}, {"retry-after": str(seconds)})
        elif kind == "tool":
            handler.send_sse([(None, self._chunk([{"functionCall": {
                "name": "run_shell_command",
                "args": {"command": self.command(step, body),
                         "description": "List the folder"}}}], final=True))])
        else:
            middle = len(FINAL) // 2
            handler.send_sse([(None, self._chunk([{"text": FINAL[:middle]}], final=False)),
                              (None, self._chunk([{"text": FINAL[middle:]}], final=True))])

    @staticmethod
    def _has_tool_result(body: dict) -> bool:
        contents = body.get("contents") or []
        if not contents:
            return False
        parts = contents[-1].get("parts") or []
        return any(isinstance(p, dict) and "functionResponse" in p for p in parts)

    def _chunk(self, parts: list[dict], final: bool) -> dict:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if final:
            candidate["finishReason"] = "STOP"
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": self.model,
                                 "responseId": uuid.uuid4().hex[:16]}
        if final:
            chunk["usageMetadata"] = {"promptTokenCount": self.input_tokens,
                                      "candidatesTokenCount": self.output_tokens,
                                      "totalTokenCount": self.input_tokens + self.output_tokens}
        return chunk


__all__ = ["FINAL", "LIMIT_MESSAGE", "AUTH_MESSAGE", "Request", "VendorServer",
           "AnthropicServer", "ResponsesServer", "GeminiServer"]
