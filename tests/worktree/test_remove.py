"""Removal only by an explicit delete or archive: refused while the branch holds work its
base has not, done with --force; nothing but that worktree and that branch is touched."""

from __future__ import annotations

import os

from .conftest import PROJECT, TASK_A, TASK_B


def delete(wt, task, *extra):
    return wt.run("task", "delete", "--root", wt.root, "--project", PROJECT, "--task", task,
                  *extra)


def test_delete_refuses_with_unmerged_commits_and_force_deletes(wt):
    assert wt.task(TASK_A, "--worktree").returncode == 0
    assert wt.task(TASK_B, "--worktree").returncode == 0
    path = wt.worktree(TASK_A)
    wt.git("add", "-A", cwd=path)
    wt.git("commit", "-qm", "agent work", cwd=path)
    out = delete(wt, TASK_A)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == (f"Error: task {TASK_A}: its worktree branch conductor/{TASK_A} has 1 "
                          "commit not merged into HEAD; merge it or use --force to delete them "
                          "anyway\n")
    assert os.path.isdir(path) and os.path.isdir(wt.task_dir(TASK_A))
    out = delete(wt, TASK_A, "--force")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (f"Removed worktree {path} and branch conductor/{TASK_A}\n"
                          f"Deleted task: {TASK_A}\n")
    assert not os.path.exists(path) and not os.path.exists(wt.task_dir(TASK_A))
    # the other task's worktree and branch, and the source checkout, are untouched
    assert os.path.isfile(os.path.join(wt.worktree(TASK_B), f"file-{TASK_B}.txt"))
    assert wt.git("branch", "--list", "--format=%(refname:short)") == \
        f"conductor/{TASK_B}\nmain"
    assert sorted(os.listdir(wt.repo)) == [".git", "README"]


def test_uncommitted_changes_are_refused_too(wt):
    assert wt.task(TASK_A, "--worktree").returncode == 0  # the agent left an untracked file
    out = delete(wt, TASK_A)
    assert out.returncode == 1
    assert out.stderr == (f"Error: task {TASK_A}: its worktree branch conductor/{TASK_A} has "
                          "uncommitted changes; merge it or use --force to delete them anyway\n")


def test_a_merged_branch_is_deleted_without_force(wt):
    assert wt.task(TASK_A, "--worktree").returncode == 0
    path = wt.worktree(TASK_A)
    wt.git("add", "-A", cwd=path)
    wt.git("commit", "-qm", "agent work", cwd=path)
    wt.git("merge", "-q", "--ff-only", f"conductor/{TASK_A}")
    out = delete(wt, TASK_A)
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(path)
    assert wt.git("branch", "--list", "conductor/*") == ""
    assert os.path.isfile(os.path.join(wt.repo, f"file-{TASK_A}.txt"))  # the merged work stays


def test_archive_removes_the_worktree_and_keeps_the_record(wt):
    assert wt.task(TASK_A, "--worktree").returncode == 0
    path = wt.worktree(TASK_A)
    out = wt.run("task", "archive", "--root", wt.root, "--project", PROJECT, "--task", TASK_A)
    assert out.returncode == 1 and "uncommitted changes" in out.stderr
    out = wt.run("task", "archive", "--root", wt.root, "--project", PROJECT, "--task", TASK_A,
                 "--force")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"Removed worktree {path} and branch conductor/{TASK_A}\n"
                                 f"Archived task: {TASK_A} -> ")
    assert not os.path.exists(path)
    archived = os.path.join(wt.root, ".archive", PROJECT, TASK_A, "WORKTREE.json")
    assert os.path.isfile(archived)


def test_a_record_naming_another_branch_is_refused_and_nothing_is_touched(wt):
    assert wt.task(TASK_A, "--worktree").returncode == 0
    assert wt.task(TASK_B, "--worktree").returncode == 0
    rec_a = os.path.join(wt.task_dir(TASK_A), "WORKTREE.json")
    rec_b = open(os.path.join(wt.task_dir(TASK_B), "WORKTREE.json")).read()
    with open(rec_a, "w") as f:
        f.write(rec_b)  # a planted record pointing at the other task's worktree
    out = delete(wt, TASK_A, "--force")
    assert out.returncode == 1
    assert out.stderr == (f"Error: {rec_a}: branch: conductor/{TASK_B} is not this task's "
                          f"(conductor/{TASK_A}); not removing it\n")
    assert os.path.isdir(wt.worktree(TASK_B)) and os.path.isdir(wt.task_dir(TASK_A))


def test_garbage_or_a_link_at_worktree_json_is_one_line(wt, tmp_path):
    assert wt.task(TASK_A, "--worktree").returncode == 0
    rec = os.path.join(wt.task_dir(TASK_A), "WORKTREE.json")
    os.unlink(rec)
    os.symlink(str(tmp_path / "elsewhere.json"), rec)
    out = delete(wt, TASK_A)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and rec in out.stderr
    assert out.stderr.endswith("; --force goes on without touching any worktree\n")
    out = delete(wt, TASK_A, "--force")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"Deleted task: {TASK_A}\n"
    assert os.path.isdir(wt.worktree(TASK_A))  # not known for sure: left alone
