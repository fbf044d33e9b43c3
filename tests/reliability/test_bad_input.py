"""Damaged files and hostile ids, through the library and the CLI: each gives one clear line
naming the file and field (or is read as well as it can be), never a traceback or a hang, and
nothing is written outside the runs root.

Decisions (docs/reliability.md): `list` and `status` show a run with a broken run-info as
`unknown` and print one `warning: <file>: <field>: ...` line on stderr, exit 0 (one damaged file
must not hide a whole project); commands that need that one record (`stop --run-dir`) fail with
`Error: <file>: ...` and exit 1. Config errors are covered message by message in
tests/config/test_config_validation.py; here each check of spec 6.4 is run through the CLI.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import pytest

from conductor.agents import extract_output
from conductor.bus import BusReader, Message, MessageBus
from conductor.cli.main import main
from conductor.errors import BusError, RunInfoError
from conductor.store import RunInfo, dump_run_info, parse_run_info, read_run_info, scan_root
from conductor.store.runinfo import MAX_RUN_INFO_BYTES
from yaml_words import yaml_problem

from .conftest import PROJECT, TASK

GOOD = dump_run_info(RunInfo(
    version=1, run_id="r1", project_id=PROJECT, task_id=TASK, agent="claude", pid=123, pgid=123,
    start_time=1771601445123456789, exit_code=-1, status="completed", end_time=1771601500 * 10**9,
    commandline="claude -p < /x/prompt.md"))

# (name, text, the message after "<path>: ")
RUN_INFO_CASES = [
    ("empty", "", "empty file"),
    ("blank lines", "\n\n\n", "empty file"),
    ("truncated in a timestamp", GOOD[:GOOD.index("start_time") + 25],
     "start_time: line 8: expected an RFC 3339 timestamp, got '2026-02-20T15'"),
    ("truncated in a key", GOOD[:GOOD.index("pgid") + 2],
     "invalid YAML: line 8: " + yaml_problem(GOOD[:GOOD.index("pgid") + 2])),
    ("truncated in a quote", 'version: 1\nrun_id: "r1\n',
     "invalid YAML: line 3: " + yaml_problem('version: 1\nrun_id: "r1\n')),
    ("not YAML", "{{{ : [", "invalid YAML: line 1: " + yaml_problem("{{{ : [")),
    ("a list", "- a\n- b\n", "line 1: expected a mapping of run-info fields"),
    ("a scalar", "hello", "line 1: expected a mapping of run-info fields"),
    ("int field with text", GOOD.replace("pid: 123", "pid: abc"),
     "pid: line 6: expected an integer, got 'abc'"),
    ("quoted int", GOOD.replace("exit_code: -1", "exit_code: '1'"),
     "exit_code: line 10: expected an integer, got the quoted string '1'"),
    ("int too big", GOOD.replace("pid: 123", "pid: 99999999999999999999"),
     "pid: line 6: expected an integer, got '99999999999999999999'"),
    ("epoch time", GOOD.replace("start_time: 2026-02-20T15:30:45.123456789Z", "start_time: 1771601445"),
     "start_time: line 8: expected an RFC 3339 timestamp, got the number 1771601445"),
    ("mapping for a string", GOOD.replace("status: completed", "status: {a: b}"),
     "status: line 11: expected a string, got a mapping"),
    ("duplicate key", GOOD + "pid: 5\n", 'line 14: mapping key "pid" already defined at line 6'),
    ("future version", GOOD.replace("version: 1", "version: 2"),
     "version: unsupported version 2 (this tool reads version 1)"),
    ("tab indentation", "version:\t1\n\tpid: 3",
     "invalid YAML: line 2: " + yaml_problem("version:\t1\n\tpid: 3")),
    # 100k levels crash libyaml's composer; 200 KB stays under run-info's 256 KiB size limit
    ("deep nesting", "a: " + "[" * 100_000 + "]" * 100_000, "invalid YAML: too deeply nested"),
    ("deep block nesting", "a:\n" + "- " * 100_000 + "x\n", "invalid YAML: too deeply nested"),
    # past libyaml 0.2.6's own limit of 1000 levels: the message is still ours
    ("deep indentation", "".join(" " * i + f"k{i}:\n" for i in range(1200)),
     "invalid YAML: too deeply nested"),
]


@pytest.mark.parametrize("name,text,message", RUN_INFO_CASES, ids=[c[0] for c in RUN_INFO_CASES])
def test_damaged_run_info_is_one_run_info_error_naming_file_and_field(name, text, message):
    with pytest.raises(RunInfoError) as caught:
        parse_run_info(text, "/r/run-info.yaml")
    assert str(caught.value) == f"/r/run-info.yaml: {message}"


def test_binary_and_invalid_utf8_run_info(tmp_path):
    path = tmp_path / "run-info.yaml"
    path.write_bytes(b"version: 1\nrun_id: \xff\xfe\x00\x01\n")
    with pytest.raises(RunInfoError) as caught:
        read_run_info(str(path))
    assert str(caught.value) == f"{path}: not valid UTF-8 text (byte 19)"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(RunInfoError, match=rf"^{path}: not valid UTF-8 text \(byte 128\)$"):
        read_run_info(str(path))


def _make_run(root, run_id: str, text: str | bytes, task: str = TASK) -> str:
    run_dir = os.path.join(root, PROJECT, task, "runs", run_id)
    os.makedirs(run_dir)
    path = os.path.join(run_dir, "run-info.yaml")
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    with open(os.path.join(run_dir, "output.md"), "w") as f:
        f.write("the output\n")
    return path


@pytest.mark.parametrize("name,text,message", RUN_INFO_CASES, ids=[c[0] for c in RUN_INFO_CASES])
def test_cli_views_show_a_damaged_run_as_unknown_with_one_warning(stubs, name, text, message):
    _make_run(stubs.root, "20260220-1530450000-100-0001", GOOD.replace("r1", "20260220-1530450000-100-0001"))
    bad = _make_run(stubs.root, "20260220-1530460000-100-0002", text)
    before = open(bad, "rb").read()
    if len(before) > MAX_RUN_INFO_BYTES:  # refused unread, before any parsing
        message = "larger than 256 KiB; refusing to read it"
    warning = f"warning: {bad}: {message}\n"

    listing = stubs.run("list", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--json")
    assert (listing.returncode, listing.stderr) == (0, warning)
    assert [r["status"] for r in json.loads(listing.stdout)["runs"]] == ["completed", "unknown"]

    status = stubs.run("status", "--root", stubs.root, "--project", PROJECT)
    assert (status.returncode, status.stderr) == (0, warning)
    assert status.stdout.splitlines()[1].split()[:2] == [TASK, "unknown"]

    tasks = stubs.run("list", "--root", stubs.root, "--project", PROJECT)
    assert tasks.returncode == 0 and tasks.stderr == warning

    out = stubs.run("output", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--run", "20260220-1530460000-100-0002")
    assert (out.returncode, out.stdout, out.stderr) == (0, "the output\n", "")

    stop = stubs.run("stop", "--root", stubs.root, "--run-dir", os.path.dirname(bad))
    assert (stop.returncode, stop.stderr) == (1, f"Error: {bad}: {message}\n")
    assert open(bad, "rb").read() == before  # nobody "repaired" it

    snap = scan_root(stubs.root)
    (run_bad,) = [r for r in snap[0].tasks[0].runs if r.error]
    assert run_bad.error == f"{bad}: {message}" and run_bad.info.status == "unknown"


def test_damaged_task_config_is_a_warning_not_a_crash(stubs):
    _make_run(stubs.root, "r1", GOOD)
    config = os.path.join(stubs.root, PROJECT, TASK, "TASK-CONFIG.yaml")
    for text in ("depends_on: [" * 3, "depends_on: " + "[" * 200_000, "\xff\xfe"):
        with open(config, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        proc = stubs.run("list", "--root", stubs.root, "--project", PROJECT)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.startswith(f"warning: task {TASK}: ") and proc.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- buses

def _bus(root, body: bytes | None = None) -> str:
    task_dir = os.path.join(root, PROJECT, TASK)
    os.makedirs(task_dir, exist_ok=True)
    path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    if body is not None:
        with open(path, "wb") as f:
            f.write(body)
    return path


def _garbage(size: int) -> bytes:
    import random
    data = random.Random(7).randbytes(size)
    return data.replace(b"\n---", b"\n-x-").replace(b"---\n", b"-x-\n")


def _read_cli(stubs, *extra, timeout=120):
    return stubs.run("bus", "read", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     *extra, timeout=timeout)


def test_bus_of_binary_garbage_reads_empty_and_later_messages_are_found(stubs):
    path = _bus(stubs.root, _garbage(200_000))
    for extra in ((), ("--tail", "0")):
        proc = _read_cli(stubs, *extra)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert MessageBus(path).read_all() == []
    reader = BusReader(path)
    assert reader.poll() == []
    MessageBus(path).append(Message(type="FACT", project_id=PROJECT, body="after garbage"))
    assert [m.body for m in MessageBus(path).read_all()] == ["after garbage"]
    assert [m.body for m in MessageBus(path).tail(5)] == ["after garbage"]
    assert [m.body for m in reader.poll()] == ["after garbage"]
    proc = _read_cli(stubs)
    assert proc.returncode == 0 and proc.stdout.endswith("] (FACT) after garbage\n")


def test_bus_with_invalid_utf8_and_nul_in_a_body(stubs):
    path = _bus(stubs.root, b"---\nmsg_id: M1\ntype: X\nproject_id: p\n---\nbad \xff\xfe utf \x00 nul\n")
    (msg,) = MessageBus(path).read_all()
    assert msg.body == "bad \ufffd\ufffd utf \x00 nul"
    proc = _read_cli(stubs)
    assert proc.returncode == 0 and proc.stdout.endswith("(X) bad \ufffd\ufffd utf \x00 nul\n")


def test_bus_with_a_50_mb_single_line(stubs):
    path = _bus(stubs.root, b"x" * 50_000_000)
    for extra in ((), ("--tail", "0"), ("--tail", "3")):
        proc = _read_cli(stubs, *extra)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert MessageBus(path).tail(20) == []
    MessageBus(path).append(Message(type="FACT", project_id=PROJECT, body="after the line"))
    assert [m.body for m in MessageBus(path).tail(20)] == ["after the line"]
    proc = _read_cli(stubs)
    assert proc.returncode == 0 and proc.stdout.endswith("(FACT) after the line\n")


@pytest.mark.parametrize("header", ["meta: " + "[" * 200_000, "meta:\n" + "- " * 100_000 + "x"],
                         ids=["flow", "block"])
def test_bus_with_a_deeply_nested_header_skips_it_without_crashing(stubs, header):
    """libyaml crashes the interpreter on such headers; the reader must refuse them first."""
    path = _bus(stubs.root, f"---\nmsg_id: BAD\n{header}\n---\nbody\n".encode())
    MessageBus(path).append(Message(type="FACT", project_id=PROJECT, body="after"))
    for extra in ((), ("--tail", "0")):
        proc = _read_cli(stubs, *extra)
        assert (proc.returncode, proc.stderr) == (0, "")
        assert proc.stdout.endswith("] (FACT) after\n")


def test_bus_that_is_a_symlink_is_refused_and_its_target_untouched(stubs, tmp_path):
    target = tmp_path / "elsewhere.md"
    target.write_bytes(b"precious\n")
    path = _bus(stubs.root)
    os.symlink(target, path)
    refusal = f'Error: message bus path "{path}" is a symlink\n'
    proc = _read_cli(stubs)
    assert (proc.returncode, proc.stderr) == (1, refusal)
    proc = stubs.run("bus", "post", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--body", "x")
    assert (proc.returncode, proc.stderr) == (1, refusal)
    with pytest.raises(BusError):
        MessageBus(path).append(Message(type="X", project_id=PROJECT, body="x"))
    with pytest.raises(BusError):
        MessageBus(path).read_all()
    assert target.read_bytes() == b"precious\n"


# ----------------------------------------------------------------------------- agent output

def _run_with_stdout(root, data_writer) -> str:
    run_dir = os.path.join(root, PROJECT, TASK, "runs", "r1")
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "run-info.yaml"), "w") as f:
        f.write(GOOD)
    with open(os.path.join(run_dir, "agent-stdout.txt"), "wb") as f:
        data_writer(f)
    return run_dir


def _output(stubs, run_dir, *extra, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, "-m", "conductor", "output", "--run-dir", run_dir,
                           "--file", "stdout", *extra], env=stubs.env, stdout=stdout,
                          stderr=subprocess.PIPE, timeout=120)


def test_output_tail_passes_invalid_utf8_and_nul_bytes_through(stubs):
    lines = [b"plain", b"bad \xff\xfe utf-8", b"nul \x00 in the middle", b"\x1b[2J\x1b]0;title\x07",
             b"last"]
    run_dir = _run_with_stdout(stubs.root, lambda f: f.write(b"\n".join([b"early"] * 10 + lines)))
    proc = _output(stubs, run_dir, "--tail", "5")
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout == b"\n".join(lines) + b"\n"
    path = os.path.join(run_dir, "agent-stdout.txt")
    for agent in ("claude", "codex", "gemini"):
        assert extract_output(agent, path) is None


def test_output_tail_after_a_100_mb_line_reads_only_the_end(stubs, tmp_path):
    def write(f):
        for _ in range(100):
            f.write(b"y" * 1_000_000)
        f.write(b"\none\ntwo\nthree\nfour\nfive\n")
    run_dir = _run_with_stdout(stubs.root, write)
    proc = _output(stubs, run_dir, "--tail", "5")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"one\ntwo\nthree\nfour\nfive\n", b"")
    sink = tmp_path / "sink"
    with open(sink, "wb") as f:
        proc = _output(stubs, run_dir, "--tail", "6", stdout=f)
    assert proc.returncode == 0 and sink.stat().st_size == 100_000_000 + len(b"\none\ntwo\nthree\nfour\nfive\n")
    for agent in ("claude", "codex", "gemini"):
        assert extract_output(agent, os.path.join(run_dir, "agent-stdout.txt")) is None


# ----------------------------------------------------------------------------- config (spec 6.4)

A = "agents:\n  claude:\n    type: claude\n"
CONFIG_CASES = [
    ("no agents", "agents: {}\n", "bad.yaml: no agents configured"),
    ("unknown default", "defaults:\n  agent: claude\n", 'bad.yaml:2: defaults.agent: unknown agent "claude"'),
    ("timeout", A + "defaults:\n  timeout: 0\n", "bad.yaml:5: defaults.timeout must be positive"),
    ("root tasks", A + "defaults:\n  max_concurrent_root_tasks: -1\n",
     "bad.yaml:5: defaults.max_concurrent_root_tasks must be non-negative"),
    ("sse", A + "api:\n  sse:\n    poll_interval_ms: -5\n",
     "bad.yaml:6: api.sse.poll_interval_ms must be non-negative"),
    ("empty type", "agents:\n  x:\n    type: ' '\n", 'bad.yaml:3: agents.x.type: agent "x" has empty type'),
    ("invalid type", "agents:\n  x:\n    type: foo\n",
     'bad.yaml:3: agents.x.type: agent "x" has invalid type "foo"'),
    ("token and token_file", "agents:\n  claude:\n    token: sk-AAAA\n    token_file: tok\n",
     'bad.yaml:4: agents.claude.token_file: agent "claude" cannot set both token and token_file'),
    ("token_file missing", "agents:\n  claude:\n    token_file: missing-token\n",
     "bad.yaml:3: agents.claude.token_file: file not found: {base}/missing-token"),
    ("token_file a directory", "agents:\n  claude:\n    token_file: adir\n",
     "bad.yaml:3: agents.claude.token_file: not a regular file: {base}/adir"),
    ("token_file empty", "agents:\n  claude:\n    token_file: empty-token\n",
     "bad.yaml:3: agents.claude.token_file: token file is empty: {base}/empty-token"),
    ("port", A + "api:\n  port: 70000\n", "bad.yaml:5: api.port must be between 0 and 65535"),
    ("webhook url", A + "webhook:\n  url: x\n",
     'bad.yaml:5: webhook.url is invalid: parse "x": invalid URI for request'),
    ("webhook timeout", A + "webhook:\n  url: https://h/p\n  timeout: '10'\n",
     'bad.yaml:6: webhook.timeout is invalid: time: missing unit in duration "10"'),
    ("strategy", A + "defaults:\n  diversification:\n    strategy: random\n    agents: [claude]\n",
     'bad.yaml:6: defaults.diversification.strategy "random" is invalid; valid values: '
     "round-robin, weighted"),
    ("diversification agent empty", A + "defaults:\n  diversification:\n    agents: [claude, '']\n",
     "bad.yaml:6: defaults.diversification.agents[1] is empty"),
    ("diversification agent unknown", A + "defaults:\n  diversification:\n    agents: [claude, codex]\n",
     'bad.yaml:6: defaults.diversification.agents[1] "codex" not found in agents map'),
    ("weights length", A + "defaults:\n  diversification:\n    agents: [claude]\n    weights: [1, 2]\n",
     "bad.yaml:7: defaults.diversification.weights length (2) must match agents length (1)"),
    ("weight positive", A + "defaults:\n  diversification:\n    agents: [claude]\n    weights: [0]\n",
     "bad.yaml:7: defaults.diversification.weights[0] must be positive, got 0"),
    ("YAML syntax", "agents:\n  claude:\n   type: claude\n  - x\n",
     "bad.yaml:4: invalid YAML: " + yaml_problem("agents:\n  claude:\n   type: claude\n  - x\n")),
    ("deep nesting", "agents: " + "[" * 100_000 + "]" * 100_000 + "\n",
     "bad.yaml:1: invalid YAML: nested deeper than 64 levels"),
    ("deep block nesting", "agents:\n" + "- " * 100_000 + "x\n",
     "bad.yaml:2: invalid YAML: nested deeper than 64 levels"),
]


@pytest.mark.parametrize("name,text,message", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_cli_job_with_a_bad_config_prints_one_line_and_writes_nothing(stubs, name, text, message):
    base = stubs.base
    (base / "adir").mkdir()
    (base / "empty-token").write_text("")
    (base / "bad.yaml").write_text(text)
    proc = stubs.run("job", "--config", "bad.yaml", "--root", stubs.root, "--project", PROJECT,
                     "--task", TASK, "--prompt", "STUB: say hi")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "Error: " + message.format(base=base) + "\n"
    assert not os.path.exists(stubs.root)


# ----------------------------------------------------------------------------- ids

BAD_IDS = {
    "dot-dot": "..",
    "climbing": "../../etc",
    "slash": "a/b",
    "absolute": "/etc",
    "nul": "a\0b",
    "cyrillic look-alike": "pr\u043ej",
    "fullwidth look-alike": "\uff50roj",
    "10,000 chars": "a" * 10_000,
    "newline": "proj\nx",
}
T = "task-20260220-153045-good"
VERBS = [
    ("list", "--project", "{p}"), ("list", "--project", "proj", "--task", "{t}"),
    ("status", "--project", "{p}"), ("status", "--project", "proj", "--task", "{t}"),
    ("output", "--project", "{p}", "--task", T), ("output", "--project", "proj", "--task", "{t}"),
    ("output", "--project", "proj", "--task", T, "--run", "{r}"),
    ("watch", "--project", "{p}", "--task", T, "--timeout", "1s"),
    ("watch", "--project", "proj", "--task", "{t}", "--timeout", "1s"),
    ("bus", "post", "--project", "{p}", "--body", "x"),
    ("bus", "post", "--project", "proj", "--task", "{t}", "--body", "x"),
    ("bus", "post", "--project", "proj", "--task", T, "--run", "{r}", "--body", "x"),
    ("bus", "read", "--project", "{p}"), ("bus", "read", "--project", "proj", "--task", "{t}"),
    ("job", "--project", "{p}", "--task", T, "--agent", "claude", "--prompt", "x"),
    ("job", "--project", "proj", "--task", "{t}", "--agent", "claude", "--prompt", "x"),
    ("job", "batch", "--project", "{p}", "--task", T, "--agent", "claude", "--prompt", "x"),
    ("job", "batch", "--project", "proj", "--task", "{t}", "--agent", "claude", "--prompt", "x"),
    ("task", "--project", "{p}", "--task", T, "--agent", "claude", "--prompt", "x"),
    ("task", "--project", "proj", "--task", "{t}", "--agent", "claude", "--prompt", "x"),
    ("task", "resume", "--project", "{p}", "--task", T),
    ("task", "resume", "--project", "proj", "--task", "{t}"),
    ("task", "stop", "--project", "{p}", "--task", T),
    ("task", "stop", "--project", "proj", "--task", "{t}"),
    ("task", "delete", "--project", "{p}", "--task", T, "--force"),
    ("task", "delete", "--project", "proj", "--task", "{t}", "--force"),
    ("stop", "--project", "{p}", "--task", T), ("stop", "--project", "proj", "--task", "{t}"),
    ("stop", "--project", "proj", "--task", T, "--run", "{r}"),
    ("resume", "--project", "{p}", "--task", T),
    ("resume", "--project", "proj", "--task", "{t}"),
    ("gc", "--project", "{p}"),
]


def _snapshot(path) -> set[str]:
    return {os.path.join(dp, n) for dp, ds, fs in os.walk(path) for n in ds + fs}


@pytest.mark.parametrize("label", list(BAD_IDS))
def test_hostile_ids_through_every_verb_are_one_line_errors_and_write_nothing(
        tmp_path, monkeypatch, label):
    """In-process (argv cannot carry NUL to a child process); a subprocess spot check follows."""
    root = tmp_path / "root" / "runs"
    run_dir = root / "proj" / T / "runs" / "20260220-1530450000-100-0001"
    run_dir.mkdir(parents=True)
    (run_dir / "run-info.yaml").write_text(GOOD)
    (root / "proj" / T / "TASK.md").write_text("x\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in [k for k in os.environ if k.startswith(("JRUN_", "CONDUCTOR_"))]:
        monkeypatch.delenv(key)
    bad = BAD_IDS[label]
    before = _snapshot(tmp_path)
    for verb in VERBS:
        if "{" not in " ".join(verb):
            continue
        argv = [a.format(p=bad, t=bad, r=bad) for a in verb] + ["--root", str(root)]
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
        text = err.getvalue()
        shown = " ".join(v[:12] for v in verb)
        assert code == 1, (shown, text)
        assert text.startswith("Error: ") and text.count("\n") == 1, (shown, text)
        assert "invalid " in text and " ID " in text and len(text) < 400, (shown, text)
    assert _snapshot(tmp_path) == before


def test_hostile_ids_in_a_real_process(stubs):
    for bad in ("..", "../../etc", "pr\u043ej", "a" * 10_000):
        proc = stubs.run("job", "--root", stubs.root, "--project", bad, "--agent", "claude",
                         "--prompt", "x")
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1
        assert proc.stderr.startswith('Error: invalid project ID "')
        proc = stubs.run("bus", "post", "--root", stubs.root, "--project", "proj", "--task", bad,
                         "--body", "x")
        assert proc.returncode == 1 and proc.stderr.startswith('Error: invalid task ID "')
    assert not os.path.exists(stubs.root)
