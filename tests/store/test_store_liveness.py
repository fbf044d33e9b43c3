"""Liveness with pid reuse and zombies (spec 2.6, 9 #13 and #14)."""

import os
import signal
import subprocess
import time

import psutil
import pytest

from conductor.store import (STALE_DONE, STALE_NOT_ALIVE, RunInfo, heal_run, process_alive,
                             read_run_info, reconcile, write_run_info)
from conductor.timefmt import NS, now_ns

NOW = 1_771_601_445 * NS


def _wait_until(predicate, limit=10.0):
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_a_process_created_before_the_run_started_is_alive():
    assert process_alive(os.getpid(), 0, now_ns())


def test_a_reused_pid_is_not_alive(sleeper):
    # The sleeper was created just now. A run that started a minute ago cannot be this
    # process: its pid was reused.
    started_a_minute_ago = now_ns() - 60 * NS
    assert not process_alive(sleeper.pid, 0, started_a_minute_ago)
    assert not process_alive(sleeper.pid, sleeper.pid, started_a_minute_ago)
    assert process_alive(sleeper.pid, 0, now_ns())


def test_without_a_start_time_existence_decides(sleeper):
    assert process_alive(sleeper.pid, 0, None)


def test_an_exited_process_is_not_alive():
    proc = subprocess.Popen(["true"], start_new_session=True)
    start = now_ns() - NS
    proc.wait()
    assert not process_alive(proc.pid, proc.pid, start)


def test_a_zombie_is_not_alive():
    start = now_ns() - NS
    proc = subprocess.Popen(["true"], start_new_session=True)
    try:
        _wait_until(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE)
        assert not process_alive(proc.pid, 0, start)
        assert not process_alive(proc.pid, proc.pid, start)  # a group of only the zombie
    finally:
        proc.wait()


def test_group_members_keep_a_run_alive_after_its_leader_exits():
    start = now_ns()
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & exit 0"], start_new_session=True)
    pgid = leader.pid
    try:
        leader.wait()
        assert not process_alive(leader.pid, 0, start)
        assert process_alive(leader.pid, pgid, start)
        # A group whose members were all created long after the run started is not the run's.
        assert not process_alive(leader.pid, pgid, start - 60 * NS)
    finally:
        os.killpg(pgid, signal.SIGKILL)


def test_no_pid_and_no_group_is_not_alive():
    assert not process_alive(0, 0, NOW)


# ---- reconcile -------------------------------------------------------------------------------

def _running(**kw):
    base = dict(run_id="r", project_id="p", task_id="t", pid=123, pgid=123, start_time=NOW - NS,
                exit_code=-1, status="running")
    base.update(kw)
    return RunInfo(**base)


def test_dead_running_run_without_done_becomes_failed():
    info = _running()
    fixed = reconcile(info, done_exists=False, now_ns=NOW, alive=False)
    assert (fixed.status, fixed.exit_code, fixed.end_time, fixed.error_summary) == \
        ("failed", -1, NOW, STALE_NOT_ALIVE)
    assert info.status == "running"  # the input is not touched


def test_failed_keeps_exit_code_end_time_and_summary():
    fixed = reconcile(_running(exit_code=0, end_time=NOW - 5, error_summary="timed out"),
                      done_exists=False, now_ns=NOW, alive=False)
    assert (fixed.status, fixed.exit_code, fixed.end_time, fixed.error_summary) == \
        ("failed", -1, NOW - 5, "timed out")
    assert reconcile(_running(exit_code=3), done_exists=False, now_ns=NOW, alive=False).exit_code == 3


def test_dead_running_run_with_done_becomes_completed():
    fixed = reconcile(_running(), done_exists=True, now_ns=NOW, alive=False)
    assert (fixed.status, fixed.exit_code, fixed.end_time, fixed.error_summary) == \
        ("completed", 0, NOW, STALE_DONE)
    stale = reconcile(_running(error_summary=STALE_NOT_ALIVE), done_exists=True, now_ns=NOW, alive=False)
    assert stale.error_summary == STALE_DONE


def test_a_failed_run_never_turns_completed_when_done_appears():
    failed = _running(status="failed", exit_code=-1, end_time=NOW - 10, error_summary="timed out")
    assert reconcile(failed, done_exists=True, now_ns=NOW, alive=False) == failed


def test_alive_and_completed_runs_are_left_alone():
    assert reconcile(_running(), done_exists=True, now_ns=NOW, alive=True) == _running()
    done = _running(status="completed", exit_code=0, end_time=NOW)
    assert reconcile(done, done_exists=False, now_ns=NOW, alive=False) == done


@pytest.mark.parametrize("pid, pgid", [(0, 0), (-1, 0), (0, -5), (-7, -7)])
def test_a_pidless_running_record_is_healed_unless_its_runner_lives(pid, pgid):
    # no process recorded at all: nothing can ever finish it, so it is dead (upstream: running
    # forever)
    pidless = _running(pid=pid, pgid=pgid, start_time=now_ns())
    healed = reconcile(pidless, done_exists=False, now_ns=NOW)
    assert (healed.status, healed.exit_code, healed.end_time, healed.error_summary) == (
        "failed", -1, NOW, STALE_NOT_ALIVE)
    # the pre-spawn window: the runner that wrote it lives, so it is being set up
    setting_up = pidless.replace(runner_pid=os.getpid())
    assert reconcile(setting_up, done_exists=False, now_ns=NOW) == setting_up
    # that runner died before spawning the agent (a reused pid started later does not count)
    proc = subprocess.Popen(["true"])
    proc.wait()
    gone = pidless.replace(runner_pid=proc.pid)
    assert reconcile(gone, done_exists=False, now_ns=NOW).status == "failed"
    reused = pidless.replace(runner_pid=os.getpid(), start_time=now_ns() - 3600 * NS)
    healed = reconcile(reused, done_exists=True, now_ns=NOW)
    assert (healed.status, healed.error_summary) == ("completed", STALE_DONE)


def test_reconcile_probes_liveness_itself(sleeper):
    alive = _running(pid=sleeper.pid, pgid=sleeper.pid, start_time=now_ns())
    assert reconcile(alive, done_exists=False, now_ns=NOW) == alive
    reused = alive.replace(start_time=now_ns() - 60 * NS)
    assert reconcile(reused, done_exists=False, now_ns=NOW).status == "failed"


def test_heal_run_persists_the_correction(tmp_path):
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    path = str(tmp_path / "run-info.yaml")
    write_run_info(path, _running(pid=proc.pid, pgid=proc.pid, start_time=now_ns() - NS))
    healed = heal_run(path, done_exists=False, now_ns=NOW)
    assert healed.status == "failed" and healed.end_time == NOW
    assert read_run_info(path) == healed


def test_checking_a_local_run_on_linux_does_not_import_psutil(subprocess_env):
    """``list`` and ``status`` check every running run: on Linux the facts come from /proc
    (psutil costs ~15 ms to import), and a live, a reused and a dead pid read as before."""
    import sys
    code = ("import os, subprocess, sys, time\n"
            "from conductor.store import RunInfo\n"
            "from conductor.store.liveness import run_alive, runs_alive\n"
            "dead = subprocess.Popen(['true']); dead.wait()\n"
            "now = time.time_ns()\n"
            "me = RunInfo(run_id='r', pid=os.getpid(), pgid=0, start_time=now)\n"
            "reused = RunInfo(run_id='r', pid=os.getpid(), pgid=0, start_time=now - 60 * 10**9)\n"
            "gone = RunInfo(run_id='r', pid=dead.pid, pgid=dead.pid, start_time=now)\n"
            "print(runs_alive([me, reused, gone]), run_alive(me), 'psutil' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True,
                         text=True, timeout=60)
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == "[True, False, False] True False\n"
