"""``gc``: what is deleted, what never is, dry runs, bus rotation, DONE tasks."""

from __future__ import annotations

import os
import re
import time

import pytest

from conductor.cli.info_gc import parse_size
from conductor.cli.main import main
from conductor.errors import UsageError
from conductor.store import Layout, RunInfo, write_run_info
from conductor.timefmt import NS

P = "proj"
T1 = "task-20260220-153045-alpha"
T2 = "task-20260220-153046-beta"
DAY = 86400 * NS


pytestmark = pytest.mark.usefixtures("utc_isolated")


def make_run(root: str, task: str, run_id: str, *, status: str, age_days: float | None,
             payload: int = 0, end_age_days: float | None = None) -> str:
    task_dir = Layout(root).ensure_task_dir(P, task)
    run_dir = os.path.join(task_dir, "runs", run_id)
    os.makedirs(run_dir)
    now = time.time_ns()
    start = None if age_days is None else now - int(age_days * DAY)
    end = None if end_age_days is None else now - int(end_age_days * DAY)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=P, task_id=task, agent="claude", start_time=start,
        end_time=end, exit_code=1 if status == "failed" else 0, status=status))
    if payload:
        with open(os.path.join(run_dir, "agent-stdout.txt"), "wb") as f:
            f.write(b"x" * payload)
    return run_dir


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def populated(root: str) -> dict[str, str]:
    runs = {
        "old_done": make_run(root, T1, "20260101-0000000000-1-1", status="completed", age_days=10,
                             payload=3 * 1024 * 1024),
        "old_failed": make_run(root, T1, "20260101-0000000000-1-2", status="failed", age_days=9,
                               payload=1024 * 1024),
        "old_running": make_run(root, T1, "20260101-0000000000-1-3", status="running", age_days=9),
        "old_unknown": make_run(root, T1, "20260101-0000000000-1-4", status="", age_days=9),
        "recent": make_run(root, T1, "20260101-0000000000-1-5", status="completed", age_days=1),
        "end_only": make_run(root, T2, "20260101-0000000000-1-6", status="completed",
                             age_days=None, end_age_days=8),
    }
    orphan = os.path.join(root, P, T2, "runs", "20260101-0000000000-1-7")
    os.makedirs(orphan)
    runs["orphan"] = orphan
    return runs


def test_gc_deletes_only_old_finished_runs(root, capsys):
    runs = populated(root)
    code, out, err = run(capsys, "gc", "--root", root)
    assert code == 0
    assert err == f"warning: skipping orphaned run dir {runs['orphan']} (no run-info.yaml)\n"
    gone = {k for k, path in runs.items() if not os.path.exists(path)}
    assert gone == {"old_done", "old_failed", "end_only"}
    assert out.endswith("Deleted 3 runs, freed 4.0 MB\n")
    assert re.search(rf"^deleting {re.escape(runs['old_done'])} \(status=completed, "
                     r"started=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d, size=3\.0 MB\)$", out, re.M)
    assert f"deleting {runs['end_only']} (status=completed, started=-, size=0.0 MB)\n" in out


def test_gc_dry_run_changes_nothing(root, capsys):
    runs = populated(root)
    code, out, _ = run(capsys, "gc", "--root", root, "--dry-run", "--keep-failed")
    assert code == 0
    assert all(os.path.exists(p) for p in runs.values())
    assert f"[dry-run] would delete {runs['old_done']} (status=completed" in out
    assert runs["old_failed"] not in out
    assert out.endswith("Would delete 2 runs, freed 3.0 MB\n")


def test_gc_older_than_and_project_scope(root, capsys):
    runs = populated(root)
    os.makedirs(os.path.join(root, "other"))
    assert run(capsys, "gc", "--root", root, "--older-than", "12h", "--project", P,
               "--keep-failed")[1].endswith("Deleted 3 runs, freed 3.0 MB\n")
    assert not os.path.exists(runs["recent"])
    assert os.path.exists(runs["old_failed"]) and os.path.exists(runs["old_running"])
    assert run(capsys, "gc", "--root", root, "--project", "missing")[2] == (
        f"Error: read project directory {os.path.join(root, 'missing')}: open "
        f"{os.path.join(root, 'missing')}: no such file or directory\n")


def test_gc_rotates_big_buses_under_the_lock_with_utc_names(root, capsys):
    task_dir = Layout(root).ensure_task_dir(P, T1)
    big = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    small = os.path.join(root, P, "PROJECT-MESSAGE-BUS.md")
    with open(big, "wb") as f:
        f.write(b"x" * 2048)
    with open(small, "wb") as f:
        f.write(b"y" * 1024)
    code, out, _ = run(capsys, "gc", "--root", root, "--rotate-bus", "--bus-max-size", "1KB",
                       "--dry-run")
    assert f"[dry-run] would rotate {big} (size=0.0 MB)\n" in out
    assert os.path.exists(big)
    before = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    code, out, _ = run(capsys, "gc", "--root", root, "--rotate-bus", "--bus-max-size", "1KB")
    assert code == 0
    archived = [n for n in os.listdir(task_dir) if n.endswith(".archived")]
    assert len(archived) == 1 and not os.path.exists(big)
    stamp = archived[0][len("TASK-MESSAGE-BUS.md."):-len(".archived")]
    assert before <= stamp <= time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    assert f"rotated {big} -> {os.path.join(task_dir, archived[0])}" in out
    assert os.path.getsize(small) == 1024  # exactly the max: kept
    assert out.endswith("Deleted 0 runs, freed 0.0 MB\n")


def test_gc_delete_done_tasks(root, capsys):
    layout = Layout(root)
    done_old = layout.ensure_task_dir(P, T1)
    open(os.path.join(done_old, "DONE"), "w").close()
    old = time.time() - 10 * 86400
    os.utime(done_old, (old, old))
    with_runs = layout.ensure_task_dir(P, T2)
    open(os.path.join(with_runs, "DONE"), "w").close()
    os.utime(with_runs, (old, old))
    make_run(root, T2, "20260101-0000000000-1-1", status="running", age_days=9)
    assert run(capsys, "gc", "--root", root, "--delete-done-tasks", "--dry-run")[1] == (
        f"[dry-run] would delete task {done_old}\nWould delete 0 runs, freed 0.0 MB\n")
    assert os.path.isdir(done_old)
    run(capsys, "gc", "--root", root, "--delete-done-tasks")
    assert not os.path.exists(done_old) and os.path.isdir(with_runs)


@pytest.mark.parametrize("text,size", [("10MB", 10 * 1024 * 1024), ("100kb", 102400),
                                       ("2048", 2048), ("1GB", 1024 ** 3), ("512B", 512),
                                       ("1.5KB", 1536)])
def test_bus_max_size_units(text, size):
    assert parse_size(text) == size


def test_bus_max_size_rejects_garbage(root, capsys):
    os.makedirs(root)
    assert run(capsys, "gc", "--root", root, "--rotate-bus", "--bus-max-size", "ten")[2] == (
        'Error: invalid --bus-max-size "ten": expected a number of bytes or a size like 10MB '
        "(units B, KB, MB, GB)\n")
    with pytest.raises(UsageError):
        parse_size("10TB")


def test_gc_missing_root(root, capsys):
    assert run(capsys, "gc", "--root", root) == (
        1, "", f"Error: read root directory {root}: open {root}: no such file or directory\n")
