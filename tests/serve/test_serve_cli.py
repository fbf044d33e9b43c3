"""`conductor serve` as a user meets it: refusals (bytes and exit codes), the token on HTTP and
websocket requests, the console's command line and environment, and a clean exit on signals."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import subprocess
import sys

import aiohttp
import pytest

from waiting import wait_for

from .helpers import Served, known_root

TOKEN = "file-token-abcdefghijklmnop"


def _serve(args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", "conductor", "serve", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["--host", "0.0.0.0"],
     "Error: --host 0.0.0.0 is not a loopback address: to serve the console to other machines "
     "add --allow-remote (every request then needs a token)\n"),
    (["--host", "192.0.2.1"],
     "Error: --host 192.0.2.1 is not a loopback address: to serve the console to other machines "
     "add --allow-remote (every request then needs a token)\n"),
    (["--port", "70000"], "Error: invalid argument for \"--port\" flag: '70000' is not a port (0-65535)\n"),
    (["--port", "http"], "Error: invalid argument for \"--port\" flag: 'http' is not a port (0-65535)\n"),
    (["--view", "board"], 'Error: invalid argument for "--view" flag: must be one of tree, logs, bus\n'),
    (["--follow", "task"], 'Error: "--follow task" needs --task\n'),
    (["--max-sessions", "0"],
     "Error: invalid argument for \"--max-sessions\" flag: '0' is not a count (1-1000)\n"),
    (["--allow-remote", "--host", "0.0.0.0", "--token-file", "/nonexistent/token"],
     "Error: /nonexistent/token: cannot read the token file: no such file or directory\n"),
])
def test_refusals_are_one_line_and_exit_1(args, message, runs_root, subprocess_env):
    done = _serve(["--root", runs_root, "--port", "0", *args], subprocess_env)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", message)


def test_a_port_in_use_is_one_line_and_exit_1(runs_root, subprocess_env):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = _serve(["--root", runs_root, "--port", str(port)], subprocess_env)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", f"Error: cannot listen on 127.0.0.1:{port}: address already in use\n")


def _get(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def test_allow_remote_makes_a_token_prints_it_once_and_checks_every_request(
        tmp_path, subprocess_env):
    root = known_root(tmp_path)
    served = Served(["--root", root, "--host", "0.0.0.0", "--port", "0", "--allow-remote"],
                    subprocess_env)
    try:
        port = served.port
        [open_line] = [line for line in served.lines if line.startswith("open ")]
        token = open_line.split("?token=", 1)[1].split()[0]
        assert served.lines == [
            f"conductor serve: the console (read-only) of {root}\n",
            f"open http://0.0.0.0:{port}/?token={token}\n",
            "(the token is printed only here: keep it secret)\n",
            "Ctrl+C stops the server (runs go on)\n"]

        # a wrong token: the right one with its last character changed (a token that ends in
        # "x" would make token[:-1] + "x" the right one: 1 run in 64 failed that way)
        wrong = token[:-1] + ("y" if token.endswith("x") else "x")
        for path in ("/", "/static/js/textual.js", "/ws", f"/?token={wrong}"):
            status, headers, body = _get(port, path)
            assert (status, body) == (
                403, "403 Forbidden: this console needs its token: open the URL `conductor serve` printed\n")
        status, headers, _ = _get(port, f"/?token={token}&fontsize=18")
        assert (status, headers["Location"]) == (303, "/?fontsize=18")
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"conductor_serve_{port}={token};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = {"Cookie": f"conductor_serve_{port}={token}"}
        status, headers, body = _get(port, "/?fontsize=18", jar)
        assert status == 200 and f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in body
        assert "googleapis" not in body and "/static/fonts/RobotoMono-VariableFont_wght.ttf" in body
        assert headers["X-Frame-Options"] == "DENY"
        assert _get(port, "/static/js/textual.js", jar)[0] == 200
        assert asyncio.run(_ws_status(port, {})) == 403
        assert asyncio.run(_ws_status(port, {"Origin": "http://evil.example", **jar})) == 403
        assert asyncio.run(_ws_status(port, {"Origin": f"http://127.0.0.1:{port}", **jar})) == 101
    finally:
        served.kill()


async def _ws_status(port, headers) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws", headers=headers,
                                          autoping=False) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_loopback_refuses_a_rebound_host_name(tmp_path, subprocess_env):
    served = Served(["--root", known_root(tmp_path), "--port", "0"], subprocess_env)
    try:
        assert _get(served.port, "/")[0] == 200
        status, _, body = _get(served.port, "/", {"Host": f"rebound.example:{served.port}"})
        assert (status, body) == (
            403, f"403 Forbidden: Host 'rebound.example:{served.port}' is not this machine's loopback name\n")
    finally:
        served.kill()


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as fh:
        items = [item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode(errors="replace") for k, v in items}


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return [a.decode() for a in fh.read().split(b"\0")[:-1]]


@pytest.mark.parametrize("signum,group", [(signal.SIGTERM, False), (signal.SIGINT, False),
                                          (signal.SIGINT, True)], ids=["term", "int", "ctrl-c"])
def test_the_console_gets_the_scope_but_never_the_token_and_a_signal_stops_all_cleanly(
        signum, group, tmp_path, subprocess_env):
    """``group``: the signal goes to serve's process group, consoles included, as Ctrl+C in
    its terminal sends it."""
    root = known_root(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    subprocess_env["CONDUCTOR_SERVE_TOKEN"] = "environment-token-abcdefgh"
    subprocess_env["CONDUCTOR_CONSOLE_STATE"] = str(tmp_path / "state.json")
    served = Served(["--root", root, "--port", "0", "--token-file", str(token_file),
                     "--project", "webproj", "--control"], subprocess_env)
    try:
        port = served.port
        assert served.lines[1] == f"open http://127.0.0.1:{port}/?token=<the token from {token_file}>\n"
        assert TOKEN not in "".join(served.lines)
        assert _get(port, "/")[0] == 403  # a token given on loopback is checked too

        async def session() -> None:
            async with aiohttp.ClientSession() as client:
                async with client.ws_connect(f"http://127.0.0.1:{port}/ws?token={TOKEN}") as ws:
                    [console] = await asyncio.to_thread(wait_for, lambda: _consoles(served), 30,
                                                        0.05, "the console process")
                    argv = _cmdline(console)
                    assert argv[1:] == ["-m", "conductor", "console", "--root", root,
                                        "--project", "webproj"]  # --control: no --read-only
                    env = _environ(console)
                    assert "CONDUCTOR_SERVE_TOKEN" not in env
                    assert not any(TOKEN in v for v in env.values())
                    first = await ws.receive(timeout=60)  # the console draws
                    assert first.type == aiohttp.WSMsgType.BINARY
                    if group:
                        os.killpg(served.proc.pid, signum)
                    else:
                        served.proc.send_signal(signum)
                    await _until_closed(ws)
                    assert await asyncio.to_thread(served.proc.wait, 30) == 0
                    assert not os.path.exists(f"/proc/{console}") or _zombie(console)

        asyncio.run(session())
        assert "Traceback" not in "".join(served.errors)
    finally:
        served.kill()


def _consoles(served: Served) -> list[int]:
    """serve's children once they run the console (a child between fork and exec shows
    serve's own command line)."""
    found = []
    for pid in served.children():
        try:
            if _cmdline(pid)[1:4] == ["-m", "conductor", "console"]:
                found.append(pid)
        except OSError:
            pass
    return found


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_malformed_message_ends_only_its_session_and_one_too_many_is_503(
        tmp_path, subprocess_env):
    subprocess_env["CONDUCTOR_CONSOLE_STATE"] = str(tmp_path / "state.json")
    served = Served(["--root", known_root(tmp_path), "--port", "0", "--max-sessions", "1"],
                    subprocess_env)
    url = f"http://127.0.0.1:{served.port}/ws"
    try:
        async def sessions() -> None:
            async with aiohttp.ClientSession() as client:
                async with client.ws_connect(url) as ws:
                    await ws.receive(timeout=60)  # the console draws
                    assert await _ws_status(served.port, {}) == 503
                    status, _, body = await asyncio.to_thread(_get, served.port, "/ws")
                    assert (status, body) == (
                        503, "503 Service Unavailable: 1 consoles are open already (--max-sessions)\n")
                    await ws.send_str('["resize", {"width": 1000000000, "height": "x"}]')
                    await ws.send_str('{"not": "a list"}')
                    await _until_closed(ws)
                await asyncio.to_thread(wait_for, lambda: not served.children(), 30, 0.05,
                                        "the console to quit")
                async with client.ws_connect(url) as ws:  # the server goes on
                    assert (await ws.receive(timeout=60)).type == aiohttp.WSMsgType.BINARY

        asyncio.run(sessions())
        assert served.stop() == 0
        assert "closing a browser session: ValueError: a message that is not [type, data]" in \
            "".join(served.errors)
    finally:
        served.kill()


def test_ipv6_loopback_is_served_without_a_token(tmp_path, subprocess_env):
    import socket
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    served = Served(["--root", known_root(tmp_path), "--host", "::1", "--port", "0"], subprocess_env)
    try:
        assert served.url == f"http://[::1]:{served.port}/"
        conn = http.client.HTTPConnection("::1", served.port, timeout=30)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert f'data-session-websocket-url="ws://[::1]:{served.port}/ws"' in response.read().decode()
        conn.close()
    finally:
        served.kill()


def test_the_textual_serve_internals_serve_relies_on_are_there():
    """conductor.serve.server overrides textual-serve's Server._make_app, handle_index,
    handle_websocket and _process_messages, and reads AppService._process to wait for (or kill)
    a console; a textual-serve release that renames them fails here, not in a user's browser."""
    import inspect

    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    from conductor.serve.server import ConsoleServer
    for name in ("_make_app", "handle_index", "handle_websocket", "_process_messages", "on_startup"):
        assert inspect.iscoroutinefunction(getattr(Server, name)), name
        assert getattr(ConsoleServer, name) is not getattr(Server, name), name
    assert "self._process" in inspect.getsource(AppService.__init__)
    assert "await self._task" in inspect.getsource(AppService.stop)


def test_a_console_that_will_not_quit_is_killed(monkeypatch):
    from conductor.serve import server
    monkeypatch.setattr(server, "STOP_WAIT", 0.2)

    class Stuck:
        """An app service whose console ignores the quit message."""
        _process = None

        async def stop(self) -> None:
            await asyncio.sleep(3600)

    async def scenario() -> int:
        service = Stuck()
        service._process = await asyncio.create_subprocess_exec("sleep", "3600")
        await server.stop_service(service)  # type: ignore[arg-type]
        return service._process.returncode

    assert asyncio.run(scenario()) == -signal.SIGKILL


def test_q_in_the_page_ends_that_console_and_the_server_goes_on(tmp_path, subprocess_env):
    subprocess_env["CONDUCTOR_CONSOLE_STATE"] = str(tmp_path / "state.json")
    served = Served(["--root", known_root(tmp_path), "--port", "0"], subprocess_env)
    url = f"http://127.0.0.1:{served.port}/ws"
    try:
        async def sessions() -> None:
            async with aiohttp.ClientSession() as client:
                async with client.ws_connect(url) as ws:
                    await _until_drawn(ws, b"browser-known")  # keys before that may be lost
                    await ws.send_json(["stdin", "q"])
                    await _until_closed(ws)
                await asyncio.to_thread(wait_for, lambda: not served.children(), 30, 0.05,
                                        "the console to quit")
                async with client.ws_connect(url) as ws:
                    assert (await ws.receive(timeout=60)).type == aiohttp.WSMsgType.BINARY

        asyncio.run(sessions())
        assert served.stop() == 0
        assert served.errors == []
    finally:
        served.kill()


async def _until_drawn(ws, text: bytes, timeout: float = 60) -> None:
    """Read the console's output until ``text`` has been drawn (it draws plain text runs)."""
    seen = b""
    async with asyncio.timeout(timeout):
        while text not in seen:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, message
            seen = seen[-len(text):] + message.data


async def _until_closed(ws, timeout: float = 30) -> None:
    """Read (the console goes on drawing) until the server closes the websocket."""
    async with asyncio.timeout(timeout):
        while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                                aiohttp.WSMsgType.CLOSING):
            pass
