"""The rules of who may reach a served console, without a server: `access.decide` and friends."""

from __future__ import annotations

import os
import socket

import pytest

from conductor.errors import UsageError
from conductor.serve import access

TOKEN = "s3cret-token-0123456789"


def _decide(**kw):
    base = dict(method="GET", path="/", query={}, host_header="127.0.0.1:8000", origin=None,
                cookie=None, token=None, loopback_only=True)
    base.update(kw)
    return access.decide(**base)


@pytest.mark.parametrize("host,loop", [
    ("127.0.0.1", True), ("127.5.6.7", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("10.0.0.1", False),
])
def test_which_hosts_are_loopback(host, loop):
    assert access.is_loopback_host(host) is loop


def test_a_name_is_loopback_only_when_every_address_it_resolves_to_is():
    def resolver(*addresses):
        return lambda *a: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in addresses]
    assert access.is_loopback_host("box", resolver("127.0.1.1")) is True
    assert access.is_loopback_host("box", resolver("127.0.1.1", "192.168.1.2")) is False

    def fails(*a):
        raise socket.gaierror("no such name")
    assert access.is_loopback_host("nowhere.invalid", fails) is False


def test_loopback_without_a_token_passes_a_request_to_this_machine():
    assert _decide().allow
    assert _decide(host_header="localhost:9000").allow  # an SSH tunnel on another local port
    assert _decide(host_header="[::1]:8000").allow


def test_a_rebound_name_or_another_sites_page_is_refused():
    rebound = _decide(host_header="evil.example:8000")
    assert (rebound.allow, rebound.reason) == (
        False, "Host 'evil.example:8000' is not this machine's loopback name")
    other = _decide(origin="http://evil.example")
    assert (other.allow, other.reason) == (False, "Origin 'http://evil.example' is not this server")
    assert not _decide(origin="null").allow
    assert _decide(origin="http://127.0.0.1:8000").allow


def test_with_a_token_a_request_needs_it_in_the_query_or_the_cookie():
    refused = _decide(token=TOKEN, path="/ws", loopback_only=False, host_header="box:8000")
    assert (refused.allow, refused.reason) == (
        False, "this console needs its token: open the URL `conductor serve` printed")
    assert not _decide(token=TOKEN, cookie="wrong-token-0123456789").allow
    assert not _decide(token=TOKEN, query={"token": TOKEN[:-1]}).allow
    assert _decide(token=TOKEN, cookie=TOKEN).allow
    assert _decide(token=TOKEN, cookie=TOKEN, path="/static/js/textual.js").allow


def test_the_first_url_sets_the_cookie_and_drops_the_token_from_the_address():
    first = _decide(token=TOKEN, query={"token": TOKEN, "fontsize": "20"})
    assert (first.allow, first.set_cookie, first.location) == (True, True, "/?fontsize=20")
    assert _decide(token=TOKEN, query={"token": TOKEN}).location == "/"
    ws = _decide(token=TOKEN, path="/ws", query={"token": TOKEN})
    assert (ws.allow, ws.location) == (True, None)


def test_the_token_comes_from_the_file_then_the_environment_and_leaves_the_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\nignored\n")
    env = {access.TOKEN_ENV: "from-the-environment-0123"}
    assert access.resolve_token(str(path), env, need=False) == (TOKEN, "file")
    assert env == {}
    env = {access.TOKEN_ENV: "from-the-environment-0123"}
    assert access.resolve_token(None, env, need=False) == ("from-the-environment-0123", "env")
    assert env == {}
    assert access.resolve_token(None, {}, need=False) == (None, "none")
    token, source = access.resolve_token(None, {}, need=True)
    assert source == "generated" and len(token) >= 32


def test_a_bad_token_file_is_one_line_naming_it(tmp_path):
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(UsageError) as exc:
        access.read_token_file(str(short))
    assert str(exc.value) == f"{short}: the token is too short (at least 16 characters)"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError) as exc:
        access.read_token_file(str(fifo))
    assert str(exc.value) == f"{fifo}: the token file is not a regular file"
    with pytest.raises(UsageError) as exc:
        access.read_token_file(str(tmp_path / "missing"))
    assert str(exc.value) == f"{tmp_path / 'missing'}: cannot read the token file: no such file or directory"
    with pytest.raises(UsageError) as exc:
        access.resolve_token(None, {access.TOKEN_ENV: "short"}, need=False)
    assert str(exc.value) == "$CONDUCTOR_SERVE_TOKEN: the token is too short (at least 16 characters)"
