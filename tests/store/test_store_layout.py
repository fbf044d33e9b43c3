import os
import stat

import pytest

from conductor.errors import IdError, LayoutError
from conductor.store import Layout

P, T, R = "my-project", "task-20260220-153045-my-feature", "20260220-1530450000-12345-0001"

BAD_IDS = [
    "../x", "..", ".", "/etc", "a/b", "a\\b", "a\x00b", "t\u0430sk",  # Cyrillic a
    "x" * 10_000, "",
]


@pytest.fixture
def layout(tmp_path):
    return Layout(str(tmp_path / "root"))


def test_paths_follow_the_upstream_tree(layout):
    root = layout.root
    assert layout.project_dir(P) == f"{root}/{P}"
    assert layout.task_dir(P, T) == f"{root}/{P}/{T}"
    assert layout.runs_dir(P, T) == f"{root}/{P}/{T}/runs"
    assert layout.run_dir(P, T, R) == f"{root}/{P}/{T}/runs/{R}"
    assert layout.run_info_path(P, T, R) == f"{root}/{P}/{T}/runs/{R}/run-info.yaml"
    assert layout.task_bus(P, T) == f"{root}/{P}/{T}/TASK-MESSAGE-BUS.md"
    assert layout.project_bus(P) == f"{root}/{P}/PROJECT-MESSAGE-BUS.md"
    assert layout.task_file(P, T, "DONE") == f"{root}/{P}/{T}/DONE"
    assert layout.task_file(P, "task-001", "TASK_STATE.md") == f"{root}/{P}/task-001/TASK_STATE.md"


def test_relative_root_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Layout("runs").root == str(tmp_path / "runs")


@pytest.mark.parametrize("bad", BAD_IDS)
def test_unsafe_ids_are_refused_everywhere(layout, bad):
    calls = [lambda: layout.project_dir(bad), lambda: layout.task_dir(P, bad),
             lambda: layout.run_dir(P, T, bad), lambda: layout.ensure_task_dir(P, bad)]
    if bad:  # an empty run id asks allocate_run_dir to generate one
        calls.append(lambda: layout.allocate_run_dir(P, T, bad))
    for call in calls:
        with pytest.raises(LayoutError) as err:
            call()
        assert isinstance(err.value, IdError)
        message = str(err.value)
        assert "\n" not in message and len(message) < 300
        assert "ID" in message
    assert not os.path.exists(os.path.join(os.path.dirname(layout.root), "x"))


def test_error_names_the_offending_id(layout):
    with pytest.raises(LayoutError, match=r'invalid task ID "\.\./x": must not contain path separators'):
        layout.task_dir(P, "../x")
    with pytest.raises(LayoutError, match=r'invalid project ID "My_Project"'):
        layout.project_dir("My_Project")
    with pytest.raises(LayoutError, match="null bytes"):
        layout.run_dir(P, T, "r\x00")


def test_lenient_task_and_run_ids_are_accepted(layout):
    assert layout.run_dir(P, "task-001", "run_20260220-153045-42").endswith(
        "/task-001/runs/run_20260220-153045-42")


def _outside(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(exist_ok=True)
    return target


def test_symlinked_project_dir_is_refused(layout, tmp_path):
    os.makedirs(layout.root)
    os.symlink(_outside(tmp_path), os.path.join(layout.root, P))
    with pytest.raises(LayoutError, match=rf"{P}: is a symbolic link"):
        layout.task_dir(P, T)
    with pytest.raises(LayoutError, match="symbolic link"):
        layout.ensure_task_dir(P, T)
    assert os.listdir(_outside(tmp_path)) == []


@pytest.mark.parametrize("level", ["task", "runs", "run"])
def test_symlinked_lower_dirs_are_refused(layout, tmp_path, level):
    layout.ensure_task_dir(P, T)
    target = _outside(tmp_path)
    if level == "task":
        link = layout.task_dir(P, "task-002")
        call = lambda: layout.run_dir(P, "task-002", R)  # noqa: E731
    elif level == "runs":
        os.makedirs(layout.task_dir(P, "task-003"))
        link = os.path.join(layout.task_dir(P, "task-003"), "runs")
        call = lambda: layout.allocate_run_dir(P, "task-003", R)  # noqa: E731
    else:
        link = os.path.join(layout.runs_dir(P, T), R)
        call = lambda: layout.run_info_path(P, T, R)  # noqa: E731
    os.symlink(target, link)
    with pytest.raises(LayoutError) as err:
        call()
    assert f"{link}: is a symbolic link" in str(err.value)
    assert os.listdir(target) == []


def test_symlinked_root_itself_is_allowed(tmp_path):
    real = tmp_path / "real-root"
    real.mkdir()
    os.symlink(real, tmp_path / "root-link")
    layout = Layout(str(tmp_path / "root-link"))
    assert layout.ensure_task_dir(P, T) == str(tmp_path / "root-link" / P / T)
    assert (real / P / T / "runs").is_dir()


def test_ensure_task_dir_creates_runs_with_mode_0755(layout):
    old = os.umask(0o022)
    try:
        task = layout.ensure_task_dir(P, T)
    finally:
        os.umask(old)
    for path in (layout.project_dir(P), task, layout.runs_dir(P, T)):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert layout.ensure_task_dir(P, T) == task  # idempotent


def test_ensure_task_dir_refuses_a_file_in_the_way(layout):
    os.makedirs(layout.project_dir(P))
    open(layout.task_dir(P, T), "w").close()
    with pytest.raises(LayoutError, match="is a regular file, expected a directory"):
        layout.ensure_task_dir(P, T)


def test_allocate_run_dir_falls_back_to_a_suffixed_name(layout):
    run_id, path = layout.allocate_run_dir(P, T, R)
    assert run_id == R and path == layout.run_dir(P, T, R) and os.path.isdir(path)
    run_id2, path2 = layout.allocate_run_dir(P, T, R)
    assert run_id2.startswith(R + "-") and run_id2 != R
    assert path2 == layout.run_dir(P, T, run_id2)
    assert stat.S_IMODE(os.stat(path2).st_mode) == 0o755


def test_allocate_run_dir_generates_an_id(layout):
    run_id, path = layout.allocate_run_dir(P, T)
    assert f"-{os.getpid()}-" in run_id and os.path.basename(path) == run_id


def test_locate_maps_canonical_paths_back_to_ids(layout):
    run_dir = layout.run_dir(P, T, R)
    assert layout.locate(run_dir) == (P, T, R)
    assert layout.locate(os.path.join(run_dir, "run-info.yaml")) == (P, T, R)
    for bad in (layout.task_dir(P, T), os.path.join(layout.task_dir(P, T), "other", R),
                "/somewhere/else/p/t/runs/r", os.path.join(layout.root, "..", "x", "t", "runs", "r")):
        with pytest.raises(LayoutError) as err:
            layout.locate(bad)
        assert "\n" not in str(err.value)
    with pytest.raises(LayoutError):
        layout.locate(os.path.join(layout.root, "Bad_P", T, "runs", R))


def test_unknown_task_file_names_are_refused(layout):
    with pytest.raises(LayoutError, match="is not a task file name"):
        layout.task_file(P, T, "../../etc/passwd")
