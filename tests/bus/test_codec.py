"""Exact bytes of bus entries and the parser's behaviour on upstream-written files (spec 3.2-3.3)."""

import pytest

from conductor.bus import Link, Message, MessageBus, Parent, guard_body, parse
from conductor.bus.codec import decode_header, encode_entry
from conductor.timefmt import parse_timestamp

SPEC_3_2 = b"""---
msg_id: MSG-20261121-131748-880082836-PID09540-0001
ts: 2026-02-20T15:30:45.12Z
type: PROGRESS
project_id: my-project
task_id: task-x
run_id: run-1
---
hello

---
msg_id: MSG-20261121-131748-880422049-PID09540-0009
ts: 2026-02-20T15:30:45.12Z
type: ISSUE
project_id: p
task_id: ""
run_id: ""
issue_id: MSG-20261121-131748-880422049-PID09540-0009
parents:
    - msg_id: MSG-A
      kind: depends_on
    - msg_id: MSG-B
links:
    - url: http://x
      label: lbl
      kind: k
meta:
    alpha: two words
    bool: "true"
    empty: ""
    num: "007"
---
issue body

---
msg_id: MSG-20261121-131748-880479579-PID09540-0010
ts: 2026-02-20T14:30:45Z
type: FACT
project_id: p
task_id: ""
run_id: ""
---
explicit ts
"""

TS = parse_timestamp("2026-02-20T15:30:45.12Z")
SPEC_MESSAGES = [
    Message(msg_id="MSG-20261121-131748-880082836-PID09540-0001", ts=TS, type="PROGRESS",
            project_id="my-project", task_id="task-x", run_id="run-1", body="hello"),
    Message(msg_id="MSG-20261121-131748-880422049-PID09540-0009", ts=TS, type="ISSUE",
            project_id="p", issue_id="MSG-20261121-131748-880422049-PID09540-0009",
            parents=[Parent("MSG-A", "depends_on"), Parent("MSG-B")],
            links=[Link("http://x", "lbl", "k")],
            meta={"alpha": "two words", "bool": "true", "empty": "", "num": "007"},
            body="issue body"),
    Message(msg_id="MSG-20261121-131748-880479579-PID09540-0010",
            ts=parse_timestamp("2026-02-20T15:30:45+01:00"), type="FACT", project_id="p",
            body="explicit ts"),
]


def test_spec_example_parses_to_the_messages():
    assert parse(SPEC_3_2).messages == SPEC_MESSAGES


def test_spec_example_is_written_byte_for_byte(tmp_path):
    bus = MessageBus(str(tmp_path / "TASK-MESSAGE-BUS.md"))
    for msg in SPEC_MESSAGES:
        bus.append(msg)
    assert (tmp_path / "TASK-MESSAGE-BUS.md").read_bytes() == SPEC_3_2


def test_bytes_read_then_written_are_identical(tmp_path):
    bus = MessageBus(str(tmp_path / "b.md").replace("b.md", "TASK-MESSAGE-BUS.md"))
    for msg in parse(SPEC_3_2).messages:
        bus.append(msg)
    assert (tmp_path / "TASK-MESSAGE-BUS.md").read_bytes() == SPEC_3_2


def test_empty_body_is_a_dash_line_then_one_empty_line():
    entry = encode_entry(Message(msg_id="M", ts=TS, type="INFO", project_id="p"))
    assert entry.endswith(b"run_id: \"\"\n---\n\n")
    assert parse(entry).messages[0].body == ""


def test_non_last_bodies_have_no_spurious_newline():
    # upstream's reader gives "hello\n" for every message but the last (spec 9 #1)
    bodies = [m.body for m in parse(SPEC_3_2).messages]
    assert bodies == ["hello", "issue body", "explicit ts"]


def test_dash_line_in_body_cannot_forge_or_swallow(tmp_path):
    path = str(tmp_path / "TASK-MESSAGE-BUS.md")
    bus = MessageBus(path)
    evil = "a\n---\nmsg_id: FAKE\ntype: X\nproject_id: q\n---\nforged body"
    bus.append(Message(type="INFO", project_id="p", body=evil))
    bus.append(Message(type="FACT", project_id="p", body="next"))
    got = bus.read_all()
    assert [m.type for m in got] == ["INFO", "FACT"]
    assert got[0].body == evil
    assert "FAKE" not in [m.msg_id for m in got]
    # on disk the dash lines are neutralised with one leading space
    raw = open(path, "rb").read()
    assert b"\n ---\nmsg_id: FAKE" in raw


def test_guard_is_reversible_for_lines_with_spaces_before_dashes():
    assert guard_body("---\n ---\n  ---\r\n--- x\n----") == " ---\n  ---\n   ---\r\n--- x\n----"
    for body in ["---", " ---", "  ---", "a\n---\n", "---\r"]:
        assert parse(encode_entry(Message(msg_id="M", ts=TS, type="T", project_id="p",
                                          body=body))).messages[0].body == body.rstrip("\n").rstrip("\r")


def test_upstream_forged_message_is_read_like_upstream():
    # a body written by upstream (no neutralising) is split the same way upstream splits it
    data = (b"---\nmsg_id: A\ntype: INFO\nproject_id: p\n---\na\n---\nmsg_id: FAKE\ntype: X\n"
            b"project_id: q\n---\nrest\n")
    ids = [m.msg_id for m in parse(data).messages]
    assert ids == ["A", "FAKE"]


def test_crlf_file():
    data = SPEC_3_2.replace(b"\n", b"\r\n")
    got = parse(data).messages
    assert [m.msg_id for m in got] == [m.msg_id for m in SPEC_MESSAGES]
    assert [m.body for m in got] == ["hello", "issue body", "explicit ts"]


def test_legacy_lines_and_mixed_files():
    data = (b"[2026-02-20 15:30:45] ERROR: disk full\n"
            b"[2026-02-20T15:30:46] progress: half way\n"
            b"[2026-02-20T15:30:47Z] just text without type\n"
            b"[2026-02-20 15:30:48] ERROR:\n"
            b"[not a time] ERROR: ignored\n"
            b"[2026-02-20 15:30:49] has space: not a type\n"
            b"---\nmsg_id: Y\ntype: FACT\nproject_id: p\n---\nyaml body\n")
    got = parse(data).messages
    assert [(m.msg_id, m.type, m.body) for m in got] == [
        ("LEGACY-LINE-000000001", "ERROR", "disk full"),
        ("LEGACY-LINE-000000002", "PROGRESS", "half way"),
        ("LEGACY-LINE-000000003", "INFO", "just text without type"),
        ("LEGACY-LINE-000000004", "ERROR", "ERROR:"),
        ("LEGACY-LINE-000000006", "INFO", "has space: not a type"),
        ("Y", "FACT", "yaml body"),
    ]
    assert got[0].ts == parse_timestamp("2026-02-20T15:30:45Z")


def test_string_parents_and_empty_header():
    data = (b"---\nmsg_id: A\ntype: INFO\nproject_id: p\nparents:\n    - MSG-1\n    - \"\"\n"
            b"    - msg_id: MSG-2\n      kind: reply\n---\nbody\n\n---\n---\nanonymous\n")
    got = parse(data).messages
    assert got[0].parents == [Parent("MSG-1"), Parent("MSG-2", "reply")]
    # an empty header opens an entry where an entry may start (the file's start) ...
    assert parse(b"---\n---\nanonymous\n").messages == [Message(body="anonymous")]
    # ... but inside a body a "---" block without msg_id or ts is text (docs/bus-format.md)
    assert got[1:] == [] and got[0].body == "body\n\n---\n---\nanonymous"


def test_unknown_keys_ignored_and_bad_headers_skipped():
    data = (b"---\nmsg_id: A\ntype: INFO\nproject_id: p\nfuture_key: [1, 2]\n---\nok\n\n"
            b"---\nmsg_id: B\nts: 2026-02-20T15:30\ntype: INFO\n---\nbad ts\n\n"
            b"---\nmsg_id: C\nmsg_id: C2\n---\nduplicate key\n\n"
            b"---\nmsg_id: D\ntype: INFO\nproject_id: p\n---\nlast\n")
    got = parse(data).messages
    assert [m.msg_id for m in got] == ["A", "D"]


def test_yaml_special_values_are_strings():
    header = ["msg_id: '007'", "type: yes", 'project_id: "null"', "task_id: ~",
              "run_id: 1.5", "meta:", "    a: 'x: y'", '    b: "tab\\there"', "    c: |-", "        l1",
              "        l2"]
    msg = decode_header(header)
    assert (msg.msg_id, msg.type, msg.project_id, msg.task_id, msg.run_id) == \
        ("007", "yes", "null", "", "1.5")
    assert msg.meta == {"a": "x: y", "b": "tab\there", "c": "l1\nl2"}


def test_nanoseconds_survive():
    data = encode_entry(Message(msg_id="M", ts=1771601445123456789, type="T", project_id="p"))
    assert b"ts: 2026-02-20T15:30:45.123456789Z\n" in data
    assert parse(data).messages[0].ts == 1771601445123456789


def entries(*bodies: str) -> bytes:
    out = b""
    for i, body in enumerate(bodies):
        entry = encode_entry(Message(msg_id=f"M{i}", ts=TS, type="T", project_id="p", body=body))
        out += (b"\n" if out else b"") + entry
    return out


def test_torn_header_does_not_swallow_the_next_entry():
    good = entries("one")
    torn = b"\n---\nmsg_id: TORN\nts: 2026-02-20T15:30:45Z\ntype: T\nproject_id: pro"
    nxt = b"\n" + encode_entry(Message(msg_id="NEXT", ts=TS, type="T", project_id="p", body="two"))
    got = parse(good + torn + nxt).messages
    assert [(m.msg_id, m.body) for m in got] == [("M0", "one"), ("NEXT", "two")]


def test_torn_fragments_do_not_change_the_previous_body():
    nxt = b"\n" + encode_entry(Message(msg_id="NEXT", ts=TS, type="T", project_id="p", body="two"))
    for fragment in (b"\n-", b"\n--", b"\n---", b"\n---\nms", b"\n---\nmsg_id: X\n---\npart"):
        data = entries("one") + fragment + nxt
        got = [(m.msg_id, m.body) for m in parse(data).messages]
        assert ("M0", "one") in got and ("NEXT", "two") in got, (fragment, got)
        assert got[0] == ("M0", "one"), fragment


def test_torn_fragment_at_end_of_file_does_not_hide_the_last_message():
    for fragment in (b"\n-", b"\n--", b"\n---", b"\n---\nmsg_id: X"):
        got = parse(entries("one", "two") + fragment).messages
        assert [m.body for m in got] == ["one", "two"], fragment


def test_body_that_looks_like_a_header_is_a_body():
    data = entries("msg_id: looks\ntype: like a header", "after")
    got = parse(data).messages
    assert [m.body for m in got] == ["msg_id: looks\ntype: like a header", "after"]


def test_parse_not_final_leaves_the_last_entry_pending():
    data = entries("one", "two")
    res = parse(data, final=False)
    assert [m.body for m in res.messages] == ["one"]
    rest = parse(data[res.consumed:], final=True)
    assert [m.body for m in rest.messages] == ["two"]


def test_deeply_nested_header_is_skipped_not_a_crash():
    data = b"---\nmsg_id: A\nmeta: " + b"[" * 100_000 + b"\n---\nbody\n\n" + entries("after")
    got = parse(data).messages
    assert [m.body for m in got] == ["after"]


def test_message_equality_ignores_offset_and_copy_is_shallow_and_separate():
    a = Message(msg_id="M1", ts=5, type="FACT", project_id="p", body="b", offset=10)
    b = Message(msg_id="M1", ts=5, type="FACT", project_id="p", body="b")
    assert a == b and a != Message(msg_id="M1", ts=5, type="FACT", project_id="p", body="c")
    assert a != "M1" and Parent("M1") != Link("M1")
    c = a.copy()
    assert c == a and c is not a and c.offset == 10 and c.meta is a.meta
    c.msg_id = "M2"
    assert a.msg_id == "M1"
    assert repr(Link("u", "l")) == "Link(url='u', label='l', kind='')"
    assert repr(b).startswith("Message(msg_id='M1', ts=5, type='FACT', project_id='p', task_id=''")
    with pytest.raises(TypeError):
        hash(a)


def _alias_bomb(levels: int = 9, indent: str = "  ") -> str:
    """The "billion laughs" header: each level is nine aliases of the one before (9**9 nodes)."""
    lines = [f"{indent}a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines)


def test_alias_bomb_header_is_refused_with_its_line_and_the_next_entry_is_read():
    data = ("---\nmsg_id: BOMB\ntype: X\nmeta:\n" + _alias_bomb() + "\n---\nbomb body\n\n"
            "---\nmsg_id: GOOD\nts: 2026-02-20T15:30:45Z\ntype: FACT\nproject_id: p\n"
            "task_id: t\nrun_id: r\n---\ngood body\n").encode()
    result = parse(data)
    assert [(m.msg_id, m.body) for m in result.messages] == [("GOOD", "good body")]
    # line 9 (index 8) holds a4, whose nine aliases of a3 push the expansion past 10,000 nodes
    assert result.refused == [(8, data.index(b"  a4:"), "header: YAML aliases expand beyond 10000 nodes")]


def test_aliases_within_the_limit_and_cycles():
    refused = []
    header = ["msg_id: M", "meta:", "  a: &a x", "  b: *a"]
    assert decode_header(header, refused).meta == {"a": "x", "b": "x"} and refused == []
    assert decode_header(["msg_id: M", "parents: &p [*p]"], refused) is None
    assert refused == [(2, "header: YAML aliases expand beyond 10000 nodes")]


def test_alias_bomb_through_the_bus_reader_warns_once_per_reader(tmp_path):
    from conductor.bus import BusReader
    path = tmp_path / "bus.md"
    path.write_text("---\nmsg_id: BOMB\nmeta:\n" + _alias_bomb() + "\n---\nx\n")
    MessageBus(str(path)).append(Message(type="FACT", project_id="p", body="after"))
    warning = f"{path}: line 8: header: YAML aliases expand beyond 10000 nodes"
    bus = MessageBus(str(path))
    assert [m.body for m in bus.read_all()] == ["after"] and bus.warnings == [warning]
    bus = MessageBus(str(path))
    assert [m.body for m in bus.tail(5)] == ["after"] and bus.warnings == [warning]
    reader = BusReader(str(path))
    assert [m.body for m in reader.poll()] == ["after"] and reader.warnings == [warning]
    assert reader.poll() == [] and reader.warnings == [warning]
