"""Driving the real `conductor` command in tmux, as a person would (keys in, screen out)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil


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

    def start(self, command: str, *, size: tuple[int, int] = (160, 45)) -> str:
        """A session running ``command``; returns its pane's id (``%0``)."""
        return self.run("new-session", "-d", "-s", self.session, "-x", str(size[0]), "-y",
                        str(size[1]), "-P", "-F", "#{pane_id}", command).strip()

    def split(self, command: str, *, vertical: bool = False, target: str | None = None) -> str:
        """Split a pane (the session's active one, or ``target``) beside it (``-h``) or below
        it (``-v``) to run ``command``; returns the new pane's id."""
        return self.run("split-window", "-v" if vertical else "-h", "-t",
                        target or self.session, "-P", "-F", "#{pane_id}", command).strip()

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def text(self, *text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", *text)

    def screen(self, pane: str | None = None) -> str:
        """What the session's active pane (or ``pane``) shows."""
        return self.run("capture-pane", "-p", "-t", pane or self.session, check=False)

    def pane_size(self, pane: str) -> tuple[int, int]:
        width, height = self.run("display-message", "-p", "-t", pane,
                                 "#{pane_width} #{pane_height}").split()
        return int(width), int(height)

    def wait_screen(self, *needles: str, timeout: float = 40.0, pane: str | None = None) -> str:
        """The screen (of ``pane``, else the active one) once any of ``needles`` is on it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(pane)
            if any(needle in screen for needle in needles):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{' or '.join(map(repr, needles))} never appeared; "
                                     f"screen:\n{screen}")
            time.sleep(0.1)

    def wait_line(self, predicate, what: str, timeout: float = 40.0,
                  pane: str | None = None) -> str:
        """The screen (of ``pane``, else the active one) once one of its lines satisfies
        ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(pane)
            if any(predicate(line) for line in screen.splitlines()):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never appeared; screen:\n{screen}")
            time.sleep(0.1)

    def pane_pid(self) -> int:
        return int(self.run("list-panes", "-t", self.session, "-F", "#{pane_pid}").split()[0])

    def kill(self) -> None:
        self.run("kill-server", check=False)


def kill_console(tmux: Tmux) -> None:
    """SIGKILL the console and whatever runs in its session (supervisors have sessions of
    their own), then wait until tmux has closed the pane."""
    pane = psutil.Process(tmux.pane_pid())
    session = os.getsid(pane.pid)
    console = [p for p in [pane, *pane.children(recursive=True)] if os.getsid(p.pid) == session]
    for proc in console:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    # gone (reaped or a zombie), not merely signalled: whatever the kill ends has ended
    deadline = time.monotonic() + 20
    while any(_running(proc) for proc in console):
        if time.monotonic() > deadline:
            raise AssertionError("SIGKILLed console processes are still running")
        time.sleep(0.02)
    while subprocess.run(["tmux", "-L", tmux.socket, "has-session"],
                         capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            raise AssertionError("the console did not go away")
        time.sleep(0.1)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
