"""The bus's fast paths give exactly what the general code gives.

Writing and reading have shortcuts for the common case (plain header values, whole well-formed
entries). Each is checked here against the general code it stands in for, on generated input,
and checked to be taken for what our writer produces (a shortcut that never fires would pass
the comparisons and be useless).
"""

from __future__ import annotations

import string
from unittest import mock

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conductor import yamlv3
from conductor.bus import Message, MessageBus, codec, decode_header, encode_entry, parse

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = sorted(yamlv3._RESOLVE_MAP | yamlv3._OLD_BOOL) + ["inf", "nan", "Infinity", "e5", "x:y"]
plainish = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "_./-", max_size=12),
    st.sampled_from(KEYWORDS),
    st.text(max_size=8),
)


@SETTINGS
@given(plainish, st.booleans(), st.sampled_from([0, 4, 8]))
def test_render_scalar_shortcut_matches_the_full_analysis(value, key, indent):
    assert yamlv3.render_scalar(value, indent, key=key) == yamlv3._render(value, indent, key)


def test_render_scalar_shortcut_quotes_keywords():
    assert yamlv3.render_scalar("yes") == '"yes"'
    assert yamlv3.render_scalar("null") == '"null"'
    assert yamlv3.render_scalar("task-1") == "task-1"


header_values = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True),
    st.sampled_from(["", "null", "Null", "~", "yes", "007", "-x", ".x", "a b", "a: b", "'q'", "x#y"]),
)
stamps = st.one_of(
    st.sampled_from(["2026-02-21T10:15:00Z", "2026-02-21T10:15:00.5Z", "2026-02-21T10:15:00.123456789Z",
                     "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.1Z", "2026-13-01T00:00:00Z",
                     "2026-02-30T10:15:00Z", "1969-12-31T23:59:59.999Z", "2026-02-21T10:15:00+01:00"]),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z", fullmatch=True),
)


def _quoted(value: str) -> str:
    return '""' if value == "" else value


@SETTINGS
@given(header_values, stamps, header_values, header_values, header_values, header_values,
       st.one_of(st.none(), header_values))
def test_canonical_header_shortcut_decodes_as_decode_header(msg_id, ts, typ, project, task, run, issue):
    lines = [f"msg_id: {_quoted(msg_id)}", f"ts: {ts}", f"type: {_quoted(typ)}",
             f"project_id: {_quoted(project)}", f"task_id: {_quoted(task)}", f"run_id: {_quoted(run)}"]
    if issue is not None:
        lines.append(f"issue_id: {_quoted(issue)}")
    fast = codec._canon_header("\n".join(lines).encode())
    if fast is not None:
        assert fast == decode_header(lines)


def test_our_writers_headers_take_the_shortcut():
    msg = Message(msg_id="MSG-20260221-101500-000000001-PID01234-0001", ts=1_771_668_900_000_000_001,
                  type="PROGRESS", project_id="p", task_id="task-20260221-101500-abc",
                  run_id="20260221-1015000000-1234-0001", body="b")
    header = encode_entry(msg).split(b"\n---\n")[0][len(b"---\n"):]
    assert codec._canon_header(header) == decode_header(header.decode().split("\n")) != None  # noqa: E711
    empty = encode_entry(Message(msg_id="M", ts=5, type="INFO", project_id="p", body="b"))
    assert codec._canon_header(empty.split(b"\n---\n")[0][4:]) is not None  # task_id: "" and friends


def _entry(i: int, body: str) -> bytes:
    return encode_entry(Message(msg_id=f"MSG-{i}", ts=1_000_000_000 * i + 7, type="INFO", project_id="p",
                                task_id="t", run_id="r", body=body))


bodies = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["---", " ---", "a\n---\nb", "msg_id: x\nts: y\n---\nz", "-", "--", "x\n\n-",
                     "x\n\n--", "\n", "x\r", "line\r\nline\r\n", "[2026-02-21 10:15:00] INFO: legacy"]),
)
pieces = st.lists(st.one_of(
    st.tuples(st.just("entry"), bodies),
    # a writer killed mid-append: after a few bytes, or at the end of a header line
    st.tuples(st.just("torn"), st.one_of(st.integers(min_value=1, max_value=3),
                                         st.integers(min_value=1, max_value=80))),
    st.tuples(st.just("lines"), st.integers(min_value=1, max_value=8)),
    st.tuples(st.just("line"), st.sampled_from(["", "garbage", "---", "-", "--", "msg_id: lone",
                                               "[2026-02-21T10:15:00Z] FACT: legacy fact", "---\r"])),
), max_size=8)


def _assemble(spec) -> bytes:
    out = []
    for i, (kind, value) in enumerate(spec):
        if kind == "entry":
            out.append(_entry(i, value))
        elif kind == "torn":
            out.append(_entry(i, "torn body text")[:value])
        elif kind == "lines":
            lines = _entry(i, "torn body text").split(b"\n")
            out.append(b"\n".join(lines[:value]))  # cut just before a line's newline
        else:
            out.append(value.encode() + b"\n")
    return b"\n".join(out)


def _general(data: bytes, **kwargs) -> codec.ParseResult:
    with mock.patch.object(codec, "_fast_entry", lambda *args: None):
        return parse(data, **kwargs)


def _same(a: codec.ParseResult, b: codec.ParseResult) -> None:
    assert a.messages == b.messages
    assert [m.offset for m in a.messages] == [m.offset for m in b.messages]
    assert (a.consumed, a.lines_consumed) == (b.consumed, b.lines_consumed)


@SETTINGS
@given(pieces, st.booleans(), st.integers(min_value=0, max_value=40))
@example([("entry", "a"), ("torn", 1), ("entry", "b")], True, 0)  # "-" left after a separator
@example([("lines", 7), ("entry", "b")], True, 0)  # a whole header, cut before its "---"
def test_parse_with_the_entry_shortcut_equals_line_by_line(spec, final, cut):
    data = _assemble(spec)
    _same(parse(data, final=final, base_offset=3), _general(data, final=final, base_offset=3))
    part = data[:max(0, len(data) - cut)]  # the data a follower sees mid-append
    _same(parse(part, final=False), _general(part, final=False))


def test_parse_takes_the_shortcut_for_written_entries(tmp_path):
    bus = MessageBus(str(tmp_path / "TASK-MESSAGE-BUS.md"))
    for i in range(5):
        bus.append(Message(type="INFO", project_id="p", body=f"body {i}\nsecond"))
    data = open(bus.path, "rb").read()
    calls = []
    real = codec._fast_entry

    def counting(*args):
        found = real(*args)
        calls.append(found is not None)
        return found

    with mock.patch.object(codec, "_fast_entry", counting):
        got = parse(data).messages
    assert [m.body for m in got] == [f"body {i}\nsecond" for i in range(5)]
    assert calls.count(True) == 4  # every entry but the last, which ends at the end of the data
