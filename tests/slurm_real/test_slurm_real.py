"""Runs through a real one-node Slurm (Debian's 22.05): a Ralph task to DONE, stop of an agent
that ignores SIGTERM, exit codes, separate stdout/stderr, a 20-run batch, a child run started
from inside a Slurm job."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from conductor.config.model import AgentConfig
from conductor.executor import registry
from conductor.runner.job import JobRequest, run_job
from conductor.runner.placed import place_run
from conductor.runner.stop import stop_run
from conductor.store import Layout, read_run_info
from conductor.store.runinfo import RunInfoMissing
from waiting import wait_for

PROJECT = "proj"
RUN_AGENT = os.path.join(os.path.dirname(sys.executable), "run-agent")

AGENT = """\
import os, pathlib, signal, subprocess, sys, time
mode = sys.argv[1]
task = pathlib.Path(os.environ["JRUN_TASK_FOLDER"])
if mode == "done":
    sys.stdout.write("to stdout\\n"); sys.stderr.write("to stderr\\n")
    (task / "DONE").write_text("")
elif mode == "exit3":
    sys.exit(3)
elif mode == "signal":
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (task / "ready").write_text(str(os.getpid()))
    time.sleep(120)
elif mode == "child":
    done = subprocess.run([sys.argv[2], "job", "--config", sys.argv[3], "--agent", "cmd",
                           "--project", os.environ["JRUN_PROJECT_ID"], "--task",
                           "task-20261130-120000-child", "--prompt", "child"],
                          capture_output=True, text=True)
    sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)
    sys.exit(done.returncode)
"""


def _agent(tmp_path, mode, *extra):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return AgentConfig(name="cmd", type="command",
                       command=[sys.executable, str(script), mode, *extra])


def _task(n: int) -> str:
    return f"task-20261130-120000-t{n:04d}"


def _place(root, tmp_path, env, mode, task, *extra, poll=0.2):
    return place_run("slurm", JobRequest(root=root, project=PROJECT, task=task, prompt="go",
                                         agent=_agent(tmp_path, mode, *extra), environ=env),
                     poll=poll)


def _info(result):
    return read_run_info(os.path.join(result.run_dir, "run-info.yaml"))


def test_a_ralph_task_reaches_done_through_slurm(slurm_env, tmp_path, runs_root, cluster):
    config = tmp_path / "config.yaml"
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    config.write_text(f"agents:\n  cmd:\n    type: command\n    command: [{sys.executable}, "
                      f"{script}, done]\ndefaults:\n  agent: cmd\n  executor: slurm\n"
                      "slurm:\n  cpus: 1\n  time: '5:00'\n")
    done = subprocess.run([RUN_AGENT, "task", "--config", str(config), "--root", runs_root,
                           "--project", PROJECT, "--task", _task(1), "--prompt", "go"],
                          env=slurm_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    task_dir = os.path.join(runs_root, PROJECT, _task(1))
    assert os.path.exists(os.path.join(task_dir, "DONE"))
    (name,) = os.listdir(os.path.join(task_dir, "runs"))
    run_dir = os.path.join(task_dir, "runs", name)
    info = read_run_info(os.path.join(run_dir, "run-info.yaml"))
    assert (info.status, info.exit_code, info.executor, info.executor_cluster) == (
        "completed", 0, "slurm", "conductor-test")
    assert (info.pid, info.pgid, info.process_ownership) == (0, 0, "external")
    assert info.executor_job_id.isdigit() and info.host == os.uname().nodename
    assert info.host_boot_id and info.host_pid > 0 and info.host_pid_start
    assert info.submit_time and info.heartbeat_time and info.end_time
    # separate stdout and stderr, exactly the agent's bytes
    assert open(info.stdout_path).read() == "to stdout\n"
    assert open(info.stderr_path).read() == "to stderr\n"
    assert sorted(os.listdir(run_dir)) == [
        "agent-stderr.txt", "agent-stdout.txt", "output.md", "prompt.md", "run-info.yaml",
        "run-info.yaml.lock", "run-spec.json"]
    bus = open(os.path.join(task_dir, "TASK-MESSAGE-BUS.md")).read()
    assert "type: RUN_START" in bus and "type: RUN_STOP" in bus
    # Slurm agrees: the job ran on our node with our name and comment
    job = cluster.run("scontrol", "--oneliner", "show", "job", info.executor_job_id).stdout
    assert f"JobName=conductor:{PROJECT}/{_task(1)}" in job and "JobState=COMPLETED" in job
    assert f"Comment=conductor project={PROJECT} task={_task(1)} run={info.run_id}" in job


def test_exit_codes_0_3_and_a_signal_match_a_local_run(slurm_env, tmp_path, runs_root):
    results = {}

    def one(mode, n):
        results[mode] = _place(runs_root, tmp_path, slurm_env, mode, _task(n))

    threads = [threading.Thread(daemon=True, target=one, args=(m, 10 + i))
               for i, m in enumerate(("done", "exit3", "signal"))]
    for t in threads:
        t.start()
    local = run_job(JobRequest(root=runs_root, project=PROJECT, task=_task(19), prompt="go",
                               agent=_agent(tmp_path, "signal"), environ=slurm_env))
    deadline = time.monotonic() + 120
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert [(_info(results[m]).status, _info(results[m]).exit_code)
            for m in ("done", "exit3")] == [("completed", 0), ("failed", 3)]
    killed = _info(results["signal"])
    assert (killed.status, killed.exit_code, killed.error_summary) == (
        "failed", local.exit_code, _info(local).error_summary)


def test_stop_kills_an_agent_that_ignores_sigterm(slurm_env, tmp_path, runs_root):
    box = {}
    thread = threading.Thread(daemon=True, target=lambda: box.setdefault(
        "result", _place(runs_root, tmp_path, slurm_env, "ignore-term", _task(20))))
    thread.start()
    task_dir = os.path.join(runs_root, PROJECT, _task(20))
    wait_for(lambda: os.path.exists(os.path.join(task_dir, "ready")), timeout=60,
             what="the agent running in its Slurm job")
    run_dir = wait_for(lambda: [os.path.join(task_dir, "runs", n)
                                for n in os.listdir(os.path.join(task_dir, "runs"))])[0]
    agent_pid = int(open(os.path.join(task_dir, "ready")).read())
    started = time.monotonic()
    outcome = stop_run(run_dir, grace=1, force=True)
    took = time.monotonic() - started
    info = read_run_info(os.path.join(run_dir, "run-info.yaml"))
    assert outcome.stopped and outcome.message == (
        f"Stopped run {info.run_id} (slurm job {info.executor_job_id} on {info.host})")
    assert outcome.notice == f"run {info.run_id} did not stop within 1s; sent SIGKILL"
    assert took < 30
    thread.join(timeout=60)
    assert not os.path.exists(f"/proc/{agent_pid}") or \
        open(f"/proc/{agent_pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    final = _info(box["result"])
    assert final.status == "failed" and final.end_time


def test_a_batch_of_20_runs(slurm_env, tmp_path, runs_root):
    results = []
    lock = threading.Lock()

    def one(n):
        found = _place(runs_root, tmp_path, slurm_env, "done", _task(100 + n), poll=0.5)
        with lock:
            results.append(found)

    started = time.monotonic()
    threads = [threading.Thread(daemon=True, target=one, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120  # one deadline for all: a dead cluster fails, not hangs
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    took = time.monotonic() - started
    infos = [_info(r) for r in results]
    assert len(infos) == 20 and {(i.status, i.exit_code) for i in infos} == {("completed", 0)}
    assert len({i.executor_job_id for i in infos}) == 20
    sys.stderr.write(f"\n20 runs through Slurm in {took:.1f} s\n")


def test_a_child_run_from_inside_a_slurm_job_goes_through_slurm(slurm_env, tmp_path, runs_root):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    config = tmp_path / "config.yaml"
    config.write_text(f"agents:\n  cmd:\n    type: command\n    command: [{sys.executable}, "
                      f"{script}, done]\nstorage:\n  runs_dir: {runs_root}\n")
    parent = _place(runs_root, tmp_path, slurm_env, "child", _task(30), RUN_AGENT, str(config))
    info = _info(parent)
    assert (info.status, info.exit_code) == ("completed", 0), open(info.stderr_path).read()
    child_runs = Layout(runs_root).runs_dir(PROJECT, "task-20261130-120000-child")
    (name,) = os.listdir(child_runs)
    child = read_run_info(os.path.join(child_runs, name, "run-info.yaml"))
    assert (child.status, child.parent_run_id, child.executor) == ("completed", info.run_id,
                                                                   "slurm")
    assert child.executor_job_id.isdigit() and child.executor_job_id != info.executor_job_id
    assert registry.executor("slurm").calls >= 0


def _submitted_runs(runs_dir: str) -> list[str]:
    """Run dirs whose record names a Slurm job (the dir is made before its run-info is)."""
    found = []
    for name in os.listdir(runs_dir) if os.path.isdir(runs_dir) else []:
        try:
            info = read_run_info(os.path.join(runs_dir, name, "run-info.yaml"))
        except RunInfoMissing:
            continue
        if info.executor_job_id:
            found.append(os.path.join(runs_dir, name))
    return found


def test_stop_cancels_a_run_still_queued(slurm_env, tmp_path, runs_root, cluster):
    box = {}
    task = _task(50)
    agent = _agent(tmp_path, "done")
    thread = threading.Thread(daemon=True, target=lambda: box.setdefault("result", place_run(
        "slurm", JobRequest(root=runs_root, project=PROJECT, task=task, prompt="go",
                            agent=agent, environ=slurm_env),
        poll=0.2, options={"args": ["--begin=now+300"]})))
    thread.start()
    runs_dir = Layout(runs_root).runs_dir(PROJECT, task)
    run_dir = wait_for(lambda: _submitted_runs(runs_dir))[0]
    job = read_run_info(os.path.join(run_dir, "run-info.yaml")).executor_job_id
    assert "|PENDING|" in cluster.run("squeue", "-h", "-j", job, "-o", "%i|%T|%r").stdout
    outcome = stop_run(run_dir, grace=1, force=True)
    assert outcome.stopped, outcome
    thread.join(timeout=60)
    assert "|CANCELLED|" in cluster.run("squeue", "-h", "-t", "all", "-j", job,
                                        "-o", "%i|%T|%r").stdout
    final = _info(box["result"])
    # stopped by run dir alone (no loop told, no marker): cancelled while queued, not lost
    assert final.status == "failed" and final.error_summary.startswith(
        "cancelled before its job started: CANCELLED"), final.error_summary


def test_a_record_naming_a_job_that_is_not_its_own_cancels_nothing(slurm_env, tmp_path,
                                                                   runs_root, cluster):
    """An agent edits its run-info to name another job of the same user (one submitted by
    hand, not by conductor). `run-agent stop` asks Slurm whose the job is and refuses; the job
    runs on."""
    from conductor.store import RunInfo, write_run_info
    from conductor.timefmt import now_ns
    other = cluster.run("sbatch", "--parsable", "--comment=nightly backup",
                        f"--output={tmp_path}/other.out", "--wrap", "sleep 300").stdout.strip()
    try:
        wait_for(lambda: "|RUNNING|" in cluster.run("squeue", "-h", "-j", other,
                                                     "-o", "%i|%T|").stdout,
                 timeout=60, what="the other job running")
        run_id, run_dir = Layout(runs_root).allocate_run_dir(PROJECT, _task(60))
        write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
            version=1, run_id=run_id, project_id=PROJECT, task_id=_task(60), agent="command",
            process_ownership="external", status="running", start_time=now_ns(),
            executor="slurm", executor_job_id=other, heartbeat_time=now_ns()))
        done = subprocess.run([RUN_AGENT, "stop", "--root", runs_root, "--run-dir", run_dir,
                               "--grace", "1s", "--force"], env=slurm_env, capture_output=True,
                              text=True, timeout=60)
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr == (f"Error: run {run_id}: Slurm job {other} is not this run's job "
                               "(its comment is 'nightly backup'); not cancelling it\n")
        # what real squeue printed for the comment and the user is what we compared
        assert cluster.run("squeue", "-h", "-j", other, "-o", "%T|%U|%k").stdout == (
            f"RUNNING|{os.getuid()}|nightly backup\n")
    finally:
        cluster.run("scancel", other, check=False)
