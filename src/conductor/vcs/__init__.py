"""What an agent changed in a git working dir: the files since a base commit, their diff
(paged, never loaded whole), and the two ends of a task's branch: merge into its base, discard.

Data layer: no Textual. Every git call goes through :func:`conductor.vcs.git.run_git` (the real
``git``, argv only, a timeout, hooks, external diff drivers and fsmonitor off). A task's
``WORKTREE.json`` is read (and checked) by :mod:`conductor.worktree.record`, its one reader.
"""

from conductor.lazymod import lazy_names

_WHERE = {
    "GitError": "git", "run_git": "git",
    "ChangeTarget": "changes", "FileChange": "changes", "DiffPage": "changes",
    "resolve_target": "changes", "changed_files": "changes", "diff_page": "changes",
    "review_message": "changes",
    "MergePlan": "merge", "plan_merge": "merge", "merge_branch": "merge", "discard": "merge",
}

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
__all__ = sorted(_WHERE)
