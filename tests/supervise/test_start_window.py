"""The orchestrator's start window through the fork server (issue 12): the process it launches
is the thin client, which ends as its supervisor ends; the lock holder is the supervisor."""

from __future__ import annotations

import os

import pytest

from conductor import orchestrator
from conductor.store.supervision import holder_pid, loop_alive
from waiting import wait_for

from .test_forkserver import PROJECT, TASK, rig  # noqa: F401 - the fixture


def _parked(rig):  # noqa: F811
    td = orchestrator.new_task(rig.root, PROJECT, TASK, "x")
    with open(os.path.join(td, "DONE"), "w") as f:
        f.write("done\n")
    return td


def test_a_failed_start_through_the_server_carries_its_error_and_keeps_done(rig):  # noqa: F811
    td = _parked(rig)
    cfg = rig.agent("sh", "sleep 30\n")
    with pytest.raises(orchestrator.StartFailed) as caught:
        orchestrator.resume_task(rig.root, PROJECT, TASK, agent="ghost", config_path=cfg,
                                 environ=rig.env_for(True))
    assert str(caught.value).startswith("Error: ") and "ghost" in str(caught.value)
    assert open(os.path.join(td, "DONE")).read() == "done\n"


def test_a_start_through_the_server_names_the_forked_supervisor(rig):  # noqa: F811
    td = _parked(rig)
    cfg = rig.agent("sh", "sleep 30\n")
    started = orchestrator.resume_task(rig.root, PROJECT, TASK, agent="sh", config_path=cfg,
                                       environ=rig.env_for(True))
    try:
        assert started.confirmed and started.pid == holder_pid(td) and loop_alive(td)
        assert rig.server_pid() is not None  # it went through the server
        wait_for(lambda: not os.path.exists(os.path.join(td, "DONE")))
    finally:
        orchestrator.stop_task(rig.root, PROJECT, TASK, grace=5.0)
    wait_for(lambda: not loop_alive(td), timeout=20)
