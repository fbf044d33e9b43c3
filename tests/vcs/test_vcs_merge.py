"""Merge a task's branch into its base, and discard it, against real git."""

from __future__ import annotations

import json
import os

import pytest

from conductor.errors import ConductorError
from conductor.vcs.merge import discard, merge_branch, plan_merge
from conductor.worktree.record import read_record

from vcs.gitrepo import add_worktree, commit, git, git_identity, make_repo, write


@pytest.fixture
def task(tmp_path, monkeypatch):
    git_identity(monkeypatch, str(tmp_path / "home"))
    repo = make_repo(str(tmp_path / "repo"))
    task_dir = str(tmp_path / "runs" / "p" / "t1")
    wt = str(tmp_path / "wt")
    add_worktree(repo, wt, "conductor/t1", task_dir)
    return repo, wt, read_record(task_dir)


def test_a_branch_on_an_unmoved_base_fast_forwards(task):
    repo, wt, record = task
    tip = commit(wt, {"src/app.py": "a = 10\n"}, "agent")
    plan = plan_merge(record)
    assert (plan.kind, plan.base_branch, plan.commits) == ("fast-forward", "main", 1)
    assert plan.question() == ("Merge conductor/t1 (1 commit) into main?\n"
                               "This is a fast-forward (no merge commit).")
    merge_branch(record, "fast-forward")
    assert git(repo, "rev-parse", "main").strip() == tip
    assert open(os.path.join(repo, "src", "app.py")).read() == "a = 10\n"
    assert git(repo, "status", "--porcelain") == ""


def test_a_moved_base_gets_a_merge_commit(task):
    repo, wt, record = task
    tip = commit(wt, {"src/app.py": "a = 10\nb = 2\nc = 3\n"}, "agent")
    base = commit(repo, {"README.md": "moved on\n"}, "operator")
    write(wt, {"scratch.txt": "not committed\n"})
    plan = plan_merge(record)
    assert plan.kind == "merge" and plan.uncommitted == 1
    assert plan.question() == (
        "Merge conductor/t1 (1 commit) into main?\nThis is a merge commit (the base has moved "
        "on).\n1 uncommitted change(s) in the task's worktree are not merged (only commits are).")
    merge_branch(record, "merge")
    assert git(repo, "log", "-1", "--format=%P %s", "main").strip() == \
        f"{base} {tip} Merge branch 'conductor/t1' into main"
    assert open(os.path.join(repo, "src", "app.py")).read() == "a = 10\nb = 2\nc = 3\n"
    assert git(repo, "status", "--porcelain") == ""


def test_a_conflict_is_refused_and_the_repo_left_clean(task):
    repo, wt, record = task
    commit(wt, {"src/app.py": "a = 'agent'\n"}, "agent")
    base = commit(repo, {"src/app.py": "a = 'operator'\n"}, "operator")
    with pytest.raises(ConductorError) as caught:
        merge_branch(record, "merge")
    assert str(caught.value).startswith("merge refused: conductor/t1 does not merge cleanly "
                                        "into main")
    assert str(caught.value).endswith("; the repository is unchanged")
    assert git(repo, "rev-parse", "main").strip() == base
    assert git(repo, "status", "--porcelain") == ""
    assert not os.path.exists(os.path.join(repo, ".git", "MERGE_HEAD"))


def test_a_base_checked_out_nowhere_moves_its_ref_only(task):
    repo, wt, record = task
    git(repo, "checkout", "-q", "-b", "elsewhere")
    base = commit(repo, {"README.md": "other\n"}, "on elsewhere")
    git(repo, "checkout", "-q", "--detach")
    tip = commit(wt, {"new.txt": "n\n"}, "agent")
    git(repo, "branch", "-f", "main", base)
    assert plan_merge(record).checkout == ""
    merge_branch(record, "merge")
    assert git(repo, "log", "-1", "--format=%P", "main").strip() == f"{base} {tip}"
    assert git(repo, "show", "main:new.txt") == "n\n"


def test_a_confirmed_kind_that_no_longer_holds_is_refused(task):
    repo, wt, record = task
    commit(wt, {"x.txt": "x\n"}, "agent")
    commit(repo, {"y.txt": "y\n"}, "operator")
    with pytest.raises(ConductorError, match="would now be a merge, not the fast-forward"):
        merge_branch(record, "fast-forward")


def test_nothing_to_merge_is_said(task):
    _repo, _wt, record = task
    assert plan_merge(record).question() == \
        "conductor/t1 has no commits beyond main: nothing to merge."
    with pytest.raises(ConductorError, match="nothing to merge"):
        merge_branch(record)


def test_discard_removes_the_worktree_and_deletes_the_branch(task):
    repo, wt, record = task
    commit(wt, {"x.txt": "x\n"}, "agent")
    write(wt, {"dirty.txt": "uncommitted\n"})
    discard(record)
    assert not os.path.exists(wt)
    assert git(repo, "branch", "--list", "conductor/t1") == ""
    assert wt not in git(repo, "worktree", "list")
    assert git(repo, "status", "--porcelain") == ""


def test_merge_and_discard_refuse_a_record_naming_another_checkout(task, tmp_path):
    """A hostile record cannot make discard delete main or the main working tree."""
    repo, _wt, record = task
    task_dir = os.path.dirname(record.file)
    with open(record.file, "w") as fh:
        json.dump({"repo": repo, "path": repo + "-x", "branch": "conductor/t1",
                   "base_ref": "main", "base_commit": record.base_commit,
                   "created_at": record.created_at}, fh)
    os.makedirs(repo + "-x")
    bad = read_record(task_dir)
    with pytest.raises(ConductorError, match="is not a worktree of"):
        discard(bad)
    with open(record.file, "w") as fh:
        json.dump({"repo": str(tmp_path / "wt"), "path": repo, "branch": "conductor/t1",
                   "base_ref": "main", "base_commit": record.base_commit,
                   "created_at": record.created_at}, fh)
    with pytest.raises(ConductorError, match="main working tree|not a worktree of|checked out"):
        discard(read_record(task_dir))
    assert os.path.isdir(repo) and git(repo, "branch", "--list", "main").strip() == "* main"


def test_a_dirty_checkout_of_the_base_is_refused_untouched(task):
    repo, wt, record = task
    commit(wt, {"x.txt": "x\n"}, "agent")
    write(repo, {"README.md": "operator's edit\n"})
    with pytest.raises(ConductorError, match=r"has uncommitted changes: commit or stash them"):
        merge_branch(record)
    assert open(os.path.join(repo, "README.md")).read() == "operator's edit\n"
    assert git(repo, "status", "--porcelain") == " M README.md\n"


def test_a_base_given_as_head_merges_into_the_repo_s_current_branch(task):
    repo, wt, record = task
    from dataclasses import replace
    tip = commit(wt, {"x.txt": "x\n"}, "agent")
    plan = merge_branch(replace(record, base_ref="HEAD"))
    assert (plan.kind, plan.base_branch) == ("fast-forward", "main")
    assert git(repo, "rev-parse", "main").strip() == tip
