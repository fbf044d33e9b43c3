"""The real controller goes away while a run is on the node (a slurmctld restart, a failover).

Every placed run then reads ``unknown``: nothing is healed, failed or restarted on a guess,
the run finishes on its node (its runner writes its end to the shared files, which needs no
controller), and Slurm catches up when slurmctld is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from conductor.config.model import AgentConfig
from conductor.executor import registry
from conductor.runner.job import JobRequest
from conductor.runner.placed import place_run
from conductor.store import Layout, read_run_info
from conductor.store.liveness import observe_runs
from waiting import wait_for

from .cluster import _which

PROJECT = "proj"
TASK = "task-20261130-120000-ctld"
RUN_AGENT = os.path.join(os.path.dirname(sys.executable), "run-agent")

AGENT = """\
import os, pathlib, time
task = pathlib.Path(os.environ["JRUN_TASK_FOLDER"])
(task / "ready").write_text("")
deadline = time.monotonic() + 120  # a failed test never leaves it behind for long
while not (task / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print("finished while the controller was away")
(task / "DONE").write_text("")
"""


def _controller(cluster) -> subprocess.Popen:
    (proc,) = [p for p in cluster.procs if os.path.basename(p.args[0]) == "slurmctld"
               and p.poll() is None]
    return proc


def _counting_squeue(tmp_path, cluster) -> tuple[str, str]:
    """A squeue that logs each call and runs the real one (CONDUCTOR_SLURM_SQUEUE)."""
    log = tmp_path / "squeue-calls.log"
    wrapper = tmp_path / "squeue"
    wrapper.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\nexec {_which('squeue')} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return str(wrapper), str(log)


def _calls(log: str) -> int:
    return len(open(log).read().splitlines()) if os.path.exists(log) else 0


def test_a_run_outlives_its_controller_and_nothing_is_healed_on_a_guess(
        slurm_env, tmp_path, runs_root, cluster, monkeypatch):
    wrapper, log = _counting_squeue(tmp_path, cluster)
    monkeypatch.setenv("CONDUCTOR_SLURM_SQUEUE", wrapper)
    monkeypatch.setattr(registry.executor("slurm"), "down_ttl", 300.0)
    env = dict(slurm_env, CONDUCTOR_SLURM_SQUEUE=wrapper, CONDUCTOR_SLURM_DOWN_TTL="300")
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    agent = AgentConfig(name="cmd", type="command", command=[sys.executable, str(script)])
    box = {}
    placing = threading.Thread(daemon=True, target=lambda: box.setdefault("result", place_run(
        "slurm", JobRequest(root=runs_root, project=PROJECT, task=TASK, prompt="go",
                            agent=agent, environ=env), poll=0.2)))
    placing.start()
    task_dir = Layout(runs_root).task_dir(PROJECT, TASK)
    wait_for(lambda: os.path.exists(os.path.join(task_dir, "ready")), timeout=60,
             what="the agent running in its Slurm job")
    runs_dir = os.path.join(task_dir, "runs")
    (name,) = os.listdir(runs_dir)
    info_path = os.path.join(runs_dir, name, "run-info.yaml")
    job = read_run_info(info_path).executor_job_id

    ctld = _controller(cluster)
    ctld.send_signal(signal.SIGTERM)  # by its pid
    ctld.wait(timeout=30)
    cluster.procs.remove(ctld)
    try:
        # the first question after the controller went away (and after the last snapshot's
        # second) waits for squeue's own retries, then reads unknown
        obs = wait_for(lambda: [o for o in observe_runs([read_run_info(info_path)])
                                if o.state != "alive"], timeout=60, what="unknown")[0]
        assert (obs.state, obs.reason) == (
            "unknown", "squeue exited with code 1: slurm_load_jobs error: Unable to contact "
                       "slurm controller (connect failure)")
        # every other process (the loop's polls, `list`) reads that answer: no more squeue
        asked = _calls(log)
        listed = subprocess.run([RUN_AGENT, "list", "--root", runs_root, "--project", PROJECT,
                                 "--task", TASK], env=env, capture_output=True, text=True,
                                timeout=60)
        assert listed.returncode == 0, listed.stderr
        (row,) = [line for line in listed.stdout.splitlines() if line.startswith(name)]
        assert row.split()[1] == "running", listed.stdout  # shown running, not healed
        assert _calls(log) == asked
        assert read_run_info(info_path).status == "running" and placing.is_alive()
        # the agent finishes on its node: its runner records the end in the shared files
        open(os.path.join(task_dir, "go"), "w").close()
        placing.join(timeout=60)
        assert not placing.is_alive()
        final = read_run_info(info_path)
        assert (final.status, final.exit_code) == ("completed", 0), final.error_summary
        assert open(final.stdout_path).read() == "finished while the controller was away\n"
        assert _calls(log) == asked  # the loop never asked while it was away, nor gave up
    finally:
        open(os.path.join(task_dir, "go"), "w").close()  # the agent ends, whatever failed
        # the controller comes back with its saved state (no -c): the job is still known
        cluster._spawn([_which("slurmctld"), "-D", "-i", "-f", cluster.conf],
                       open(os.path.join(cluster.dir, "daemons.log"), "ab"))
        cluster._wait(cluster._node_idle, 60, "slurmctld back (node idle)")
    state = cluster.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%T").stdout.strip()
    assert state in ("COMPLETED", "COMPLETING"), state
