"""A scripted local HTTP server for the REST backends: each request gets the next scripted reply."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Reply = Callable[["ScriptedHandler"], None]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    replies: list[Reply]
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        owner = self

        class Handler(ScriptedHandler):
            server_state = owner

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "ScriptedServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up mid-reply.

    A client that stops reading at ``[DONE]`` closes the connection while the script may still
    be writing the frames after it; socketserver would print that BrokenPipe/ConnectionReset
    traceback to stderr, which the tests check is empty (it is for what *our* client prints).
    Any other server error is still reported.
    """

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: ScriptedServer

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        state = self.server_state
        state.requests.append(Recorded(self.path, dict(self.headers.items()), self.rfile.read(length)))
        reply = state.replies.pop(0) if state.replies else status_reply(500, "no more replies")
        reply(self)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the server
        pass

    def start_chunked(self, content_type: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def sse_reply(events: list[object | str], *, stall_after: int | None = None,
              content_type: str = "text/event-stream") -> Reply:
    """Stream each event as its own `data:` frame; optionally stop sending after N frames."""
    def reply(handler: ScriptedHandler) -> None:
        handler.start_chunked(content_type)
        for index, event in enumerate(events):
            if stall_after is not None and index == stall_after:
                handler.server_state.release.wait(10)
                return
            payload = event if isinstance(event, str) else json.dumps(event)
            handler.chunk(b"".join(b"data: " + part.encode() + b"\n" for part in payload.split("\n")) + b"\n")
        handler.end_chunks()
    return reply


def status_reply(status: int, body: str, headers: dict[str, str] | None = None) -> Reply:
    def reply(handler: ScriptedHandler) -> None:
        data = body.encode()
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(data)
    return reply


def json_reply(document: object) -> Reply:
    return status_reply(200, json.dumps(document), {"Content-Type": "application/json"})
