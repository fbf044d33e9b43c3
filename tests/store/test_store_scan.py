import os

import pytest

from conductor.store import Layout, RunInfo, scan_root, scan_task, write_run_info
from conductor.timefmt import parse_timestamp

P = "proj"


def _run(layout, task, run_id, start, status="completed"):
    _, path = layout.allocate_run_dir(P, task, run_id)
    write_run_info(os.path.join(path, "run-info.yaml"),
                   RunInfo(run_id=run_id, project_id=P, task_id=task, status=status,
                           start_time=parse_timestamp(start), exit_code=0))
    return path


@pytest.fixture
def root(tmp_path):
    layout = Layout(str(tmp_path / "root"))
    task = "task-001"
    layout.ensure_task_dir(P, task)
    open(layout.task_file(P, task, "TASK.md"), "w").write("do it\n")
    open(layout.task_file(P, task, "DONE"), "w").close()
    open(layout.task_file(P, task, "TASK-CONFIG.yaml"), "w").write("depends_on:\n    - task-000\n")
    # Ids that sort wrongly as text (…-9 after …-10); start times decide.
    _run(layout, task, "20260220-1530450000-77-10", "2026-02-20T15:30:46Z")
    _run(layout, task, "20260220-1530450000-77-9", "2026-02-20T15:30:45Z")
    layout.allocate_run_dir(P, task, "20260220-1600000000-77-11")  # no run-info yet
    broken = layout.allocate_run_dir(P, task, "20260220-1700000000-77-12")[1]
    open(os.path.join(broken, "run-info.yaml"), "w").write("version: 7\n")
    # Things the scan must skip.
    outside = tmp_path / "outside"
    (outside / "task-x" / "runs" / "r").mkdir(parents=True)
    os.symlink(outside, os.path.join(layout.root, "linked-proj"))
    os.symlink(outside / "task-x", layout.task_dir(P, "task-linked"))
    os.symlink(outside / "task-x" / "runs" / "r", os.path.join(layout.runs_dir(P, task), "r-linked"))
    os.makedirs(os.path.join(layout.root, "Bad_Project"))
    os.makedirs(os.path.join(layout.project_dir(P), ".hidden"))
    open(os.path.join(layout.root, "stray-file"), "w").close()
    open(os.path.join(layout.runs_dir(P, task), "notes.txt"), "w").close()
    layout.ensure_task_dir("other", "task-002")
    open(layout.task_file("other", "task-002", "STOP-REQUESTED"), "w").write("permanent\n")
    return layout


def test_scan_of_a_small_root(root):
    projects = scan_root(root.root)
    assert [p.id for p in projects] == ["other", P]
    proj = projects[1]
    assert proj.path == root.project_dir(P)
    assert [t.id for t in proj.tasks] == ["task-001"]
    task = proj.tasks[0]
    assert (task.done, task.task_md_exists, task.stop_requested, task.depends_on) == \
        (True, True, False, ["task-000"])
    assert [r.run_id for r in task.runs] == [
        "20260220-1530450000-77-9", "20260220-1530450000-77-10",
        "20260220-1600000000-77-11", "20260220-1700000000-77-12"]
    ok, _, orphan, broken = task.runs
    assert ok.info.status == "completed" and ok.error is None and not ok.orphan
    assert ok.mtime_ns == os.stat(os.path.join(ok.path, "run-info.yaml")).st_mtime_ns
    assert orphan.orphan and orphan.error is None
    assert (orphan.info.status, orphan.info.run_id, orphan.info.project_id, orphan.info.task_id) == \
        ("unknown", "20260220-1600000000-77-11", P, "task-001")
    assert not broken.orphan and broken.info.status == "unknown"
    assert broken.error.endswith("run-info.yaml: version: unsupported version 7 (this tool reads version 1)")
    assert task.latest_run is broken
    other = projects[0].tasks[0]
    assert other.stop_requested and not other.done and other.runs == []


def test_scan_filters_by_project_and_rescans_one_task(root):
    assert [p.id for p in scan_root(root.root, project="other")] == ["other"]
    assert scan_root(root.root, project="missing") == []
    task = scan_task(root, P, "task-001")
    assert len(task.runs) == 4 and task.mtime_ns > 0


def test_scan_of_a_missing_root_is_empty(tmp_path):
    assert scan_root(str(tmp_path / "nothing")) == []
