"""WORKTREE.json read as untrusted input: one line naming the file and the field."""

from __future__ import annotations

import json
import os

import pytest

from conductor.errors import ConductorError
from conductor.vcs.record import read_worktree_record

SHA = "0123456789abcdef0123456789abcdef01234567"
GOOD = {"repo": "/srv/repo", "path": "/srv/worktrees/t1", "branch": "conductor/t1",
        "base_ref": "main", "base_commit": SHA, "created_at": "2026-06-21T00:00:00Z"}


@pytest.fixture
def task_dir(tmp_path):
    path = tmp_path / "runs" / "p" / "t1"
    path.mkdir(parents=True)
    return str(path)


def write(task_dir: str, data) -> str:
    path = os.path.join(task_dir, "WORKTREE.json")
    with open(path, "w") as fh:
        fh.write(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_good_record_is_read_and_none_without_one(task_dir):
    assert read_worktree_record(task_dir) is None
    write(task_dir, {**GOOD, "base_ref": "HEAD~2"})  # the base as given to --base
    assert read_worktree_record(task_dir).base_ref == "HEAD~2"
    write(task_dir, GOOD)
    record = read_worktree_record(task_dir)
    assert (record.repo, record.path, record.branch, record.base_commit) == \
        ("/srv/repo", "/srv/worktrees/t1", "conductor/t1", SHA)


@pytest.mark.parametrize("change, field, words", [
    ({"repo": "relative/repo"}, "repo", "must be an absolute, normalised path"),
    ({"path": "/srv/../etc"}, "path", "must be an absolute, normalised path"),
    ({"path": "/srv/repo"}, "path", "is the repository itself"),
    ({"branch": "main"}, "branch", "must be a branch under conductor/"),
    ({"branch": "conductor/../x"}, "branch", "must be a branch under conductor/"),
    ({"branch": "conductor/-x y"}, "branch", "must be a branch under conductor/"),
    ({"base_commit": "HEAD"}, "base_commit", "must be 40 hex digits"),
    ({"base_ref": "--upload-pack=x"}, "base_ref", "not a git revision"),
    ({"repo": 7}, "repo", "must be a string, got int"),
    ({"repo": ""}, "repo", "missing"),
])
def test_a_bad_field_is_one_line_naming_the_file_and_the_field(task_dir, change, field, words):
    path = write(task_dir, {**GOOD, **change})
    with pytest.raises(ConductorError) as caught:
        read_worktree_record(task_dir)
    assert str(caught.value).startswith(f"{path}: {field}: {words}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("data, words", [("{not json", "not JSON"), ("[1]", "not a JSON object"),
                                         ("\udcff", "not JSON")])
def test_garbage_is_one_line(task_dir, data, words):
    path = os.path.join(task_dir, "WORKTREE.json")
    with open(path, "wb") as fh:
        fh.write(data.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConductorError, match=f"^{path}: {words}"):
        read_worktree_record(task_dir)


def test_a_link_a_fifo_a_dir_and_a_huge_file_are_refused_without_blocking(task_dir, tmp_path):
    path = os.path.join(task_dir, "WORKTREE.json")
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(GOOD))
    os.symlink(target, path)
    with pytest.raises(ConductorError, match="WORKTREE.json"):
        read_worktree_record(task_dir)
    os.remove(path)
    os.mkfifo(path)
    with pytest.raises(ConductorError, match="WORKTREE.json"):
        read_worktree_record(task_dir)
    os.remove(path)
    os.mkdir(path)
    with pytest.raises(ConductorError, match="WORKTREE.json"):
        read_worktree_record(task_dir)
    os.rmdir(path)
    write(task_dir, " " * (70 * 1024) + json.dumps(GOOD))
    with pytest.raises(ConductorError, match="WORKTREE.json"):
        read_worktree_record(task_dir)
