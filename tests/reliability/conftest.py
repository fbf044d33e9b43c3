"""Fixtures for the reliability suite: real processes, and a check that none outlives its test.

Every process a test starts carries ``CONDUCTOR_RELIABILITY_TAG=<unique>`` in its environment,
and agents and their children inherit it. After the test, any live (non-zombie) process with
that tag is killed and the test fails: a fault test must leave nothing running that nobody owns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import psutil
import pytest

from conductor.store import read_run_info
from waiting import wait_for  # noqa: F401  (the reliability tests import it from here)

TAG_VAR = "CONDUCTOR_RELIABILITY_TAG"
PROJECT = "proj"
TASK = "task-20260220-153045-reliable"


def tagged_processes(tag: str) -> list[psutil.Process]:
    """Live processes (not zombies, not us) whose environment carries ``tag``."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(TAG_VAR) == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Rig:
    """Stub agents on PATH, a runs root, and process bookkeeping for one test."""

    def __init__(self, stubs, tmp_path) -> None:
        self.stubs = stubs
        self.tag = uuid.uuid4().hex
        self.env = dict(stubs.env, **{TAG_VAR: self.tag})
        self.root = stubs.root
        self.base = tmp_path
        self.logs = tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)
        self._count = 0

    def run(self, *args, timeout=60, env=None, input=None):
        return subprocess.run([sys.executable, "-m", "conductor", *args], env=env or self.env,
                              cwd=str(self.base), capture_output=True, text=True, timeout=timeout,
                              input=input)

    def spawn(self, *args, env=None) -> subprocess.Popen:
        """`run-agent ARGS` in a session of its own, output to files under logs/."""
        self._count += 1
        out = open(self.logs / f"{self._count}.out", "wb")
        err = open(self.logs / f"{self._count}.err", "wb")
        try:
            return subprocess.Popen([sys.executable, "-m", "conductor", *args], env=env or self.env,
                                    cwd=str(self.base), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True)
        finally:
            out.close()
            err.close()

    def task_dir(self, task: str = TASK) -> str:
        return os.path.join(self.root, PROJECT, task)

    def run_infos(self, task: str = TASK):
        runs = os.path.join(self.task_dir(task), "runs")
        out = []
        for name in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
            path = os.path.join(runs, name, "run-info.yaml")
            if os.path.exists(path):
                out.append((path, read_run_info(path)))
        return out

    def live(self) -> list[psutil.Process]:
        return tagged_processes(self.tag)




def pid_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def rig(stubs, tmp_path):
    r = Rig(stubs, tmp_path)
    yield r
    left = r.live()
    described = []
    for proc in left:
        try:
            described.append(f"{proc.pid} {' '.join(proc.cmdline()[:5])}")
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    assert not left, "processes left running: " + "; ".join(described)
