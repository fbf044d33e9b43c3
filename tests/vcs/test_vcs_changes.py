"""The stat list and the diff of a working dir since a base, against real git."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conductor.errors import ConductorError
from conductor.vcs.changes import (FileChange, anchor, changed_files, diff_page, resolve_target,
                                   review_message, snippet)
from conductor.vcs.git import GitError, run_git

from vcs.gitrepo import add_worktree, commit, git, git_identity, make_repo, write


@pytest.fixture
def task(tmp_path, monkeypatch):
    """A repo, a task dir under a runs root and the task's worktree on conductor/t1."""
    git_identity(monkeypatch, str(tmp_path / "home"))
    repo = make_repo(str(tmp_path / "repo"))
    task_dir = str(tmp_path / "runs" / "p" / "t1")
    add_worktree(repo, str(tmp_path / "wt"), "conductor/t1", task_dir)
    return repo, str(tmp_path / "wt"), task_dir


def test_a_worktree_task_lists_committed_uncommitted_and_untracked_changes(task):
    repo, wt, task_dir = task
    commit(wt, {"src/app.py": "a = 1\nb = 20\nc = 3\nd = 4\n"}, "agent commit")
    write(wt, {"README.md": "hello\nworld\n", "notes/new file.txt": "one\ntwo\nthree\n"})
    target = resolve_target(task_dir, "/nowhere")
    assert (target.kind, target.branch, target.read_only) == ("worktree", "conductor/t1", False)
    assert target.describe() == f"branch conductor/t1 since {target.base[:10]} (main)"
    assert changed_files(target) == [
        FileChange("README.md", "M", 1, 0),
        FileChange("src/app.py", "M", 2, 1),
        FileChange("notes/new file.txt", "?", 3, 0),
    ]


def test_the_diff_of_one_file_is_git_s_bytes_with_line_numbers(task):
    _repo, wt, task_dir = task
    commit(wt, {"src/app.py": "a = 1\nb = 20\nc = 3\nd = 4\n"}, "agent commit")
    target = resolve_target(task_dir, None)
    page = diff_page(target, "src/app.py")
    assert [line.text for line in page.lines] == [
        "diff --git a/src/app.py b/src/app.py",
        "index a9aeef0..81e2e8a 100644",
        "--- a/src/app.py",
        "+++ b/src/app.py",
        "@@ -1,3 +1,4 @@",
        " a = 1",
        "-b = 2",
        "+b = 20",
        " c = 3",
        "+d = 4",
    ]
    assert [(line.kind, line.old, line.new) for line in page.lines[4:]] == [
        ("hunk", None, None), ("context", 1, 1), ("del", 2, None), ("add", None, 2),
        ("context", 3, 3), ("add", None, 4)]
    assert {line.path for line in page.lines} == {"src/app.py"}
    assert not page.more


def test_an_untracked_file_diffs_against_nothing_and_a_removed_line_anchors_where_it_stood(task):
    _repo, wt, task_dir = task
    write(wt, {"new.txt": "x\n", "src/app.py": "a = 1\nc = 3\n"})
    target = resolve_target(task_dir, None)
    files = changed_files(target)
    untracked = [f.path for f in files if f.untracked]
    page = diff_page(target, "new.txt", untracked=untracked)
    assert [line.text for line in page.lines][-2:] == ["@@ -0,0 +1 @@", "+x"]
    assert page.lines[-1].path == "new.txt" and anchor(page.lines[-1]) == "new.txt:1"
    every = diff_page(target, None, untracked=untracked)
    removed = next(line for line in every.lines if line.kind == "del")
    assert anchor(removed) == "src/app.py:2" and removed.text == "-b = 2"
    assert [line.path for line in every.lines if line.kind == "add"] == ["new.txt"]


def test_pages_of_a_big_diff_are_read_a_page_at_a_time_and_long_lines_are_cut(task):
    _repo, wt, task_dir = task
    write(wt, {"big.txt": "".join(f"line {n}\n" for n in range(50_000)) + "x" * 100_000 + "\n"})
    git(wt, "add", "big.txt")
    target = resolve_target(task_dir, None)
    first = diff_page(target, "big.txt", 0, 100)
    assert len(first.lines) == 100 and first.more
    assert first.lines[-1].text == "+line 93" and first.lines[-1].new == 94
    later = diff_page(target, "big.txt", 40_000, 100)
    assert later.lines[0].text == "+line 39994" and later.lines[0].new == 39995
    last = diff_page(target, "big.txt", 50_000, 100)
    assert not last.more and last.lines[-1].text == "+" + "x" * 1999 + " …"


def test_a_plain_git_dir_is_read_only_against_head_and_a_plain_dir_says_so(tmp_path, monkeypatch):
    git_identity(monkeypatch, str(tmp_path / "home"))
    repo = make_repo(str(tmp_path / "repo"))
    write(repo, {"README.md": "changed\n"})
    target = resolve_target(None, os.path.join(repo, "src"))
    assert (target.kind, target.read_only, target.top) == ("workdir", True, repo)
    assert target.describe() == f"working dir (read-only) against HEAD {target.base[:10]}"
    assert changed_files(target) == [FileChange("README.md", "M", 1, 1)]
    plain = tmp_path / "plain"
    plain.mkdir()
    none = resolve_target(str(tmp_path / "no-task"), str(plain))
    assert (none.kind, none.describe()) == ("none", f"not a git working dir: {plain}")
    assert changed_files(none) == [] and diff_page(none, None).lines == []


def test_a_repo_without_commits_diffs_against_the_empty_tree(tmp_path, monkeypatch):
    git_identity(monkeypatch, str(tmp_path / "home"))
    repo = str(tmp_path / "fresh")
    os.makedirs(repo)
    git(repo, "init", "-q")
    write(repo, {"a.txt": "1\n"})
    target = resolve_target(None, repo)
    assert changed_files(target) == [FileChange("a.txt", "?", 1, 0)]


def test_the_repository_s_config_runs_no_program(task, tmp_path):
    """An agent can write the repo's config: no diff driver, textconv or fsmonitor runs."""
    repo, wt, task_dir = task
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    for key in ("diff.external", "core.fsmonitor", "diff.evil.textconv", "diff.evil.command"):
        git(repo, "config", key, str(evil))
    write(wt, {".gitattributes": "* diff=evil\n", "README.md": "x\n"})
    target = resolve_target(task_dir, None)
    changed_files(target)
    diff_page(target, None, untracked=[".gitattributes"])
    assert not marker.exists()


def test_git_errors_are_one_line_naming_the_repo_and_the_command(tmp_path):
    with pytest.raises(GitError) as caught:
        run_git(str(tmp_path), ["rev-parse", "--verify", "nosuch"])
    assert str(caught.value) == f"{tmp_path}: git rev-parse --verify nosuch: fatal: not a git " \
        "repository (or any of the parent directories): .git"
    assert "\n" not in str(caught.value)


def test_a_review_message_carries_the_anchor_the_comment_and_the_snippet(task):
    _repo, wt, task_dir = task
    write(wt, {"src/app.py": "a = 1\nb = 2\nc = 30\nd = 4\ne = 5\n"})
    page = diff_page(resolve_target(task_dir, None), "src/app.py")
    index = next(i for i, line in enumerate(page.lines) if line.text == "+c = 30")
    around = snippet(page.lines, index)
    assert review_message(page.lines[index], around, "  use a constant  ") == (
        "Review comment on src/app.py:3:\nuse a constant\n\n"
        "At src/app.py:3:\n```diff\n   b = 2\n  -c = 3\n> +c = 30\n  +d = 4\n"
        "  +e = 5\n```\n")


def test_the_data_layer_does_not_import_textual():
    code = ("import sys, conductor.vcs.changes, conductor.vcs.merge, conductor.worktree.record\n"
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_worktree_record_naming_a_missing_dir_says_the_worktree_is_gone(task):
    import shutil
    _repo, wt, task_dir = task
    shutil.rmtree(wt)
    target = resolve_target(task_dir, None)
    assert (target.kind, target.note) == ("none", f"the task's worktree is gone: {wt}")


def test_a_record_naming_a_plain_dir_is_refused(task, tmp_path):
    import json
    _repo, _wt, task_dir = task
    path = os.path.join(task_dir, "WORKTREE.json")
    record = json.load(open(path))
    (tmp_path / "elsewhere").mkdir()
    record["path"] = str(tmp_path / "elsewhere")
    with open(path, "w") as fh:
        json.dump(record, fh)
    with pytest.raises(ConductorError):
        resolve_target(task_dir, None)


def test_an_untracked_fifo_is_listed_without_being_opened(task):
    _repo, wt, task_dir = task
    os.mkfifo(os.path.join(wt, "pipe"))
    write(wt, {"real.txt": "1\n2\n"})
    files = changed_files(resolve_target(task_dir, None))
    assert FileChange("real.txt", "?", 2, 0) in files
    assert all(f.path != "pipe" or f.added is None for f in files)


def test_a_reader_reads_on_page_after_page_with_the_same_lines_as_a_fresh_read(task):
    from conductor.vcs.changes import DiffReader
    _repo, wt, task_dir = task
    write(wt, {"big.txt": "".join(f"line {n}\n" for n in range(2500)), "README.md": "bye\n"})
    target = resolve_target(task_dir, None)
    untracked = ["big.txt"]
    reader = DiffReader(target, None, untracked)
    pages = [reader.read(1000) for _ in range(3)]
    reader.close()
    assert [(p.start, len(p.lines), p.more) for p in pages] == \
        [(0, 1000, True), (1000, 1000, True), (2000, 513, False)]
    whole = [line.text for p in pages for line in p.lines]
    assert whole == [line.text for line in diff_page(target, None, 0, 10_000,
                                                     untracked=untracked).lines]
    assert [line.text for line in pages[1].lines] == \
        [line.text for line in diff_page(target, None, 1000, 1000, untracked=untracked).lines]
    assert whole[:7] == ["diff --git a/README.md b/README.md", "index ce01362..b023018 100644",
                         "--- a/README.md", "+++ b/README.md", "@@ -1 +1 @@", "-hello", "+bye"]
