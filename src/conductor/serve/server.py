"""The web side of ``conductor serve``: textual-serve's server, with our access check.

textual-serve (``textual_serve.server.Server``) builds an aiohttp application with four routes
(``/`` the page, ``/ws`` the websocket that starts one console process per browser tab,
``/download/{key}``, ``/static``); its ``_make_app`` is the one place the app is made, so the
access check goes in as a middleware added to the app it returns, and covers every route. Two
of its handlers are replaced here:

- the page: textual-serve writes absolute URLs from the host it was started with, which break
  behind an SSH tunnel on another local port (and name ``0.0.0.0`` when serving every
  interface); ours takes the host from the request (which the access check has vetted);
- the websocket: the same loop as textual-serve's, but every session is tracked, so SIGINT and
  SIGTERM close each browser's session and wait for its console to quit before the server exits.

Imported only by ``conductor serve`` (aiohttp, jinja2 and textual-serve load nowhere else).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from .access import cookie_name, decide

log = logging.getLogger("conductor.serve")

STOP_WAIT = 10.0   # seconds a console gets to quit when its browser goes or the server stops
MAX_CELLS = 1000   # columns or rows a browser may ask for (a console's screen is this size)
MAX_SESSIONS = 8   # consoles open at once (each is a process); --max-sessions changes it

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",            # no framing: keys pressed in a frame could drive it
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


PAGE = "app_index.html"
GOOGLE_FONTS = re.compile(r"\s*<link\s+rel=\"stylesheet\"\s+href=\"https://fonts\.googleapis\.com[^>]*>")
LOCAL_FONT = """
    <style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf");
      }
    </style>"""


class ConsoleServer(Server):
    """textual-serve's Server serving ``command`` (the console) behind :func:`access.decide`."""

    def __init__(self, command: str, *, sock: socket.socket, token: str | None,
                 loopback_only: bool, title: str, max_sessions: int = MAX_SESSIONS) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(command, host=host, port=port, title=title)
        self.sock = sock
        self.token = token
        self.loopback_only = loopback_only
        self.cookie = cookie_name(port)
        self.max_sessions = max_sessions
        self.sessions: set[tuple[web.WebSocketResponse, asyncio.Task[Any]]] = set()

    # -- the access check ---------------------------------------------------------------------

    @web.middleware
    async def guard(self, request: web.Request, handler) -> web.StreamResponse:
        decision = decide(method=request.method, path=request.path, query=dict(request.query),
                          host_header=request.host, origin=request.headers.get("Origin"),
                          cookie=request.cookies.get(self.cookie), token=self.token,
                          loopback_only=self.loopback_only)
        if not decision.allow:
            log.warning("refused %s %s: %s", request.method, request.path, decision.reason)
            return web.Response(status=403, text=f"403 Forbidden: {decision.reason}\n",
                                headers=SECURITY_HEADERS)
        if decision.location is not None:
            response: web.StreamResponse = web.Response(status=303,
                                                        headers={"Location": decision.location})
        else:
            response = await handler(request)
        if decision.set_cookie and self.token is not None and not response.prepared:
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({PAGE: self.page_template()}))
        return app

    def page_template(self) -> str:
        """textual-serve's page, loading nothing from outside this server: its Google Fonts
        stylesheet (a request to a third party on every load, which delays the page where
        there is no network) becomes the Roboto Mono font textual-serve ships in /static."""
        source = (self.templates_path / PAGE).read_text(encoding="utf-8")
        return GOOGLE_FONTS.sub(lambda _m: LOCAL_FONT, source, count=1)

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve prints its logo here; `conductor serve` prints its own lines."""

    # -- the page -----------------------------------------------------------------------------

    @aiohttp_jinja2.template(PAGE)
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        scheme = "wss" if request.secure else "ws"
        return {
            "font_size": min(max(to_int(request.query.get("fontsize", "16"), 16), 6), 72),
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }

    # -- one browser session: one console process ----------------------------------------------

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if len(self.sessions) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(
                headers=SECURITY_HEADERS, text=f"503 Service Unavailable: {self.max_sessions} "
                                               "consoles are open already (--max-sessions)\n")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = cells(request.query.get("width"), 80)
        height = cells(request.query.get("height"), 24)
        entry = (websocket, asyncio.current_task())
        self.sessions.add(entry)  # type: ignore[arg-type]
        service: AppService | None = None
        try:
            await websocket.prepare(request)
            service = AppService(self.command, write_bytes=websocket.send_bytes,
                                 write_str=websocket.send_str,
                                 close=websocket.close,  # type: ignore[arg-type]  # as textual-serve's
                                 download_manager=self.download_manager, debug=False)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - one session ends; the server goes on
            log.warning("closing a browser session: %s: %s", type(exc).__name__, exc)
        finally:
            if service is not None:
                await stop_service(service)
            if not websocket.closed:
                await websocket.close()
            self.sessions.discard(entry)  # type: ignore[arg-type]
        return websocket

    async def _process_messages(self, websocket: web.WebSocketResponse,
                                app_service: AppService) -> None:
        """textual-serve's loop over the browser's messages, checking each one: a message that
        is not what its page sends ends the session (one line in the log), and a size is
        bounded before it reaches the console."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            envelope = json.loads(message.data)
            if not (isinstance(envelope, list) and envelope and isinstance(envelope[0], str)):
                raise ValueError("a message that is not [type, data]")
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await app_service.send_bytes(data.encode("utf-8", "surrogatepass"))
            elif kind == "resize" and isinstance(data, dict):
                await app_service.set_terminal_size(cells(data.get("width"), 80),
                                                    cells(data.get("height"), 24))
            elif kind == "ping" and isinstance(data, str) and len(data) <= 64:
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await app_service.blur()
            elif kind == "focus":
                await app_service.focus()
            else:
                raise ValueError(f"an unexpected message {kind[:40]!r}")

    # -- running ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        app = await self._make_app()
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.SockSite(runner, self.sock)
        await site.start()
        try:
            await stop.wait()
        finally:
            await self.close_sessions()
            await runner.cleanup()

    async def close_sessions(self) -> None:
        """Close every browser's websocket; each session's handler then stops its console."""
        sessions = list(self.sessions)
        for websocket, _task in sessions:
            if not websocket.closed:
                try:
                    await asyncio.wait_for(websocket.close(code=1001, message=b"server stopping"),
                                           STOP_WAIT)
                except (asyncio.TimeoutError, ConnectionError):
                    pass
        tasks = [task for _ws, task in sessions if task is not None]
        if tasks:
            # each handler's stop_service takes at most two STOP_WAITs (quit, then kill)
            await asyncio.wait(tasks, timeout=2 * STOP_WAIT + 5)


def cells(value: object, default: int) -> int:
    """A terminal size from the browser, within 1..MAX_CELLS (``default`` when not a number)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, str):
        value = to_int(value, default)
    if not isinstance(value, int):
        return default
    return min(max(value, 1), MAX_CELLS)


async def stop_service(service: AppService) -> None:
    """Ask the console to quit (textual-serve's quit message) and wait; kill it if it will not."""
    process = service._process  # textual-serve keeps the process here; no public accessor
    try:
        await asyncio.wait_for(service.stop(), STOP_WAIT)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
        pass
    if process is None:
        return
    try:
        await asyncio.wait_for(process.wait(), STOP_WAIT)
    except asyncio.TimeoutError:
        log.warning("console pid %d did not quit: killing it", process.pid)
        process.kill()
        await process.wait()


def serve_forever(server: ConsoleServer) -> None:
    """Run until SIGINT or SIGTERM, then close every session and return."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await server.run(stop)

    asyncio.run(main())
