"""Helpers for the demo tests: a runs root with the sim config, the real run-agent, clean-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from conductor.demo import write_demo_config
from conductor.store.supervision import loop_alive
from waiting import wait_for as _wait_for

PROJECT = "demo"
SPEED = "0.05"


def run_agent_argv() -> list[str]:
    """The installed ``run-agent`` next to this interpreter, else the module."""
    found = shutil.which("run-agent", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "conductor"]


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    return _wait_for(predicate, timeout, interval, what)


class DemoRoot:
    """A runs root with the sim config; stops every task it knows of when the test ends."""

    def __init__(self, tmp_path, env: dict[str, str]) -> None:
        self.root = str(tmp_path / "runs")
        os.makedirs(self.root)
        self.config = write_demo_config(str(tmp_path / "demo-config.yaml"), speed=None)
        self.env = dict(env, CONDUCTOR_SIM_SPEED=SPEED)
        self.tasks: set[str] = set()
        self.procs: list[subprocess.Popen] = []

    def task_dir(self, task: str) -> str:
        return os.path.join(self.root, PROJECT, task)

    def task_argv(self, task: str, prompt: str) -> list[str]:
        self.tasks.add(task)
        return run_agent_argv() + ["task", "--root", self.root, "--project", PROJECT, "--task",
                                   task, "--config", self.config, "--agent", "sim",
                                   "--restart-delay", "100ms", "--prompt", prompt]

    def run_task(self, task: str, prompt: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.task_argv(task, prompt), env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start_task(self, task: str, prompt: str) -> subprocess.Popen:
        proc = subprocess.Popen(self.task_argv(task, prompt), env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(run_agent_argv() + list(args), env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def stop_all(self) -> None:
        for task in sorted(self.tasks):
            if os.path.isdir(self.task_dir(task)) and loop_alive(self.task_dir(task)):
                self.cli("task", "stop", "--project", PROJECT, "--task", task, "--root",
                         self.root, "--force", "--grace", "2s")
        for proc in self.procs:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        for task in sorted(self.tasks):
            if os.path.isdir(self.task_dir(task)):
                wait_until(lambda: not loop_alive(self.task_dir(task)), 30,
                           what=f"the loop of {task} to end")
