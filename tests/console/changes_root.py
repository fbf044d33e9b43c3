"""A runs root whose tasks have git working dirs: one task on its own worktree (committed,
uncommitted and untracked changes), one run in a plain repository, one outside git."""

from __future__ import annotations

import os
import time

from conductor.store import Layout

from vcs.gitrepo import add_worktree, commit, git_identity, make_repo, write

from .fixed_root import write_run, write_task

WT_TASK = "task-20260621-000000-fix-login"
DIR_TASK = "task-20260621-000100-plain-repo"
NOGIT_TASK = "task-20260621-000200-no-git"
RUN = "20260621-0000000000-101-0001"
RUN2 = "20260621-0001000000-201-0001"
RUN3 = "20260621-0002000000-301-0001"


def _set_cwd(run_dir: str, cwd: str) -> None:
    path = os.path.join(run_dir, "run-info.yaml")
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:
        fh.write(text.replace("cwd: /work/project", f"cwd: {cwd}"))


def build_changes_root(tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    git_identity(monkeypatch, str(tmp_path / "home"))
    repo = make_repo(str(tmp_path / "repo"))
    layout = Layout(str(tmp_path / "runs"))
    task_dir = write_task(layout, "webapp", WT_TASK, "Fix the login bug.")
    write_run(layout, "webapp", WT_TASK, RUN, status="completed", start_s=0, end_s=120,
              exit_code=0)
    wt = str(tmp_path / "worktrees" / "fix-login")
    add_worktree(repo, wt, "conductor/fix-login", task_dir)
    commit(wt, {"src/app.py": "a = 1\nb = 20\nc = 3\nd = 4\n"}, "agent: fix b")
    write(wt, {"README.md": "hello\nworld\n", "notes.txt": "check the session timeout\n"})

    plain = make_repo(str(tmp_path / "plain"), {"main.go": "package main\n"})
    write(plain, {"main.go": "package main\n\nfunc main() {}\n"})
    write_task(layout, "webapp", DIR_TASK, "Tidy up.")
    _set_cwd(write_run(layout, "webapp", DIR_TASK, RUN2, status="completed", start_s=60,
                       end_s=90, exit_code=0), plain)
    outside = tmp_path / "outside"
    outside.mkdir()
    write_task(layout, "webapp", NOGIT_TASK, "Nothing in git.")
    _set_cwd(write_run(layout, "webapp", NOGIT_TASK, RUN3, status="completed", start_s=70,
                       end_s=80, exit_code=0), str(outside))
    return {"root": layout.root, "layout": layout, "repo": repo, "wt": wt, "plain": plain,
            "outside": str(outside), "task_dir": task_dir}
