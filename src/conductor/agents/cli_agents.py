"""Helpers every CLI backend shares: the run-info `commandline`, binary lookup, the version probe.

The prompt always reaches the agent on stdin from prompt.md (spec 7.1); the runner does the
spawning. What each type runs is its backend's (:mod:`conductor.agents.registry`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Sequence

from conductor.agents.base import AgentError

VERSION_TIMEOUT = 30.0
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def commandline(argv: Sequence[str], prompt_path: str | os.PathLike[str]) -> str:
    """The `commandline` field of run-info.yaml: `<argv joined by space> < <abs prompt.md>`."""
    return " ".join(argv) + " < " + os.path.abspath(os.fspath(prompt_path))


def resolve_binary(agent_name: str, binary: str, path: str | None = None) -> str:
    """The absolute path of an agent's executable, or one clear line saying it is missing."""
    found = shutil.which(binary, path=path)
    if not found:
        raise AgentError(f'agent "{agent_name}": binary "{binary}" not found in PATH')
    return os.path.abspath(found)


def detect_version(binary: str, timeout: float = VERSION_TIMEOUT,
                   env: dict[str, str] | None = None) -> str:
    """`<binary> --version`: trimmed stdout, else trimmed stderr; "" when it cannot be run, fails
    or takes longer than ``timeout`` (a slow probe is not a missing program: gemini's takes
    5-16 s on a loaded machine). ``env``: the backend's variables for the program (gemini's
    GEMINI_CLI_NO_RELAUNCH saves one node start here too)."""
    try:
        done = subprocess.run([binary, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.SubprocessError, ValueError):
        return ""
    if done.returncode != 0:
        return ""
    out = done.stdout.decode("utf-8", "replace").strip()
    return out or done.stderr.decode("utf-8", "replace").strip()


def parse_version(text: str) -> tuple[int, int, int] | None:
    """The first `v?X.Y.Z` in a version string, or None when there is none."""
    match = _VERSION_RE.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def version_is_compatible(version: str, minimum: str | None) -> bool:
    """Below-minimum versions only warn upstream; unparsable versions count as compatible."""
    have, need = parse_version(version), parse_version(minimum or "")
    return have is None or need is None or have >= need
