"""Hooks fired by the supervisor (issue 13): once per transition, with no console, across a
supervisor killed with SIGKILL and restarted; a hook that hangs is killed and reported."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from conductor.store import read_run_info
from waiting import wait_for

from .helpers import PROJECT, PY, TASK, Bench


def _runs(bench: Bench):
    runs_dir = os.path.join(bench.task_dir, "runs")
    infos = [read_run_info(os.path.join(runs_dir, n, "run-info.yaml")) for n in os.listdir(runs_dir)]
    return sorted(infos, key=lambda i: i.start_time)


def test_done_fires_once_with_its_facts_and_not_again_on_restart(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    cfg = bench.config('touch "$JRUN_TASK_FOLDER/DONE"\n',
                       hooks="hooks:\n" + bench.recorder_hook())
    result = bench.run_task(cfg)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: bench.calls() and bench.delivered(), what="the done hook")
    [run] = _runs(bench)
    assert bench.calls() == [{
        "CONDUCTOR_COST_USD": "", "CONDUCTOR_EVENT": "done", "CONDUCTOR_NEW_STATE": "completed",
        "CONDUCTOR_OLD_STATE": bench.calls()[0]["CONDUCTOR_OLD_STATE"],
        "CONDUCTOR_PROJECT_ID": PROJECT, "CONDUCTOR_QUESTION": "", "CONDUCTOR_RUN_ID": run.run_id,
        "CONDUCTOR_STATUS": "completed", "CONDUCTOR_TASK_ID": TASK}]
    assert bench.calls()[0]["CONDUCTOR_OLD_STATE"] in ("running", "")
    # a second supervisor finds the task done: the same transition, not fired again
    again = bench.run_task(cfg)
    assert again.returncode == 0, again.stderr
    assert bench.delivered()
    assert bench.events() == ["done"]


def test_needs_you_once_across_sigkill_and_restart_then_loop_lost_and_done(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    asked, release = tmp_path / "asked", tmp_path / "release"
    body = (f'if [ -f {asked} ]; then touch "$JRUN_TASK_FOLDER/DONE"; exit 0; fi\n'
            f'touch {asked}; echo $$ > {tmp_path / "agent.pid"}\n'
            f'{PY} -m conductor bus post --type QUESTION --body "Which database?\nDetails follow."\n'
            f'while [ ! -f {release} ]; do sleep 0.1; done\n')
    cfg = bench.config(body, hooks="hooks:\n" + bench.recorder_hook())
    first = bench.start_task(cfg)
    try:
        wait_for(lambda: "needs-you" in bench.events(), what="the needs-you hook")
        os.kill(first.pid, signal.SIGKILL)  # the supervisor dies
        first.wait()
        release.touch()  # and its agent ends, leaving its run "running" and the QUESTION last
        agent = int((tmp_path / "agent.pid").read_text())
        wait_for(lambda: _gone(agent), what="the first agent to end")
        # the restarted supervisor sees the same QUESTION (deduplicated), then the lost loop
        second = bench.run_task(cfg)
        assert second.returncode == 0, second.stderr
        wait_for(lambda: "done" in bench.events() and bench.delivered(), what="the done hook")
    finally:
        release.touch()
        if first.poll() is None:
            first.kill()
    events = bench.events()
    assert sorted(events) == ["done", "loop-lost", "needs-you"], events
    question = next(c for c in bench.calls() if c["CONDUCTOR_EVENT"] == "needs-you")
    assert question["CONDUCTOR_QUESTION"] == "Which database?"
    assert question["CONDUCTOR_NEW_STATE"] == "needs-you"
    assert question["CONDUCTOR_RUN_ID"] == _runs(bench)[0].run_id
    lost = next(c for c in bench.calls() if c["CONDUCTOR_EVENT"] == "loop-lost")
    assert lost["CONDUCTOR_NEW_STATE"] == "loop-dead"
    assert lost["CONDUCTOR_OLD_STATE"] == "needs-you"


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_hanging_hook_is_killed_at_its_timeout_and_failures_reach_the_bus(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    pid_file = tmp_path / "hook.pid"
    hooks = ("hooks:\n"
             f"  - command: [/bin/sh, -c, 'echo $$ > {pid_file}; exec sleep 300']\n"
             "    on: [done]\n    timeout: 1s\n"
             "  - command: [/bin/sh, -c, 'exit 3']\n    on: [done]\n"
             "  - command: [/nonexistent/notify]\n    on: [failed]\n"
             + bench.recorder_hook(on="done"))
    cfg = bench.config('touch "$JRUN_TASK_FOLDER/DONE"\n', hooks=hooks)
    result = bench.run_task(cfg)
    assert result.returncode == 0, result.stderr
    wait_for(bench.delivered, what="every delivery")
    warns = sorted(m.body for m in bench.bus() if m.type == "WARN")
    assert warns == [
        f"hook hooks[0] (/bin/sh -c 'echo $$ > {pid_file}; exec sleep 300') on done: "
        "timed out after 1s; its process group was killed",
        "hook hooks[1] (/bin/sh -c 'exit 3') on done: exited with code 3"]
    assert _gone(int(pid_file.read_text()))
    assert bench.events() == ["done"]  # the hook on `failed` did not run


def test_a_planted_alerts_link_is_never_followed(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.makedirs(bench.task_dir)
    os.symlink(elsewhere, os.path.join(bench.task_dir, "alerts"))
    cfg = bench.config('touch "$JRUN_TASK_FOLDER/DONE"\n', hooks="hooks:\n" + bench.recorder_hook())
    result = bench.run_task(cfg)
    assert result.returncode == 0, result.stderr
    assert os.listdir(elsewhere) == []  # nothing written through the link
    assert bench.calls() == []  # and no event recorded, so none delivered, but said once:
    [warn] = [m.body for m in bench.bus() if m.type == "WARN"]
    assert warn.startswith("alerts: cannot record the done event: ") and "alerts" in warn
