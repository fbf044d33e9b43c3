"""Create a task's worktree (once), and remove it on an explicit delete or archive.

The task runs on branch ``conductor/<task-id>`` in ``<dir>/<project>/<task-id>``, a worktree
of the repository of the working dir it was started from, at HEAD or a named base. Removal
touches nothing but that worktree and that branch, and refuses while the branch has commits
its base does not have (or the worktree has uncommitted changes) unless forced.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

from ..errors import ConductorError, UsageError
from ..store import safefs
from . import git as g
from .record import WorktreeRecord, branch_for, read_record, record_path, write_record

SETUP_LOG = "WORKTREE-SETUP.log"
DEFAULT_SETUP_TIMEOUT = 600.0
WORKTREES_DIR = "worktrees"


@dataclass
class WorktreeSettings:
    """What a start needs to create a worktree: the config's ``worktree:`` section with the
    command line's ``--base`` applied."""
    source: str                      # the working dir whose repository is used
    base: str = ""                   # "" is HEAD
    dir: str = ""                    # "" is <dirname(runs root)>/worktrees
    setup: list[str] = field(default_factory=list)
    setup_timeout: float = DEFAULT_SETUP_TIMEOUT
    copy: list[str] = field(default_factory=list)


class WorktreeError(ConductorError):
    pass


class RemovalRefused(WorktreeError):
    """The branch has work its base has not: removing it would lose it (``force`` does)."""


def worktrees_dir(root: str, configured: str = "") -> str:
    """``configured``, else a ``worktrees`` dir beside the runs root."""
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    return os.path.join(os.path.dirname(os.path.abspath(root)), WORKTREES_DIR)


def check_base(base: str) -> str:
    """A base ref as given: not an option for git, one line of printable text."""
    if base.startswith("-") or any(not ch.isprintable() or ch.isspace() for ch in base):
        raise UsageError(f"--base: {base!r} is not a git ref")
    return base


CLI_HINT = "start the task from a git working dir, or give --cwd"


def repo_top(source: str, hint: str = CLI_HINT) -> str:
    """The top level of the git working tree ``source`` is in; a dir that is not in one is a
    one-line UsageError (ending with ``hint``)."""
    source = os.path.abspath(source)
    if not os.path.isdir(source):
        raise UsageError(f"--worktree: {source}: not a directory")
    try:
        top = g.git(source, "rev-parse", "--show-toplevel")
    except g.GitError:
        raise UsageError(f"--worktree: {source} is not in a git repository ({hint})") from None
    if not top:
        raise UsageError(f"--worktree: {source} is not in a git working tree")
    return os.path.abspath(top)


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ensure_worktree(root: str, project: str, task: str, task_dir: str,
                    settings: WorktreeSettings | None, *,
                    note=lambda text: None) -> WorktreeRecord | None:
    """The task's worktree: the recorded one (reused by a restart or resume), else a new one
    when ``settings`` asks for it, else None. ``note`` gets one-line remarks for the bus."""
    record = read_record(task_dir)
    if record is not None:
        if record.branch != branch_for(task):
            raise WorktreeError(f"{record_path(task_dir)}: branch: {record.branch} is not "
                                f"this task's ({branch_for(task)})")
        if not os.path.isdir(record.path):
            record = _recreate(record, task_dir)
            note(f"worktree re-created at {record.path} (branch {record.branch})")
        return record
    if settings is None:
        return None
    return create_worktree(root, project, task, task_dir, settings, note=note)


def create_worktree(root: str, project: str, task: str, task_dir: str,
                    settings: WorktreeSettings, *, note=lambda text: None) -> WorktreeRecord:
    top = repo_top(settings.source)
    base_ref = check_base(settings.base or "HEAD")
    try:
        commit = g.git(top, "rev-parse", "--verify", "--quiet", base_ref + "^{commit}")
    except g.GitError:
        raise WorktreeError(f"--base: {base_ref}: no such commit in {top}") from None
    branch = branch_for(task)
    g.git(top, "check-ref-format", "refs/heads/" + branch)
    path = os.path.join(worktrees_dir(root, settings.dir), project, task)
    if os.path.lexists(path):
        raise WorktreeError(f"worktree path {path} exists already; not using it")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    g.git(top, "worktree", "add", "--quiet", "-b", branch, path, commit)
    record = WorktreeRecord(repo=top, path=path, branch=branch, base_ref=base_ref,
                            base_commit=commit, created_at=_now_rfc3339())
    try:
        for line in copy_files(settings.source, top, path, settings.copy):
            note(line)
        if settings.setup:
            run_setup(settings.setup, path, task_dir, settings.setup_timeout,
                      {"CONDUCTOR_PROJECT_ID": project, "CONDUCTOR_TASK_ID": task,
                       "CONDUCTOR_WORKTREE": path, "CONDUCTOR_SOURCE_DIR": settings.source})
        write_record(task_dir, record)
    except BaseException:
        # nothing of the task has run there: take the new worktree and branch away again,
        # so the next start tries afresh
        g.ok(top, "worktree", "remove", "--force", path)
        g.ok(top, "branch", "-D", branch)
        raise
    return record


def _recreate(record: WorktreeRecord, task_dir: str) -> WorktreeRecord:
    """The recorded worktree dir is gone (removed by hand): add it again on its branch (or,
    when the branch is gone too, a new branch at the recorded base commit)."""
    top = record.repo
    if not g.ok(top, "rev-parse", "--git-dir"):
        raise WorktreeError(f"{record_path(task_dir)}: repo: {top} is not a git repository "
                            "any more")
    g.ok(top, "worktree", "prune")
    os.makedirs(os.path.dirname(record.path), exist_ok=True)
    if g.ok(top, "rev-parse", "--verify", "--quiet", "refs/heads/" + record.branch):
        g.git(top, "worktree", "add", "--quiet", record.path, record.branch)
    else:
        g.git(top, "worktree", "add", "--quiet", "-b", record.branch, record.path,
              record.base_commit)
    return record


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def copy_files(source: str, top: str, worktree: str, paths: list[str]) -> list[str]:
    """Copy each relative path from the source working dir to the same place in the worktree;
    a path that leaves the repository is refused (one line), a missing one is noted."""
    notes = []
    source = os.path.abspath(source)
    sub = os.path.relpath(source, top)
    real_top = os.path.realpath(top)
    for rel in paths:
        src = os.path.normpath(os.path.join(source, rel))
        if os.path.isabs(rel) or not _inside(src, top) \
                or not _inside(os.path.realpath(src), real_top) or src == top:
            raise WorktreeError(f"worktree.copy: {rel}: leaves the repository {top}; not copying it")
        dst = os.path.normpath(os.path.join(worktree, sub, rel))
        if not os.path.lexists(src):
            notes.append(f"worktree.copy: {rel}: not found in {source}; skipped")
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            if os.path.isdir(src):
                shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dst)
        except OSError as exc:
            raise WorktreeError(f"worktree.copy: {rel}: {safefs.reason(exc)}") from None
        notes.append(f"worktree.copy: copied {rel}")
    return notes


def run_setup(argv: list[str], cwd: str, task_dir: str, timeout: float,
              extra_env: dict[str, str]) -> None:
    """Run the setup command in the new worktree (its output to WORKTREE-SETUP.log in the
    task dir); a non-zero exit or a timeout (its process group killed) is one error line."""
    root = safefs.above(task_dir, 2)
    log_path = os.path.join(task_dir, SETUP_LOG)
    log = safefs.open_append(root, log_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JRUN_")}
    env.update(extra_env)
    try:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True, close_fds=True)
        except OSError as exc:
            raise WorktreeError(f"worktree.setup: {argv[0]}: {safefs.reason(exc)}") from None
    finally:
        os.close(log)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        raise WorktreeError(f"worktree.setup: {argv[0]}: killed after the timeout of "
                            f"{timeout:g}s (output in {log_path})") from None
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        raise WorktreeError(f"worktree.setup: {argv[0]}: {how} (output in {log_path})")


# ----------------------------------------------------------------------------- removal

def _registered(record: WorktreeRecord) -> bool:
    """The record's path is a worktree of its repository on its branch (as git lists it)."""
    try:
        listing = g.git(record.repo, "worktree", "list", "--porcelain")
    except g.GitError:
        return False
    want_path = os.path.realpath(record.path)
    current = None
    for line in listing.splitlines() + [""]:
        if line.startswith("worktree "):
            current = os.path.realpath(line[len("worktree "):])
        elif line == "branch refs/heads/" + record.branch and current == want_path:
            return True
    return False


def _branch_exists(record: WorktreeRecord) -> bool:
    return g.ok(record.repo, "rev-parse", "--verify", "--quiet", "refs/heads/" + record.branch)


def unmerged(record: WorktreeRecord) -> str:
    """Why removing the worktree would lose work ("" when it would not): commits of the branch
    its base (the base ref now, else the base commit) does not have, uncommitted changes."""
    problems = []
    if _branch_exists(record):
        base = record.base_commit
        try:
            base = g.git(record.repo, "rev-parse", "--verify", "--quiet",
                         record.base_ref + "^{commit}")
        except g.GitError:
            pass
        count = g.git(record.repo, "rev-list", "--count", f"{base}..refs/heads/{record.branch}")
        if count.strip() not in ("", "0"):
            n = int(count)
            problems.append(f"{n} commit{'s' if n != 1 else ''} not merged into "
                            f"{record.base_ref}")
    if os.path.isdir(record.path) and _registered(record):
        status = g.git(record.path, "status", "--porcelain", "--untracked-files=normal")
        if status.strip():
            problems.append("uncommitted changes")
    return " and ".join(problems)


def removal_problem(task_dir: str, task: str) -> str:
    """What a delete or archive must refuse for (without force): "" when nothing."""
    record = read_record(task_dir)
    if record is None:
        return ""
    _check_owned(record, task_dir, task)
    if not g.ok(record.repo, "rev-parse", "--git-dir"):
        return ""
    problem = unmerged(record)
    if problem:
        return (f"its worktree branch {record.branch} has {problem}; merge it or use --force "
                f"to delete them anyway")
    return ""


def _check_owned(record: WorktreeRecord, task_dir: str, task: str) -> None:
    if record.branch != branch_for(task):
        raise WorktreeError(f"{record_path(task_dir)}: branch: {record.branch} is not this "
                            f"task's ({branch_for(task)}); not removing it")


def remove_worktree(task_dir: str, task: str, *, force: bool = False) -> str:
    """Remove the task's worktree and its branch ("" when it has none; else what was done).
    Refuses (:class:`RemovalRefused`) while the branch has unmerged work, unless ``force``.
    Only that worktree (as git lists it, on that branch) and that branch are touched."""
    record = read_record(task_dir)
    if record is None:
        return ""
    _check_owned(record, task_dir, task)
    if not g.ok(record.repo, "rev-parse", "--git-dir"):
        return f"worktree: repository {record.repo} is gone; nothing removed"
    if not force:
        problem = removal_problem(task_dir, task)
        if problem:
            raise RemovalRefused(f"task {task}: {problem}")
    done = []
    if _registered(record):
        g.git(record.repo, "worktree", "remove", "--force", record.path)
        done.append(f"worktree {record.path}")
    else:
        g.ok(record.repo, "worktree", "prune")
    if _branch_exists(record):
        g.git(record.repo, "branch", "-D", record.branch)
        done.append(f"branch {record.branch}")
    return "Removed " + " and ".join(done) if done else ""
