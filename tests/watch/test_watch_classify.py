"""classify(): every file of the layout maps to the event a view needs, and noise maps to None."""

from __future__ import annotations

import os

import pytest

from conductor.watch import WatchEvent, classify, dedupe

P = "demo"
T = "task-20260220-153045-my-feature"
R = "20260220-1530450000-12345-0001"

CASES = [
    # project level
    (f"{P}", ("project_changed", P, "", "", "")),
    (f"{P}/PROJECT-MESSAGE-BUS.md", ("bus_grew", P, "", "", "PROJECT-MESSAGE-BUS.md")),
    (f"{P}/PROJECT-MESSAGE-BUS.md.20260220-153045.archived",
     ("bus_grew", P, "", "", "PROJECT-MESSAGE-BUS.md")),
    (f"{P}/home-folders.md", ("project_changed", P, "", "", "home-folders.md")),
    (f"{P}/PROJECT-FACTS.md", ("project_changed", P, "", "", "PROJECT-FACTS.md")),
    # task level
    (f"{P}/{T}", ("task_changed", P, T, "", "")),
    (f"{P}/task-001", ("task_changed", P, "task-001", "", "")),  # lenient ids on disk
    (f"{P}/{T}/TASK.md", ("task_changed", P, T, "", "TASK.md")),
    (f"{P}/{T}/DONE", ("task_changed", P, T, "", "DONE")),
    (f"{P}/{T}/STOP-REQUESTED", ("task_changed", P, T, "", "STOP-REQUESTED")),
    (f"{P}/{T}/TASK_STATE.md", ("task_changed", P, T, "", "TASK_STATE.md")),
    (f"{P}/{T}/TASK-CONFIG.yaml", ("task_changed", P, T, "", "TASK-CONFIG.yaml")),
    (f"{P}/{T}/CANCELLED", ("task_changed", P, T, "", "CANCELLED")),
    (f"{P}/{T}/TASK-LOOP.lock", ("task_changed", P, T, "", "TASK-LOOP.lock")),
    (f"{P}/{T}/runs", ("task_changed", P, T, "", "runs")),
    (f"{P}/{T}/TASK-MESSAGE-BUS.md", ("bus_grew", P, T, "", "TASK-MESSAGE-BUS.md")),
    (f"{P}/{T}/TASK-MESSAGE-BUS.md.20260220-153045.archived",
     ("bus_grew", P, T, "", "TASK-MESSAGE-BUS.md")),
    # run level
    (f"{P}/{T}/runs/{R}", ("run_changed", P, T, R, "")),
    (f"{P}/{T}/runs/{R}/run-info.yaml", ("run_changed", P, T, R, "run-info.yaml")),
    (f"{P}/{T}/runs/{R}/agent-stdout.txt", ("log_grew", P, T, R, "agent-stdout.txt")),
    (f"{P}/{T}/runs/{R}/agent-stderr.txt", ("log_grew", P, T, R, "agent-stderr.txt")),
    (f"{P}/{T}/runs/{R}/output.md", ("log_grew", P, T, R, "output.md")),
    (f"{P}/{T}/runs/{R}/prompt.md", ("log_grew", P, T, R, "prompt.md")),
    (f"{P}/{T}/runs/run_20260220-153045-77", ("run_changed", P, T, "run_20260220-153045-77", "")),
]

IGNORED = [
    f"{P}/{T}/runs/{R}/run-info.8812734.yaml.tmp",     # atomic-write temp (spec 1.5)
    f"{P}/{T}/runs/{R}/run-info.yaml.lock",            # per-update lock, deleted after use
    f"{P}/{T}/.task-propagation-123.tmp",
    f"{P}/{T}/TASK-COMPLETE-FACT-PROPAGATION.lock",
    f"{P}/{T}/TASK-MESSAGE-BUS.md.lock",
    f"{P}/{T}/notes.txt",                              # not a layout file
    f"{P}/{T}/runs/{R}/cwd.txt",
    f"{P}/{T}/runs/{R}/sub/deeper.txt",                # below a run dir
    f"{P}/{T}/workflow/build/stage-state.yaml",        # not under runs/
    f"{P}/{T}/other/{R}",
    "Bad_Project/TASK.md",                             # invalid project id
    "Bad_Project",
    "demo-config.yaml",                                # a file in the root, not a project
    f"{P}/.hidden-task/TASK.md",                       # invalid task component
    f"{P}/{T}/runs/.{R}",                              # invalid run component
]


@pytest.mark.parametrize("rel, expected", CASES, ids=[c[0].replace("/", "|") for c in CASES])
def test_every_layout_file_maps_to_its_event(tmp_path, rel, expected):
    root = str(tmp_path / "runs")
    path = os.path.join(root, rel)
    event = classify(root, path)
    assert event is not None
    assert (event.kind, event.project, event.task, event.run, event.file) == expected
    assert event.path == path


@pytest.mark.parametrize("rel", IGNORED)
def test_noise_is_ignored(tmp_path, rel):
    root = str(tmp_path / "runs")
    assert classify(root, os.path.join(root, rel)) is None


def test_root_itself_asks_for_a_rescan(tmp_path):
    root = str(tmp_path / "runs")
    assert classify(root, root) == WatchEvent("rescan", path=root)
    assert classify(root, root + "/").kind == "rescan"


def test_paths_outside_the_root_are_ignored(tmp_path):
    root = str(tmp_path / "runs")
    assert classify(root, str(tmp_path / "runs-other" / P / "TASK.md")) is None
    assert classify(root, str(tmp_path / P / T / "DONE")) is None
    assert classify(root, os.path.join(root, "..", "x", T, "DONE")) is None


def test_relative_root_and_paths_are_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    event = classify("runs", f"runs/{P}/{T}/DONE")
    assert event == WatchEvent("task_changed", P, T, "", str(tmp_path / "runs" / P / T / "DONE"),
                               "DONE")


def test_dedupe_keeps_one_event_per_key_structural_first():
    log1 = WatchEvent("log_grew", P, T, R, "/a", "agent-stdout.txt")
    log1_again = WatchEvent("log_grew", P, T, R, "/a", "agent-stdout.txt")
    log2 = WatchEvent("log_grew", P, T, R, "/b", "agent-stderr.txt")
    bus_task = WatchEvent("bus_grew", P, T, "", "/c", "TASK-MESSAGE-BUS.md")
    rotated = WatchEvent("bus_grew", P, T, "", "/c.2026.archived", "TASK-MESSAGE-BUS.md")
    run = WatchEvent("run_changed", P, T, R, "/d", "")
    task = WatchEvent("task_changed", P, T, "", "/e", "DONE")
    assert dedupe([log1, bus_task, log1_again, log2, rotated, run, task]) == [
        task, run, bus_task, log1, log2]


def test_a_rescan_swallows_the_batch():
    rescan = WatchEvent("rescan", path="/root")
    log = WatchEvent("log_grew", P, T, R, "/a", "agent-stdout.txt")
    assert dedupe([log, rescan, log]) == [rescan]
    assert dedupe([]) == []
