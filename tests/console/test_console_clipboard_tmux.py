"""End to end: the copy keys' OSC 52 reaches tmux's paste buffer with ``set-clipboard on``
(docs/console.md), and nothing arrives with tmux's default, ``external``."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

import pytest

from .live import wait_for
from .tmux import Tmux

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")
TASK = "task-20260101-000000-osc"


def test_copy_lands_in_tmux_buffer_only_with_set_clipboard_on(tmp_path):
    root = tmp_path / "runs"
    (root / "proj" / TASK).mkdir(parents=True)
    (root / "proj" / TASK / "TASK.md").write_text("do it\n")
    env = {"PYTHONPATH": os.path.abspath(SRC), "HOME": str(tmp_path), "TERM": "xterm-256color",
           "CONDUCTOR_CONSOLE_STATE": str(tmp_path / "state.json"), "LANG": "C.UTF-8",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    command = " ".join(["env", "-i", *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                        shlex.quote(sys.executable), "-m", "conductor", "console",
                        "--root", shlex.quote(str(root))])
    tmux = Tmux(tmp_path.name[-20:])
    try:
        tmux.start(command)
        tmux.run("set", "-g", "set-clipboard", "external")
        tmux.wait_screen(TASK)
        tmux.keys("j")  # the cursor from the project to its task
        tmux.keys("y")
        tmux.wait_screen(f"copied task id: {TASK}")
        assert tmux.run("list-buffers") == ""  # the default: applications cannot set it
        tmux.run("set", "-g", "set-clipboard", "on")
        tmux.keys("Y")
        path = str(root / "proj" / TASK)
        wait_for(lambda: tmux.run("show-buffer", check=False) == path, 20, "path in the buffer")
    finally:
        tmux.kill()
