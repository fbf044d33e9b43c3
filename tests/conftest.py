"""Shared fixtures: a clean environment and the path of the source tree for subprocesses."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import settings

# CI (which sets CI=true) runs the property tests on the same examples every time, with no
# per-example deadline (a loaded runner is slow, not wrong), and prints the blob that
# reproduces a failure. Examples found failing once stay as @example on their tests. The
# profile is loaded here, before the test modules build their own settings(...) from it.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# `run-agent task` runs its supervisor in this process throughout the suite (tests pin the pid
# of the process they started); tests/supervise turns the fork server on where it tests it.
os.environ["CONDUCTOR_FORKSERVER"] = "0"

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


@pytest.fixture(autouse=True)
def _sigpipe_ignored():
    """The CLI's ``main()`` sets SIGPIPE to its default (a CLI piped into ``head`` should die
    quietly); tests that call it in-process would leave that in pytest's own process, where a
    write to a closed pipe or socket (an event loop's self-pipe at shutdown, say) then kills the
    whole session. After each test SIGPIPE is ignored again, as a fresh interpreter has it."""
    import signal
    yield
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for child Python processes: our package importable, no JRUN_* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["CONDUCTOR_FORKSERVER"] = "0"
    env["HOME"] = str(tmp_path / "home")
    os.makedirs(env["HOME"], exist_ok=True)
    return env


@pytest.fixture
def runs_root(tmp_path) -> str:
    """An empty runs root (``<tmp>/runs``)."""
    path = tmp_path / "runs"
    path.mkdir()
    return str(path)


@pytest.fixture
def python() -> str:
    return sys.executable


STUB_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "stub_agent.py")


class Stubs:
    """A temporary PATH with stub `claude`, `codex`, `gemini` and a runs root beside it."""

    def __init__(self, base, env):
        self.base = base
        self.bin = str(base / "bin")
        self.root = str(base / "runs")
        self.record = str(base / "record")
        os.makedirs(self.bin, exist_ok=True)
        source = open(STUB_SOURCE).read()
        for name in ("claude", "codex", "gemini"):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write(f"#!{sys.executable}\n" + source)  # stub_<name>.py found via STUB_FIXTURES
            os.chmod(path, 0o755)
        venv_bin = os.path.dirname(sys.executable)
        self.env = dict(env)
        self.env["PATH"] = os.pathsep.join([self.bin, venv_bin, env.get("PATH", "/usr/bin:/bin")])
        self.env["STUB_RECORD"] = self.record
        self.env["STUB_FIXTURES"] = os.path.dirname(STUB_SOURCE)

    def run(self, *args, timeout=120, env=None, cwd=None, input=None):
        import subprocess
        return subprocess.run([sys.executable, "-m", "conductor", *args], env=env or self.env,
                              cwd=cwd or str(self.base), capture_output=True, text=True,
                              timeout=timeout, input=input)

    def records(self):
        import json
        out = []
        if os.path.isdir(self.record):
            for name in sorted(os.listdir(self.record)):
                with open(os.path.join(self.record, name)) as f:
                    out.append(json.load(f))
        return out


@pytest.fixture
def stubs(tmp_path, subprocess_env):
    return Stubs(tmp_path, subprocess_env)
