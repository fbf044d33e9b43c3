"""The Slurm executor against stub sbatch/squeue/scancel/scontrol/sacct (stub.py: Slurm 22.05's
output shapes): what it submits, one squeue per observe, states, exit codes and reasons, stop
and the lost-run fence, and each command's failure as one line."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading

import pytest

from conductor.config.model import AgentConfig
from conductor.errors import ConductorError
from conductor.executor import registry
from conductor.executor.base import ALIVE, ENDED, UNKNOWN, Placement, StartSpec
from conductor.executor.slurm import SlurmError, SlurmExecutor, parse_exit
from conductor.runner.job import JobRequest
from conductor.runner.placed import SECRETS, _read_secrets, place_run
from conductor.runner.ralph import TaskRequest, run_task
from conductor.store import Layout, RunInfo, read_run_info, write_run_info
from conductor.store.liveness import observe_runs
from conductor.timefmt import NS, now_ns
from waiting import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT, TASK = "proj", "task-20261130-120000-slurm"
COMMANDS = ("sbatch", "squeue", "scancel", "scontrol", "sacct")


class Stub:
    def __init__(self, base) -> None:
        self.bin = base / "bin"
        self.bin.mkdir()
        with open(os.path.join(HERE, "stub.py")) as f:
            source = f.read().split("\n", 1)[1]
        for name in COMMANDS:  # this interpreter, not whatever python3 is on PATH
            (self.bin / name).write_text(f"#!{sys.executable}\n{source}")
            os.chmod(self.bin / name, 0o755)
        self.path = str(base / "state.json")
        self.save({"jobs": {}, "next": 101, "fail": {}, "calls": [], "on_term": "CANCELLED",
                   "on_kill": "CANCELLED"})

    def load(self) -> dict:
        with open(self.path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the stub's own lock: never a half-written file
            with open(self.path) as f:
                return json.load(f)

    def save(self, state: dict) -> None:
        with open(self.path, "w") as f:
            json.dump(state, f)

    def update(self, change) -> None:
        with open(self.path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with open(self.path) as f:
                state = json.load(f)
            change(state)
            self.save(state)

    def set(self, **changes) -> None:
        self.update(lambda state: state.update(changes))

    def job(self, job_id: str, **fields) -> None:
        """A job as Slurm holds it; its comment names the run ``_p(job_id)`` places."""
        self.update(lambda state: state["jobs"].setdefault(job_id, {
            "state": "PENDING", "node": "", "reason": "None", "exit": "0:0",
            "comment": f"conductor project={PROJECT} task={TASK} run=run-{job_id}",
            "uid": os.getuid()}).update(fields))

    def calls(self, name: str | None = None) -> list[list[str]]:
        return [c["argv"] for c in self.load()["calls"] if name is None or c["argv"][0] == name]


@pytest.fixture
def stub(tmp_path, monkeypatch):
    found = Stub(tmp_path)
    monkeypatch.setenv("PATH", f"{found.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STUB_STATE", found.path)
    return found


@pytest.fixture
def slurm(stub, monkeypatch):
    """A fresh executor in the registry (its heartbeat settings are the test's)."""
    fresh = SlurmExecutor()
    fresh.queue_ttl = 0  # each observe asks for its own jobs (the shared queue: its own test)
    monkeypatch.setitem(registry._LOADED, "slurm", fresh)
    return fresh


def _spec(tmp_path, **kw) -> StartSpec:
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    fields = dict(argv=[sys.executable, "-m", "conductor.runner.placed", str(run_dir)],
                  cwd=str(tmp_path), env={"PATH": os.environ["PATH"],
                                          "SLURM_STUB_STATE": os.environ["SLURM_STUB_STATE"],
                                          "HTTPS_PROXY": "http://proxy:3128",
                                          "ANTHROPIC_API_KEY": "sk-ant-secret-value",
                                          "CONDUCTOR_AGENT_CLAUDE_TOKEN": "another-secret-1"},
                  root=str(tmp_path), run_dir=str(run_dir), stdin_path="",
                  stdout_path=str(run_dir / "agent-stdout.txt"),
                  stderr_path=str(run_dir / "agent-stderr.txt"), project=PROJECT, task=TASK,
                  run_id="20261130-1200000000-1-0001")
    fields.update(kw)
    return StartSpec(**fields)


def _p(job_id, **kw) -> Placement:
    return Placement(executor="slurm", run_id=f"run-{job_id}", project=PROJECT, task=TASK,
                     job_id=job_id, **kw)


# ---- start --------------------------------------------------------------------------------

def test_start_submits_the_runner_with_the_runs_files_names_and_options(stub, slurm, tmp_path):
    spec = _spec(tmp_path, grace=45, options={"partition": "gpu", "time": "1:00:00", "cpus": 2,
                                               "mem": "4G", "account": "lab", "qos": "",
                                               "args": ["--exclusive", "--constraint=a100"]})
    placement = slurm.start(spec)
    assert (placement.executor, placement.job_id, placement.cluster) == ("slurm", "101",
                                                                         "stubcluster")
    assert placement.submit_time and abs(placement.submit_time - now_ns()) < 60 * NS
    (call,) = [c for c in stub.load()["calls"] if c["argv"][0] == "sbatch"]
    run = spec.run_dir
    assert call["argv"] == [
        "sbatch", "--parsable", "--no-requeue", f"--job-name=conductor:{PROJECT}/{TASK}",
        f"--comment=conductor project={PROJECT} task={TASK} run=20261130-1200000000-1-0001",
        f"--output={run}/agent-stdout.txt", f"--error={run}/agent-stderr.txt",
        "--open-mode=append", f"--chdir={tmp_path}", "--signal=B:TERM@45", "--export=ALL",
        "--partition=gpu", "--time=1:00:00", "--cpus-per-task=2", "--mem=4G", "--account=lab",
        "--exclusive", "--constraint=a100"]
    assert call["script"] == (
        f"#!/bin/sh\n# conductor run project={PROJECT} task={TASK} "
        f"run=20261130-1200000000-1-0001\nexec {sys.executable} -m conductor.runner.placed "
        f"{run}\n")
    # tokens never go into the job's environment; the proxy does
    assert call["env"] == {"HTTPS_PROXY": "http://proxy:3128"}
    slurm.start(spec)
    assert len(stub.calls("scontrol")) == 1  # the cluster name is asked once


@pytest.mark.parametrize("command, code, stderr, expected", [
    ("sbatch", 1, "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job "
                  "submission failed: Invalid partition name specified\n",
     "sbatch exited with code 1: sbatch: error: invalid partition specified: nope"),
    ("sbatch", 255, "sbatch: unrecognized option '--bogus'\nTry \"sbatch --help\" for more "
                    "information\n",
     "sbatch exited with code 255: sbatch: unrecognized option '--bogus'"),
])
def test_a_failed_sbatch_is_one_line(stub, slurm, tmp_path, command, code, stderr, expected):
    stub.set(fail={command: [code, stderr]})
    with pytest.raises(SlurmError) as err:
        slurm.start(_spec(tmp_path))
    assert str(err.value) == expected


def test_a_missing_command_is_one_line(slurm, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConductorError) as err:
        slurm.start(_spec(tmp_path))
    assert str(err.value) == "sbatch: not found on PATH (is this a Slurm submit host?)"


# ---- observe ------------------------------------------------------------------------------

def test_one_squeue_answers_for_every_placement(stub, slurm):
    stub.job("7", state="PENDING", reason="Priority")
    stub.job("8", state="RUNNING", node="cn3")
    stub.job("9", state="COMPLETING", node="cn3")
    stub.job("10", state="COMPLETED", node="cn4", exit="0:0")
    stub.job("11", state="FAILED", node="cn4", reason="NonZeroExitCode", exit="3:0")
    stub.job("12", state="NODE_FAIL", node="cn5", reason="NodeDown", exit="0:0")
    stub.job("13", state="OUT_OF_MEMORY", node="cn5", reason="OutOfMemory", exit="0:125")
    stub.job("14", state="TIMEOUT", node="cn6", reason="TimeLimit", exit="0:15")
    stub.job("15", state="FAILED", node="cn6", reason="JobLaunchFailure", exit="0:9")
    ids = ["7", "8", "9", "10", "11", "12", "13", "14", "15", "99"]
    seen = slurm.observe([_p(j) for j in ids])
    assert len(stub.calls("squeue")) == 1
    (squeue,) = stub.calls("squeue")
    assert squeue == ["squeue", "--noheader", "--states=all",
                      "--jobs=7,8,9,10,11,12,13,14,15,99", "--format=%i|%T|%N|%r|%U|%k"]
    assert [(o.state, o.exit_code, o.host, o.reason) for o in seen] == [
        (ALIVE, None, "", "PENDING"),
        (ALIVE, None, "cn3", "RUNNING"),
        (ALIVE, None, "cn3", "COMPLETING"),
        (ENDED, 0, "cn4", "COMPLETED"),
        (ENDED, 3, "cn4", "FAILED"),
        (ENDED, 0, "cn5", "NODE_FAIL (the node failed), NodeDown"),
        (ENDED, 128 + 125, "cn5", "OUT_OF_MEMORY (the job ran out of memory), signal 125"),
        (ENDED, 128 + 15, "cn6", "TIMEOUT (the job reached its time limit), signal 15"),
        (ENDED, 128 + 9, "cn6", "FAILED, signal 9"),
        (ENDED, None, "", "job 99 is no longer known to Slurm"),
    ]
    # accounting is off here: sacct once, then scontrol for each ended job
    assert len(stub.calls("sacct")) == 1
    assert len(stub.calls("scontrol")) == 7
    slurm.observe([_p("10")])
    assert len(stub.calls("sacct")) == 1  # not asked again once it said it is disabled


def test_exit_codes_come_from_one_sacct_when_accounting_is_on(stub, slurm):
    stub.job("21", state="NODE_FAIL", node="cn1")
    stub.job("22", state="OUT_OF_MEMORY", node="cn2")
    stub.set(accounting=["21|NODE_FAIL|0:0|cn1|None", "22|OUT_OF_MEMORY|0:125|cn2|None",
                         "23|CANCELLED by 0|0:15|cn2|None"])
    seen = slurm.observe([_p("21"), _p("22"), _p("23"), _p("24")])
    assert [(o.state, o.exit_code, o.reason) for o in seen] == [
        (ENDED, 0, "NODE_FAIL (the node failed)"),
        (ENDED, 253, "OUT_OF_MEMORY (the job ran out of memory), signal 125"),
        (ENDED, 143, "CANCELLED, signal 15"),
        (ENDED, None, "job 24 is no longer known to Slurm")]
    assert len(stub.calls("sacct")) == 1 and stub.calls("scontrol") == [
        ["scontrol", "--oneliner", "show", "job", "24"]]


def test_every_placement_is_unknown_when_squeue_fails(stub, slurm):
    stub.set(fail={"squeue": [1, "slurm_load_jobs error: Unable to contact slurm controller "
                                  "(connect failure)\n"]})
    seen = slurm.observe([_p("1"), _p("2")])
    assert [(o.state, o.reason) for o in seen] == [
        (UNKNOWN, "squeue exited with code 1: slurm_load_jobs error: Unable to contact slurm "
                  "controller (connect failure)")] * 2


def test_task_loops_share_one_squeue_of_all_our_jobs(stub, slurm, monkeypatch, tmp_path):
    """Every task loop polls its own run: within queue_ttl one `squeue --me` answers them all
    (each loop is its own process; here two executors stand for two of them)."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stub.job("61", state="RUNNING", node="cn1")
    stub.job("62", state="PENDING")
    before = now_ns() - 60 * NS
    loops = [SlurmExecutor(), SlurmExecutor()]
    for loop in loops:
        loop.queue_ttl = 30
    (a,) = loops[0].observe([_p("61", submit_time=before)])
    (b,) = loops[1].observe([_p("62", submit_time=before)])
    (gone,) = loops[1].observe([_p("63", submit_time=before)])  # ended and forgotten
    assert (a.state, b.state, gone.state) == (ALIVE, ALIVE, ENDED)
    assert stub.calls("squeue") == [["squeue", "--noheader", "--states=all", "--me",
                                     "--format=%i|%T|%N|%r|%U|%k"]]
    # a job submitted after the snapshot was taken is asked about by id, never read as gone
    stub.job("64", state="PENDING")
    (new,) = loops[0].observe([_p("64", submit_time=now_ns())])
    assert new.state == ALIVE and stub.calls("squeue")[-1][3] == "--jobs=64"
    folder = tmp_path / f"conductor-slurm-{os.getuid()}"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_a_running_job_is_alive_only_while_its_heartbeat_is_fresh(stub, slurm):
    slurm.heartbeat_stale = 60
    stub.job("5", state="RUNNING", node="cn1")
    stub.job("6", state="RUNNING", node="cn1")
    stub.job("7", state="PENDING")
    now = now_ns()
    fresh, stale, queued = slurm.observe([
        _p("5", heartbeat_time=now - 5 * NS), _p("6", heartbeat_time=now - 300 * NS),
        _p("7", heartbeat_time=now - 300 * NS)])
    assert fresh.state == ALIVE and queued.state == ALIVE
    assert (stale.state, stale.host) == (ENDED, "cn1")
    assert stale.reason.startswith("heartbeat 300 s old while Slurm says RUNNING on cn1")


def test_a_record_of_a_job_being_submitted_is_alive_and_no_squeue_is_run(stub, slurm):
    (seen,) = slurm.observe([_p("")])
    assert (seen.state, seen.reason) == (ALIVE, "submitting") and stub.calls() == []


def test_a_record_still_without_a_job_id_long_after_it_was_written_has_ended(stub, slurm):
    """Its placer died between writing the record and recording sbatch's answer (a SIGKILL,
    a reboot): shown running for ever, and never healed, before. Past sbatch's timeout it has
    ended; the loop's healing then finishes the record."""
    from conductor.executor.slurm import SUBMIT_WINDOW
    now = now_ns()
    fresh, old = slurm.observe([_p("", start_time=now - 5 * NS),
                                _p("", start_time=now - int((SUBMIT_WINDOW + 60) * NS))])
    assert (fresh.state, fresh.reason) == (ALIVE, "submitting")
    assert old.state == ENDED and old.reason == (
        f"no job id {SUBMIT_WINDOW + 60:.0f} s after the run was recorded: the process that "
        "placed it ended before sbatch answered")
    assert stub.calls("squeue") == []


def test_records_are_observed_through_the_registry_in_one_call(stub, slurm):
    for job in ("1", "2", "3"):
        stub.job(job, state="RUNNING", node="cn1")
    infos = [RunInfo(run_id=f"run-{j}", project_id=PROJECT, task_id=TASK, status="running",
                     executor="slurm", executor_job_id=j, process_ownership="external")
             for j in ("1", "2", "3")]
    infos.append(RunInfo(run_id="local", status="running", pid=0, pgid=0))
    seen = observe_runs(infos)
    assert [o.state for o in seen[:3]] == [ALIVE] * 3 and len(stub.calls("squeue")) == 1


@pytest.mark.parametrize("text, expected", [("0:0", (0, "")), ("3:0", (3, "")),
                                             ("0:9", (137, "signal 9")), ("x", (None, ""))])
def test_parse_exit(text, expected):
    assert parse_exit(text) == expected


# ---- stop ---------------------------------------------------------------------------------

def test_stop_sends_term_to_the_whole_job_and_waits_for_it(stub, slurm):
    stub.job("31", state="RUNNING", node="cn1")
    result = slurm.stop(_p("31"), grace=5, force=False)
    assert result.code == "stopped"
    assert stub.calls("scancel") == [["scancel", "--signal=TERM", "--full", "31"]]


def test_a_queued_job_is_cancelled_without_a_signal(stub, slurm):
    stub.job("35", state="PENDING", reason="Priority")
    assert slurm.stop(_p("35"), grace=5, force=False).code == "stopped"
    assert stub.calls("scancel") == [["scancel", "35"]]
    assert stub.load()["jobs"]["35"]["state"] == "CANCELLED"


def test_a_job_ignoring_term_is_killed_with_force_and_times_out_without(stub, slurm):
    stub.set(on_term="")
    stub.job("32", state="RUNNING", node="cn1")
    assert slurm.stop(_p("32"), grace=0.3, force=False).code == "timeout"
    result = slurm.stop(_p("32"), grace=0.3, force=True)
    assert result.code == "killed"
    assert stub.calls("scancel")[-2:] == [["scancel", "--signal=TERM", "--full", "32"],
                                          ["scancel", "--signal=KILL", "--full", "32"]]


def test_stopping_an_ended_job_still_sends_scancel_the_fence(stub, slurm):
    stub.job("33", state="NODE_FAIL", node="cn1")
    assert slurm.stop(_p("33"), grace=1, force=True).code == "gone"
    assert stub.calls("scancel") == [["scancel", "--signal=TERM", "--full", "33"]]


def test_a_failed_scancel_is_refused_with_one_line(stub, slurm):
    stub.job("34", state="RUNNING")
    stub.set(fail={"scancel": [1, "scancel: error: Kill job error on job id 34: Access/"
                                  "permission denied\n"]})
    result = slurm.stop(_p("34"), grace=1, force=True)
    assert (result.code, result.detail) == (
        "refused", "run run-34: scancel exited with code 1: scancel: error: Kill job error on "
                   "job id 34: Access/permission denied")


def test_where(slurm):
    assert slurm.where(_p("41", host="cn7")) == "slurm job 41 on cn7"
    assert slurm.where(_p("")) == "slurm (submitting)"


# ---- placed runs: records, secrets, the lost-run fence --------------------------------------

AGENT = """\
import os, pathlib, sys
print("out"); print("err", file=sys.stderr)
pathlib.Path(os.environ["JRUN_TASK_FOLDER"], "DONE").write_text("")
"""


def _agent(tmp_path, token=""):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return AgentConfig(name="cmd", type="command", command=[sys.executable, str(script)],
                       token=token)


def test_a_placed_run_completes_with_the_executor_keys_in_its_record(stub, slurm, tmp_path,
                                                                     runs_root, subprocess_env):
    stub.set(run=True)
    env = dict(subprocess_env, ANTHROPIC_API_KEY="sk-ant-0123456789")
    result = place_run("slurm", JobRequest(root=runs_root, project=PROJECT, task=TASK,
                                           prompt="go", agent=_agent(tmp_path, "tok-0123456789"),
                                           environ=env), poll=0.05)
    assert result.ok, result.error
    info = read_run_info(os.path.join(result.run_dir, "run-info.yaml"))
    assert (info.status, info.exit_code, info.executor, info.executor_job_id,
            info.executor_cluster) == ("completed", 0, "slurm", "101", "stubcluster")
    assert (info.pid, info.pgid, info.process_ownership) == (0, 0, "external")
    assert info.host == os.uname().nodename and info.host_boot_id
    assert info.host_pid > 0 and info.host_pid_start and info.submit_time
    assert info.heartbeat_time
    assert open(info.stdout_path).read() == "out\n" and open(info.stderr_path).read() == "err\n"
    (sbatch,) = [c for c in stub.load()["calls"] if c["argv"][0] == "sbatch"]
    assert sbatch["env"] == {"CONDUCTOR_EXECUTOR": "slurm"}  # no token in the job's environment
    assert sbatch["secrets_mode"] == "0o600"  # they went in a 0600 file instead
    assert not os.path.exists(os.path.join(result.run_dir, SECRETS))  # read and removed


def test_a_secrets_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / SECRETS
    path.write_text('{"token": "x"}')
    os.chmod(path, 0o644)
    with pytest.raises(ConductorError) as err:
        _read_secrets(str(tmp_path))
    assert str(err.value) == (f"{path}: must be a regular file of ours with mode 0600 (is "
                              "-rw-r--r--); not reading it")


def test_a_failed_submission_fails_the_run_with_sbatchs_words(stub, slurm, tmp_path, runs_root,
                                                              subprocess_env):
    stub.set(fail={"sbatch": [1, "sbatch: error: Batch job submission failed: Invalid "
                                 "partition name specified\n"]})
    result = place_run("slurm", JobRequest(root=runs_root, project=PROJECT, task=TASK,
                                           prompt="go", agent=_agent(tmp_path),
                                           environ=subprocess_env), poll=0.05)
    info = read_run_info(os.path.join(result.run_dir, "run-info.yaml"))
    assert (info.status, info.error_summary) == (
        "failed", "slurm: start: sbatch exited with code 1: sbatch: error: Batch job "
                  "submission failed: Invalid partition name specified")


def test_a_lost_run_is_cancelled_before_the_loop_submits_the_next(stub, slurm, tmp_path,
                                                                  runs_root, subprocess_env):
    """The job's node fails while the record says running: scancel goes out first, the run
    is failed with Slurm's reason, and only then is the next attempt submitted."""
    stop = threading.Event()

    def fail_nodes():  # each job that is submitted runs, and then its node fails
        while not stop.is_set():
            for job, fields in stub.load()["jobs"].items():
                if fields["state"] == "PENDING":
                    stub.job(job, state="NODE_FAIL", node="cn9", reason="NodeDown")
            stop.wait(0.05)

    thread = threading.Thread(target=fail_nodes, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConductorError):
            run_task(TaskRequest(root=runs_root, project=PROJECT, task=TASK,
                                 agent=_agent(tmp_path), prompt="go", executor="slurm",
                                 placed_poll=0.05, restart_delay=0.01, max_attempts=2,
                                 environ=subprocess_env))
    finally:
        stop.set()
        thread.join()
    order = [c[0] if c[0] != "scancel" else f"scancel {c[-1]}" for c in stub.calls()
             if c[0] in ("sbatch", "scancel")]
    assert order == ["sbatch", "scancel 101", "sbatch", "scancel 102"]
    layout = Layout(runs_root)
    runs_dir = layout.runs_dir(PROJECT, TASK)
    infos = sorted((read_run_info(os.path.join(runs_dir, n, "run-info.yaml"))
                    for n in os.listdir(runs_dir)), key=lambda i: i.executor_job_id)
    assert [(i.status, i.error_summary) for i in infos] == [
        ("failed", "run lost: NODE_FAIL (the node failed), NodeDown (its runner recorded no "
                   "end)")] * 2


def test_a_stale_heartbeat_reads_lost_through_the_store(stub, slurm, tmp_path, runs_root):
    slurm.heartbeat_stale = 30
    layout = Layout(runs_root)
    run_id, run_dir = layout.allocate_run_dir(PROJECT, TASK)
    stub.job("51", state="RUNNING", node="cn2",
             comment=f"conductor project={PROJECT} task={TASK} run={run_id}")
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        version=1, run_id=run_id, project_id=PROJECT, task_id=TASK, agent="command",
        process_ownership="external", status="running", start_time=now_ns(),
        executor="slurm", executor_job_id="51", heartbeat_time=now_ns() - 600 * NS))
    info = read_run_info(os.path.join(run_dir, "run-info.yaml"))
    (seen,) = observe_runs([info])
    assert seen.state == ENDED and "heartbeat 600 s old" in seen.reason
    wait_for(lambda: True)


# ---- configuration ------------------------------------------------------------------------

def test_the_config_names_executors_and_slurm_options(tmp_path):
    from conductor.config import load_config
    path = tmp_path / "config.yaml"
    path.write_text("agents:\n  cmd:\n    type: command\n    command: [true]\n    executor: slurm\n"
                    "defaults:\n  executor: local\nslurm:\n  partition: gpu\n  cpus: 4\n"
                    "  time: '2:00:00'\n  args: --exclusive --constraint=a100\n")
    config = load_config(str(path))
    assert (config.defaults.executor, config.agents["cmd"].executor) == ("local", "slurm")
    assert config.slurm.options() == {"partition": "gpu", "time": "2:00:00", "cpus": 4,
                                      "mem": "", "account": "", "qos": "",
                                      "args": ["--exclusive", "--constraint=a100"]}


def test_an_unknown_executor_in_the_config_is_one_line_naming_file_and_field(tmp_path):
    from conductor.config import load_config
    path = tmp_path / "config.yaml"
    path.write_text("defaults:\n  executor: kubernetes\n")
    with pytest.raises(ConductorError) as err:
        load_config(str(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text and "defaults.executor" in text
    assert 'must be one of local, slurm, got "kubernetes"' in text


@pytest.mark.parametrize("arg, flag", [("--comment=mine", "--comment"), ("-M", "-M"),
                                       ("--clusters=other", "--clusters"), ("-ofile", "-o"),
                                       ("--output=x", "--output"), ("--job-name=x", "--job-name")])
def test_slurm_args_may_not_override_what_conductor_sets(tmp_path, arg, flag):
    """A later --comment would win in sbatch, and conductor could never stop its own job
    (whose comment must name its run); -M/--clusters would place it where squeue and scancel
    do not ask, so it would read as gone and be resubmitted for ever."""
    from conductor.config import load_config
    path = tmp_path / "config.yaml"
    path.write_text(f"slurm:\n  args: [--exclusive, '{arg}']\n")
    with pytest.raises(ConductorError) as err:
        load_config(str(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text and "slurm.args[1]" in text
    assert f"{flag} is conductor's to set" in text


def test_run_agent_task_refuses_an_unknown_executor(tmp_path, runs_root, subprocess_env):
    import subprocess
    run_agent = os.path.join(os.path.dirname(sys.executable), "run-agent")
    done = subprocess.run([run_agent, "task", "--root", runs_root, "--project", PROJECT,
                           "--task", TASK, "--agent", "codex", "--prompt", "go",
                           "--executor", "nope"], env=subprocess_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == 'Error: unknown executor "nope" (known: local, slurm)\n'


# ---- the node's preflight: can it reach the agent's API? -----------------------------------

def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends


def test_the_node_preflight_names_the_api_it_cannot_reach(tmp_path):
    import socket
    from conductor.runner.placed import reach_problem
    port = _closed_port()
    claude = AgentConfig(name="c", type="claude", base_url=f"http://127.0.0.1:{port}")
    node = os.uname().nodename
    assert reach_problem(claude, {}) == (
        f"node {node} cannot reach 127.0.0.1:{port}: Connection refused (set HTTPS_PROXY, or "
        "place this agent on nodes that reach its API)")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        proxy = f"http://127.0.0.1:{listening.getsockname()[1]}"
        # through a proxy that answers, the API's own address is the proxy's business
        assert reach_problem(claude, {"HTTPS_PROXY": proxy}) == ""
        assert reach_problem(AgentConfig(name="c", type="claude",
                                         base_url=proxy.replace("http", "https")), {}) == ""
    assert reach_problem(claude, {"HTTPS_PROXY": f"http://127.0.0.1:{port}"}).endswith(
        f"cannot reach 127.0.0.1:{port} through HTTPS_PROXY 127.0.0.1: Connection refused "
        "(set HTTPS_PROXY, or place this agent on nodes that reach its API)")
    assert reach_problem(AgentConfig(name="x", type="command", command=["true"]), {}) == ""


def test_a_node_that_cannot_reach_the_api_fails_the_run_with_that_line(stub, slurm, tmp_path,
                                                                       runs_root,
                                                                       subprocess_env):
    stub.set(run=True)
    port = _closed_port()
    agent = AgentConfig(name="c", type="claude", base_url=f"http://127.0.0.1:{port}",
                        token="sk-ant-0123456789")
    result = place_run("slurm", JobRequest(root=runs_root, project=PROJECT, task=TASK,
                                           prompt="go", agent=agent, environ=subprocess_env),
                       poll=0.05)
    info = read_run_info(os.path.join(result.run_dir, "run-info.yaml"))
    assert (info.status, info.error_summary, info.failure) == (
        "failed", f"node {os.uname().nodename} cannot reach 127.0.0.1:{port}: Connection "
                  "refused (set HTTPS_PROXY, or place this agent on nodes that reach its API)",
        "network")  # retried with backoff, stuck after identical failures, as a network error
    assert result.failure is not None and result.failure.kind == "network"
    assert "type: RUN_CRASH" in open(Layout(runs_root).task_bus(PROJECT, TASK)).read()


# ---- whose job: nothing is cancelled on the record's word (the agent can write it) ----------

def test_a_job_of_another_run_or_user_is_never_cancelled_and_reads_ended(stub, slurm):
    stub.job("71", state="RUNNING", node="cn1",
             comment=f"conductor project={PROJECT} task={TASK} run=run-someone-else")
    stub.job("72", state="RUNNING", node="cn1", uid=4242)
    stub.job("73", state="RUNNING", node="cn1", comment="(null)")  # not a conductor job
    for job, words in (("71", f"its comment is 'conductor project={PROJECT} task={TASK} "
                              "run=run-someone-else'"),
                       ("72", "it belongs to uid 4242"), ("73", "its comment is '(null)'")):
        result = slurm.stop(_p(job), grace=1, force=True)
        assert (result.code, result.detail) == (
            "refused", f"run run-{job}: Slurm job {job} is not this run's job ({words}); not "
                       "cancelling it")
        (seen,) = slurm.observe([_p(job)])
        assert (seen.state, seen.reason) == (ENDED, f"Slurm job {job} is not this run's job "
                                                    f"({words})")
    assert stub.calls("scancel") == []
    assert {j: stub.load()["jobs"][j]["state"] for j in ("71", "72", "73")} == {
        "71": "RUNNING", "72": "RUNNING", "73": "RUNNING"}


def test_a_job_slurm_has_forgotten_is_gone_without_a_scancel(stub, slurm):
    stub.job("74", state="RUNNING")  # keeps squeue answering for the id list
    assert slurm.stop(_p("75"), grace=1, force=True).code == "gone"
    assert stub.calls("scancel") == []


def test_a_cached_queue_of_another_shape_is_asked_again(stub, monkeypatch, tmp_path):
    """A cache file from before the comment was asked (3 fields a row) is never trusted."""
    from conductor.executor.slurm import _cache_key
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = tmp_path / f"conductor-slurm-{os.getuid()}"
    folder.mkdir(mode=0o700)
    (folder / f"squeue-{_cache_key()}.json").write_text(json.dumps(
        {"taken": now_ns(), "rows": {"76": ["RUNNING", "cn1", "None"]}}))
    stub.job("76", state="RUNNING", node="cn1")
    loop = SlurmExecutor()
    loop.queue_ttl = 30
    (seen,) = loop.observe([_p("76", submit_time=now_ns() - 60 * NS)])
    assert (seen.state, seen.host) == (ALIVE, "cn1") and len(stub.calls("squeue")) == 1


def _slurm_run(layout, job_id: str, **fields) -> str:
    run_id, run_dir = layout.allocate_run_dir(PROJECT, TASK)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(**{
        "version": 1, "run_id": run_id, "project_id": PROJECT, "task_id": TASK,
        "agent": "command", "process_ownership": "external", "status": "running",
        "start_time": now_ns(), "executor": "slurm", "executor_job_id": job_id,
        "heartbeat_time": now_ns(), **fields}))
    return run_dir


def test_stop_of_a_record_pointed_at_a_sibling_runs_job_refuses_and_cancels_nothing(
        stub, slurm, runs_root, subprocess_env, monkeypatch):
    """An agent rewrites its own run-info to name its sibling's job, even its run id: `stop`
    of that run dir asks Slurm whose the job is (by the path, not the record) and refuses."""
    import subprocess
    monkeypatch.setenv("CONDUCTOR_SLURM_QUEUE_TTL", "0")
    layout = Layout(runs_root)
    sibling = _slurm_run(layout, "81")
    stub.job("81", state="RUNNING", node="cn1", comment=(
        f"conductor project={PROJECT} task={TASK} run={os.path.basename(sibling)}"))
    hostile = _slurm_run(layout, "81", run_id=os.path.basename(sibling))
    run_agent = os.path.join(os.path.dirname(sys.executable), "run-agent")
    env = dict(subprocess_env, PATH=os.environ["PATH"], SLURM_STUB_STATE=stub.path,
               CONDUCTOR_SLURM_QUEUE_TTL="0")
    done = subprocess.run([run_agent, "stop", "--root", runs_root, "--run-dir", hostile,
                           "--grace", "1s", "--force"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: run {os.path.basename(hostile)}: Slurm job 81 is not this run's job (its "
        f"comment is 'conductor project={PROJECT} task={TASK} "
        f"run={os.path.basename(sibling)}'); not cancelling it\n")
    assert stub.calls("scancel") == [] and stub.load()["jobs"]["81"]["state"] == "RUNNING"
    # the sibling itself is stopped as usual
    done = subprocess.run([run_agent, "stop", "--root", runs_root, "--run-dir", sibling,
                           "--grace", "1s"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert stub.calls("scancel") == [["scancel", "--signal=TERM", "--full", "81"]]


IGNORE_TERM = """\
import os, pathlib, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(os.environ["JRUN_TASK_FOLDER"], "agent-ran").write_text("")
time.sleep(120)
"""


@pytest.mark.parametrize("grace", [30, 0])
def test_a_task_stopped_while_its_job_is_being_submitted_stops_at_once(
        stub, slurm, tmp_path, runs_root, subprocess_env, grace):
    """`task stop` between the run's record and sbatch's answer (a slow slurmctld): there is no
    job id to cancel yet. The stop waits for it up to its grace (30), and the loop cancels the
    job as soon as it has one even when the stop gave up waiting (0); the loop ends with no
    second attempt, and the agent never runs."""
    from conductor.runner.stop import stop_task
    gate = f"{stub.path}.sbatch-gate"
    open(gate, "w").close()
    stub.set(run=True)
    script = tmp_path / "agent.py"
    script.write_text(IGNORE_TERM)
    agent = AgentConfig(name="cmd", type="command", command=[sys.executable, str(script)])
    box = {}

    def loop():
        try:
            run_task(TaskRequest(root=runs_root, project=PROJECT, task=TASK, agent=agent,
                                 prompt="go", executor="slurm", placed_poll=0.05,
                                 restart_delay=0.01, max_attempts=3, environ=subprocess_env))
        except ConductorError as exc:
            box["error"] = str(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    layout = Layout(runs_root)
    runs_dir = layout.runs_dir(PROJECT, TASK)
    wait_for(lambda: os.path.isdir(runs_dir) and [
        n for n in os.listdir(runs_dir)
        if os.path.exists(os.path.join(runs_dir, n, "run-info.yaml"))], what="the run's record")
    stopper = threading.Thread(target=lambda: box.setdefault(
        "outcomes", stop_task(layout, PROJECT, TASK, grace=grace, force=True)), daemon=True)
    stopper.start()
    wait_for(lambda: os.path.exists(os.path.join(layout.task_dir(PROJECT, TASK),
                                                 "STOP-REQUESTED")), what="the stop under way")
    assert stub.calls("sbatch") == []  # sbatch has not answered yet
    if grace:
        assert stopper.is_alive()  # waiting for the job id
    os.unlink(gate)  # slurmctld answers now
    stopper.join(timeout=60)
    thread.join(timeout=60)
    assert not thread.is_alive() and not stopper.is_alive()
    assert stub.calls("sbatch") and len(stub.calls("sbatch")) == 1  # no second attempt
    assert ["scancel", "101"] in stub.calls("scancel") or \
        ["scancel", "--signal=TERM", "--full", "101"] in stub.calls("scancel")
    (name,) = os.listdir(runs_dir)
    info = read_run_info(os.path.join(runs_dir, name, "run-info.yaml"))
    assert info.status == "failed" and info.error_summary.startswith("stopped by")
    assert stub.load()["jobs"]["101"]["state"] == "CANCELLED"
    assert not os.path.exists(os.path.join(layout.task_dir(PROJECT, TASK), "agent-ran"))


def test_a_controller_that_cannot_be_reached_is_asked_once_for_every_process(
        stub, monkeypatch, tmp_path):
    """slurmctld down: squeue retries for MessageTimeout (10 s) before it fails. The first
    process to ask remembers the failure for down_ttl, so the other loops, `list` and the
    console read `unknown` at once instead of each waiting for squeue; and the failed
    `squeue --me` is not asked again job by job."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stub.job("91", state="RUNNING", node="cn1")
    stub.set(fail={"squeue": [1, "slurm_load_jobs error: Unable to contact slurm controller "
                                  "(connect failure)\n"]})
    loops = [SlurmExecutor(), SlurmExecutor()]
    for loop in loops:
        loop.queue_ttl, loop.down_ttl = 1, 300
    before = now_ns() - 60 * NS
    seen = [loop.observe([_p("91", submit_time=before)])[0] for loop in loops]
    assert [(o.state, o.reason) for o in seen] == [
        (UNKNOWN, "squeue exited with code 1: slurm_load_jobs error: Unable to contact slurm "
                  "controller (connect failure)")] * 2
    assert stub.calls("squeue") == [["squeue", "--noheader", "--states=all", "--me",
                                     "--format=%i|%T|%N|%r|%U|%k"]]
    # the controller is back: once down_ttl has passed, the next poll asks Slurm again
    stub.set(fail={})
    loops[1].down_ttl = 0
    (back,) = loops[1].observe([_p("91", submit_time=before)])
    assert (back.state, back.host) == (ALIVE, "cn1") and len(stub.calls("squeue")) == 2


def test_task_stop_cancels_a_child_jobs_slurm_job_after_writing_the_marker(
        stub, slurm, tmp_path, runs_root, subprocess_env, monkeypatch):
    """A child run (`run-agent job`) has no loop to tell: the process that placed it learns of
    the operator's stop from STOP-REQUESTED alone. So `task stop` writes the marker before it
    cancels a placed run's job, and the run reads "stopped by the operator", never "lost"."""
    from conductor.runner.stop import stop_task
    layout = Layout(runs_root)
    marker = os.path.join(layout.task_dir(PROJECT, TASK), "STOP-REQUESTED")
    seen = []
    send_stop = SlurmExecutor.send_stop

    def watching(self, placement):
        seen.append(os.path.exists(marker))
        return send_stop(self, placement)

    monkeypatch.setattr(SlurmExecutor, "send_stop", watching)
    box = {}
    placing = threading.Thread(daemon=True, target=lambda: box.setdefault("result", place_run(
        "slurm", JobRequest(root=runs_root, project=PROJECT, task=TASK, prompt="go",
                            agent=_agent(tmp_path), environ=subprocess_env), poll=0.01)))
    placing.start()  # the job stays queued (the stub does not run it)
    runs_dir = layout.runs_dir(PROJECT, TASK)
    wait_for(lambda: os.path.isdir(runs_dir) and [
        n for n in os.listdir(runs_dir)
        if os.path.exists(os.path.join(runs_dir, n, "run-info.yaml"))
        and read_run_info(os.path.join(runs_dir, n, "run-info.yaml")).executor_job_id],
        what="the job submitted")
    stop_task(layout, PROJECT, TASK, grace=5, force=True)
    placing.join(timeout=30)
    # the operator's cancel found the marker there (and so did the placer's fence after it)
    assert seen and all(seen) and stub.calls("scancel")[0] == ["scancel", "101"]
    info = read_run_info(os.path.join(box["result"].run_dir, "run-info.yaml"))
    assert (info.status, info.error_summary) == (
        "failed", "stopped by the operator before its runner recorded an end: CANCELLED")
