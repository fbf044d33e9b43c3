"""Start the real `conductor serve` as a child process and read what it printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

from waiting import wait_for

from console.fixed_root import write_run, write_task
from conductor.store import Layout

PROJECT = "webproj"
TASK = "task-20260621-000000-browser-known"


def known_root(tmp_path) -> str:
    """A runs root with one completed task (fixed ids and times, no live process)."""
    root = tmp_path / "runs"
    root.mkdir()
    layout = Layout(str(root))
    write_task(layout, PROJECT, TASK, "a task the browser must show", done=True)
    write_run(layout, PROJECT, TASK, "20260621-0000010000-1-1", status="completed", start_s=10,
              end_s=70, exit_code=0, stdout="all good\n", output="# Done\n")
    return str(root)


class Served:
    """`conductor serve ARGS` running; ``url`` is the first `open` line's URL."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "conductor", "serve", *args],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True).start()
        self.url: str = wait_for(self._url, 60, what=f"serve to print its URL (stderr: {self.errors})")
        self.port = int(re.search(r":(\d+)/", self.url).group(1))

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def _url(self) -> str | None:
        if self.proc.poll() is not None and not any(line.startswith("open ") for line in self.lines):
            raise AssertionError(f"serve exited {self.proc.returncode}: {''.join(self.errors)}")
        for line in self.lines:
            if line.startswith("open "):
                return line.split()[1]
        return None

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def children(self) -> list[int]:
        """The pids of serve's child processes (the consoles it started)."""
        found: list[int] = []
        task_dir = f"/proc/{self.proc.pid}/task"
        try:
            for tid in os.listdir(task_dir):
                with open(f"{task_dir}/{tid}/children") as fh:
                    found.extend(int(pid) for pid in fh.read().split())
        except OSError:
            pass
        return found
