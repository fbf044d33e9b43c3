"""Faults with real processes: SIGKILL of writers, jobs and supervisors, a simulated reboot,
a full disk, and a bus rotated under two followers. Each test asserts what survives.

Decisions these tests pin down (see docs/reliability.md):

* An agent runs in a session of its own, so it **outlives** a killed ``run-agent job`` or
  ``run-agent task``: its work is not thrown away, its run-info names its own pid, and views
  show it ``running`` (truthfully) until it ends. Then they show it ``failed`` (corrected in
  memory; the file is not touched by views), and the next supervisor of the task, which owns
  it, finishes the record on disk.
* ``run-agent task stop`` stops such an orphaned agent; ``run-agent task`` and ``resume``
  start the task again because the kernel released the dead supervisor's lock.

SIGKILL of a bus writer mid-append is covered in tests/bus/test_processes.py (a torn entry
loses only itself; acknowledged messages survive random kills); here readers are added.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time

import psutil
import pytest

from console.live import select, until
from conductor.bus import BusReader, Message, MessageBus
from conductor.console.app import ConductorApp
from conductor.console.widgets.run_tree import NodeRef
from conductor.errors import RunInfoError
from conductor.store.supervision import loop_alive
from conductor.store import RunInfo, read_run_info, write_run_info

from .conftest import PROJECT, TASK, pid_gone, wait_for


def _status(rig, task=TASK) -> dict:
    proc = rig.run("status", "--root", rig.root, "--project", PROJECT, "--task", task, "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["tasks"]
    return row


def _list_runs(rig, task=TASK) -> list[dict]:
    proc = rig.run("list", "--root", rig.root, "--project", PROJECT, "--task", task, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["runs"]


def _agent_started(rig, runner_pid: int):
    """(run-info path, record) once the agent (not the runner) is recorded and has printed."""
    for path, info in rig.run_infos():
        if info.status == "running" and info.pid not in (0, runner_pid) and info.commandline:
            try:
                if os.path.getsize(info.stdout_path) > 0:
                    return path, info
            except OSError:
                pass
    return None


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


# ----------------------------------------------------------------------------- run-agent job

def test_killed_job_leaves_its_agent_running_then_reads_failed_and_task_restarts(rig):
    job = rig.spawn("job", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "STUB: tick 0.1 25")
    path, info = wait_for(lambda: _agent_started(rig, job.pid), what="agent start")
    _kill(job)

    # the agent is in its own session: it keeps working, and the record says so truthfully
    assert not pid_gone(info.pid)
    row = _status(rig)
    assert (row["status"], row["pid_alive"]) == ("running", True)

    wait_for(lambda: pid_gone(info.pid), timeout=30, what="agent exit")
    on_disk = open(path, "rb").read()
    assert read_run_info(path).status == "running"  # nobody was left to finish the record

    row = _status(rig)
    assert (row["status"], row["exit_code"], row["pid_alive"]) == ("failed", -1, False)
    assert [r["status"] for r in _list_runs(rig)] == ["failed"]
    assert open(path, "rb").read() == on_disk  # list and status only look

    # the task can be started again; its new supervisor owns the task and heals the record
    proc = rig.run("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                   "--agent", "claude", "--prompt", "STUB: done", "--max-restarts", "1")
    assert proc.returncode == 0, proc.stderr
    healed = read_run_info(path)
    assert (healed.status, healed.exit_code, healed.error_summary) == (
        "failed", -1, "reconciled stale running status: process is not alive")
    assert healed.end_time is not None
    assert [r["status"] for r in _list_runs(rig)] == ["failed", "completed"]
    assert os.path.isfile(os.path.join(rig.task_dir(), "DONE"))


def test_killed_child_job_is_marked_failed_by_the_parents_child_scan(rig):
    """A child run whose job was killed and whose agent then died is finished by the loop."""
    prompt = "STUB: first child-bg claude sleep 1.5\nSTUB: done"
    loop = rig.spawn("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", "--prompt", prompt, "--max-restarts", "1",
                     "--child-poll-interval", "100ms", "--child-wait-timeout", "30s")

    def child_job():
        for path, info in rig.run_infos():
            if info.parent_run_id and info.commandline:
                return path, info
        return None

    path, child = wait_for(child_job, what="child agent start")
    # the child's runner is the agent's parent; kill it, the child agent goes on and ends
    runner = psutil.Process(child.pid).parent()
    assert "job" in runner.cmdline()
    runner.kill()
    assert loop.wait(timeout=60) == 0
    info = read_run_info(path)
    assert (info.status, info.exit_code) == ("failed", -1)
    assert info.end_time is not None


# ----------------------------------------------------------------------------- supervisor

def test_killed_supervisor_releases_its_lock_orphan_is_stoppable_and_task_restarts(rig):
    loop = rig.spawn("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", "--prompt", "STUB: first tick 0.2 300\nSTUB: done",
                     "--max-restarts", "3", "--restart-delay", "0")
    path, info = wait_for(lambda: _agent_started(rig, loop.pid), what="agent start")
    assert loop_alive(rig.task_dir())
    _kill(loop)

    assert not loop_alive(rig.task_dir())  # the kernel dropped the flock with the process
    assert not pid_gone(info.pid)  # the orphaned agent is still at work
    assert _status(rig)["pid_alive"] is True

    # `task stop` finds it through its run-info and stops its whole group
    proc = rig.run("task", "stop", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                   "--grace", "5s", "--force")
    assert proc.returncode == 0, proc.stderr
    assert f"Stopped run {info.run_id} (PID {info.pid})" in proc.stdout
    wait_for(lambda: pid_gone(info.pid), timeout=10, what="orphan stopped")
    assert _status(rig)["status"] == "failed"

    # the lock is free: a new supervisor runs (its first attempt is a restart, so it finishes)
    proc = rig.run("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                   "--agent", "claude", "--resume", "--max-restarts", "1")
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in _list_runs(rig)] == ["failed", "completed"]


def test_second_supervisor_is_refused_while_the_first_lives(rig):
    loop = rig.spawn("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", "--prompt", "STUB: tick 0.2 300")
    wait_for(lambda: _agent_started(rig, loop.pid), what="agent start")
    proc = rig.run("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                   "--agent", "claude")
    assert proc.returncode == 1
    assert proc.stderr == (f"Error: task {TASK} already has a running loop (pid {loop.pid}); "
                           "stop it first (run-agent task stop)\n")
    proc = rig.run("task", "stop", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                   "--grace", "5s", "--force")
    assert proc.returncode == 0, proc.stderr
    assert loop.wait(timeout=30) == 1  # the loop saw STOP-REQUESTED and ended


# ----------------------------------------------------------------------------- reboot

def test_reboot_kill_every_process_then_views_say_failed_and_resume_restarts(rig):
    marker = rig.base / "grandchild.pid"
    loop = rig.spawn("task", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                     "--agent", "claude", "--max-restarts", "3",
                     "--prompt", f"STUB: first grandchild {marker}\nSTUB: first tick 0.2 300\n"
                                 "STUB: done")
    path, info = wait_for(lambda: _agent_started(rig, loop.pid), what="agent start")
    wait_for(lambda: marker.exists() and marker.read_text(), what="grandchild start")

    # "power off": every process of the task dies at once, nobody cleans up
    victims = rig.live()
    assert {loop.pid, info.pid, int(marker.read_text())} <= {p.pid for p in victims}
    for proc in victims:
        proc.kill()
    loop.wait(timeout=10)
    wait_for(lambda: not rig.live(), timeout=10, what="all processes gone")

    assert read_run_info(path).status == "running"  # the disk still says running
    row = _status(rig)
    assert (row["status"], row["pid_alive"], row["done"]) == ("failed", False, False)
    assert [r["status"] for r in _list_runs(rig)] == ["failed"]
    assert not loop_alive(rig.task_dir())

    proc = rig.run("resume", "--root", rig.root, "--project", PROJECT, "--task", TASK,
                   "--agent", "claude", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Resumed task {TASK} (restart counter reset)\n")
    assert [r["status"] for r in _list_runs(rig)] == ["failed", "completed"]
    assert read_run_info(path).status == "failed"  # healed on disk by the new supervisor


# ----------------------------------------------------------------------------- bus writers

KILLED_WRITER = """
import sys
from conductor.bus import Message, MessageBus
path, wid = sys.argv[1], sys.argv[2]
bus = MessageBus(path)
i = 0
while True:
    m = bus.append(Message(type="FACT", project_id="p", task_id="t", run_id=wid,
                           body=f"{wid} {i}\\nline two"))
    print(m.msg_id, flush=True)
    i += 1
"""


def test_killed_writers_never_show_a_reader_a_torn_or_repeated_message(tmp_path, python,
                                                                      subprocess_env):
    """Writers SIGKILLed at random moments while a reader polls: the reader sees exactly what a
    full read sees afterwards, every body well formed, and every acknowledged append."""
    path = str(tmp_path / "TASK-MESSAGE-BUS.md")
    reader = BusReader(path)
    seen: list[Message] = []
    acked: list[str] = []
    rng = random.Random(5)
    for round_ in range(5):
        procs = [subprocess.Popen([python, "-c", KILLED_WRITER, path, f"r{round_}w{w}"],
                                  stdout=subprocess.PIPE, env=subprocess_env) for w in range(3)]
        for p in procs:  # each writer is appending: it has acknowledged a message
            first = p.stdout.readline()
            assert first, "a writer exited before its first append"
            acked.append(first.decode().strip())
        # Fault injection: the kills land at a random moment of the appends (the reader polls
        # meanwhile). Where they land varies with load; the checks hold wherever they do.
        deadline = time.monotonic() + rng.random() * 0.4
        while time.monotonic() < deadline:
            seen += reader.poll()
            time.sleep(0.01)
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            out, _ = p.communicate()
            acked += out.decode().split()
        seen += reader.poll()
    seen += reader.poll()
    every = MessageBus(path).read_all()
    assert [m.msg_id for m in seen] == [m.msg_id for m in every]
    assert len({m.msg_id for m in every}) == len(every)
    for m in every:
        wid, number = m.body.split("\n")[0].split(" ")
        assert m.run_id == wid and m.body == f"{wid} {number}\nline two"
    assert acked and set(acked) <= {m.msg_id for m in every}


# ----------------------------------------------------------------------------- disk full

FSIZE_WRITE = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from conductor.errors import RunInfoError
from conductor.store import read_run_info, update_run_info
def grow(info):
    info.error_summary = "x" * 4000
try:
    update_run_info(sys.argv[1], grow)
except RunInfoError as exc:
    print(exc)
    sys.exit(3)
"""


def _record(tmp_path) -> str:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, RunInfo(version=1, run_id="r1", project_id="p", task_id="t",
                                 agent="claude", pid=1, pgid=1, start_time=1, exit_code=-1,
                                 status="running"))
    return path


def test_run_info_update_over_a_file_size_limit_keeps_the_old_record(tmp_path, python,
                                                                     subprocess_env):
    path = _record(tmp_path)
    before = open(path, "rb").read()
    proc = subprocess.run([python, "-c", FSIZE_WRITE, path, str(len(before) + 200)],
                          env=subprocess_env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == f"{path}: write: file too large\n"
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(os.path.dirname(path))) == ["run-info.yaml", "run-info.yaml.lock"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (skipped where mounting is not permitted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_full_disk_run_info_write_is_a_clear_error_and_keeps_the_old_file(tiny_disk):
    path = _record(tiny_disk)
    before = open(path, "rb").read()
    _fill(tiny_disk)
    with pytest.raises(RunInfoError) as caught:
        write_run_info(path, read_run_info(path).replace(error_summary="y" * 8000))
    assert str(caught.value) == f"{path}: write: no space left on device"
    assert open(path, "rb").read() == before
    assert os.listdir(os.path.dirname(path)) == ["run-info.yaml"]  # no temp file left


def _files(root: str) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(dp, name), root): open(os.path.join(dp, name), "rb").read()
            for dp, _, names in os.walk(root) for name in names}


def test_full_disk_job_and_bus_post_fail_with_one_line_and_keep_everything(rig, tiny_disk):
    root = str(tiny_disk / "runs")
    task_dir = os.path.join(root, PROJECT, TASK)
    ok = rig.run("job", "--root", root, "--project", PROJECT, "--task", TASK, "--agent", "claude",
                 "--prompt", "STUB: say first")
    assert ok.returncode == 0, ok.stderr
    bus_path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    before = _files(root)
    _fill(tiny_disk)

    job = rig.run("job", "--root", root, "--project", PROJECT, "--task", TASK, "--agent", "claude",
                  "--prompt", "STUB: say second")
    assert job.returncode == 1
    assert job.stderr.count("\n") == 1 and job.stderr.startswith("Error: ")
    assert job.stderr.endswith("no space left on device\n")
    post = rig.run("bus", "post", "--root", root, "--project", PROJECT, "--task", TASK,
                   "--body", "z" * 20000)
    assert post.returncode == 1
    assert post.stderr == (f'Error: append to message bus "{bus_path}": '
                           "No space left on device\n")
    fresh = rig.run("job", "--root", root, "--project", PROJECT,
                    "--task", "task-20260220-153045-another", "--agent", "claude",
                    "--prompt", "STUB: say third")
    assert fresh.returncode == 1
    assert fresh.stderr.count("\n") == 1 and fresh.stderr.endswith("no space left on device\n")

    after = _files(root)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing damaged
    assert set(after) - set(before) == set()  # no half-made run dir, no empty TASK.md
    os.unlink(tiny_disk / "filler")
    messages = MessageBus(bus_path).read_all()
    MessageBus(bus_path).append(Message(type="INFO", project_id=PROJECT, body="after"))
    assert MessageBus(bus_path).read_all()[:-1] == messages
    listing = rig.run("list", "--root", root, "--project", PROJECT, "--task", TASK, "--json")
    assert [r["status"] for r in json.loads(listing.stdout)["runs"]] == ["completed"]


# ----------------------------------------------------------------------------- rotation

def test_rotation_under_the_console_and_two_followers_loses_and_repeats_nothing(rig, tmp_path):
    task_dir = rig.task_dir()
    os.makedirs(task_dir)
    with open(os.path.join(task_dir, "TASK.md"), "w") as f:
        f.write("a task whose bus is rotated\n")
    bus_path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    bus = MessageBus(bus_path)
    total = 0

    def post(n):
        nonlocal total
        for _ in range(n):
            bus.append(Message(type="FACT", project_id=PROJECT, task_id=TASK,
                               body=f"message {total}"))
            total += 1

    post(50)
    followers = [rig.spawn("bus", "read", "--root", rig.root, "--project", PROJECT,
                           "--task", TASK, "--follow", "--tail", "0") for _ in range(2)]
    outs = [rig.logs / f"{i}.out" for i in (1, 2)]

    def lines(path):
        return path.read_text().splitlines() if path.exists() else []

    archives = []
    console_bodies: list[str] = []

    async def scenario():
        app = ConductorApp(rig.root, project=PROJECT, state_path=str(tmp_path / "state.json"))
        async with app.run_test(size=(160, 45)) as pilot:
            await select(pilot, app, NodeRef("task", PROJECT, TASK))
            await until(pilot, lambda: len(app.feed.messages) == 50, 20, "console has the tail")
            await until(pilot, lambda: all(len(lines(p)) == 50 for p in outs), 30,
                        "followers caught up")
            for _round in range(4):
                post(30)  # unread by the readers when the bus is renamed
                rotated = rig.run("gc", "--root", rig.root, "--rotate-bus", "--bus-max-size", "1B")
                assert rotated.returncode == 0, rotated.stderr
                archives.extend(line for line in rotated.stdout.splitlines()
                                if line.startswith("rotated"))
                post(20)  # into the new file
                # a follower handles one rotation per poll (500 ms); see docs/reliability.md
                await until(pilot, lambda: all(len(lines(p)) >= total for p in outs), 20,
                            "followers read everything")
                await until(pilot, lambda: len(app.feed.messages) >= total, 20,
                            "console read everything")
            # an absence check, not synchronisation: two more follow intervals in which nothing
            # extra may appear (load can only make it look at fewer polls, never fail it)
            await pilot.pause(1.2)
            console_bodies.extend(m.body for m in app.feed.messages)
            rows = [app.feed.list.row_text(i) for i in range(app.feed.list.row_count)]
            assert len(rows) == total and rows[-1].endswith(f" message {total - 1}")

    try:
        asyncio.run(scenario())
    finally:
        for f in followers:
            f.send_signal(signal.SIGINT)
            f.wait(timeout=10)
    assert len(archives) == 4
    assert console_bodies == [f"message {i}" for i in range(total)]
    for path in outs:
        bodies = [line.split(") ", 1)[1] for line in lines(path)]
        assert bodies == [f"message {i}" for i in range(total)]
