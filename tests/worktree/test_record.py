"""WORKTREE.json: the exact keys, atomic writes, and one line for whatever is planted there."""

from __future__ import annotations

import os

import pytest

from conductor.worktree.record import (WorktreeRecord, WorktreeRecordError, read_record,
                                       write_record)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def task_dir(tmp_path):
    path = tmp_path / "runs" / "proj" / "task-20261130-120000-x"
    path.mkdir(parents=True)
    return str(path)


def make():
    return WorktreeRecord(repo="/src/repo", path="/w/proj/t", branch="conductor/t",
                          base_ref="main", base_commit=SHA, created_at="2026-11-30T12:00:00Z")


def test_round_trip_and_exact_bytes(task_dir):
    assert read_record(task_dir) is None
    write_record(task_dir, make())
    assert open(os.path.join(task_dir, "WORKTREE.json"), "rb").read() == (
        b'{\n  "repo": "/src/repo",\n  "path": "/w/proj/t",\n  "branch": "conductor/t",\n'
        b'  "base_ref": "main",\n  "base_commit": "' + SHA.encode() + b'",\n'
        b'  "created_at": "2026-11-30T12:00:00Z"\n}\n')
    assert read_record(task_dir) == make()


@pytest.mark.parametrize("content, field", [
    (b"not json", "not a JSON object"),
    (b"[1]", "not a JSON object"),
    (b'{"repo": "/r"}', "path: missing"),
    (b'{"repo": "r", "path": "/p", "branch": "conductor/t", "base_ref": "m", '
     b'"base_commit": "' + SHA.encode() + b'", "created_at": "x"}', "repo: must be an absolute path"),
    (b'{"repo": "/r", "path": "/p", "branch": "main", "base_ref": "m", '
     b'"base_commit": "' + SHA.encode() + b'", "created_at": "x"}', "branch: must start with conductor/"),
    (b'{"repo": "/r", "path": "/p", "branch": "conductor/t", "base_ref": "m", '
     b'"base_commit": "abc", "created_at": "x"}', "base_commit: must be a 40-hex commit id"),
    (b'{"repo": "/r", "path": 3}', "path: must be a non-empty string"),
])
def test_garbage_is_one_line_naming_file_and_field(task_dir, content, field):
    path = os.path.join(task_dir, "WORKTREE.json")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(WorktreeRecordError) as err:
        read_record(task_dir)
    assert str(err.value) == f"{path}: {field}"


def test_a_link_or_fifo_is_refused_without_blocking(task_dir, tmp_path):
    path = os.path.join(task_dir, "WORKTREE.json")
    target = tmp_path / "real.json"
    target.write_bytes(make().to_json())
    os.symlink(str(target), path)
    with pytest.raises(WorktreeRecordError) as err:
        read_record(task_dir)
    assert str(err.value).startswith(path) and "\n" not in str(err.value)
    os.unlink(path)
    os.mkfifo(path)
    with pytest.raises(WorktreeRecordError) as err:
        read_record(task_dir)
    assert str(err.value).startswith(path)
    write_record(task_dir, make())  # replaced by a rename, never written through (or blocked)
    assert read_record(task_dir) == make()
