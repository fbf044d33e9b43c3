"""The two ends of a task's branch: merge it into its base in the source repository, or
discard it (remove the worktree, delete the branch).

Both act only on what a checked WORKTREE.json names, and only after git confirms it: the
worktree is registered with that repository and has that branch checked out. A merge is a
fast-forward when the base has not moved, else a merge commit; a merge that conflicts is
aborted (``git merge --abort``) and refused, leaving the repository as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConductorError
from .git import GitError, run_git
from ..worktree.record import WorktreeRecord


@dataclass(frozen=True)
class MergePlan:
    """What a merge would do: ``kind`` is ``fast-forward``, ``merge`` (a merge commit) or
    ``nothing`` (no commits on the branch beyond the base); ``checkout`` is the worktree that
    has the base branch checked out ("" when none has: only its ref moves)."""
    kind: str
    base_branch: str
    branch: str
    commits: int
    checkout: str
    uncommitted: int

    def question(self) -> str:
        """The confirmation dialog's words."""
        if self.kind == "nothing":
            return f"{self.branch} has no commits beyond {self.base_branch}: nothing to merge."
        how = ("fast-forward (no merge commit)" if self.kind == "fast-forward"
               else "merge commit (the base has moved on)")
        words = (f"Merge {self.branch} ({self.commits} commit{'s' if self.commits != 1 else ''}) "
                 f"into {self.base_branch}?\nThis is a {how}.")
        if self.uncommitted:
            words += (f"\n{self.uncommitted} uncommitted change(s) in the task's worktree are "
                      "not merged (only commits are).")
        return words


def _out(repo: str, args: list[str], ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    code, out = run_git(repo, args, ok=ok)
    return code, out.decode("utf-8", "replace").strip()


def _worktrees(repo: str) -> dict[str, str]:
    """Each registered worktree's realpath -> its branch ref ("" when detached)."""
    _, out = _out(repo, ["worktree", "list", "--porcelain"])
    found: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        if line.startswith("worktree "):
            current = os.path.realpath(line[len("worktree "):])
            found[current] = ""
        elif line.startswith("branch ") and current:
            found[current] = line[len("branch "):]
    return found


def check_worktree(record: WorktreeRecord) -> dict[str, str]:
    """Refuse unless git says the record's worktree belongs to its repository and has its
    branch checked out; the repository's worktrees (realpath -> branch ref)."""
    if not os.path.isdir(record.repo):
        raise ConductorError(f"{record.file}: repo: not a directory: {record.repo}")
    trees = _worktrees(record.repo)
    main = next(iter(trees), "")
    where = os.path.realpath(record.path)
    if where == main:
        raise ConductorError(f"{record.file}: path: {record.path} is the repository's main "
                             "working tree, not a task's worktree")
    if where in trees and trees[where] != f"refs/heads/{record.branch}":
        raise ConductorError(f"{record.file}: branch: the worktree {record.path} has "
                             f"{trees[where] or 'a detached HEAD'} checked out, not {record.branch}")
    if where not in trees and os.path.exists(record.path):
        raise ConductorError(f"{record.file}: path: {record.path} is not a worktree of "
                             f"{record.repo}")
    return trees


def _base_branch(record: WorktreeRecord) -> str:
    ref = record.base_ref
    if ref and ref != "HEAD":
        code, _ = _out(record.repo, ["show-ref", "--verify", "-q", f"refs/heads/{ref}"],
                       ok=(0, 1))
        if code == 0:
            return ref
        if ref.startswith("refs/heads/"):
            return ref[len("refs/heads/"):]
    code, head = _out(record.repo, ["symbolic-ref", "-q", "--short", "HEAD"], ok=(0, 1))
    if code != 0 or not head:
        raise ConductorError(f"{record.repo}: the base {ref or 'HEAD'} is not a branch "
                             "(a detached HEAD): nothing to merge into")
    return head


def _uncommitted(path: str) -> int:
    if not os.path.isdir(path):
        return 0
    _, out = _out(path, ["status", "--porcelain", "-z", "--untracked-files=all"])
    return len([e for e in out.split("\0") if e.strip()])


def plan_merge(record: WorktreeRecord) -> MergePlan:
    trees = check_worktree(record)
    base = _base_branch(record)
    if base == record.branch:
        raise ConductorError(f"{record.file}: base_ref: the base is the task's own branch")
    _, count = _out(record.repo, ["rev-list", "--count", f"refs/heads/{base}..refs/heads/"
                                  f"{record.branch}"])
    commits = int(count or 0)
    code, _ = _out(record.repo, ["merge-base", "--is-ancestor", f"refs/heads/{base}",
                                 f"refs/heads/{record.branch}"], ok=(0, 1))
    kind = "nothing" if commits == 0 else ("fast-forward" if code == 0 else "merge")
    checkout = next((path for path, ref in trees.items() if ref == f"refs/heads/{base}"), "")
    return MergePlan(kind, base, record.branch, commits, checkout, _uncommitted(record.path))


def merge_branch(record: WorktreeRecord, expected: str | None = None) -> MergePlan:
    """Merge the task's branch into its base as :func:`plan_merge` says; ``expected`` is the
    kind the operator confirmed (refused when it changed meanwhile). Conflicts: aborted,
    refused, the repository left as it was."""
    plan = plan_merge(record)
    if expected is not None and plan.kind != expected:
        raise ConductorError(f"merge: {record.branch} would now be a {plan.kind}, not the "
                             f"{expected} confirmed: look again")
    if plan.kind == "nothing":
        raise ConductorError(plan.question())
    message = f"Merge branch '{record.branch}' into {plan.base_branch}"
    if plan.checkout:
        _merge_checked_out(record, plan, message)
    else:
        _merge_ref(record, plan, message)
    return plan


def _merge_checked_out(record: WorktreeRecord, plan: MergePlan, message: str) -> None:
    where = plan.checkout
    _, dirty = _out(where, ["status", "--porcelain", "-z", "--untracked-files=no"])
    if dirty:
        raise ConductorError(f"merge: {where} (where {plan.base_branch} is checked out) has "
                             "uncommitted changes: commit or stash them first")
    how = ["--ff-only"] if plan.kind == "fast-forward" else ["--no-ff", "--no-edit", "-m", message]
    try:
        run_git(where, ["merge", *how, f"refs/heads/{record.branch}"])
    except GitError as exc:
        if _abort(where):
            raise ConductorError(f"merge refused: {record.branch} does not merge cleanly into "
                                 f"{plan.base_branch} ({exc.detail}); the repository is "
                                 "unchanged") from None
        raise ConductorError(f"merge failed: {exc}") from None


def _abort(where: str) -> bool:
    """``git merge --abort`` when a merge stopped half-way; whether one had."""
    code, _ = run_git(where, ["rev-parse", "-q", "--verify", "MERGE_HEAD"], ok=(0, 1))
    if code == 0:
        run_git(where, ["merge", "--abort"])
    return code == 0


def _merge_ref(record: WorktreeRecord, plan: MergePlan, message: str) -> None:
    """No worktree has the base checked out: move its ref (a merge commit made with
    ``merge-tree``, so no working tree is touched)."""
    repo = record.repo
    _, old = _out(repo, ["rev-parse", "--verify", f"refs/heads/{plan.base_branch}^{{commit}}"])
    _, new = _out(repo, ["rev-parse", "--verify", f"refs/heads/{record.branch}^{{commit}}"])
    if plan.kind == "merge":
        code, tree = _out(repo, ["merge-tree", "--write-tree", "--no-messages", old, new],
                          ok=(0, 1))
        if code != 0:
            raise ConductorError(f"merge refused: {record.branch} does not merge cleanly into "
                                 f"{plan.base_branch} (conflicts); the repository is unchanged")
        _, new = _out(repo, ["commit-tree", tree.splitlines()[0], "-p", old, "-p", new,
                             "-m", message])
    run_git(repo, ["update-ref", "-m", message, f"refs/heads/{plan.base_branch}", new, old])


def discard(record: WorktreeRecord) -> None:
    """Remove the task's worktree (its uncommitted changes with it) and delete its branch."""
    trees = check_worktree(record)
    where = os.path.realpath(record.path)
    if where in trees:
        run_git(record.repo, ["worktree", "remove", "--force", "--force", record.path])
    else:
        run_git(record.repo, ["worktree", "prune"])
    code, _ = _out(record.repo, ["show-ref", "--verify", "-q", f"refs/heads/{record.branch}"],
                   ok=(0, 1))
    if code == 0:
        run_git(record.repo, ["branch", "-D", record.branch])
