"""`---` blocks inside bodies written by upstream's Go writer (which does not neutralise them).

Rule (docs/bus-format.md): inside a body, a `---` line ends the body only when it starts an
entry: it is the file's last line, the next line (after further `---` lines) begins `msg_id:`
or a start of it, or the lines up to the next `---` decode as a header with a msg_id or a ts.
Otherwise the `---` and what follows are body text.
"""

from __future__ import annotations

from unittest import mock

import pytest

from conductor.bus import MessageBus, codec
from conductor.bus.codec import parse


def go_entry(msg_id: str, body: str, *, ts: str = "2026-02-20T15:30:45.12Z",
             typ: str = "FACT") -> bytes:
    """One entry exactly as spec 3.2 says Go writes it: no body neutralising."""
    header = (f"msg_id: {msg_id}\nts: {ts}\ntype: {typ}\nproject_id: p\ntask_id: task-x\n"
              f'run_id: ""\n')
    return ("---\n" + header + "---\n" + body + ("" if body.endswith("\n") else "\n")).encode()


def go_file(*entries: bytes) -> bytes:
    """Entries after the first are preceded by the separator write of a single newline."""
    return b"\n".join(entries)


FRONT_MATTER = "Summary\n---\ntitle: notes\nauthor: bob\n---\nmore text"
RULES = "intro\n\n---\n\nmiddle\n\n---\n\noutro"
EMPTY_BLOCK = "a\n---\n---\nb"
LIST_BLOCK = "x\n---\n- one\n- two\n---\ny"
UNCLOSED = "tail block\n---\nkey: value"


def _both_paths(data: bytes, **kw):
    fast = parse(data, **kw)
    with mock.patch.object(codec, "_fast_entry", lambda *args: None):
        slow = parse(data, **kw)
    assert [(m.msg_id, m.body, m.offset) for m in fast.messages] == \
        [(m.msg_id, m.body, m.offset) for m in slow.messages]
    assert fast.consumed == slow.consumed
    return fast


@pytest.mark.parametrize("body", [FRONT_MATTER, RULES, EMPTY_BLOCK, LIST_BLOCK])
def test_a_block_without_msg_id_or_ts_is_body_text(body):
    data = go_file(go_entry("MSG-1", body), go_entry("MSG-2", "after"))
    got = _both_paths(data).messages
    assert [(m.msg_id, m.body) for m in got] == [("MSG-1", body), ("MSG-2", "after")]
    assert got[1].offset == data.index(b"---\nmsg_id: MSG-2")


@pytest.mark.parametrize("body", [FRONT_MATTER, UNCLOSED, RULES])
def test_in_the_last_entry_too(body):
    data = go_file(go_entry("MSG-1", "first"), go_entry("MSG-2", body))
    got = _both_paths(data).messages
    assert [(m.msg_id, m.body) for m in got] == [("MSG-1", "first"), ("MSG-2", body)]


def test_a_block_with_a_msg_id_resyncs_as_upstream_does():
    body = "a\n---\nmsg_id: FORGED\ntype: X\nproject_id: q\n---\nforged body"
    data = go_file(go_entry("MSG-1", body), go_entry("MSG-2", "after"))
    got = _both_paths(data).messages
    assert [(m.msg_id, m.body) for m in got] == [("MSG-1", "a"), ("FORGED", "forged body"),
                                                 ("MSG-2", "after")]


def test_a_block_with_only_a_ts_is_an_entry():
    body = "a\n---\nts: 2026-02-20T15:30:46Z\ntype: NOTE\nproject_id: q\n---\nnote body"
    data = go_file(go_entry("MSG-1", body), go_entry("MSG-2", "after"))
    got = _both_paths(data).messages
    assert [(m.msg_id, m.type, m.body) for m in got] == [
        ("MSG-1", "FACT", "a"), ("", "NOTE", "note body"), ("MSG-2", "FACT", "after")]


def test_incremental_parse_waits_for_an_unclosed_block_then_reads_it_as_text():
    first = go_entry("MSG-1", "Summary\n---\ntitle: notes\n")
    res = _both_paths(first, final=False)
    assert res.messages == [] and res.consumed == 0
    data = go_file(go_entry("MSG-1", FRONT_MATTER), go_entry("MSG-2", "after"))
    for cut in range(1, len(data)):
        head = _both_paths(data[:cut], final=False)
        rest = _both_paths(data[head.consumed:], final=True, base_offset=head.consumed)
        got = [(m.msg_id, m.body) for m in head.messages + rest.messages]
        assert got == [("MSG-1", FRONT_MATTER), ("MSG-2", "after")], cut


def test_message_bus_reads_an_upstream_file(tmp_path):
    path = tmp_path / "TASK-MESSAGE-BUS.md"
    path.write_bytes(go_file(go_entry("MSG-1", FRONT_MATTER), go_entry("MSG-2", RULES),
                             go_entry("MSG-3", "last")))
    bus = MessageBus(str(path))
    assert [(m.msg_id, m.body) for m in bus.read_all()] == [
        ("MSG-1", FRONT_MATTER), ("MSG-2", RULES), ("MSG-3", "last")]
    assert [m.msg_id for m in bus.tail(2)] == ["MSG-2", "MSG-3"]
