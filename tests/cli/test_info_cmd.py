"""``list``, ``status`` and ``watch``: exact tables and JSON, start-time ordering, read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conductor.bus import Message, MessageBus
from conductor.cli.main import main
from conductor.store import Layout, RunInfo, write_depends_on, write_run_info
from conductor.timefmt import NS, parse_timestamp

P = "proj"
T1 = "task-20260220-153045-alpha"
T2 = "task-20260220-153046-beta"
T3 = "task-20260220-153047-gamma"
RUN9 = "20260220-1530450000-100-9"
RUN10 = "20260220-1530450000-100-10"


pytestmark = pytest.mark.usefixtures("utc_isolated")


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def make_task(root: str, task: str, project: str = P) -> str:
    return Layout(root).ensure_task_dir(project, task)


def ts(value: str | int | None) -> int | None:
    return parse_timestamp(value) if isinstance(value, str) else value


def live_start() -> int:
    """A start time after this process was created, so its pid counts as the run's agent."""
    return time.time_ns()


def make_run(root: str, task: str, run_id: str, *, status: str = "completed",
             start: str | int | None,
             end: str | None = None, exit_code: int = 0, pid: int = 0, project: str = P,
             files: dict[str, bytes] | None = None) -> str:
    task_dir = make_task(root, task, project)
    run_dir = os.path.join(task_dir, "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=project, task_id=task, agent="claude", pid=pid, pgid=pid,
        start_time=ts(start), end_time=ts(end), exit_code=exit_code, status=status))
    for name, data in (files or {}).items():
        with open(os.path.join(run_dir, name), "wb") as f:
            f.write(data)
    return run_dir


def set_mtime(path: str, text: str) -> None:
    ns = parse_timestamp(text)
    os.utime(path, ns=(ns, ns))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def two_runs(root: str) -> str:
    """Run ``…-10`` started after ``…-9`` although it sorts first as text (9 #20)."""
    make_run(root, T1, RUN9, start="2026-02-20T15:30:45Z", end="2026-02-20T15:31:15.6Z")
    make_run(root, T1, RUN10, status="failed", start="2026-02-20T15:30:46Z",
             end="2026-02-20T15:32:46Z", exit_code=1)
    task_dir = Layout(root).task_dir(P, T1)
    set_mtime(task_dir, "2026-02-21T10:11:12Z")
    return task_dir


# ----------------------------------------------------------------------------- list

def test_list_projects_sorted_valid_dirs_only(root, capsys):
    for name in ("zeta", "alpha", "Not_Valid"):
        os.makedirs(os.path.join(root, name))
    open(os.path.join(root, "stray-file"), "w").close()
    assert run(capsys, "list", "--root", root) == (0, "alpha\nzeta\n", "")
    code, out, _ = run(capsys, "list", "--root", root, "--json")
    assert out == '{\n  "projects": [\n    "alpha",\n    "zeta"\n  ]\n}\n'


def test_list_projects_empty_root_json_is_null_like_go(root, capsys):
    os.makedirs(root)
    assert run(capsys, "list", "--root", root, "--json") == (0, '{\n  "projects": null\n}\n', "")


def test_list_missing_root_and_task_without_project(root, capsys):
    assert run(capsys, "list", "--root", root) == (1, "", f"Error: root directory not found: {root}\n")
    assert run(capsys, "list", "--root", root, "--task", T1) == (
        1, "", "Error: --task requires --project\n")
    os.makedirs(root)
    assert run(capsys, "list", "--root", root, "--project", "nope") == (
        1, "", f"Error: project directory not found: {os.path.join(root, 'nope')}\n")


def test_list_tasks_table(root, capsys):
    two_runs(root)
    done_dir = make_task(root, T2)
    open(os.path.join(done_dir, "DONE"), "w").close()
    set_mtime(done_dir, "2026-02-22T08:00:59Z")
    blocked = make_task(root, T3)
    write_depends_on(blocked, [T1, T2])
    set_mtime(blocked, "2026-02-23T00:00:00Z")
    code, out, err = run(capsys, "list", "--root", root, "--project", P)
    assert (code, err) == (0, "")
    assert out == (
        "TASK_ID                     RUNS  LATEST_STATUS  DONE  BLOCKED_BY                  LAST_ACTIVITY\n"
        "task-20260220-153045-alpha  2     failed         -     -                           2026-02-21 10:11\n"
        "task-20260220-153046-beta   0     done           DONE  -                           2026-02-22 08:00\n"
        "task-20260220-153047-gamma  0     blocked        -     task-20260220-153045-alpha  2026-02-23 00:00\n")


def test_list_tasks_json(root, capsys):
    two_runs(root)
    blocked = make_task(root, T3)
    write_depends_on(blocked, [T1])
    set_mtime(blocked, "2026-02-23T00:00:00Z")
    code, out, _ = run(capsys, "list", "--root", root, "--project", P, "--json")
    assert code == 0
    assert json.loads(out) == {"tasks": [
        {"task_id": T1, "runs": 2, "latest_status": "failed", "done": False,
         "last_activity": "2026-02-21T10:11:12Z"},
        {"task_id": T3, "runs": 0, "latest_status": "blocked", "done": False,
         "last_activity": "2026-02-23T00:00:00Z", "depends_on": [T1], "blocked_by": [T1]}]}
    assert out.startswith('{\n  "tasks": [\n    {\n      "task_id": ')


def test_list_runs_ordered_by_start_time_not_id_text(root, capsys):
    two_runs(root)
    code, out, _ = run(capsys, "list", "--root", root, "--project", P, "--task", T1)
    assert out == (
        "RUN_ID                      STATUS     EXIT_CODE  STARTED              DURATION\n"
        "20260220-1530450000-100-9   completed  0          2026-02-20 15:30:45  31s\n"
        "20260220-1530450000-100-10  failed     1          2026-02-20 15:30:46  2m0s\n")
    code, out, _ = run(capsys, "list", "--root", root, "--project", P, "--task", T1, "--json")
    assert json.loads(out)["runs"] == [
        {"run_id": RUN9, "status": "completed", "exit_code": 0, "started": "2026-02-20 15:30:45",
         "duration": "31s"},
        {"run_id": RUN10, "status": "failed", "exit_code": 1, "started": "2026-02-20 15:30:46",
         "duration": "2m0s"}]


def test_list_runs_started_is_local_time(root, capsys, monkeypatch):
    two_runs(root)
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--task", T1)
    assert "2026-02-20 21:00:45" in out  # 15:30:45Z + 5:30


def test_list_runs_orphan_running_and_missing(root, capsys):
    start = live_start()
    make_run(root, T1, RUN9, status="running", start=start, exit_code=-1, pid=os.getpid())
    os.makedirs(os.path.join(root, P, T1, "runs", "20990101-0000000000-100-1"))
    code, out, _ = run(capsys, "list", "--root", root, "--project", P, "--task", T1)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start // NS))
    assert out.splitlines()[1:] == [
        f"20260220-1530450000-100-9  running  -1         {started}  running",
        "20990101-0000000000-100-1  unknown  0                               -"]
    assert run(capsys, "list", "--root", root, "--project", P, "--task", T2)[2] == (
        f"Error: no runs found for project {P} task {T2}\n")


def test_list_shows_cancelled_and_stopped(root, capsys):
    t1 = make_task(root, T1)
    with open(os.path.join(t1, "CANCELLED"), "w") as f:
        f.write("cancelled_at: 2026-02-20T15:30:45Z\nreason: no longer needed\n")
    make_run(root, T2, RUN9, start="2026-02-20T15:30:45Z", end="2026-02-20T15:31:00Z")
    with open(os.path.join(root, P, T2, "STOP-REQUESTED"), "w") as f:
        f.write("permanent\n")
    make_run(root, T3, RUN9, status="running", start=live_start(), pid=os.getpid())
    open(os.path.join(root, P, T3, "STOP-REQUESTED"), "w").close()
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--json")
    statuses = {t["task_id"]: t["latest_status"] for t in json.loads(out)["tasks"]}
    assert statuses == {T1: "cancelled", T2: "stopped", T3: "running"}
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--status", "cancelled")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [T1]


def test_list_status_filters(root, capsys):
    make_run(root, T1, RUN9, status="running", start=live_start(), pid=os.getpid())
    make_run(root, T2, RUN9, status="failed", start="2026-02-20T15:30:45Z",
             end="2026-02-20T15:31:00Z", exit_code=1)
    open(os.path.join(root, P, T2, "DONE"), "w").close()
    make_task(root, T3)

    def ids(*flags):
        code, out, err = run(capsys, "list", "--root", root, "--project", P, *flags)
        return [line.split()[0] for line in out.splitlines()[1:]], err

    assert ids("--status", "active") == ([T1], "")
    assert ids("--status", "RUNNING") == ([T1], "")
    assert ids("--status", "failed") == ([T2], "")
    assert ids("--status", "done") == ([T2], "")
    assert ids("--status", "all_finished") == ([T2], "")
    assert ids("--status", "queued") == ([T3], "")
    assert ids("--status", "blocked") == ([], "")
    assert ids("--status", "bogus") == (
        [T1, T2, T3], 'warning: unknown --status filter "bogus"; showing all tasks\n')
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--status", "blocked",
                    "--json")
    assert out == '{\n  "tasks": null\n}\n'


def test_list_activity_columns(root, capsys, monkeypatch):
    start = time.time_ns() - 30 * 60 * NS
    # a live agent cannot have started 30 minutes before this test process: the record has no
    # process behind it, and the probe is told it lives (a real pid-0 record without a live
    # runner reads failed)
    import conductor.store.taskview as taskview
    monkeypatch.setattr(taskview, "runs_alive", lambda infos: [True] * len(infos))
    make_run(root, T1, RUN9, status="running", start=start, pid=0)
    bus = MessageBus(os.path.join(root, P, T1, "TASK-MESSAGE-BUS.md"))
    bus.append(Message(type="PROGRESS", project_id=P, task_id=T1, body="  step\n\tone  "))
    code, out, _ = run(capsys, "list", "--root", root, "--project", P, "--json", "--activity",
                       "--drift-after", "10m")
    activity = json.loads(out)["tasks"][0]["activity"]
    assert activity["latest_bus_message"]["type"] == "PROGRESS"
    assert activity["latest_bus_message"]["body_preview"] == "step one"
    assert activity["last_meaningful_signal_at"] is None
    assert activity["analysis_drift_risk"] is True
    assert activity["drift_threshold_seconds"] == 600
    assert activity["drift_reason"].startswith("running for 30m")
    assert activity["drift_reason"].endswith("s without meaningful bus signal")
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--activity")
    header, row = out.splitlines()
    assert header.split() == ["TASK_ID", "RUNS", "LATEST_STATUS", "DONE", "BLOCKED_BY",
                              "LAST_ACTIVITY", "LAST_BUS", "LAST_OUTPUT", "MEANINGFUL_AGE",
                              "DRIFT_RISK", "DRIFT_REASON"]
    assert " PROGRESS step one " in row and " risk " in row


# ----------------------------------------------------------------------------- status

def test_status_table_uses_newest_run_by_start_time(root, capsys):
    two_runs(root)
    done_dir = make_task(root, T2)
    open(os.path.join(done_dir, "DONE"), "w").close()
    make_task(root, T3)
    code, out, err = run(capsys, "status", "--root", root, "--project", P)
    assert (code, err) == (0, "")
    assert out == (
        "TASK_ID                     STATUS  EXIT_CODE  LATEST_RUN                  DONE   PID_ALIVE  BLOCKED_BY\n"
        "task-20260220-153045-alpha  failed  1          20260220-1530450000-100-10  false  false      -\n"
        "task-20260220-153046-beta   done    -          -                           true   -          -\n"
        "task-20260220-153047-gamma  -       -          -                           false  -          -\n")


def test_status_json_and_concise(root, capsys):
    two_runs(root)
    make_run(root, T2, RUN9, status="running", start=live_start(), exit_code=-1,
             pid=os.getpid())
    code, out, _ = run(capsys, "status", "--root", root, "--project", P, "--json")
    assert json.loads(out) == {"tasks": [
        {"task_id": T1, "status": "failed", "exit_code": 1, "latest_run": RUN10, "done": False,
         "pid_alive": False},
        {"task_id": T2, "status": "running", "exit_code": -1, "latest_run": RUN9, "done": False,
         "pid_alive": True}]}
    code, out, _ = run(capsys, "status", "--root", root, "--project", P, "--concise",
                       "--task", T2, "--task", T1)
    assert out == (f"{T1}\tfailed\t1\t{RUN10}\tfalse\tfalse\n"
                   f"{T2}\trunning\t-1\t{RUN9}\tfalse\ttrue\n")


def test_status_filters_and_empty_messages(root, capsys):
    two_runs(root)
    make_task(root, T3)
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--status", "pending",
                    "--concise")
    assert out == f"{T3}\t-\t-\t-\tfalse\t-\n"
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--status", "active")
    assert out == ("TASK_ID  STATUS  EXIT_CODE  LATEST_RUN  DONE  PID_ALIVE  BLOCKED_BY\n"
                   'No status rows matched --status "active" in project proj.\n')
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--status", "done",
                    "--concise", "--task", T1)
    assert out == f'No status rows matched --status "done" for task {T1}.\n'
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--status", "done",
                    "--json")
    assert out == '{\n  "tasks": []\n}\n'


def test_status_errors(root, capsys):
    os.makedirs(os.path.join(root, P))
    assert run(capsys, "status", "--root", root) == (
        1, "", 'Error: required flag(s) "project" not set\n')
    assert run(capsys, "status", "--root", root, "--project", P, "--json", "--concise") == (
        1, "", "Error: --concise cannot be used with --json\n")
    assert run(capsys, "status", "--root", root, "--project", P, "--task", T1)[2] == (
        f"Error: task directory not found: {os.path.join(root, P, T1)}\n")
    assert run(capsys, "status", "--root", root, "--project", "other")[2] == (
        f"Error: project directory not found: {os.path.join(root, 'other')}\n")


def test_status_orphan_newest_run_is_unknown(root, capsys):
    make_run(root, T1, RUN9, start="2026-02-20T15:30:45Z", end="2026-02-20T15:31:00Z")
    os.makedirs(os.path.join(root, P, T1, "runs", "20260220-1530500000-100-1"))
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--concise")
    assert out == f"{T1}\tunknown\t-\t20260220-1530500000-100-1\tfalse\t-\n"


# ----------------------------------------------------------------------------- read-only

def snapshot(root: str) -> dict[str, tuple[int, bytes]]:
    state = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = open(path, "rb").read() if os.path.isfile(path) else b""
            state[path] = (st.st_mtime_ns, data)
    return state


def test_views_never_write_even_for_a_dead_running_run(root, capsys):
    pid = dead_pid()
    make_run(root, T1, RUN9, status="running", start="2026-02-20T15:30:45Z", exit_code=-1,
             pid=pid, files={"agent-stdout.txt": b"partial\n"})
    make_run(root, T2, RUN9, status="running", start="2026-02-20T15:30:45Z", exit_code=-1,
             pid=pid)
    open(os.path.join(root, P, T2, "DONE"), "w").close()
    MessageBus(os.path.join(root, P, T1, "TASK-MESSAGE-BUS.md")).append(
        Message(type="FACT", project_id=P, task_id=T1, body="x"))
    before = snapshot(root)

    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--json", "--activity")
    assert [t["latest_status"] for t in json.loads(out)["tasks"]] == ["failed", "completed"]
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--task", T1)
    assert out.splitlines()[1].split()[1] == "failed"
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--concise", "--activity")
    rows = [line.split("\t")[:6] for line in out.splitlines()]
    assert rows == [[T1, "failed", "-1", RUN9, "false", "false"],
                    [T2, "completed", "0", RUN9, "true", "false"]]
    assert run(capsys, "watch", "--root", root, "--project", P, "--task", T1, "--task", T2,
               "--timeout", "0")[0] == 0
    assert run(capsys, "output", "--root", root, "--project", P, "--task", T1, "-f") == (
        0, "partial\n", "")
    assert snapshot(root) == before


# ----------------------------------------------------------------------------- watch

def test_watch_all_done_text(root, capsys):
    two_runs(root)
    open(os.path.join(make_task(root, T2), "DONE"), "w").close()
    code, out, err = run(capsys, "watch", "--root", root, "--project", P, "--task", T1,
                         "--task", T2)
    assert (code, err) == (0, "")
    assert out == (
        'Watching 2 task(s) for project "proj":\n'
        "  phase counts: active=0 blocked=0 completed=1 failed=1 pending=0\n"
        f"  {T1:<45} [failed   ] failed    duration: 2m0s\n"
        "    transition: unknown -> failed\n"
        f"  {T2:<45} [done     ] completed duration: 0m0s\n"
        "    transition: unknown -> completed\n"
        "All tasks complete.\n")


def test_watch_json_line_per_poll(root, capsys):
    two_runs(root)
    code, out, _ = run(capsys, "watch", "--root", root, "--project", P, "--task", T1, "--json")
    assert (code, out) == (0, '{"tasks":[{"task_id":"task-20260220-153045-alpha",'
                              '"status":"failed","elapsed":120,"done":true}],"all_done":true}\n')


def test_watch_timeout_exit_code_and_text(root, capsys):
    make_run(root, T1, RUN9, status="running", start=live_start(), pid=os.getpid())
    make_task(root, T2)
    code, out, err = run(capsys, "watch", "--root", root, "--project", P, "--task", T1,
                         "--task", T2, "--timeout", "300ms", "--interval", "100ms")
    assert code == 1
    assert err == "Error: timeout after 300ms: not all tasks completed\n"
    polls = out.split("  phase counts: ")
    assert len(polls) >= 3  # first poll, at least one more, then the deadline
    assert "active=1 blocked=0 completed=0 failed=0 pending=1" in polls[1]
    assert "    transition: unknown -> active\n" in polls[1]
    assert "transition" not in polls[2]  # nothing changed since the first poll
    assert "Waiting for 1 active and 0 blocked task(s)... (timeout in " in out


def test_watch_requires_a_task_and_a_project(root, capsys):
    assert run(capsys, "watch", "--root", root, "--project", P) == (
        1, "", "Error: at least one --task is required\n")
    assert run(capsys, "watch", "--root", root, "--task", T1) == (
        1, "", 'Error: required flag(s) "project" not set\n')


# ----------------------------------------------------------------------------- help

@pytest.mark.parametrize("verb,flags", [
    ("list", ["--root", "--config", "--project", "--task", "--status", "--json", "--activity",
              "--drift-after"]),
    ("status", ["--project", "--task", "--status", "--json", "--concise", "--activity",
                "--drift-after"]),
    ("output", ["--run-dir", "--project", "--task", "--run", "--tail", "--file", "--follow"]),
    ("watch", ["--project", "--task", "--timeout", "--json", "--interval"]),
    ("gc", ["--older-than", "--dry-run", "--keep-failed", "--rotate-bus", "--bus-max-size",
            "--delete-done-tasks"]),
])
def test_help_lists_every_flag(capsys, verb, flags):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out


def test_end_to_end_via_installed_command(root, tmp_path, subprocess_env):
    two_runs(root)
    # the script pip installed beside the interpreter running the tests (the venv's bin)
    exe = os.path.join(os.path.dirname(sys.executable), "run-agent")
    if not os.access(exe, os.X_OK):
        pytest.skip(f"run-agent is not installed beside {sys.executable}")
    env = dict(subprocess_env, TZ="UTC")
    proc = subprocess.run([exe, "status", "--root", root, "--project", P, "--concise"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0, f"{T1}\tfailed\t1\t{RUN10}\tfalse\tfalse\n", "")
    proc = subprocess.run([exe, "watch", "--root", root, "--project", P, "--task", T2,
                           "--timeout", "0"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == "Error: timeout after 0s: not all tasks completed\n"


def test_status_activity_with_a_recent_meaningful_signal(root, capsys):
    make_run(root, T1, RUN9, status="running", start=live_start(), exit_code=-1, pid=os.getpid(),
             files={"agent-stdout.txt": b"working\n"})
    bus = MessageBus(os.path.join(root, P, T1, "TASK-MESSAGE-BUS.md"))
    bus.append(Message(type="FACT", project_id=P, task_id=T1, body="found the bug"))
    bus.append(Message(type="PROGRESS", project_id=P, task_id=T1, body="x" * 200))
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--json", "--activity")
    activity = json.loads(out)["tasks"][0]["activity"]
    assert activity["analysis_drift_risk"] is False
    assert activity["meaningful_signal_age_seconds"] in (0, 1)
    assert activity["drift_reason"] in ("last meaningful bus signal 0s ago",
                                        "last meaningful bus signal 1s ago")
    assert activity["latest_bus_message"]["body_preview"] == "x" * 93 + "..."
    assert activity["latest_output_activity_at"] is not None
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--concise", "--activity")
    fields = out.rstrip("\n").split("\t")
    assert fields[:6] == [T1, "running", "-1", RUN9, "false", "true"]
    assert fields[7:9] == ["false", "PROGRESS"]
    assert len(fields) == 12


def test_go_shapes():
    from conductor.cli.info_render import go_json, round_to_seconds, tab_table
    assert tab_table([["A", "BB", "C"], ["long", "x", ""]]) == "A     BB  C\nlong  x   \n"
    assert go_json({"a": [1.0, 0.5, 120.25, 0.0], "b": "<&>", "c": None}, indent=None) == (
        '{"a":[1,0.5,120.25,0],"b":"\\u003c\\u0026\\u003e","c":null}\n')
    assert go_json({"e": []}) == '{\n  "e": []\n}\n'
    assert [round_to_seconds(n) for n in (1_499_999_999, 1_500_000_000, -1_500_000_000)] == [
        1, 2, -2]
