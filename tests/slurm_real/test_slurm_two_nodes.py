"""Runs through a real two-node Slurm on this host (cluster2.py: Debian's 22.05, every slurmd in
its own network, host name and process table): what only more than one node shows.

* the runs of one batch land on both nodes, and each run's record names the node it ran on;
* a node failure for real (its slurmd SIGKILLed, and with it every process of that node) while
  a Ralph task's run is on it: the loop marks the run lost with Slurm's NODE_FAIL, sends
  ``scancel`` (the fence) and starts the next attempt, which reaches DONE on the other node;
* ``run-agent stop`` of a run on the second node whose agent ignores SIGTERM.

Everything through conductor's CLI (``run-agent task/job/stop/list/status``), as a user would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conductor.bus import MessageBus
from conductor.store import Layout, read_run_info
from conductor.store.runinfo import RunInfoMissing
from waiting import wait_for

from .cluster2 import MultiNodeCluster, missing, refused

PROJECT = "proj"
RUN_AGENT = os.path.join(os.path.dirname(sys.executable), "run-agent")

AGENT = """\
import os, pathlib, signal, sys, time
mode = sys.argv[1]
task = pathlib.Path(os.environ["JRUN_TASK_FOLDER"])
here = f"{os.uname().nodename} {os.getpid()}"


def say(path, text):  # whole or not at all: the test reads it as soon as it is there
    path.with_name(path.name + ".tmp").write_text(text)
    path.with_name(path.name + ".tmp").rename(path)


if mode == "where":  # say where we run, and stay until every run of the batch runs
    say(task / "seen", here)
    while not (task.parent / "release").exists():
        time.sleep(0.05)
    print(here)
elif mode == "ralph":  # the first attempt stays (its node will fail), the next one is DONE
    first = task / "first-attempt"
    if not first.exists():
        say(first, here)
        deadline = time.monotonic() + 300
        while not (task / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        sys.exit(0)
    (task / "second-attempt").write_text(here)
    (task / "DONE").write_text("")
elif mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    say(task / "ready", here)
    time.sleep(300)
elif mode == "hello":
    print(here)
elif mode == "child":  # a child run, started on this node with conductor's CLI
    import subprocess
    print(here)
    done = subprocess.run([sys.argv[2], "job", "--config", sys.argv[3], "--project",
                           os.environ["JRUN_PROJECT_ID"], "--task", "task-20261130-120000-kid",
                           "--prompt", "child"], capture_output=True, text=True)
    sys.stderr.write(done.stdout + done.stderr)
    sys.exit(done.returncode)
"""

# logs each Slurm command conductor runs (CONDUCTOR_SLURM_<NAME>), and on which host, then
# runs the real one
LOGGER = """\
#!/bin/sh
echo "$(basename "$0") $*" >> {log}
echo "$(uname -n) $(basename "$0")" >> {log}.hosts
exec {real} "$@"
"""


@pytest.fixture(scope="module")
def two_nodes():
    why = missing()
    if why and os.environ.get("CI") == "true":  # .ci/run installs what is missing
        pytest.fail(f"CI must run the real two-node Slurm tests: {why}")
    why = why or refused()  # no namespaces here (a container without CAP_SYS_ADMIN)
    if why:
        sys.stderr.write(f"\nslurm_real (two nodes): skipped: {why}\n")
        pytest.skip(why)
    directory = tempfile.mkdtemp(prefix="conductor-slurm2-")  # not pytest's (see conftest)
    found = MultiNodeCluster(directory, nodes=2).start()
    sys.stderr.write(f"\nslurm_real: two-node cluster up in {found.up_seconds:.1f} s\n")
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def env2(two_nodes, tmp_path, monkeypatch, subprocess_env):
    """The environment of our CLI processes: the two-node cluster, a 1 s heartbeat, and every
    sbatch/scancel logged (``<tmp>/slurm-commands.log``)."""
    dead = two_nodes.dead()
    if dead:
        pytest.fail(f"the two-node cluster's daemons died: {', '.join(dead)}; see {two_nodes.dir}")
    for node in two_nodes.nodes:  # a test that failed a node boots it again
        if not node.alive():
            two_nodes.restart_node(node.name)
    monkeypatch.setenv("SLURM_CONF", two_nodes.conf)
    env = dict(subprocess_env, SLURM_CONF=two_nodes.conf, PATH=two_nodes.env["PATH"],
               CONDUCTOR_SLURM_HEARTBEAT="1")
    log = tmp_path / "slurm-commands.log"
    for name in ("sbatch", "scancel"):
        real = shutil.which(name, path=env["PATH"])
        wrapper = tmp_path / "bin" / name
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(LOGGER.format(log=log, real=real))
        wrapper.chmod(0o755)
        env[f"CONDUCTOR_SLURM_{name.upper()}"] = str(wrapper)
    return env


def _config(tmp_path, runs_root, mode, slurm="  cpus: 1\n", name="config.yaml",
            extra=()) -> str:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    config = tmp_path / name
    config.write_text(f"agents:\n  cmd:\n    type: command\n    command: [{sys.executable}, "
                      f"{script}, {', '.join([mode, *extra])}]\ndefaults:\n  agent: cmd\n  executor: slurm\n"
                      f"storage:\n  runs_dir: {runs_root}\nslurm:\n{slurm}")
    return str(config)


def _task(n: int) -> str:
    return f"task-20261130-120000-n{n:04d}"


def _cli(env, *args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([RUN_AGENT, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _runs(runs_root, task) -> list:
    """The task's run records, oldest first (those with a record yet)."""
    runs_dir = Layout(runs_root).runs_dir(PROJECT, task)
    found = []
    for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        try:
            found.append(read_run_info(os.path.join(runs_dir, name, "run-info.yaml")))
        except RunInfoMissing:
            continue
    return found


def _job_node(cluster, job_id) -> str:
    fields = dict(w.partition("=")[::2] for w in cluster.run(
        "scontrol", "--oneliner", "show", "job", job_id).stdout.split() if "=" in w)
    return fields.get("BatchHost", "")


def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
        return f.read().strip()


def _row(table: str, first: str) -> list[str]:
    return next(line.split() for line in table.splitlines() if line.startswith(first))


def _processes_of(arg) -> list[int]:
    """Live (non-zombie) processes, on any node, with ``arg`` as an argument (the agent's
    script, a runner's run dir)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(arg).encode() in argv and state != "Z":
            found.append(int(pid))
    return found


def test_runs_of_one_batch_land_on_both_nodes_and_record_where(two_nodes, env2, tmp_path,
                                                               runs_root):
    config = _config(tmp_path, runs_root, "where")
    tasks = [_task(n) for n in range(1, 5)]
    procs = [subprocess.Popen([RUN_AGENT, "job", "--config", config, "--project", PROJECT,
                               "--task", task, "--prompt", "go"], env=env2,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for task in tasks]
    try:
        task_dirs = [Layout(runs_root).task_dir(PROJECT, t) for t in tasks]
        wait_for(lambda: all(os.path.exists(os.path.join(d, "seen")) for d in task_dirs),
                 timeout=60, what="the batch's 4 runs running at once")
        # while they run: status shows each task running, its run alive (Slurm says RUNNING
        # and the heartbeat, written on the node, is fresh)
        status = _cli(env2, "status", "--root", runs_root, "--project", PROJECT)
        assert status.returncode == 0, status.stderr
        for task in tasks:
            (run,) = _runs(runs_root, task)
            assert _row(status.stdout, task) == [task, "running", "-1", run.run_id, "false",
                                                 "true", "-"], status.stdout
        (tmp_path / "runs" / PROJECT / "release").write_text("")
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    hosts = []
    for task, task_dir in zip(tasks, task_dirs):
        (info,) = _runs(runs_root, task)
        node, pid = open(os.path.join(task_dir, "seen")).read().split()
        # the record names the node the agent ran on (its own host name), the pid it had there
        # (in the node's process table) and that host's boot id; Slurm agrees on the node
        assert (info.status, info.exit_code, info.executor) == ("completed", 0, "slurm")
        assert (info.host, info.host_pid) == (node, int(pid))
        assert info.host_boot_id == _boot_id()  # the nodes share this host's kernel
        assert _job_node(two_nodes, info.executor_job_id) == node
        assert open(info.stdout_path).read() == f"{node} {pid}\n"
        listed = _cli(env2, "list", "--root", runs_root, "--project", PROJECT, "--task", task)
        assert _row(listed.stdout, info.run_id)[:3] == [info.run_id, "completed", "0"]
        hosts.append(node)
    assert sorted(set(hosts)) == sorted(n.name for n in two_nodes.nodes), hosts
    sys.stderr.write(f"\nbatch of 4 on two nodes: {sorted(hosts)}\n")


def test_a_child_run_started_on_a_node_is_submitted_from_there(two_nodes, env2, tmp_path,
                                                               runs_root):
    """An agent on a compute node starts a child run (``run-agent job``): the node's own
    sbatch reaches the controller over the node's network, Slurm records the node as where
    the job was submitted from, and the child's record names its parent and its own node."""
    second = two_nodes.nodes[1].name
    child_config = _config(tmp_path, runs_root, "hello", name="child.yaml")
    config = _config(tmp_path, runs_root, "child", extra=(RUN_AGENT, child_config),
                     slurm=f"  cpus: 1\n  args: [--nodelist={second}]\n")
    task = _task(10)
    done = _cli(env2, "job", "--config", config, "--project", PROJECT, "--task", task,
                "--prompt", "go", timeout=90)
    assert done.returncode == 0, done.stderr
    (parent,) = _runs(runs_root, task)
    (child,) = _runs(runs_root, "task-20261130-120000-kid")
    assert (parent.status, parent.host) == ("completed", second)
    assert (child.status, child.executor, child.parent_run_id) == ("completed", "slurm",
                                                                   parent.run_id)
    assert child.executor_job_id != parent.executor_job_id
    assert open(child.stdout_path).read() == f"{child.host} {child.host_pid}\n"
    assert _job_node(two_nodes, child.executor_job_id) == child.host
    # the parent's sbatch ran here, the child's on the parent's node
    hosts = (tmp_path / "slurm-commands.log.hosts").read_text()
    assert hosts == f"{os.uname().nodename} sbatch\n{second} sbatch\n"


def test_stop_ends_a_run_on_the_second_node(two_nodes, env2, tmp_path, runs_root):
    """A Ralph task's run: ``stop`` tells its loop first, so the record says the operator
    stopped it. (A ``run-agent job``'s run, which has no loop to tell, reads the same: `stop`
    writes STOP-REQUESTED before it cancels a placed run's job; tests/executor_slurm checks
    that order.)"""
    second = two_nodes.nodes[1].name
    config = _config(tmp_path, runs_root, "ignore-term",
                     slurm=f"  cpus: 1\n  args: [--nodelist={second}]\n")
    task = _task(20)
    task_dir = Layout(runs_root).task_dir(PROJECT, task)
    proc = subprocess.Popen([RUN_AGENT, "task", "--config", config, "--project", PROJECT,
                             "--task", task, "--prompt", "go", "--restart-delay", "0"],
                            env=env2, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(os.path.join(task_dir, "ready")), timeout=60,
                 what="the agent running on the second node")
        node, _pid = open(os.path.join(task_dir, "ready")).read().split()
        assert node == second
        assert _processes_of(tmp_path / "agent.py")  # there, in the node's process table
        (info,) = _runs(runs_root, task)
        started = time.monotonic()
        stop = _cli(env2, "stop", "--root", runs_root, "--project", PROJECT, "--task", task,
                    "--grace", "1s", "--force")
        took = time.monotonic() - started
        assert stop.returncode == 0, stop.stderr
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stop.stdout == (f"Stopped run {info.run_id} (slurm job {info.executor_job_id} "
                           f"on {second})\n")
    assert stop.stderr == f"run {info.run_id} did not stop within 1s; sent SIGKILL\n"
    # the loop ends on the stop's signal or on its marker, whichever it sees first
    assert (proc.returncode, err) == (1, "Error: task stopped by operator\n")
    assert not _processes_of(tmp_path / "agent.py")
    (final,) = _runs(runs_root, task)
    assert (final.status, final.host, final.end_time > 0) == ("failed", second, True)
    assert final.error_summary.startswith(
        "stopped by the operator before its runner recorded an end: CANCELLED"), \
        final.error_summary
    sys.stderr.write(f"\nstop of a run on the second node (grace 1s, then KILL): {took:.1f} s\n")
    assert "JobState=CANCELLED" in two_nodes.run("scontrol", "--oneliner", "show", "job",
                                                 final.executor_job_id).stdout


def test_a_node_failure_restarts_the_task_on_the_other_node(two_nodes, env2, tmp_path,
                                                            runs_root):
    config = _config(tmp_path, runs_root, "ralph")
    task = _task(30)
    task_dir = Layout(runs_root).task_dir(PROJECT, task)
    proc, failed_node, first = _ralph_until_first_attempt(env2, config, runs_root, task)
    try:
        assert first.host == failed_node
        other = next(n.name for n in two_nodes.nodes if n.name != failed_node)
        killed = time.time_ns()
        two_nodes.fail_node(failed_node)  # SIGKILL to its slurmd: the whole node dies
        assert not _processes_of(tmp_path / "agent.py")
        out, err = proc.communicate(timeout=75)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert os.path.exists(os.path.join(task_dir, "DONE"))
    lost, done = _runs(runs_root, task)
    why = "NODE_FAIL (the node failed), NodeDown"
    assert lost.run_id == first.run_id
    assert (lost.status, lost.exit_code, lost.host) == ("failed", -1, failed_node)
    assert lost.error_summary == f"run lost: {why} (its runner recorded no end)"
    assert (done.status, done.exit_code, done.host) == ("completed", 0, other)
    assert done.previous_run_id == lost.run_id
    _timeline("NODE_FAIL", killed, lost, done)
    assert open(os.path.join(task_dir, "second-attempt")).read().split()[0] == other
    # the fence: scancel of the lost job before the next attempt's sbatch
    log = (tmp_path / "slurm-commands.log").read_text().splitlines()
    fence = f"scancel --signal=TERM --full {lost.executor_job_id}"
    assert fence in log, log
    assert log.index(fence) < max(i for i, line in enumerate(log) if line.startswith("sbatch"))
    # what the user sees: list, the bus
    listed = _cli(env2, "list", "--root", runs_root, "--project", PROJECT, "--task", task)
    assert _row(listed.stdout, lost.run_id)[:3] == [lost.run_id, "failed", "-1"]
    assert _row(listed.stdout, done.run_id)[:3] == [done.run_id, "completed", "0"]
    bus = MessageBus(Layout(runs_root).task_bus(PROJECT, task)).read_all()
    crash = [m for m in bus if m.type == "RUN_CRASH"]
    assert [m.body for m in crash] == [
        f"run failed\nrun_dir: {os.path.join(task_dir, 'runs', lost.run_id)}\n"
        f"error: run lost: {why} (its runner recorded no end)"]
    assert [m.body for m in bus if m.type == "WARNING"] == [
        f"root agent failed on restart #0: agent execution failed: run lost: {why} "
        "(its runner recorded no end)"]


def _timeline(what, killed, lost, done) -> None:
    sys.stderr.write(f"\nnode failure, {what}: run marked lost {(lost.end_time - killed) / 1e9:.1f} s "
                     f"after the kill, next attempt started at {(done.start_time - killed) / 1e9:.1f}"
                     f" s, DONE at {(done.end_time - killed) / 1e9:.1f} s\n")


def _ralph_until_first_attempt(env, config, runs_root, task):
    """``run-agent task`` started (its first attempt waits); (the loop's process, the node the
    first attempt runs on, the first run's record)."""
    task_dir = Layout(runs_root).task_dir(PROJECT, task)
    proc = subprocess.Popen([RUN_AGENT, "task", "--config", config, "--project", PROJECT,
                             "--task", task, "--prompt", "go", "--restart-delay", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(os.path.join(task_dir, "first-attempt")), timeout=60,
                 what="the first attempt running")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    node, _pid = open(os.path.join(task_dir, "first-attempt")).read().split()
    return proc, node, _runs(runs_root, task)[0]


def test_a_stale_heartbeat_fences_and_restarts_before_slurm_notices(two_nodes, env2, tmp_path,
                                                                    runs_root):
    """A node that stops writing (here: it died) while Slurm still says RUNNING: after
    CONDUCTOR_SLURM_HEARTBEAT_STALE seconds the run is lost by its heartbeat; the fence is
    scancel TERM, the grace, then KILL, and the next attempt runs on the other node."""
    config = _config(tmp_path, runs_root, "ralph")
    task = _task(40)
    task_dir = Layout(runs_root).task_dir(PROJECT, task)
    env = dict(env2, CONDUCTOR_SLURM_HEARTBEAT_STALE="3")
    proc, failed_node, first = _ralph_until_first_attempt(env, config, runs_root, task)
    try:
        other = next(n.name for n in two_nodes.nodes if n.name != failed_node)
        killed = time.time_ns()
        two_nodes.fail_node(failed_node)
        out, err = proc.communicate(timeout=75)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lost, done = _runs(runs_root, task)
    assert (lost.run_id, lost.status, lost.exit_code) == (first.run_id, "failed", -1)
    found = re.fullmatch(r"run lost: heartbeat (\d+) s old while Slurm says RUNNING on "
                         + re.escape(failed_node) + r" \(its runner recorded no end\)",
                         lost.error_summary)
    assert found and int(found[1]) >= 3, lost.error_summary  # "%.0f" of an age over 3 s
    assert (done.status, done.host) == ("completed", other)
    _timeline("stale heartbeat (3 s)", killed, lost, done)
    log = (tmp_path / "slurm-commands.log").read_text().splitlines()
    job = lost.executor_job_id
    # the fence: TERM, then the loop waits (up to a 10 s grace, then KILL) until Slurm lets
    # the job go, which for a dead node is when the controller sets it DOWN
    fence = log.index(f"scancel --signal=TERM --full {job}")
    assert fence < max(i for i, line in enumerate(log) if line.startswith("sbatch"))
    bus = MessageBus(Layout(runs_root).task_bus(PROJECT, task)).read_all()
    assert [m.body for m in bus if m.type == "RUN_CRASH"] == [
        f"run failed\nrun_dir: {os.path.join(task_dir, 'runs', lost.run_id)}\n"
        f"error: {lost.error_summary}"]


def test_a_run_marked_lost_stays_lost_when_its_runner_outlives_slurmd(two_nodes, env2,
                                                                      tmp_path, runs_root):
    """The node lives but its slurmd died: the scancel fence cannot reach the runner there.
    Its next heartbeat finds the record marked lost, stops its agent (nothing of the lost run
    goes on beside the next attempt) and keeps the record; one WARN says what happened."""
    config = _config(tmp_path, runs_root, "ralph")
    task = _task(50)
    task_dir = Layout(runs_root).task_dir(PROJECT, task)
    proc, crashed_node, first = _ralph_until_first_attempt(env2, config, runs_root, task)
    try:
        two_nodes.crash_slurmd(crashed_node)  # the node and its jobs' processes go on
        out, err = proc.communicate(timeout=75)
        assert proc.returncode == 0, err
        lost, done = _runs(runs_root, task)
        assert lost.error_summary == ("run lost: NODE_FAIL (the node failed), NodeDown "
                                      "(its runner recorded no end)")
        # its own runner stops the lost run's agent (nothing of Slurm's reaches that node)
        wait_for(lambda: not _processes_of(tmp_path / "agent.py"), timeout=30,
                 what="the lost run's agent stopped by its runner")
        wait_for(lambda: not _processes_of(os.path.join(task_dir, "runs", lost.run_id)),
                 timeout=30, what="the lost run's runner ending")
        after = _runs(runs_root, task)[0]
        assert (after.status, after.error_summary) == ("failed", lost.error_summary)
        bus = MessageBus(Layout(runs_root).task_bus(PROJECT, task)).read_all()
        assert [m.type for m in bus if m.run_id == lost.run_id] == ["RUN_START", "RUN_CRASH",
                                                                   "WARN"]
        (warn,) = [m for m in bus if m.run_id == lost.run_id and m.type == "WARN"]
        assert warn.body.startswith(
            f"run {lost.run_id} was recorded failed by the side that placed it "
            f"({lost.error_summary}) while its agent still ran on {crashed_node}; the agent "
            "was ended by signal 15"), warn.body
        assert warn.body.endswith(" and the record was kept")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        two_nodes.end_node(crashed_node)

