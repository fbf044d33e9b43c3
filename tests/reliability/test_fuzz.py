"""Fuzzing the readers of files that other processes (agents, upstream's tool) write: only our
typed errors, never another exception, never a hang.

hypothesis drives every parser with raw bytes and with inputs built from the format's own
pieces; atheris (libFuzzer, coverage-guided) runs in a subprocess when it is installed. The
config loader has its own fuzz tests in tests/config/test_config_fuzz.py (random YAML-ish
text, structured documents, random bytes, HCL-ish text); the nesting cases the parsers are
weakest on are added here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conductor.agents import extract_output
from conductor.bus import BusReader, parse
from conductor.config import load_config
from conductor.errors import ConfigError, RunInfoError
from conductor.store import dump_run_info, parse_run_info, RunInfo

# a generous per-example deadline: "never a hang", not a timing assertion; none in CI, whose
# profile (tests/conftest.py) turns deadlines off because a loaded runner is slow, not wrong
DEADLINE = None if os.environ.get("CI") else timedelta(seconds=5)
FUZZ = settings(max_examples=400, deadline=DEADLINE,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

BUS_LINES = [b"---", b"--- ", b" ---", b"---\r", b"-", b"--", b"", b"\r", b"msg_id: M1",
             b"msg_id: M2", b"msg_id:", b"ts: 2026-02-20T15:30:45.12Z", b"ts: 2026-02-20 15:30",
             b"ts: nope", b"type: FACT", b"project_id: p", b"task_id: ''", b"run_id: \"r\"",
             b"parents:", b"    - msg_id: A", b"    - B", b"links:", b"    - url: http://x",
             b"meta:", b"    k: v", b"issue_id: I", b"[2026-02-20 15:30:45] ERROR: boom",
             b"[2026-02-20T15:30:45Z] info", b"[x] y", b"body line", b"key: value", b"- item",
             b"{", b"[", b"a: [" * 3, b"- " * 300 + b"x", b"\xff\xfe", b"\x00", b"\t"]
BUS_DOCS = st.lists(st.sampled_from(BUS_LINES), max_size=80).map(b"\n".join)


def _check_bus(data: bytes) -> None:
    whole = parse(data, final=True)
    assert 0 <= whole.consumed <= len(data)
    for msg in whole.messages:
        assert all(isinstance(getattr(msg, f), str) for f in ("msg_id", "type", "body"))
    partial = parse(data, final=False)
    assert 0 <= partial.consumed <= len(data)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_bus_parser_on_random_bytes(data):
    _check_bus(data)


@FUZZ
@given(data=BUS_DOCS)
def test_bus_parser_on_bus_shaped_lines(data):
    _check_bus(data)


@FUZZ
@given(data=BUS_DOCS, cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_incremental_reader_on_a_file_growing_in_random_pieces(tmp_path_factory, data, cuts):
    """BusReader over a file written in pieces never raises and never yields a message twice."""
    path = tmp_path_factory.mktemp("bus") / "TASK-MESSAGE-BUS.md"
    path.write_bytes(b"")
    reader = BusReader(str(path))
    seen = []
    edges = sorted({c % (len(data) + 1) for c in cuts} | {len(data)})
    start = 0
    for edge in edges:
        with open(path, "ab") as f:
            f.write(data[start:edge])
        start = edge
        seen += reader.poll()
    reader.close()
    offsets = [m.offset for m in seen]
    assert offsets == sorted(set(offsets))


RUN_INFO_KEYS = ["version", "run_id", "parent_run_id", "project_id", "task_id", "agent", "pid",
                 "pgid", "start_time", "end_time", "exit_code", "status", "commandline",
                 "agent_version", "unknown"]
RUN_INFO_VALUES = ["", "1", "2", "-1", "0x10", "007", "'1'", '"x"', "~", "null", "yes",
                   "2026-02-20T15:30:45.123456789Z", "2026-02-20", "2026-02-20 15:30:45", "''",
                   "[a]", "{a: b}", "|", "|-\n    x", "&a x", "*a", "!!str 5", "1e3", "99999999999999999999",
                   "- " * 250 + "x", "[" * 1200, "\t", "é", "\x00", "running"]
RUN_INFO_DOCS = st.lists(st.tuples(st.sampled_from(RUN_INFO_KEYS), st.sampled_from(RUN_INFO_VALUES)),
                         max_size=20).map(lambda rows: "".join(f"{k}: {v}\n" for k, v in rows))


def _check_run_info(text: str) -> None:
    try:
        info = parse_run_info(text, "/r/p/t/runs/r/run-info.yaml")
    except RunInfoError as exc:
        assert str(exc).startswith("/r/p/t/runs/r/run-info.yaml: ")
        assert "\n" not in str(exc)
        return
    assert isinstance(info, RunInfo) and info.status


@FUZZ
@given(text=st.text(max_size=1000))
def test_run_info_reader_on_random_text(text):
    _check_run_info(text)


@FUZZ
@given(text=RUN_INFO_DOCS)
def test_run_info_reader_on_run_info_shaped_text(text):
    _check_run_info(text)


VALID = dump_run_info(RunInfo(version=1, run_id="r", project_id="p", task_id="t", agent="claude",
                              pid=5, pgid=5, start_time=1771601445123456789, exit_code=-1,
                              status="running", commandline="claude -p < /x/prompt.md"))


@FUZZ
@given(cut=st.integers(0, len(VALID)), junk=st.binary(max_size=8))
def test_run_info_reader_on_truncated_and_corrupted_records(cut, junk):
    _check_run_info(VALID[:cut] + junk.decode("utf-8", "replace") + VALID[cut + len(junk):])


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                        st.text(max_size=20), st.sampled_from(["assistant", "result", "message",
                                                               "text", "item.completed"]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["type", "message", "content", "text", "result", "is_error", "item", "role",
                     "output_text", "delta"]), inner, max_size=5), max_leaves=30)
STREAM_LINES = st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=40),
                         st.just("[" * 100_000), st.just('{"type":"result","result":' + "[" * 5000))


@FUZZ
@given(lines=st.lists(STREAM_LINES, max_size=12), raw=st.binary(max_size=200))
def test_stream_parsers_return_text_or_none(tmp_path_factory, lines, raw):
    path = tmp_path_factory.mktemp("out") / "agent-stdout.txt"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + raw)
    for agent in ("claude", "codex", "gemini"):
        out = extract_output(agent, str(path))
        assert out is None or isinstance(out, str)


NESTING = st.sampled_from(["- ", "? ", "[", "{", "a: ", "  ", "\n", "x", "]", "}", ", "])


@settings(max_examples=200, deadline=DEADLINE,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(piece=st.lists(NESTING, min_size=1, max_size=6).map("".join), times=st.integers(1, 30_000))
def test_config_loader_on_deeply_nested_yaml(tmp_path_factory, piece, times):
    """Deep nesting is where libyaml crashes or crawls; the loader stops it early."""
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text("agents:\n" + piece * times + "\n")
    try:
        load_config(str(path), env={})
    except ConfigError as exc:
        assert "\n" not in str(exc)


# ----------------------------------------------------------------------------- atheris

HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "atheris_harness.py")


@pytest.mark.parametrize("target,runs", [("bus", 50_000), ("runinfo", 50_000), ("streams", 20_000)])
def test_atheris_finds_no_crash(tmp_path, subprocess_env, target, runs):
    pytest.importorskip("atheris")
    proc = subprocess.run([sys.executable, HARNESS, target, f"-runs={runs}", "-max_len=4096",
                           "-max_total_time=60", f"-artifact_prefix={tmp_path}/"],
                          env=subprocess_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {runs} runs" in proc.stderr or "DONE" in proc.stderr
    assert not [n for n in os.listdir(tmp_path) if n.startswith(("crash-", "timeout-", "oom-"))]
