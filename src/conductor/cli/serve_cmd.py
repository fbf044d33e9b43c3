"""``conductor serve``: the operator console in a browser (textual-serve), read-only by default.

Each browser tab gets its own ``conductor console`` process, started by textual-serve with the
scope flags given here. Listens on 127.0.0.1 unless told otherwise; a host other machines can
reach needs ``--allow-remote``, and then every request needs the token. The web stack (aiohttp,
textual-serve) is imported only once the flags are checked.
"""

from __future__ import annotations

import os
import sys

from ..errors import UsageError
from .scope import runs_root

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_SESSIONS = 8  # as conductor.serve.server.MAX_SESSIONS (not imported: it loads aiohttp)


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve the console to a web browser (read-only unless --control)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}; one other machines can "
                        "reach needs --allow-remote)")
    p.add_argument("--port", default=str(DEFAULT_PORT),
                   help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one, printed)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --host that is not loopback; every request then needs the token")
    p.add_argument("--token-file", default=None,
                   help="read the access token from this file's first line (default: "
                        "$CONDUCTOR_SERVE_TOKEN; with --allow-remote and neither, one is made "
                        "and printed once)")
    p.add_argument("--control", action="store_true",
                   help="let the browser start, stop and post (default: read-only)")
    p.add_argument("--max-sessions", default=str(MAX_SESSIONS),
                   help=f"consoles open at once, one per browser tab (default {MAX_SESSIONS}); "
                        "one more is refused with 503")
    from .console_cmd import add_console_flags
    add_console_flags(p, follow_default=None, read_only=False)
    p.set_defaults(func=cmd_serve)


def parse_port(text: str) -> int:
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f'invalid argument for "--port" flag: {text!r} is not a port (0-65535)')
    return port


def parse_sessions(text: str) -> int:
    try:
        count = int(text, 10)
    except ValueError:
        count = 0
    if not 1 <= count <= 1000:
        raise UsageError(f'invalid argument for "--max-sessions" flag: {text!r} is not a count (1-1000)')
    return count


def check_scope(args) -> None:
    """The console's own checks of its flags (cli/console_cmd.py)."""
    from .console_cmd import check_console_flags
    check_console_flags(args)


def console_argv(args, root: str) -> list[str]:
    """The command each browser session runs: this conductor's console on the same scope."""
    argv = [sys.executable, "-m", "conductor", "console", "--root", root]
    if args.config is not None:
        argv += ["--config", os.path.abspath(args.config)]
    for flag in ("project", "view", "follow", "task", "toasts"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag}", value]
    if args.poll:
        argv.append("--poll")
    if not args.control:
        argv.append("--read-only")
    return argv


def listen(host: str, port: int):
    import socket
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise UsageError(f'invalid argument for "--host" flag: {host}: {exc}') from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise UsageError(f"cannot listen on {url_host(host)}:{port}: {reason}") from None
    sock.set_inheritable(False)
    return sock


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def cmd_serve(args) -> int:
    from ..serve.access import is_loopback_host, resolve_token
    port = parse_port(args.port)
    sessions = parse_sessions(args.max_sessions)
    check_scope(args)
    loopback = is_loopback_host(args.host)
    if not loopback and not args.allow_remote:
        raise UsageError(f"--host {args.host} is not a loopback address: to serve the console to "
                         "other machines add --allow-remote (every request then needs a token)")
    token, source = resolve_token(args.token_file, os.environ, need=not loopback)
    root = os.path.abspath(runs_root(args.root, args.config))
    try:
        from ..serve.server import ConsoleServer, serve_forever
    except ImportError as exc:  # a broken install: textual-serve is a dependency
        raise UsageError(f"conductor serve needs textual-serve ({exc}): pip install textual-serve") \
            from None
    sock = listen(args.host, port)
    bound_port = sock.getsockname()[1]
    import shlex
    command = "exec " + shlex.join(console_argv(args, root))
    mode = "control" if args.control else "read-only"
    server = ConsoleServer(command, sock=sock, token=token, loopback_only=loopback,
                           title=f"conductor · {root}", max_sessions=sessions)
    url = f"http://{url_host(args.host)}:{bound_port}/"
    out = sys.stdout
    out.write(f"conductor serve: the console ({mode}) of {root}\n")
    if token is None:
        out.write(f"open {url}\n")
    elif source == "generated":
        out.write(f"open {url}?token={token}\n(the token is printed only here: keep it secret)\n")
    else:
        out.write(f"open {url}?token=<the token from "
                  f"{args.token_file if source == 'file' else '$CONDUCTOR_SERVE_TOKEN'}>\n")
    out.write("Ctrl+C stops the server (runs go on)\n")
    out.flush()
    serve_forever(server)
    return 0
