"""End to end: the real `conductor` command in tmux, driven by keys, read from the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conductor.runner.supervisor import loop_alive

from .live import stop_everything, wait_for, write_agent

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


class Tmux:
    """One private tmux server (its own socket), so nothing else is touched."""

    def __init__(self, name: str) -> None:
        self.socket = f"conductor-test-{os.getpid()}-{name}"
        self.session = "console"

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                             timeout=30)
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {args}: {out.stderr}")
        return out.stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", self.session, "-x", "160", "-y", "45", command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def text(self, *text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", *text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session, check=False)

    def wait_screen(self, needle: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if needle in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared; screen:\n{screen}")
            time.sleep(0.2)

    def pane_pid(self) -> int:
        return int(self.run("list-panes", "-t", self.session, "-F", "#{pane_pid}").split()[0])

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def e2e(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    config, _ = write_agent(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PYTHONPATH": os.path.abspath(SRC), "HOME": str(home), "TERM": "xterm-256color",
           "CONDUCTOR_CONSOLE_STATE": str(tmp_path / "state.json"), "LANG": "C.UTF-8",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    command = " ".join(["env", "-i", *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                        shlex.quote(sys.executable), "-m", "conductor", "console",
                        "--root", shlex.quote(str(root)), "--config", shlex.quote(config),
                        "--project", "e2e"])
    tmux = Tmux(tmp_path.name[-20:])
    yield tmux, command, str(root)
    tmux.kill()
    stop_everything(str(root))


def _task_dirs(root: str, project: str) -> list[str]:
    base = os.path.join(root, project)
    if not os.path.isdir(base):
        return []
    return sorted(os.path.join(base, d) for d in os.listdir(base) if d.startswith("task-"))


def _new_task(tmux: Tmux, prompt: str) -> None:
    """The dialog opens with the project filled in (--project) and the prompt focused."""
    tmux.keys("n")
    tmux.wait_screen("New task")
    time.sleep(0.3)
    tmux.text(prompt)
    tmux.keys("C-s")
    tmux.wait_screen("started task-")


def test_console_in_tmux_creates_stops_restarts_and_survives_a_kill(e2e):
    tmux, command, root = e2e
    tmux.start(command)
    tmux.wait_screen("watch: inotify")

    _new_task(tmux, "Do the quick job.")
    tmux.wait_screen("✔ 1 done")
    [quick] = _task_dirs(root, "e2e")
    assert os.path.exists(os.path.join(quick, "DONE"))

    _new_task(tmux, "Work for a long time @LONG@")
    tmux.wait_screen("● 1 running")
    long_dir = [d for d in _task_dirs(root, "e2e") if d != quick][0]

    tmux.keys("x")
    tmux.wait_screen("Stop task task-")
    tmux.keys("y")
    tmux.wait_screen("stop requested")
    wait_for(lambda: not loop_alive(long_dir), 30, "loop gone after x")
    assert os.path.exists(os.path.join(long_dir, "STOP-REQUESTED"))

    tmux.keys("r")
    tmux.wait_screen("restart: task-")
    wait_for(lambda: loop_alive(long_dir), 30, "loop back after r")
    tmux.wait_screen("● 1 running")

    # Kill the console hard (its own session only; supervisors run in sessions of their own).
    import psutil
    pane = psutil.Process(tmux.pane_pid())
    session = os.getsid(pane.pid)
    console = [p for p in [pane, *pane.children(recursive=True)] if os.getsid(p.pid) == session]
    for proc in console:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    wait_for(lambda: tmux.run("has-session", "-t", tmux.session, check=False) == "" and
             subprocess.run(["tmux", "-L", tmux.socket, "has-session"],
                            capture_output=True).returncode != 0, 20, "console gone")
    time.sleep(1.0)
    assert loop_alive(long_dir)

    tmux.start(command)
    screen = tmux.wait_screen("● 1 running")
    assert "✔ 1 done" in screen
