"""Real git repositories in temporary dirs, with a fixed identity and clock (so commit ids are
the same on every run) and a HOME of their own (no user config)."""

from __future__ import annotations

import json
import os
import subprocess

ENV = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
       "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com",
       "GIT_AUTHOR_DATE": "2026-06-21T00:00:00Z", "GIT_COMMITTER_DATE": "2026-06-21T00:00:00Z",
       "GIT_CONFIG_NOSYSTEM": "1"}


def git_identity(monkeypatch, home: str) -> None:
    """What the code under test inherits: this identity, this HOME, no system config."""
    os.makedirs(home, exist_ok=True)
    monkeypatch.setenv("HOME", home)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def git(repo: str, *args: str) -> str:
    done = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                          env={**os.environ, **ENV}, check=False)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout


def write(repo: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = os.path.join(repo, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)


def commit(repo: str, files: dict[str, str], message: str) -> str:
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(path: str, files: dict[str, str] | None = None) -> str:
    os.makedirs(path, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    commit(path, files or {"README.md": "hello\n", "src/app.py": "a = 1\nb = 2\nc = 3\n"},
           "first")
    return path


def add_worktree(repo: str, path: str, branch: str, task_dir: str | None = None) -> dict:
    """A worktree on a new branch at HEAD, and (with ``task_dir``) its WORKTREE.json."""
    git(repo, "worktree", "add", "-q", "-b", branch, path, "HEAD")
    record = {"repo": repo, "path": path, "branch": branch, "base_ref": "main",
              "base_commit": git(repo, "rev-parse", "HEAD").strip(),
              "created_at": "2026-06-21T00:00:00Z"}
    if task_dir is not None:
        os.makedirs(task_dir, exist_ok=True)
        with open(os.path.join(task_dir, "WORKTREE.json"), "w") as fh:
            json.dump(record, fh)
    return record
