"""Two `gc --rotate-bus` at once: a bus rotated (or removed) by the other one is skipped, only our
errors are raised, gc goes on with the other buses, and no archive is overwritten."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conductor.bus import Message, MessageBus, busfile
from conductor.cli.main import main
from conductor.store import Layout

P = "proj"
TASKS = [f"task-20260220-1530{i:02d}-race" for i in range(12)]


pytestmark = pytest.mark.usefixtures("utc_isolated")


def _buses(root: str, per_bus: int = 30) -> list[str]:
    layout = Layout(root)
    paths = []
    for task in TASKS:
        layout.ensure_task_dir(P, task)
        bus = MessageBus(layout.task_bus(P, task))
        for i in range(per_bus):
            bus.append(Message(type="INFO", project_id=P, task_id=task, body=f"message {i} " + "x" * 80))
        paths.append(bus.path)
    return paths


def _msg_ids(task_dir: str) -> list[str]:
    ids = []
    for name in sorted(os.listdir(task_dir)):
        if name.startswith("TASK-MESSAGE-BUS.md"):
            ids += [m.msg_id for m in MessageBus(os.path.join(task_dir, name)).read_all()]
    return ids


def test_a_bus_that_vanishes_before_it_is_opened_is_skipped_and_gc_goes_on(root, capsys, monkeypatch):
    paths = _buses(root)
    first = paths[0]
    real_check = busfile.check_bus_path

    def other_gc_rotates_first(path):
        found = real_check(path)
        if path == first and os.path.exists(first):
            os.rename(first, first + ".by-the-other-gc.archived")
        return found

    monkeypatch.setattr(busfile, "check_bus_path", other_gc_rotates_first)
    code = main(["gc", "--root", root, "--rotate-bus", "--bus-max-size", "1KB"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert f"rotated {first} ->" not in out
    for path in paths[1:]:
        assert f"rotated {path} -> " in out and not os.path.exists(path)


def test_a_bus_rotated_while_we_wait_for_its_lock_is_skipped(root, capsys, monkeypatch):
    paths = _buses(root)
    real_acquire = busfile.locking.acquire
    done = []

    def other_gc_wins_the_lock(fd, timeout, **kw):
        if not done:  # the other gc renames the bus while we wait
            done.append(1)
            os.rename(paths[0], paths[0] + ".by-the-other-gc.archived")
        return real_acquire(fd, timeout, **kw)

    monkeypatch.setattr(busfile.locking, "acquire", other_gc_wins_the_lock)
    code = main(["gc", "--root", root, "--rotate-bus", "--bus-max-size", "1KB"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.count("rotated ") == len(paths) - 1


def test_archive_names_are_chosen_under_the_lock(root, monkeypatch):
    (path,) = _buses(root)[:1]
    monkeypatch.setattr(busfile.time, "strftime", lambda fmt, t=None: "20260220-153045")
    bus = MessageBus(path)
    first = bus.rotate()
    bus.append(Message(type="INFO", project_id=P, body="after the first rotation"))
    second = bus.rotate()
    assert (os.path.basename(first), os.path.basename(second)) == (
        "TASK-MESSAGE-BUS.md.20260220-153045.archived",
        "TASK-MESSAGE-BUS.md.20260220-153045-1.archived")
    assert MessageBus(second).read_all()[0].body == "after the first rotation"


def test_two_concurrent_gc_processes(root, tmp_path):
    paths = _buses(root)
    before = {p: _msg_ids(os.path.dirname(p)) for p in paths}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env["HOME"] = str(tmp_path / "home")
    argv = [sys.executable, "-m", "conductor", "gc", "--root", root, "--rotate-bus",
            "--bus-max-size", "1KB"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    for out, err, code in results:
        assert (code, err) == (0, ""), err
    rotated = sum(out.count("rotated ") for out, _err, _code in results)
    assert rotated == len(paths)  # each bus exactly once, by one of the two
    for path in paths:
        assert not os.path.exists(path)
        assert _msg_ids(os.path.dirname(path)) == before[path]  # nothing lost or overwritten
