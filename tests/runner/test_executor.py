"""The executor seam (conductor.executor): the local executor's records and process facts, and
a fake remote executor (fake_executor.py) placing runs the way Slurm will."""

import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from .helpers import PROJECT, TASK, runs, wait_for
from conductor.config.model import AgentConfig
from conductor.executor import local, registry
from conductor.executor.base import ALIVE, ENDED, UNKNOWN, StartSpec, placement_of
from conductor.runner.job import JobRequest, run_job
from conductor.runner.ralph import TaskRequest, TaskStopped, run_task
from conductor.runner.stop import stop_run, stop_task
from conductor.store import Layout, RunInfo, read_run_info, reconcile, write_run_info
from conductor.store.liveness import observe_runs, run_alive, runs_alive
from conductor.timefmt import NS, now_ns

AGENT = """\
import os, pathlib, sys, time
task = pathlib.Path(os.environ["JRUN_TASK_FOLDER"])
mode = sys.argv[1]
if mode == "lose-once" and not (task / "first-attempt").exists():
    (task / "first-attempt").write_text(str(os.getpid()))
    time.sleep(60)
elif mode == "sleep":
    time.sleep(60)
(task / "DONE").write_text("")
print("ok")
"""


def agent(tmp_path, mode):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return AgentConfig(name="scripted", type="command", command=[sys.executable, str(script), mode])


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(registry._MODULES, "fake", f"{__package__}.fake_executor")  # for this test only
    found = registry.executor("fake")
    found.reset()
    yield found
    for proc in found.jobs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    registry._LOADED.pop("fake", None)


def _alive(pid):
    facts = local.process_facts(pid)
    return facts is not None and not facts[0]


# ---- the local executor ----------------------------------------------------------------------

def test_a_local_run_records_its_executor_and_host(runs_root, tmp_path, subprocess_env):
    result = run_job(JobRequest(root=runs_root, project=PROJECT, task=TASK, prompt="go",
                                agent=agent(tmp_path, "done"), environ=subprocess_env))
    assert result.ok, result.error
    (info,) = runs(runs_root)
    host, boot = local.host_identity()
    assert (info.executor, info.host, info.host_boot_id) == ("local", os.uname().nodename, boot)
    assert info.pid == info.pgid == result.pgid > 0 and info.process_ownership == "managed"
    assert info.executor_job_id == "" and info.host_pid == 0
    text = open(os.path.join(os.path.dirname(info.prompt_path), "run-info.yaml")).read()
    # upstream's keys first and as before; ours after them
    assert text.index("agent_version:") < text.index("runner_pid:") < text.index("executor: local")
    assert f"\nexecutor: local\nhost: {host}\n" in text
    assert local.EXECUTOR.where(placement_of(info)) == f"pid {info.pid}"


def test_a_local_record_of_another_host_is_unknown_and_never_healed():
    info = RunInfo(run_id="r", status="running", pid=2 ** 22 + 7, pgid=2 ** 22 + 7,
                   start_time=now_ns(), executor="local", host="elsewhere.example")
    (seen,) = observe_runs([info])
    assert (seen.state, seen.reason) == (UNKNOWN, "runs on host elsewhere.example")
    assert run_alive(info) and reconcile(info, done_exists=False, now_ns=now_ns()) == info
    assert local.EXECUTOR.where(placement_of(info)) == f"pid {2 ** 22 + 7} on elsewhere.example"
    host, _boot = local.host_identity()
    rebooted = RunInfo(run_id="r", status="running", pid=os.getpid(), pgid=0,
                       start_time=now_ns(), host=host, host_boot_id="another-boot")
    assert observe_runs([rebooted])[0].state == ENDED
    assert observe_runs([RunInfo(run_id="r", pid=os.getpid(), start_time=now_ns(),
                                 host=host)])[0].state == ALIVE


def _no_such_pid():
    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid += 1
    return pid


def test_proc_facts_match_psutil(monkeypatch):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                               start_new_session=True)
    zombie = subprocess.Popen(["true"], start_new_session=True)
    try:
        wait_for(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE)
        pids = [os.getpid(), sleeper.pid, 1]
        fast = {pid: local.process_facts(pid) for pid in pids}
        fast_zombie, fast_none = local.process_facts(zombie.pid), local.process_facts(_no_such_pid())
        fast_members = sorted(local.group_members(sleeper.pid))
        fast_problem = local.leader_problem("r", sleeper.pid, sleeper.pid, now_ns())
        for pid in pids:
            proc = psutil.Process(pid)
            assert fast[pid][0] is False
            assert abs(fast[pid][1] - int(proc.create_time() * NS)) < NS // 1000
        assert fast_zombie[0] is True and fast_none is None
        assert fast_members == [sleeper.pid]
        assert fast_problem is None
        # the same answers from psutil, where /proc cannot answer
        monkeypatch.setattr(local, "_proc_boot", lambda: None)
        for pid in pids:
            assert local.process_facts(pid)[0] is False
            assert abs(local.process_facts(pid)[1] - fast[pid][1]) < NS // 1000
        assert local.process_facts(zombie.pid)[0] is True
        assert local.process_facts(_no_such_pid()) is None
        assert sorted(local.group_members(sleeper.pid)) == fast_members
        assert local.leader_problem("r", sleeper.pid, sleeper.pid, now_ns()) is None
        created = int(psutil.Process(sleeper.pid).create_time() * NS)
        assert local.leader_problem("r", sleeper.pid, sleeper.pid, created + 60 * NS) == (
            f"run r: pid {sleeper.pid} is not the run's agent (it started 60s away from the "
            "run's start time); not signalling")
    finally:
        sleeper.kill()
        sleeper.wait()
        zombie.wait()


# ---- a remote executor -------------------------------------------------------------------------

def _task(runs_root, tmp_path, env, mode, **extra):
    return TaskRequest(root=runs_root, project=PROJECT, task=TASK, agent=agent(tmp_path, mode),
                       prompt="go", executor="fake", placed_poll=0.05, restart_delay=0.01,
                       environ=env, **extra)


def test_a_placed_run_records_no_local_process_and_completes(fake, runs_root, tmp_path,
                                                             subprocess_env):
    outcome = run_task(_task(runs_root, tmp_path, subprocess_env, "done"))
    assert outcome.attempts == 1
    (info,) = runs(runs_root)
    assert (info.status, info.exit_code, open(info.output_path).read()) == ("completed", 0, "ok\n")
    # upstream never signals it: no pid, no group, owned elsewhere
    assert (info.pid, info.pgid, info.process_ownership, info.runner_pid) == (0, 0, "external", 0)
    assert (info.executor, info.executor_job_id, info.executor_cluster) == ("fake", "fake-1",
                                                                             "testcluster")
    assert info.host == os.uname().nodename and info.host_pid > 0
    assert info.host_pid_start and info.submit_time and info.heartbeat_time
    text = open(os.path.join(os.path.dirname(info.prompt_path), "run-info.yaml")).read()
    assert "\nprocess_ownership: external\npid: 0\npgid: 0\n" in text
    assert "\nexecutor: fake\n" in text and '\nexecutor_job_id: fake-1\n' in text
    assert [entry for entry in fake.log if entry[0] != "observe"] == [("start", "fake-1")]


def _placed(fake, layout, env, n):
    """``n`` running records placed by the fake executor, each a sleeping job."""
    infos = []
    for _ in range(n):
        run_id, run_dir = layout.allocate_run_dir(PROJECT, TASK)
        p = fake.start(StartSpec(argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                                 cwd=run_dir, env=env, root=layout.root, run_dir=run_dir,
                                 stdin_path="", stdout_path=os.path.join(run_dir, "o"),
                                 stderr_path=os.path.join(run_dir, "e"), run_id=run_id))
        info = RunInfo(version=1, run_id=run_id, project_id=PROJECT, task_id=TASK,
                       agent="command", process_ownership="external", start_time=now_ns(),
                       status="running", executor="fake", executor_job_id=p.job_id,
                       submit_time=p.submit_time)
        write_run_info(os.path.join(run_dir, "run-info.yaml"), info)
        infos.append(read_run_info(os.path.join(run_dir, "run-info.yaml")))
    return infos


def test_many_placed_runs_are_observed_in_one_call_and_stopped_through_it(fake, runs_root,
                                                                          subprocess_env):
    layout = Layout(runs_root)
    infos = _placed(fake, layout, subprocess_env, 4)
    assert runs_alive(infos) == [True] * 4
    assert fake.calls("observe") == [("observe", 4)]  # one call for all four
    fake.lose(infos[1].executor_job_id)
    assert runs_alive(infos) == [True, False, True, True]
    healed = reconcile(infos[1], done_exists=False, now_ns=now_ns())
    assert (healed.status, healed.exit_code) == ("failed", -1)

    run_dir = os.path.join(layout.runs_dir(PROJECT, TASK), infos[0].run_id)
    outcome = stop_run(run_dir, grace=5)
    assert (outcome.stopped, outcome.message) == (True, f"Stopped run {infos[0].run_id} "
                                                        "(fake job fake-1)")
    before = len(fake.calls("observe"))
    outcomes = stop_task(layout, PROJECT, TASK, grace=5)
    assert len(fake.calls("observe")) - before == 1  # the task's runs: one observe
    assert sorted(o.message for o in outcomes) == [
        f"Stopped run {infos[2].run_id} (fake job fake-3)",
        f"Stopped run {infos[3].run_id} (fake job fake-4)"]
    assert [e[1] for e in fake.calls("stop")] == ["fake-1", "fake-3", "fake-4"]


def test_a_lost_run_is_stopped_before_the_loop_starts_the_next(fake, runs_root, tmp_path,
                                                              subprocess_env):
    done = {}
    loop = threading.Thread(target=lambda: done.setdefault(
        "outcome", run_task(_task(runs_root, tmp_path, subprocess_env, "lose-once"))))
    loop.start()
    try:
        first = wait_for(lambda: [i for i in runs(runs_root) if i.host_pid > 0])[0]
        wait_for(lambda: os.path.exists(os.path.join(runs_root, PROJECT, TASK, "first-attempt")))
        agent_pid = first.host_pid
        fake.lose(first.executor_job_id)
        loop.join(timeout=60)
    finally:
        if loop.is_alive():
            for proc in fake.jobs.values():
                os.killpg(proc.pid, signal.SIGKILL)
            loop.join()
    assert done["outcome"].attempts == 2
    assert [entry[:2] for entry in fake.log if entry[0] != "observe"] == [
        ("start", "fake-1"), ("lose", "fake-1"), ("stop", "fake-1"), ("start", "fake-2")]
    lost, second = runs(runs_root)
    assert (lost.status, lost.exit_code, lost.error_summary) == (
        "failed", -1, "run lost: NODE_FAIL (its runner recorded no end)")
    assert second.status == "completed" and second.previous_run_id == lost.run_id
    wait_for(lambda: not _alive(agent_pid))  # the stop took the orphaned agent with it
    assert time.time_ns() > lost.end_time


def test_a_placed_runner_refreshes_its_heartbeat_while_the_agent_runs(fake, runs_root, tmp_path,
                                                                      subprocess_env):
    from conductor.executor.base import heartbeat_age
    ended = []

    def task():
        try:
            run_task(_task(runs_root, tmp_path, subprocess_env, "sleep"))
        except TaskStopped as exc:
            ended.append(str(exc))

    loop = threading.Thread(target=task, daemon=True)
    loop.start()
    try:
        first = wait_for(lambda: [i for i in runs(runs_root) if i.host_pid > 0])[0]
        later = wait_for(lambda: [i for i in runs(runs_root)
                                  if i.heartbeat_time > first.heartbeat_time])[0]
        assert heartbeat_age(placement_of(later), now_ns()) < 30
        assert heartbeat_age(placement_of(RunInfo(run_id="r")), now_ns()) is None
    finally:
        stop_task(Layout(runs_root), PROJECT, TASK, grace=5)
        loop.join(timeout=30)
    assert not loop.is_alive() and ended == ["task stopped by operator"]
    assert [e[0] for e in fake.log if e[0] != "observe"] == ["start", "stop"]
    (info,) = runs(runs_root)
    assert info.status == "failed" and info.error_summary.startswith("stopped by operator")


def test_a_placed_run_ended_by_an_operators_stop_says_so_not_lost(fake, runs_root, tmp_path,
                                                                  subprocess_env):
    """A job the executor ended while the loop was told to stop (a queued Slurm job cancelled
    by the operator, say) is recorded as stopped by the operator, not as a lost run."""
    from conductor.runner.placed import place_run
    stop = threading.Event()
    done = {}
    req = JobRequest(root=runs_root, project=PROJECT, task=TASK, prompt="go",
                     agent=agent(tmp_path, "sleep"), environ=subprocess_env,
                     should_stop=stop.is_set)
    placing = threading.Thread(target=lambda: done.setdefault("result", place_run("fake", req,
                                                                                  poll=0.05)))
    placing.start()
    try:
        first = wait_for(lambda: [i for i in runs(runs_root) if i.host_pid > 0])[0]
        stop.set()  # the operator's stop tells the loop first
        fake.lose(first.executor_job_id)
        placing.join(timeout=60)
    finally:
        for proc in fake.jobs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        placing.join()
    [ended] = runs(runs_root)
    assert (ended.status, ended.error_summary) == (
        "failed", "stopped by the operator before its runner recorded an end: NODE_FAIL")
