"""`run-agent bus post | read | discover`: resolution, output formats, errors (spec 5.4-5.6)."""

import os
import subprocess
import sys

import pytest

from conductor.bus import Message, MessageBus

PROJECT, TASK = "proj", "task-20260220-153045-busy"


def cli(env, *args, cwd=None, stdin=subprocess.DEVNULL, timeout=30):
    return subprocess.run([sys.executable, "-m", "conductor", *args], env=env, cwd=cwd, stdin=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def root(tmp_path):
    task_dir = tmp_path / "runs" / PROJECT / TASK
    (task_dir / "runs" / "20260220-1530450000-1-0001").mkdir(parents=True)
    return tmp_path / "runs"


def test_post_with_env_bus_prints_msg_id_and_infers_scope(root, subprocess_env):
    bus_path = root / PROJECT / TASK / "TASK-MESSAGE-BUS.md"
    env = dict(subprocess_env, JRUN_MESSAGE_BUS=str(bus_path), JRUN_ID="run-7")
    res = cli(env, "bus", "post", "--type", "FACT", "--body", "found it")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("msg_id: MSG-") and res.stdout.endswith("\n")
    [msg] = MessageBus(str(bus_path)).read_all()
    assert (msg.msg_id, msg.type, msg.project_id, msg.task_id, msg.run_id, msg.body) == \
        (res.stdout[8:-1], "FACT", PROJECT, TASK, "run-7", "found it")


def test_post_reads_a_piped_body_and_never_hangs_on_an_open_pipe(root, subprocess_env):
    bus_path = root / PROJECT / TASK / "TASK-MESSAGE-BUS.md"
    env = dict(subprocess_env, JRUN_MESSAGE_BUS=str(bus_path))
    piped = subprocess.run([sys.executable, "-m", "conductor", "bus", "post"], env=env, input="from stdin\n",
                           capture_output=True, text=True, timeout=30)
    assert piped.returncode == 0, piped.stderr
    assert MessageBus(str(bus_path)).read_all()[-1].body == "from stdin"
    # a pipe that stays open and silent (an agent's inherited stdin) must not hang the post
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "bus", "post", "--type", "INFO"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.wait(timeout=30) == 1  # stdin is still open here
        err = proc.stderr.read()
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()
    assert err == ("Error: no --body given and stdin sent nothing for 5s without closing; "
                   "pass --body or close stdin\n")


def test_post_by_project_and_task_and_explicit_flags_win_over_env(root, subprocess_env):
    other = root / PROJECT / "TASK-MESSAGE-BUS.md"
    env = dict(subprocess_env, JRUN_MESSAGE_BUS=str(root / PROJECT / TASK / "TASK-MESSAGE-BUS.md"))
    res = cli(env, "bus", "post", "--root", str(root), "--project", PROJECT, "--body", "to project")
    assert res.returncode == 0, res.stderr
    assert [m.body for m in MessageBus(str(root / PROJECT / "PROJECT-MESSAGE-BUS.md")).read_all()] == ["to project"]
    assert not os.path.exists(env["JRUN_MESSAGE_BUS"])
    assert not other.exists() or True


def test_post_from_inside_a_run_dir_walks_up_to_run_info(root, subprocess_env):
    from conductor.store import RunInfo, write_run_info
    run_dir = root / PROJECT / TASK / "runs" / "20260220-1530450000-1-0001"
    write_run_info(str(run_dir / "run-info.yaml"), RunInfo(run_id="20260220-1530450000-1-0001",
                                                          project_id=PROJECT, task_id=TASK, status="running"))
    (run_dir / "sub").mkdir()
    res = cli(subprocess_env, "bus", "post", "--body", "walked", cwd=str(run_dir / "sub"))
    assert res.returncode == 0, res.stderr
    [msg] = MessageBus(str(root / PROJECT / TASK / "TASK-MESSAGE-BUS.md")).read_all()
    assert (msg.project_id, msg.task_id, msg.run_id, msg.body) == (PROJECT, TASK, "20260220-1530450000-1-0001", "walked")


def test_no_bus_anywhere_is_a_clear_error(tmp_path, subprocess_env):
    res = cli(subprocess_env, "bus", "post", "--body", "x", cwd=str(tmp_path))
    assert res.returncode == 1
    assert res.stderr.startswith("Error: cannot find message bus: run from inside a task or project directory: "
                                 f'no message bus file found from "{tmp_path}"')
    res = cli(subprocess_env, "bus", "discover", "--from", str(tmp_path))
    assert res.returncode == 1 and "cannot find message bus" in res.stderr


def test_env_bus_must_name_a_bus_file(tmp_path, subprocess_env):
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0\n")
    res = cli(dict(subprocess_env, JRUN_MESSAGE_BUS=str(target), JRUN_PROJECT_ID="p"), "bus", "post", "--body", "x")
    assert res.returncode == 1
    assert "does not name a message bus file" in res.stderr
    assert target.read_text() == "root:x:0:0\n"


def test_path_escapes_are_refused(root, subprocess_env):
    for project, task in (("../etc", TASK), (PROJECT, "../../x"), (PROJECT, "/abs"), ("p\u0430", TASK)):
        res = cli(subprocess_env, "bus", "post", "--root", str(root), "--project", project, "--task", task,
                  "--body", "x")
        assert res.returncode == 1 and res.stderr.startswith("Error: invalid "), (project, task, res.stderr)
        assert len(res.stderr.splitlines()) == 1
    assert sorted(os.listdir(root)) == [PROJECT]


def test_read_format_tail_and_discover(root, subprocess_env):
    bus_path = root / PROJECT / TASK / "TASK-MESSAGE-BUS.md"
    bus = MessageBus(str(bus_path))
    for i in range(30):
        bus.append(Message(type="PROGRESS", project_id=PROJECT, task_id=TASK, ts=1771601445000000000 + i * 10**9,
                           body=f"step {i}" + ("\nsecond line" if i == 29 else "")))
    res = cli(subprocess_env, "bus", "read", "--root", str(root), "--project", PROJECT, "--task", TASK)
    lines = res.stdout.splitlines()
    assert res.returncode == 0 and len(lines) == 21
    assert lines[0] == "[2026-02-20 15:30:55] (PROGRESS) step 10"
    assert lines[-2:] == ["[2026-02-20 15:31:14] (PROGRESS) step 29", "second line"]
    res = cli(subprocess_env, "bus", "read", "--root", str(root), "--project", PROJECT, "--task", TASK, "--tail", "0")
    assert len(res.stdout.splitlines()) == 31
    res = cli(subprocess_env, "bus", "discover", cwd=str(root / PROJECT / TASK / "runs"))
    assert res.stdout == f"{bus_path}\n"


def test_read_follow_prints_new_messages_once(root, subprocess_env):
    bus_path = root / PROJECT / TASK / "TASK-MESSAGE-BUS.md"
    bus = MessageBus(str(bus_path))
    bus.append(Message(type="INFO", project_id=PROJECT, body="before"))
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "bus", "read", "--follow", "--root", str(root),
                             "--project", PROJECT, "--task", TASK], env=subprocess_env, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().endswith("(INFO) before\n")
        for i in range(3):
            bus.append(Message(type="FACT", project_id=PROJECT, body=f"new {i}"))
        bus.rotate()
        bus.append(Message(type="FACT", project_id=PROJECT, body="after rotation"))
        got = [proc.stdout.readline() for _ in range(4)]
        assert [g.split(") ", 1)[1] for g in got] == ["new 0\n", "new 1\n", "new 2\n", "after rotation\n"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# Modules an agent's `run-agent bus post` must not load: each costs milliseconds of a 35 ms
# budget (YAML, dataclasses with inspect, typing, shutil's compressors) or far more (Textual).
HEAVY = ("yaml", "dataclasses", "typing", "shutil", "textual", "rich", "psutil", "threading",
         "conductor.store.runinfo", "conductor.config", "secrets")


def test_bus_post_from_an_agent_loads_no_heavy_module(root, subprocess_env):
    run_dir = root / PROJECT / TASK / "runs" / "20260220-1530450000-1-0001"
    env = dict(subprocess_env, JRUN_PROJECT_ID=PROJECT, JRUN_TASK_ID=TASK,
               JRUN_ID="20260220-1530450000-1-0001", JRUN_RUN_FOLDER=str(run_dir),
               JRUN_MESSAGE_BUS=str(root / PROJECT / TASK / "TASK-MESSAGE-BUS.md"))
    code = ("import sys; from conductor.cli.main import main; code = main(sys.argv[1:]); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); sys.exit(code)")
    for args in (["bus", "post", "--type", "FACT", "--body", "light"], ["bus", "read", "--tail", "5"]):
        res = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=str(run_dir),
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[-1] == "[]", (args, res.stdout)
    assert [m.body for m in MessageBus(env["JRUN_MESSAGE_BUS"]).read_all()] == ["light"]


def test_help_wraps_at_the_terminal_width(subprocess_env):
    """Help is laid out for $COLUMNS (else the terminal), as argparse does with shutil."""
    widths = {}
    for columns in ("50", "200"):
        res = cli(dict(subprocess_env, COLUMNS=columns), "bus", "read", "--help")
        assert res.returncode == 0, res.stderr
        widths[columns] = max(len(line) for line in res.stdout.splitlines())
    assert widths["50"] <= 50 < widths["200"]
