"""End to end: the real `conductor` command in tmux, driven by keys, read from the screen."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys

import pytest

from conductor.store.supervision import loop_alive

from .live import stop_everything, wait_for, write_agent
from .tmux import Tmux, kill_console

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def console_command(tmp_path, *args: str) -> str:
    """The real console in a clean environment (its own HOME and state file), with ``args``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PYTHONPATH": os.path.abspath(SRC), "HOME": str(home), "TERM": "xterm-256color",
           "CONDUCTOR_CONSOLE_STATE": str(tmp_path / "state.json"), "LANG": "C.UTF-8",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return " ".join(["env", "-i", *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                     shlex.quote(sys.executable), "-m", "conductor", "console",
                     *(shlex.quote(a) for a in args)])


@pytest.fixture
def e2e(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    config, _ = write_agent(tmp_path)
    command = console_command(tmp_path, "--root", str(root), "--config", config,
                              "--project", "e2e")
    tmux = Tmux(tmp_path.name[-20:])
    yield tmux, command, str(root)
    tmux.kill()
    stop_everything(str(root))


def _task_dirs(root: str, project: str) -> list[str]:
    base = os.path.join(root, project)
    if not os.path.isdir(base):
        return []
    return sorted(os.path.join(base, d) for d in os.listdir(base) if d.startswith("task-"))


def _stdout_size(task_dir: str) -> int:
    """Bytes the task's runs have written to stdout so far."""
    total = 0
    for dirpath, _dirs, files in os.walk(task_dir):
        if "agent-stdout.txt" in files:
            total += os.path.getsize(os.path.join(dirpath, "agent-stdout.txt"))
    return total


def _new_task(tmux: Tmux, prompt: str) -> None:
    """The dialog opens with the project filled in (--project) and the prompt focused."""
    tmux.keys("n")
    screen = tmux.wait_screen("Create and start")  # the dialog ("New task" is in the footer too)
    [task_id] = re.findall(r"task id +(task-[0-9a-z-]+)", screen)
    tmux.text(prompt)
    # the text shows in the prompt box (its lines start with the box's "▌" edge), not
    # elsewhere: only then is it the prompt that ctrl+s submits
    tmux.wait_line(lambda line: f"▌ {prompt}" in line, f"{prompt!r} in the prompt box")
    tmux.keys("C-s")
    tmux.wait_screen(f"started {task_id}")  # this task; an earlier one's message may still show


def test_console_in_tmux_creates_stops_restarts_and_survives_a_kill(e2e):
    tmux, command, root = e2e
    tmux.start(command)
    tmux.wait_screen("watch: inotify")

    _new_task(tmux, "Do the quick job.")
    tmux.wait_screen("✔ 1 completed")
    [quick] = _task_dirs(root, "e2e")
    assert os.path.exists(os.path.join(quick, "DONE"))

    _new_task(tmux, "Work for a long time @LONG@")
    tmux.wait_screen("● 1 running")
    long_dir = [d for d in _task_dirs(root, "e2e") if d != quick][0]

    tmux.keys("x")
    tmux.wait_screen("Stop task task-")
    tmux.keys("y")
    tmux.wait_screen("stop requested")
    wait_for(lambda: not loop_alive(long_dir), 60, "loop gone after x")
    assert os.path.exists(os.path.join(long_dir, "STOP-REQUESTED"))
    # as a person would: press r once the console shows the task stopped (pressed earlier,
    # r asks to stop a task it still believes running, and this test answers no dialog)
    tmux.wait_screen("■ 1 stopped")

    tmux.keys("r")
    tmux.wait_screen("restart: task-")
    wait_for(lambda: loop_alive(long_dir), 30, "loop back after r")
    tmux.wait_screen("● 1 running")

    # Kill the console hard (its own session only; supervisors run in sessions of their own).
    kill_console(tmux)  # returns once the console's processes are dead
    # the run goes on without the console: its output keeps growing after the kill
    size = _stdout_size(long_dir)
    wait_for(lambda: _stdout_size(long_dir) > size, 30, "the run's output growing after the kill")
    assert loop_alive(long_dir)

    tmux.start(command)
    screen = tmux.wait_screen("● 1 running")
    assert "✔ 1 completed" in screen


def test_a_logs_dashboard_follows_a_task_started_after_it_opened(e2e, tmp_path):
    """`--view logs` moves to the newest running run by itself and says which run it shows."""
    from .live import start_task
    tmux, command, root = e2e
    config = str(tmp_path / "config.yaml")
    first, second = "task-20260101-000000-first-job", "task-20260101-000100-second-job"
    start_task(root, config, "e2e", first, "Work for a long time @LONG@")
    wait_for(lambda: _stdout_size(os.path.join(root, "e2e", first)) > 0, 30, "first running")
    tmux.start(command + " --read-only --view logs")
    tmux.wait_line(lambda line: line.startswith(f" running · e2e / {first} / "),
                   "the title naming the first task's run")
    start_task(root, config, "e2e", second, "Work for a long time @LONG@")
    screen = tmux.wait_line(lambda line: line.startswith(f" running · e2e / {second} / "),
                            "the title naming the second task's run")
    assert "follows the newest running run of root" in screen


def test_a_restart_whose_supervisor_fails_is_reported_as_failed(e2e, tmp_path):
    """A console opened without --config (as after `conductor demo`): `r` on a completed task
    starts a supervisor that exits at once; the status line says so, the task stays
    completed with its DONE, and no run is made."""
    from .live import start_task
    tmux, _command, root = e2e
    task = "task-20260101-000000-quick-job"
    task_dir = os.path.join(root, "e2e", task)
    start_task(root, str(tmp_path / "config.yaml"), "e2e", task, "Do the quick job.")
    wait_for(lambda: os.path.exists(os.path.join(task_dir, "DONE")) and not loop_alive(task_dir),
             30, "the quick job done and its loop gone")
    runs_before = sorted(os.listdir(os.path.join(task_dir, "runs")))
    tmux.start(console_command(tmp_path, "--root", root))  # no --config: no agent
    tmux.wait_screen("✔ 1 completed")
    # as a person would: move to the task and wait until the panes show it, then press r
    tmux.wait_line(lambda line: "✔ quick-job  completed" in line, "the task's row")
    tmux.keys("Down")
    tmux.wait_screen(f"Bus · task {task}")
    tmux.keys("r")
    # the status line (the toast says it too, in its box)
    screen = tmux.wait_line(lambda line: line.strip() == "restart: Error: agent is empty",
                            "the status line saying the restart failed")
    assert "started (supervisor pid" not in screen
    assert "✔ quick-job  completed" in screen and "✔ 1 completed" in screen
    assert os.path.exists(os.path.join(task_dir, "DONE"))
    assert sorted(os.listdir(os.path.join(task_dir, "runs"))) == runs_before


def test_a_three_pane_dashboard_follows_a_task_started_after_it_opened(e2e, tmp_path):
    """docs/console.md's recipe: tree, logs and bus panes (read-only, --view each) in one tmux
    window on one root; a task started after they opened shows in all three."""
    from .live import start_task
    tmux, _command, root = e2e
    config = str(tmp_path / "config.yaml")
    first, second = "task-20260101-000000-first-job", "task-20260101-000100-second-job"
    start_task(root, config, "e2e", first, "Work for a long time @LONG@")
    wait_for(lambda: _stdout_size(os.path.join(root, "e2e", first)) > 0, 30, "first running")

    def view(name: str) -> str:
        return console_command(tmp_path, "--root", root, "--read-only", "--view", name)
    tree = tmux.start(view("tree"), size=(200, 60))
    logs = tmux.split(view("logs"), target=tree)
    bus = tmux.split(view("bus"), vertical=True, target=logs)
    assert tmux.pane_size(tree)[1] == 60 and tmux.pane_size(logs)[1] < 60

    def titled(task: str):
        return lambda line: line.startswith(f" running · e2e / {task} / ")
    # every pane up and showing the first task before the second starts
    tmux.wait_line(lambda line: "● first-job  running" in line, "the first task in the tree",
                   pane=tree)
    tmux.wait_line(titled(first), "the logs pane on the first task", pane=logs)
    tmux.wait_line(titled(first), "the bus pane on the first task", pane=bus)
    tmux.wait_screen("working line", pane=logs)

    start_task(root, config, "e2e", second, "Work for a long time @LONG@")
    tmux.wait_line(lambda line: "● second-job  running" in line, "the second task in the tree",
                   pane=tree)
    tmux.wait_screen("● 2 running", pane=tree)
    tmux.wait_line(titled(second), "the logs pane on the second task", pane=logs)
    tmux.wait_line(titled(second), "the bus pane on the second task", pane=bus)
    # the logs pane shows the second task's output, the read-only panes no control keys
    tmux.wait_screen("working line", pane=logs)
    for pane in (tree, logs, bus):
        assert "New task" not in tmux.screen(pane)
