"""WORKTREE.json, the one reader and writer: the exact keys, atomic writes, and one line naming
the file and the field for whatever is planted there (it is read as untrusted input: merge,
discard, delete and archive act on what it names)."""

from __future__ import annotations

import json
import os

import pytest

from conductor.worktree.record import (WorktreeRecord, WorktreeRecordError, read_record,
                                       write_record)

SHA = "0123456789abcdef0123456789abcdef01234567"
GOOD = {"repo": "/srv/repo", "path": "/srv/worktrees/t1", "branch": "conductor/t1",
        "base_ref": "main", "base_commit": SHA, "created_at": "2026-06-21T00:00:00Z"}


@pytest.fixture
def task_dir(tmp_path):
    path = tmp_path / "runs" / "proj" / "task-20261130-120000-x"
    path.mkdir(parents=True)
    return str(path)


def make():
    return WorktreeRecord(repo="/src/repo", path="/w/proj/t", branch="conductor/t",
                          base_ref="main", base_commit=SHA, created_at="2026-11-30T12:00:00Z")


def write(task_dir: str, data) -> str:
    path = os.path.join(task_dir, "WORKTREE.json")
    with open(path, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def failure(task_dir: str) -> str:
    with pytest.raises(WorktreeRecordError) as caught:
        read_record(task_dir)
    text = str(caught.value)
    assert "\n" not in text and text.isprintable()
    return text


def test_round_trip_and_exact_bytes(task_dir):
    assert read_record(task_dir) is None
    write_record(task_dir, make())
    path = os.path.join(task_dir, "WORKTREE.json")
    assert open(path, "rb").read() == (
        b'{\n  "repo": "/src/repo",\n  "path": "/w/proj/t",\n  "branch": "conductor/t",\n'
        b'  "base_ref": "main",\n  "base_commit": "' + SHA.encode() + b'",\n'
        b'  "created_at": "2026-11-30T12:00:00Z"\n}\n')
    record = read_record(task_dir)
    assert record == make()  # the file it was read from is kept, but not compared
    assert (record.file, make().file) == (path, "")
    write_record(task_dir, record)  # nor written
    assert b"file" not in open(path, "rb").read()


def test_a_good_record_as_another_writer_wrote_it_is_read(task_dir):
    write(task_dir, {**GOOD, "base_ref": "HEAD~2", "extra": [1]})  # the base as given to --base
    assert read_record(task_dir).base_ref == "HEAD~2"
    write(task_dir, GOOD)
    record = read_record(task_dir)
    assert (record.repo, record.path, record.branch, record.base_commit) == \
        ("/srv/repo", "/srv/worktrees/t1", "conductor/t1", SHA)
    write(task_dir, {**GOOD, "branch": "conductor/task-20261130-120000-x/sub_1"})
    assert read_record(task_dir).branch == "conductor/task-20261130-120000-x/sub_1"


@pytest.mark.parametrize("change, words", [
    ({"repo": "relative/repo"}, "repo: must be an absolute, normalised path, got 'relative/repo'"),
    ({"repo": "r"}, "repo: must be an absolute, normalised path, got 'r'"),
    ({"repo": "/"}, "repo: must be an absolute, normalised path, got '/'"),
    ({"path": "/srv/../etc"}, "path: must be an absolute, normalised path, got '/srv/../etc'"),
    ({"path": "/srv/wt/"}, "path: must be an absolute, normalised path, got '/srv/wt/'"),
    ({"path": "/srv/./wt"}, "path: must be an absolute, normalised path, got '/srv/./wt'"),
    ({"path": "/srv/repo"}, "path: is the repository itself"),
    ({"branch": "main"}, "branch: must be a branch under conductor/, got 'main'"),
    ({"branch": "conductor/"}, "branch: must be a branch under conductor/, got 'conductor/'"),
    ({"branch": "conductor/../x"}, "branch: must be a branch under conductor/, got 'conductor/../x'"),
    ({"branch": "conductor/-x y"}, "branch: must be a branch under conductor/, got 'conductor/-x y'"),
    ({"branch": "conductor/-x"}, "branch: must be a branch under conductor/, got 'conductor/-x'"),
    ({"branch": "conductor/.x"}, "branch: must be a branch under conductor/, got 'conductor/.x'"),
    ({"branch": "conductor/x.lock"},
     "branch: must be a branch under conductor/, got 'conductor/x.lock'"),
    ({"branch": "conductor/a//b"}, "branch: must be a branch under conductor/, got 'conductor/a//b'"),
    ({"branch": "conductor/a@{1}"},
     "branch: must be a branch under conductor/, got 'conductor/a@{1}'"),
    ({"branch": "conductor/a:b"}, "branch: must be a branch under conductor/, got 'conductor/a:b'"),
    ({"base_commit": "HEAD"}, "base_commit: must be a 40-hex commit id, got 'HEAD'"),
    ({"base_commit": "abc"}, "base_commit: must be a 40-hex commit id, got 'abc'"),
    ({"base_commit": SHA.upper()}, f"base_commit: must be a 40-hex commit id, got '{SHA.upper()}'"),
    ({"base_ref": "--upload-pack=x"}, "base_ref: not a git revision, got '--upload-pack=x'"),
    ({"base_ref": "main\x1b[2J"}, "base_ref: holds a control character"),
    ({"path": "/srv/wt\nnext"}, "path: holds a control character"),
    ({"created_at": "2026\x00"}, "created_at: holds a control character"),
    ({"repo": "/" + "r" * 5000}, "repo: longer than 4096 characters"),
    ({"repo": 7}, "repo: must be a string, got a number"),
    ({"path": None}, "path: must be a string, got null"),
    ({"branch": ["conductor/t1"]}, "branch: must be a string, got an array"),
    ({"repo": ""}, "repo: is empty"),
    ({"base_ref": ""}, "base_ref: is empty"),
])
def test_a_bad_field_is_one_line_naming_the_file_and_the_field(task_dir, change, words):
    path = write(task_dir, {**GOOD, **change})
    assert failure(task_dir) == f"{path}: {words}"


@pytest.mark.parametrize("key", ["repo", "path", "branch", "base_ref", "base_commit",
                                 "created_at"])
def test_a_missing_field_is_named(task_dir, key):
    path = write(task_dir, {k: v for k, v in GOOD.items() if k != key})
    assert failure(task_dir) == f"{path}: {key}: missing"


@pytest.mark.parametrize("content, words", [
    (b"not json", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    (b"{not json", "not JSON (Expecting property name enclosed in double quotes: line 1 "
                   "column 2 (char 1))"),
    (b"\xff", "not JSON (not UTF-8)"),
    (b"", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    (b"[" * 60000, "not JSON (nested too deep)"),
    (b"[1]", "not a JSON object"),
    (b'"x"', "not a JSON object"),
])
def test_garbage_is_one_line_naming_the_file(task_dir, content, words):
    path = write(task_dir, content)
    assert failure(task_dir) == f"{path}: {words}"


def test_a_link_a_fifo_a_dir_and_a_huge_file_are_refused_without_blocking(task_dir, tmp_path):
    path = os.path.join(task_dir, "WORKTREE.json")
    target = tmp_path / "real.json"
    target.write_bytes(make().to_json())
    os.symlink(str(target), path)
    assert failure(task_dir).startswith(f"{path}: is a symbolic link")
    os.unlink(path)
    os.mkfifo(path)
    assert failure(task_dir) == f"{path}: is a FIFO, expected a regular file"
    write_record(task_dir, make())  # replaced by a rename, never written through (or blocked)
    assert read_record(task_dir) == make()
    os.unlink(path)
    os.mkdir(path)
    assert failure(task_dir) == f"{path}: is a directory, expected a regular file"
    os.rmdir(path)
    write(task_dir, b" " * (70 * 1024) + json.dumps(GOOD).encode())
    assert failure(task_dir) == f"{path}: larger than 64 KiB; refusing to read it"
