"""Who may reach a served console: the host rule, the token, and the check every request passes.

No aiohttp here: the rules are plain functions over strings, so they are tested without a server.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
import stat
from urllib.parse import urlsplit

from ..errors import UsageError

TOKEN_ENV = "CONDUCTOR_SERVE_TOKEN"
TOKEN_MIN = 16          # characters: a token shorter than this is refused
TOKEN_FILE_MAX = 4096   # bytes read from --token-file
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def _ip_loopback(text: str) -> bool | None:
    """True/False for an IP literal, None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return None


def is_loopback_host(host: str, resolve=socket.getaddrinfo) -> bool:
    """Whether listening on ``host`` reaches this machine only.

    An IP literal is loopback or not; ``localhost`` is; any other name is loopback only when
    every address it resolves to is (a name that does not resolve is not)."""
    literal = _ip_loopback(host)
    if literal is not None:
        return literal
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        infos = resolve(host, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(_ip_loopback(a) for a in addresses)


def check_token(token: str, where: str) -> str:
    if len(token) < TOKEN_MIN:
        raise UsageError(f"{where}: the token is too short (at least {TOKEN_MIN} characters)")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise UsageError(f"{where}: the token must be printable characters without spaces")
    return token


def read_token_file(path: str) -> str:
    """The first line of ``path``, which must be a regular file (a FIFO would block us)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the token file: {(exc.strerror or str(exc)).lower()}") \
            from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{path}: the token file is not a regular file")
        data = os.read(fd, TOKEN_FILE_MAX + 1)
    finally:
        os.close(fd)
    if len(data) > TOKEN_FILE_MAX:
        raise UsageError(f"{path}: the token file is larger than {TOKEN_FILE_MAX} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not valid UTF-8 text (byte {exc.start})") from None
    lines = text.splitlines()
    return check_token(lines[0].strip() if lines else "", path)


def resolve_token(token_file: str | None, environ: dict[str, str] | os._Environ[str],
                  need: bool) -> tuple[str | None, str]:
    """(token, where it came from): ``--token-file``, else $CONDUCTOR_SERVE_TOKEN, else a new
    one when ``need`` (``generated``), else none (``none``). The variable is removed from
    ``environ``, so the consoles the server starts (and the runs they start) never see it."""
    from_env = environ.pop(TOKEN_ENV, None)
    if token_file is not None:
        return read_token_file(token_file), "file"
    if from_env:
        return check_token(from_env.strip(), f"${TOKEN_ENV}"), "env"
    if need:
        return secrets.token_urlsafe(24), "generated"
    return None, "none"


def token_matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                                      token.encode("utf-8"))


def host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8000`` → ``::1``, ``localhost:8000`` → ``localhost``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def origin_matches(origin: str, host_header: str) -> bool:
    """Whether an Origin header names the page's own server (``http://<Host>``)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.strip().lower()


class Decision:
    """What to do with one request: pass it, refuse it (403 with ``reason``), or redirect to
    ``location`` setting the token cookie (the first URL, carrying ``?token=``)."""

    __slots__ = ("allow", "reason", "set_cookie", "location")

    def __init__(self, allow: bool, reason: str = "", set_cookie: bool = False,
                 location: str | None = None) -> None:
        self.allow = allow
        self.reason = reason
        self.set_cookie = set_cookie
        self.location = location

    def __repr__(self) -> str:
        return (f"Decision(allow={self.allow}, reason={self.reason!r}, "
                f"set_cookie={self.set_cookie}, location={self.location!r})")


def decide(*, method: str, path: str, query: dict[str, str], host_header: str,
           origin: str | None, cookie: str | None, token: str | None,
           loopback_only: bool) -> Decision:
    """The check every HTTP and websocket request passes.

    - Served on loopback, the Host header must name this machine (``localhost``, a loopback
      address): a web page whose name was rebound to 127.0.0.1 (DNS rebinding) is refused.
    - An Origin header (every browser sends one on a websocket) must be the page's own server:
      another site's page cannot open the console's websocket (websockets ignore CORS).
    - When a token is in force, the request carries it as ``?token=`` or in the cookie set by
      the first URL; a GET of a page with ``?token=`` is redirected to the same URL without it,
      so the token does not stay in the address bar or the history.
    """
    if loopback_only:
        name = host_name(host_header)
        if not (name in LOOPBACK_NAMES or _ip_loopback(name)):
            return Decision(False, f"Host {host_header!r} is not this machine's loopback name")
    if origin is not None and origin != "null" and not origin_matches(origin, host_header):
        return Decision(False, f"Origin {origin!r} is not this server")
    if origin == "null":
        return Decision(False, "Origin 'null' is not this server")
    if token is None:
        return Decision(True)
    given = query.get("token")
    if token_matches(given, token):
        if method == "GET" and path in ("/", ""):
            rest = "&".join(f"{k}={v}" for k, v in _quoted_items(query) if k != "token")
            return Decision(True, set_cookie=True, location="/" + (f"?{rest}" if rest else ""))
        return Decision(True, set_cookie=True)
    if token_matches(cookie, token):
        return Decision(True)
    return Decision(False, "this console needs its token: open the URL `conductor serve` printed")


def _quoted_items(query: dict[str, str]):
    from urllib.parse import quote
    for key, value in query.items():
        yield quote(key, safe=""), quote(value, safe="")


def cookie_name(port: int) -> str:
    """The token cookie's name: one per port, as cookies are shared by every port of a host."""
    return f"conductor_serve_{port}"
