"""Real git, run with a timeout; a failure is one :class:`GitError` line."""

from __future__ import annotations

import os
import subprocess

from ..errors import ConductorError

GIT_TIMEOUT = 60.0


class GitError(ConductorError):
    pass


def git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password on a terminal
    env.setdefault("LC_ALL", "C")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # an agent's leftovers
        env.pop(key, None)
    return env


def git(cwd: str, *args: str, check: bool = True, timeout: float = GIT_TIMEOUT) -> str:
    """stdout of ``git -C cwd args`` (stripped of its final newline); a non-zero exit is a
    :class:`GitError` carrying git's first line on stderr."""
    try:
        proc = subprocess.run(["git", "-C", cwd, *args], stdin=subprocess.DEVNULL,
                              capture_output=True, env=git_env(), timeout=timeout)
    except FileNotFoundError:
        raise GitError("git: not found in PATH (install git)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]}: no answer within {timeout:g}s") from None
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]}: {first_line(proc.stderr) or f'exit status {proc.returncode}'}")
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def ok(cwd: str, *args: str) -> bool:
    try:
        proc = subprocess.run(["git", "-C", cwd, *args], stdin=subprocess.DEVNULL,
                              capture_output=True, env=git_env(), timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        line = " ".join(line.split())
        if line:
            return line.removeprefix("fatal: ").removeprefix("error: ")[:300]
    return ""
