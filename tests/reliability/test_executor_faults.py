"""Hostile and broken executor records: a record names the executor that ran its run, so a
record (hand-written, or from a newer version) can name one we do not have, or a remote
executor while claiming a local pid and group. None of them may crash a view, heal a run on a
guess, or direct a signal at a local process."""

import os
import subprocess

import pytest

from conductor.executor import registry
from conductor.executor.base import Executor, StopResult
from conductor.runner.stop import StopError, stop_run
from conductor.store import Layout, RunInfo, read_run_info, reconcile, write_run_info
from conductor.store.liveness import observe_runs, runs_alive
from conductor.timefmt import now_ns

PROJECT, TASK = "proj", "task-20260220-153045-executor"


def _record(runs_root, **fields):
    run_id, run_dir = Layout(runs_root).allocate_run_dir(PROJECT, TASK)
    info = RunInfo(version=1, run_id=run_id, project_id=PROJECT, task_id=TASK, agent="command",
                   start_time=now_ns(), status="running", **fields)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), info)
    return run_dir, read_run_info(os.path.join(run_dir, "run-info.yaml"))


@pytest.fixture
def victim():
    """A process in a group of its own that no stop may reach."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_an_unknown_executor_is_unknown_never_healed_and_never_signalled(runs_root, victim):
    run_dir, info = _record(runs_root, executor="nosuch", pid=victim.pid, pgid=victim.pid,
                            process_ownership="external")
    (seen,) = observe_runs([info])
    assert (seen.state, seen.reason) == ("unknown", 'unknown executor "nosuch" (known: local, slurm)')
    assert runs_alive([info]) == [True]
    assert reconcile(info, done_exists=False, now_ns=now_ns()) == info
    assert registry.where(info) == "nosuch (unknown executor)"
    with pytest.raises(StopError) as err:
        stop_run(run_dir, grace=1)
    assert str(err.value) == (f'run {info.run_id}: unknown executor "nosuch" (known: local, slurm); '
                              "not stopping")
    assert victim.poll() is None


class _Broken(Executor):
    name = "broken"

    def observe(self, placements):
        raise RuntimeError("squeue: connection refused")

    def stop(self, placement, grace, force, *, sent=False):
        return StopResult("refused", f"run {placement.run_id}: scancel: connection refused")

    def where(self, placement):
        return f"broken job {placement.job_id}"


def test_an_executor_that_fails_reads_unknown_and_its_pid_is_never_ours_to_signal(
        runs_root, victim, monkeypatch):
    monkeypatch.setitem(registry._LOADED, "broken", _Broken())  # for this test only
    monkeypatch.setitem(registry._MODULES, "broken", "unused")
    # a record of another executor that claims a live local pid and group
    run_dir, info = _record(runs_root, executor="broken", executor_job_id="7", pid=victim.pid,
                            pgid=victim.pid, process_ownership="external")
    local_run_dir, local_info = _record(runs_root, pid=0, pgid=0)
    seen = observe_runs([info, local_info])
    assert [s.state for s in seen] == ["unknown", "ended"]
    assert seen[0].reason == "broken: squeue: connection refused"
    with pytest.raises(StopError) as err:
        stop_run(run_dir, grace=1)
    assert str(err.value) == f"run {info.run_id}: scancel: connection refused"
    assert victim.poll() is None
    os.kill(victim.pid, 0)  # still there: the stop went to the executor, never to -pgid
