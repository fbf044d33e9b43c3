"""TreePoller: the polling fallback reports the same changes inotify would, pass by pass."""

from __future__ import annotations

import os

from conductor.store import Layout, RunInfo, write_run_info
from conductor.watch import TreePoller, classify

P = "demo"
T = "task-20260220-153045-poll"


def _events(poller: TreePoller) -> set[tuple[str, str, str, str, str]]:
    out = set()
    for path in poller.scan():
        e = classify(poller.root, path)
        if e is not None:
            out.add((e.kind, e.project, e.task, e.run, e.file))
    return out


def _append(path: str, text: str = "line\n") -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def _info(run_id: str, status: str) -> RunInfo:
    return RunInfo(version=1, run_id=run_id, project_id=P, task_id=T, agent="command", pid=1,
                   pgid=1, start_time=1_700_000_000_000_000_000, end_time=None, exit_code=-1,
                   status=status)


def _tree(root: str) -> tuple[Layout, str, str]:
    layout = Layout(root)
    task_dir = layout.ensure_task_dir(P, T)
    run_id, run_dir = layout.allocate_run_dir(P, T, "20260220-1530450000-1-0001")
    write_run_info(os.path.join(run_dir, "run-info.yaml"), _info(run_id, "running"))
    _append(os.path.join(run_dir, "agent-stdout.txt"))
    _append(os.path.join(task_dir, "TASK-MESSAGE-BUS.md"))
    return layout, task_dir, run_dir


def test_first_pass_only_primes(tmp_path):
    _tree(str(tmp_path))
    poller = TreePoller(str(tmp_path))
    assert poller.scan() == []
    assert poller.counts == (1, 1, 1)
    assert _events(poller) == set()


def test_each_kind_of_change_is_reported(tmp_path):
    layout, task_dir, run_dir = _tree(str(tmp_path))
    run = os.path.basename(run_dir)
    poller = TreePoller(str(tmp_path))
    poller.prime()

    _append(os.path.join(task_dir, "TASK-MESSAGE-BUS.md"))
    _append(os.path.join(run_dir, "agent-stdout.txt"))
    _append(os.path.join(run_dir, "agent-stderr.txt"))
    assert _events(poller) == {
        ("bus_grew", P, T, "", "TASK-MESSAGE-BUS.md"),
        ("log_grew", P, T, run, "agent-stdout.txt"),
        ("log_grew", P, T, run, "agent-stderr.txt"),
    }
    assert _events(poller) == set()  # nothing new, nothing reported

    write_run_info(os.path.join(run_dir, "run-info.yaml"), _info(run, "running"))
    assert _events(poller) == {("run_changed", P, T, run, "run-info.yaml")}

    open(os.path.join(task_dir, "DONE"), "w").close()
    with open(os.path.join(task_dir, "TASK_STATE.md"), "w") as f:
        f.write("state\n")
    assert _events(poller) == {("task_changed", P, T, "", "DONE"),
                               ("task_changed", P, T, "", "TASK_STATE.md")}

    with open(os.path.join(task_dir, "TASK_STATE.md"), "a") as f:  # grows in place
        f.write("more\n")
    _append(layout.project_bus(P))
    assert _events(poller) == {("task_changed", P, T, "", "TASK_STATE.md"),
                               ("bus_grew", P, "", "", "PROJECT-MESSAGE-BUS.md")}

    os.unlink(os.path.join(task_dir, "DONE"))
    assert _events(poller) == {("task_changed", P, T, "", "DONE")}


def test_new_and_removed_directories(tmp_path):
    layout, task_dir, run_dir = _tree(str(tmp_path))
    poller = TreePoller(str(tmp_path))
    poller.prime()

    run2, _ = layout.allocate_run_dir(P, T, "20260220-1530460000-1-0002")
    assert _events(poller) == {("run_changed", P, T, run2, "")}

    task2 = "task-20260220-153046-second"
    layout.ensure_task_dir(P, task2)
    assert _events(poller) == {("task_changed", P, task2, "", "")}

    layout.ensure_task_dir("other", task2)
    assert _events(poller) == {("project_changed", "other", "", "", "")}
    assert poller.counts == (2, 3, 2)

    import shutil
    shutil.rmtree(run_dir)
    assert _events(poller) == {("run_changed", P, T, os.path.basename(run_dir), "")}
    shutil.rmtree(task_dir)
    assert _events(poller) == {("task_changed", P, T, "", "")}
    assert poller.counts == (2, 2, 0)


def test_bus_rotation_is_a_bus_change(tmp_path):
    _layout, task_dir, _run_dir = _tree(str(tmp_path))
    poller = TreePoller(str(tmp_path))
    poller.prime()
    bus = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    os.rename(bus, bus + ".20260220-153045.archived")
    assert _events(poller) == {("bus_grew", P, T, "", "TASK-MESSAGE-BUS.md")}
    _append(bus)
    assert _events(poller) == {("bus_grew", P, T, "", "TASK-MESSAGE-BUS.md")}


def test_temp_files_and_stray_files_are_not_reported(tmp_path):
    _layout, task_dir, run_dir = _tree(str(tmp_path))
    poller = TreePoller(str(tmp_path))
    poller.prime()
    _append(os.path.join(run_dir, "run-info.123.yaml.tmp"))
    _append(os.path.join(run_dir, "run-info.yaml.lock"))
    _append(os.path.join(task_dir, "notes.txt"))
    _append(os.path.join(str(tmp_path), "demo-config.yaml"))
    assert _events(poller) == set()


def test_finished_runs_are_checked_on_the_slow_sweep(tmp_path):
    _layout, _task_dir, run_dir = _tree(str(tmp_path))
    run = os.path.basename(run_dir)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), _info(run, "completed"))
    poller = TreePoller(str(tmp_path), cold_every=3)
    poller.prime()
    assert _events(poller) == set()  # pass 1: the finished run cools down
    # A process that outlived its run still writes to the run's stdout.
    _append(os.path.join(run_dir, "agent-stdout.txt"))
    seen = set()
    for _ in range(3):  # within one sweep period
        seen |= _events(poller)
    assert seen == {("log_grew", P, T, run, "agent-stdout.txt")}


def test_a_running_run_is_checked_every_pass(tmp_path):
    _layout, _task_dir, run_dir = _tree(str(tmp_path))
    run = os.path.basename(run_dir)
    poller = TreePoller(str(tmp_path), cold_every=1000)
    poller.prime()
    for i in range(3):
        _append(os.path.join(run_dir, "agent-stdout.txt"), f"{i}\n")
        assert _events(poller) == {("log_grew", P, T, run, "agent-stdout.txt")}


def test_missing_root_is_not_an_error(tmp_path):
    poller = TreePoller(str(tmp_path / "absent"))
    assert not poller.exists()
    assert poller.scan() == []
    assert poller.scan() == []


def test_new_run_dirs_are_live_before_they_have_files(tmp_path):
    layout, _task_dir, _run_dir = _tree(str(tmp_path))
    poller = TreePoller(str(tmp_path), warm_every=50, cold_every=50)
    poller.prime()
    run2, run2_dir = layout.allocate_run_dir(P, T, "20260220-1530460000-1-0002")
    assert _events(poller) == {("run_changed", P, T, run2, "")}
    _append(os.path.join(run2_dir, "agent-stdout.txt"))
    assert _events(poller) == {("log_grew", P, T, run2, "agent-stdout.txt")}
    _append(os.path.join(run2_dir, "agent-stdout.txt"))
    assert _events(poller) == {("log_grew", P, T, run2, "agent-stdout.txt")}


def test_silent_running_runs_and_finished_tasks_are_checked_less_often(tmp_path):
    """A run that claims to run but wrote nothing for hot_window, and a task with DONE and no
    live run, are checked every warm_every passes: a change shows within that many passes."""
    _layout, task_dir, run_dir = _tree(str(tmp_path))
    run = os.path.basename(run_dir)
    open(os.path.join(task_dir, "DONE"), "w").close()
    old = 1_600_000_000
    for name in os.listdir(run_dir):
        os.utime(os.path.join(run_dir, name), (old, old))
    poller = TreePoller(str(tmp_path), warm_every=4, cold_every=8, hot_window=60)
    poller.prime()
    _append(os.path.join(run_dir, "agent-stdout.txt"))
    _append(os.path.join(task_dir, "TASK-MESSAGE-BUS.md"))
    seen, passes = set(), 0
    while len(seen) < 2 and passes < 4:
        seen |= _events(poller)
        passes += 1
    assert seen == {("log_grew", P, T, run, "agent-stdout.txt"),
                    ("bus_grew", P, T, "", "TASK-MESSAGE-BUS.md")}
    # it wrote: live again, so the next line is seen on the very next pass
    _append(os.path.join(run_dir, "agent-stdout.txt"))
    assert _events(poller) == {("log_grew", P, T, run, "agent-stdout.txt")}
