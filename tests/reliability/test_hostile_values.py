"""Hostile values in files agents can write, and in arguments: YAML alias bombs, oversized
files, out-of-range pids, bytes that are not UTF-8, NUL bytes. Each is one line naming the file
(and field or line), never a hang, a traceback or a memory blow-up, and one bad file never hides
the rest of a root.

Peak memory is measured on the real CLI process: a small wrapper runs it and reports
``RUSAGE_CHILDREN``'s ``ru_maxrss`` (its only child), so earlier tests cannot inflate it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conductor.store import RunInfo, dump_run_info

from .conftest import PROJECT, TASK
from .test_bad_input import GOOD, _bus, _make_run

ALIASES = "YAML aliases expand beyond 10000 nodes"
MAX_RSS_KIB = 150 * 1024  # the CLI takes ~30-40 MiB; an alias bomb took hundreds and kept growing
RUN_OK = "20260220-1530450000-100-0001"
RUN_BAD = "20260220-1530460000-100-0002"


def alias_bomb(indent: str = "  ", levels: int = 9) -> str:
    """ "Billion laughs": nine aliases of the level before, nine levels deep (9**9 nodes)."""
    lines = [f"{indent}a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def measured(stubs, *args, timeout=60, command=("-m", "conductor")):
    """``run-agent ARGS`` as a child of a wrapper that prints the child's peak RSS (KiB) last."""
    wrapper = ("import resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
               "sys.stdout.buffer.write(p.stdout); sys.stderr.buffer.write(p.stderr)\n"
               "sys.stdout.write('\\nRSS %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(p.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", wrapper, sys.executable, *command, *args],
                          env=stubs.env, cwd=str(stubs.base), capture_output=True, text=True,
                          timeout=timeout)
    out, _, rss = proc.stdout.rpartition("\nRSS ")
    return proc.returncode, out, proc.stderr, int(rss)


# ----------------------------------------------------------------------------- bus

def test_alias_bomb_in_a_bus_header_is_skipped_with_one_warning_fast_and_small(stubs):
    header = "msg_id: BOMB\ntype: X\nmeta:\n" + alias_bomb()
    path = _bus(stubs.root, f"---\n{header}---\nbomb body\n\n".encode()
                + f"---\nmsg_id: GOOD\nts: 2026-02-20T15:30:45Z\ntype: FACT\nproject_id: {PROJECT}\n"
                  f"task_id: {TASK}\nrun_id: r1\n---\ngood body\n".encode())
    warning = f"warning: {path}: line 9: header: {ALIASES}\n"  # a4: nine aliases of a3
    # --tail 1 never reads the bad entry, so has nothing to warn about
    for extra, expected in (((), warning), (("--tail", "0"), warning), (("--tail", "1"), "")):
        code, out, err, rss = measured(stubs, "bus", "read", "--root", stubs.root, "--project",
                                       PROJECT, "--task", TASK, *extra)
        assert (code, out, err) == (0, "[2026-02-20 15:30:45] (FACT) good body\n", expected), extra
        assert rss < MAX_RSS_KIB

    code, out, err, rss = measured(stubs, "status", "--root", stubs.root, "--project", PROJECT,
                                   "--activity", "--json")
    assert (code, err) == (0, warning) and rss < MAX_RSS_KIB
    (task,) = json.loads(out)["tasks"]
    assert task["activity"]["latest_bus_message"]["body_preview"] == "good body"


# ----------------------------------------------------------------------------- run-info

def _views(stubs, warning):
    """list --json, list and status: the bad run is `unknown`, one warning, the other run listed."""
    code, out, err, rss = measured(stubs, "list", "--root", stubs.root, "--project", PROJECT,
                                   "--task", TASK, "--json")
    assert (code, err) == (0, warning) and rss < MAX_RSS_KIB
    assert [(r["run_id"], r["status"]) for r in json.loads(out)["runs"]] == \
        [(RUN_OK, "completed"), (RUN_BAD, "unknown")]
    listing = stubs.run("list", "--root", stubs.root, "--project", PROJECT)
    assert (listing.returncode, listing.stderr) == (0, warning)
    assert listing.stdout.splitlines()[1].split()[:2] == [TASK, "2"]
    status = stubs.run("status", "--root", stubs.root, "--project", PROJECT)
    assert (status.returncode, status.stderr) == (0, warning)
    assert status.stdout.splitlines()[1].split()[:2] == [TASK, "unknown"]


def test_alias_bomb_in_a_run_info_shows_the_run_unknown_with_one_warning(stubs):
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK))
    bad = _make_run(stubs.root, RUN_BAD, GOOD.replace("r1", RUN_BAD) + "extra:\n" + alias_bomb())
    # line 19 holds a4 (GOOD is 13 lines, then "extra:", a0..a3): its aliases pass the limit
    _views(stubs, f"warning: {bad}: line 19: {ALIASES}\n")
    stop = stubs.run("stop", "--root", stubs.root, "--run-dir", os.path.dirname(bad))
    assert (stop.returncode, stop.stderr) == (1, f"Error: {bad}: line 19: {ALIASES}\n")


def test_a_5_mb_run_info_is_refused_in_one_line_after_reading_256_kib(stubs):
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK))
    filler = "".join(f"unknown_key_{i}: {'v' * 40}\n" for i in range(5 * 2**20 // 60))
    bad = _make_run(stubs.root, RUN_BAD, GOOD.replace("r1", RUN_BAD) + filler)
    assert os.path.getsize(bad) > 5 * 10**6
    _views(stubs, f"warning: {bad}: larger than 256 KiB; refusing to read it\n")


@pytest.mark.parametrize("field, value", [("pgid", 2**31), ("pid", 2**31), ("pid", -(2**31)),
                                          ("pgid", 2**63 - 1)])
def test_pid_or_pgid_beyond_a_pid_t_is_a_field_error_not_an_overflow(stubs, field, value):
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK))
    text = dump_run_info(RunInfo(version=1, run_id=RUN_BAD, project_id=PROJECT, task_id=TASK,
                                 agent="claude", pid=123, pgid=123, exit_code=-1, status="running",
                                 start_time=1771601446 * 10**9))
    line = 6 if field == "pid" else 7
    bad = _make_run(stubs.root, RUN_BAD, text.replace(f"{field}: 123", f"{field}: {value}"))
    message = f"{bad}: {field}: line {line}: out of range: {value}"
    _views(stubs, f"warning: {message}\n")
    proc = stubs.run("stop", "--root", stubs.root, "--run-dir", os.path.dirname(bad))
    assert (proc.returncode, proc.stderr) == (1, f"Error: {message}\n")
    proc = stubs.run("stop", "--root", stubs.root, "--project", PROJECT, "--task", TASK)
    assert (proc.returncode, proc.stderr) == \
        (1, f"Error: no running runs found for project {PROJECT} task {TASK}\n")
    watch = stubs.run("watch", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                      "--timeout", "1s")
    assert "Traceback" not in watch.stderr and "OverflowError" not in watch.stderr


@pytest.mark.parametrize("field", ["cwd", "prompt_path", "output_path", "stdout_path", "stderr_path"])
def test_a_path_field_with_a_nul_byte_is_a_field_error_not_a_valueerror(stubs, field):
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK))
    bad = _make_run(stubs.root, RUN_BAD, GOOD.replace("r1", RUN_BAD) + f'{field}: "/tmp/a\\0b"\n')
    message = f"{bad}: {field}: line 14: contains a NUL byte"
    _views(stubs, f"warning: {message}\n")
    activity = stubs.run("status", "--root", stubs.root, "--project", PROJECT, "--activity")
    assert (activity.returncode, activity.stderr) == (0, f"warning: {message}\n")


def test_zero_and_negative_pids_stay_readable(stubs):
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK).replace("pid: 123", "pid: -5")
              .replace("pgid: 123", "pgid: 0"))
    proc = stubs.run("list", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--json")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert [r["status"] for r in json.loads(proc.stdout)["runs"]] == ["completed"]


# ----------------------------------------------------------------------------- TASK-CONFIG.yaml

@pytest.mark.parametrize("text, problem", [
    ("depends_on:\n  - x\nextra:\n" + alias_bomb(), f"TASK-CONFIG.yaml:8: {ALIASES}"),
    ("depends_on: []\n" + "#" * (300 * 1024) + "\n",
     "TASK-CONFIG.yaml: larger than 256 KiB; refusing to read it"),
], ids=["alias bomb", "300 KiB"])
def test_hostile_task_config_is_one_warning_and_the_task_still_listed(stubs, text, problem):
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK))
    task_dir = os.path.join(stubs.root, PROJECT, TASK)
    with open(os.path.join(task_dir, "TASK-CONFIG.yaml"), "w") as f:
        f.write(text)
    warning = f"warning: task {TASK}: {task_dir}/{problem}\n"
    for verb in ("list", "status"):
        code, out, err, rss = measured(stubs, verb, "--root", stubs.root, "--project", PROJECT)
        assert (code, err) == (0, warning) and rss < MAX_RSS_KIB
        assert out.splitlines()[1].split()[0] == TASK


# ----------------------------------------------------------------------------- config

def _job(stubs, *extra):
    return stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", *extra)


@pytest.mark.parametrize("text, message", [
    ("agents:\n  claude:\n    env:\n" + alias_bomb("      "), f"bad.yaml:8: {ALIASES}"),
    ("agents: &a\n  claude: *a\n", f"bad.yaml:2: {ALIASES}"),
    ("agents:\n  claude: {}\n" + "#" * (1 << 20) + "\n",
     "bad.yaml: larger than 1 MiB; refusing to read it"),
    ('agents:\n  claude:\n    env:\n      "A\\0B": x\n',
     'bad.yaml:3: agents.claude.env: variable name "A\\x00B" contains a NUL byte'),
    ('agents:\n  claude:\n    env:\n      A: "x\\0y"\n', "bad.yaml:4: agents.claude.env.A: contains a NUL byte"),
    ('agents:\n  claude:\n    env:\n      A=B: x\n', 'bad.yaml:3: agents.claude.env: variable name "A=B" contains "="'),
    ('agents:\n  claude:\n    env:\n      "": x\n', "bad.yaml:3: agents.claude.env: empty variable name"),
    ('agents:\n  claude:\n    model: "m\\0"\n', "bad.yaml:3: agents.claude.model: contains a NUL byte"),
    ('agents:\n  claude: {}\nstorage:\n  runs_dir: "/tmp/a\\0b"\n',
     "bad.yaml:4: storage.runs_dir: contains a NUL byte"),
], ids=["alias bomb", "alias cycle", "over 1 MiB", "NUL in env name", "NUL in env value",
        "= in env name", "empty env name", "NUL in model", "NUL in runs_dir"])
def test_hostile_config_is_one_error_line_and_nothing_is_written(stubs, text, message):
    (stubs.base / "bad.yaml").write_text(text)
    code, out, err, rss = measured(stubs, "job", "--config", "bad.yaml", "--root", stubs.root,
                                   "--project", PROJECT, "--task", TASK, "--prompt", "STUB: hi")
    assert (code, out, err) == (1, "", f"Error: {message}\n") and rss < MAX_RSS_KIB
    assert not os.path.exists(stubs.root)


def test_nul_in_storage_runs_dir_is_refused_by_views_too(stubs):
    (stubs.base / "bad.yaml").write_text('storage:\n  runs_dir: "/tmp/a\\0b"\n')
    proc = stubs.run("list", "--config", "bad.yaml")
    assert (proc.returncode, proc.stdout, proc.stderr) == \
        (1, "", "Error: bad.yaml:2: storage.runs_dir: contains a NUL byte\n")


# ----------------------------------------------------------------------------- arguments

BAD = "\udcff"  # how Python hands over an argv byte 0xff; subprocess turns it back into 0xff


@pytest.mark.parametrize("args, message", [
    (("job", "--prompt", "h\u00e9" + BAD), "--prompt: not valid UTF-8 text (byte 3)"),
    (("job", "--prompt-file", "bad-prompt.md"), "bad-prompt.md: not valid UTF-8 text (byte 6)"),
    (("job", "batch", "--prompt", "ok", "--prompt", BAD), "--prompt: not valid UTF-8 text (byte 0)"),
    (("job", "batch", "--prompt-file", "bad-prompt.md"), "bad-prompt.md: not valid UTF-8 text (byte 6)"),
    (("task", "--prompt", "x" + BAD), "--prompt: not valid UTF-8 text (byte 1)"),
    (("job", "--prompt", "STUB: hi", "--cwd", "/tmp/" + BAD), "--cwd: not valid UTF-8 text (byte 5)"),
    (("bus", "post", "--body", "ab" + BAD), "--body: not valid UTF-8 text (byte 2)"),
    (("bus", "post", "--type", BAD, "--body", "x"), "--type: not valid UTF-8 text (byte 0)"),
], ids=["prompt", "prompt file", "batch prompt", "batch prompt file", "task prompt", "cwd",
        "bus body", "bus type"])
def test_text_arguments_that_are_not_utf8_are_one_line_and_write_nothing(stubs, args, message):
    (stubs.base / "bad-prompt.md").write_bytes(b"hello \xff\xfe")
    extra = ("--root", stubs.root, "--project", PROJECT)
    if args[0] != "bus" and "batch" not in args:
        extra += ("--task", TASK, "--agent", "claude")
    elif "batch" in args:
        extra += ("--agent", "claude")
    proc = stubs.run(*args, *extra)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", f"Error: {message}\n")
    assert not os.path.exists(stubs.root)


@pytest.mark.parametrize("verb", [("job",), ("task",)])
def test_without_task_the_error_is_still_the_only_line(stubs, verb):
    (stubs.base / "bad-prompt.md").write_bytes(b"\xff")
    for bad in (("--prompt", BAD), ("--prompt-file", "bad-prompt.md"), ("--prompt", "x", "--cwd", BAD)):
        proc = stubs.run(*verb, "--root", stubs.root, "--project", PROJECT, "--agent", "claude", *bad)
        assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.endswith(": not valid UTF-8 text (byte 0)\n")
    assert not os.path.exists(stubs.root)


def test_a_runs_root_that_is_not_utf8_is_refused_before_a_run_starts(stubs):
    root = str(stubs.base / ("r" + BAD))
    proc = stubs.run("job", "--root", root, "--project", PROJECT, "--task", TASK, "--agent",
                     "claude", "--prompt", "STUB: hi")
    byte = len(os.fsencode(root)) - 1
    assert (proc.returncode, proc.stderr) == (1, f"Error: --root: not valid UTF-8 text (byte {byte})\n")
    assert not os.path.exists(root)


# ----------------------------------------------------------------------------- propagation state

@pytest.mark.parametrize("text", ["x:\n" + alias_bomb(), "a: &a [*a]\n", "at: 2026-13-45\n",
                                  "<<: *nothing\n"], ids=["alias bomb", "cycle", "bad date", "bad alias"])
def test_a_hostile_propagation_state_counts_as_none(tmp_path, text):
    from conductor.runner.propagation import _read_state
    path = tmp_path / "TASK-COMPLETE-FACT-PROPAGATION.yaml"
    path.write_text(text)
    assert _read_state(str(path)) == {}
    path.write_text("version: 1\nlast_propagation_key: k\n")
    assert _read_state(str(path)) == {"version": 1, "last_propagation_key": "k"}


# ----------------------------------------------------------------------------- the console's scan

def test_the_consoles_first_scan_of_a_hostile_root_is_quick_small_and_complete(stubs):
    """Every hostile file of this suite in one root: the console's data layer still reads every
    task (bad runs `unknown` with their error), in bounded memory."""
    _make_run(stubs.root, RUN_OK, GOOD.replace("r1", RUN_OK))
    _make_run(stubs.root, RUN_BAD, GOOD.replace("r1", RUN_BAD).replace("pgid: 123", f"pgid: {2**31}"))
    _make_run(stubs.root, "20260220-1530470000-100-0003",
              GOOD.replace("r1", "x") + "extra:\n" + alias_bomb())
    _make_run(stubs.root, "20260220-1530480000-100-0004",
              GOOD.replace("r1", "y") + "".join(f"k{i}: {'v' * 40}\n" for i in range(100_000)))
    _make_run(stubs.root, "20260220-1530490000-100-0005", GOOD.replace("r1", "z") + 'cwd: "\\0"\n')
    _bus(stubs.root, ("---\nmsg_id: BOMB\nmeta:\n" + alias_bomb() + "---\nx\n").encode())
    with open(os.path.join(stubs.root, PROJECT, TASK, "TASK-CONFIG.yaml"), "w") as f:
        f.write("x:\n" + alias_bomb())
    script = ("import time\nfrom conductor.console.status import read_root\n"
              "(project,) = read_root(%r, project=None, now_ns=time.time_ns())\n"
              "(task,) = project.tasks\n"
              "print(task.task, task.last_bus_type or '-', task.error)\n"
              "for run in task.runs: print(run.run_id, run.status, (run.error or '-')"
              ".replace(%r, '<task>'))\n" % (stubs.root, os.path.join(stubs.root, PROJECT, TASK)))
    code, out, err, rss = measured(stubs, script, command=("-c",))
    assert (code, err) == (0, "") and rss < MAX_RSS_KIB
    lines = out.splitlines()
    task_dir = os.path.join(stubs.root, PROJECT, TASK)
    assert lines[0] == f"{TASK} - {task_dir}/TASK-CONFIG.yaml:6: {ALIASES}"
    info = "<task>/runs/{}/run-info.yaml: "
    assert sorted(lines[1:]) == sorted([
        f"{RUN_OK} completed -",
        f"{RUN_BAD} unknown " + info.format(RUN_BAD) + f"pgid: line 7: out of range: {2**31}",
        "20260220-1530470000-100-0003 unknown " + info.format("20260220-1530470000-100-0003")
        + f"line 19: {ALIASES}",
        "20260220-1530480000-100-0004 unknown " + info.format("20260220-1530480000-100-0004")
        + "larger than 256 KiB; refusing to read it",
        "20260220-1530490000-100-0005 unknown " + info.format("20260220-1530490000-100-0005")
        + "cwd: line 14: contains a NUL byte",
    ])


def test_a_non_utf8_path_is_printed_as_its_bytes_even_on_a_strict_stdout(stubs, tmp_path):
    here = os.path.join(os.fsencode(str(tmp_path)), b"d\xff", b"p")
    os.makedirs(here)
    open(os.path.join(here, b"MESSAGE-BUS.md"), "wb").close()
    env = dict(stubs.env, PYTHONIOENCODING="utf-8:strict")
    proc = subprocess.run([sys.executable, "-m", "conductor", "bus", "discover", "--from", here],
                          env=env, capture_output=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == \
        (0, os.path.join(here, b"MESSAGE-BUS.md") + b"\n", b"")


def test_a_deeply_nested_json_line_in_an_agents_stdout_does_not_stop_the_stream_sniffer(tmp_path):
    from conductor.agents.display import sniff_stream_type
    path = tmp_path / "agent-stdout.txt"
    path.write_text('{"a":' + "[" * 4000 + '\n{"type":"thread.started"}\n')
    assert sniff_stream_type(str(path)) == "codex"
