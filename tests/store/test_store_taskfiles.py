import os

import pytest

from conductor.errors import ConfigError, LayoutError
from conductor.store import (StopRequest, clear_done, clear_stop_requested, done_exists,
                             done_marker_present, read_depends_on, read_task_prompt,
                             read_task_state, stop_requested, write_depends_on, write_done,
                             write_stop_requested, write_task_md_if_missing)
from conductor.timefmt import parse_timestamp


@pytest.fixture
def task(tmp_path):
    path = tmp_path / "task-001"
    path.mkdir()
    return str(path)


def _read(task, name):
    return open(os.path.join(task, name), "rb").read()


def test_task_md_is_written_once_with_a_newline(task):
    assert read_task_prompt(task) is None
    assert write_task_md_if_missing(task, "Fix the bug")
    assert _read(task, "TASK.md") == b"Fix the bug\n"
    assert not write_task_md_if_missing(task, "Something else")
    assert _read(task, "TASK.md") == b"Fix the bug\n"
    assert read_task_prompt(task) == "Fix the bug"


def test_task_md_is_not_written_through_a_symlink(task, tmp_path):
    target = tmp_path / "outside.md"
    os.symlink(target, os.path.join(task, "TASK.md"))
    assert not write_task_md_if_missing(task, "x")
    assert not target.exists()


def test_done_marker(task):
    assert not done_exists(task)
    write_done(task)
    assert done_exists(task) and _read(task, "DONE") == b""
    assert clear_done(task) and not done_exists(task)
    assert not clear_done(task)


def test_a_done_directory_is_an_error_for_the_loop_and_ignored_by_views(task):
    os.mkdir(os.path.join(task, "DONE"))
    with pytest.raises(LayoutError, match="^DONE is a directory$"):
        done_exists(task)
    with pytest.raises(LayoutError, match="DONE is a directory"):
        write_done(task)
    assert not done_marker_present(task)


def test_stop_requested_formats(task):
    assert stop_requested(task) is None
    when = parse_timestamp("2026-02-20T15:30:45.987Z")
    write_stop_requested(task, when_ns=when)
    assert _read(task, "STOP-REQUESTED") == b"2026-02-20T15:30:45Z\n"
    assert stop_requested(task) == StopRequest(False, parse_timestamp("2026-02-20T15:30:45Z"))
    write_stop_requested(task, permanent=True)
    assert _read(task, "STOP-REQUESTED") == b"permanent\n"
    assert stop_requested(task) == StopRequest(True, None)
    open(os.path.join(task, "STOP-REQUESTED"), "w").write("whenever\n")
    assert stop_requested(task) == StopRequest(False, None)  # present, time unreadable
    assert clear_stop_requested(task) and stop_requested(task) is None


def test_task_state(task):
    assert read_task_state(task) == ""
    open(os.path.join(task, "TASK_STATE.md"), "w").write("step 2 of 5\n")
    assert read_task_state(task) == "step 2 of 5\n"


def test_depends_on_is_written_like_yaml_v3_and_deleted_when_empty(task):
    write_depends_on(task, [" task-a", "task-b", "", "task-a", "007"])
    assert _read(task, "TASK-CONFIG.yaml") == b'depends_on:\n    - task-a\n    - task-b\n    - "007"\n'
    assert read_depends_on(task) == ["task-a", "task-b", "007"]
    write_depends_on(task, [])
    assert not os.path.exists(os.path.join(task, "TASK-CONFIG.yaml"))
    assert read_depends_on(task) == []


def test_depends_on_reader_is_tolerant_but_names_the_file_on_errors(task):
    path = os.path.join(task, "TASK-CONFIG.yaml")
    open(path, "w").write("depends_on: [task-a, 'task-b']\nother: 1\n")
    assert read_depends_on(task) == ["task-a", "task-b"]
    open(path, "w").write("depends_on:\n")
    assert read_depends_on(task) == []
    open(path, "w").write("depends_on: task-a\n")
    with pytest.raises(ConfigError, match=r"TASK-CONFIG.yaml:1: depends_on: expected a list"):
        read_depends_on(task)
    open(path, "w").write("depends_on: [unclosed\n")
    with pytest.raises(ConfigError, match=r"TASK-CONFIG.yaml:2: invalid YAML"):
        read_depends_on(task)


def _bomb(levels: int = 9) -> str:
    lines = ["  a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"  a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_task_config_alias_bomb_and_oversize_are_config_errors(tmp_path):
    from conductor.store.safefs import UnsafeFileError
    from conductor.store.taskfiles import MAX_TASK_CONFIG_BYTES
    path = tmp_path / "TASK-CONFIG.yaml"
    path.write_text("depends_on: [a]\nx:\n" + _bomb())
    with pytest.raises(ConfigError) as err:
        read_depends_on(str(tmp_path))
    assert str(err.value) == f"{path}:7: YAML aliases expand beyond 10000 nodes"
    path.write_text("depends_on: [a, *b]\nb: &b c\n")  # an alias before its anchor: YAML's error
    with pytest.raises(ConfigError):
        read_depends_on(str(tmp_path))
    path.write_text("x: &x a\ndepends_on: [*x, b]\n")  # aliases within the limit are fine
    assert read_depends_on(str(tmp_path)) == ["a", "b"]
    path.write_text("depends_on: [a]\n" + "#" * MAX_TASK_CONFIG_BYTES)
    with pytest.raises(UnsafeFileError) as err:  # refused by the safe reader, before YAML
        read_depends_on(str(tmp_path))
    assert str(err.value) == f"{path}: larger than 256 KiB; refusing to read it"
