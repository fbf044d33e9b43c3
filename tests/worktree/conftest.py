"""Real git repositories in temporary dirs, a command agent, and `run-agent` run as a user
runs it (a subprocess), for the worktree tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROJECT = "proj"
TASK_A = "task-20261130-120000-alpha"
TASK_B = "task-20261130-120001-beta"

# the agent: writes a file named after its task where it runs (its cwd), says where that
# was, and ends the task
AGENT = """#!/bin/sh
cat >/dev/null
echo "written by $JRUN_TASK_ID" > "file-$JRUN_TASK_ID.txt"
pwd > "$JRUN_TASK_FOLDER/agent-cwd.txt"
touch "$JRUN_TASK_FOLDER/DONE"
echo ok
"""


class Env:
    def __init__(self, tmp_path, subprocess_env) -> None:
        self.tmp = tmp_path
        self.root = str(tmp_path / "runs")
        self.worktrees = str(tmp_path / "worktrees")
        self.repo = str(tmp_path / "repo")
        home = str(tmp_path / "home")
        self.env = dict(subprocess_env, HOME=home, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@x",
                        GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@x",
                        GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
        self.env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                            self.env.get("PATH", "/usr/bin:/bin")])
        os.makedirs(home, exist_ok=True)
        os.makedirs(self.repo)
        self.git("init", "-q", "-b", "main")
        with open(os.path.join(self.repo, "README"), "w") as f:
            f.write("hello\n")
        self.git("add", "README")
        self.git("commit", "-q", "-m", "first")
        self.agent = str(tmp_path / "agent.sh")
        with open(self.agent, "w") as f:
            f.write(AGENT)
        os.chmod(self.agent, 0o755)
        self.config = str(tmp_path / "config.yaml")
        self.write_config("")

    def write_config(self, extra: str, agents: str = "") -> None:
        with open(self.config, "w") as f:
            f.write(f"agents:\n  sh:\n    type: command\n    command: [{self.agent}]\n"
                    f"{agents}storage:\n  runs_dir: {self.root}\n{extra}")

    def git(self, *args: str, cwd: str | None = None) -> str:
        out = subprocess.run(["git", *args], cwd=cwd or self.repo, env=self.env,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def run(self, *args: str, cwd: str | None = None, timeout: float = 120):
        return subprocess.run([sys.executable, "-m", "conductor", *args], env=self.env,
                              cwd=cwd or self.repo, capture_output=True, text=True,
                              timeout=timeout)

    def task(self, task: str, *extra: str, cwd: str | None = None):
        return self.run("task", "--root", self.root, "--config", self.config, "--agent", "sh",
                        "--project", PROJECT, "--task", task, "--prompt", "do it",
                        "--restart-delay", "0", *extra, cwd=cwd)

    def task_dir(self, task: str) -> str:
        return os.path.join(self.root, PROJECT, task)

    def worktree(self, task: str) -> str:
        return os.path.join(self.worktrees, PROJECT, task)


@pytest.fixture
def wt(tmp_path, subprocess_env) -> Env:
    return Env(tmp_path, subprocess_env)
