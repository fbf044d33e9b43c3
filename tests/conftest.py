"""Shared fixtures: a clean environment and the path of the source tree for subprocesses."""

from __future__ import annotations

import os
import sys

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for child Python processes: our package importable, no JRUN_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["HOME"] = str(tmp_path / "home")
    os.makedirs(env["HOME"], exist_ok=True)
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
