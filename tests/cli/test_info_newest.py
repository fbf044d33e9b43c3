"""``list`` and ``status`` read what they print: the newest run of each task, run counts from
the directory listing; ``--all-runs`` reads them all. And the task-state words of ``--status``."""

from __future__ import annotations

import os

import pytest

from conductor.cli.main import main
from conductor.store import Layout
from conductor.store.loopstate import LoopState, write_loop_state

from .test_info_cmd import P, T1, T2, make_run, make_task

pytestmark = pytest.mark.usefixtures("utc_isolated")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def many_runs(root: str, count: int = 30) -> list[str]:
    ids = []
    for i in range(count):
        rid = f"20260220-1531{i:02d}0000-100-1"
        make_run(root, T1, rid, start=f"2026-02-20T15:31:{i:02d}Z",
                 end=f"2026-02-20T15:31:{i:02d}.5Z")
        ids.append(rid)
    return ids


def corrupt(root: str, run_id: str) -> None:
    path = os.path.join(Layout(root).runs_dir(P, T1), run_id, "run-info.yaml")
    with open(path, "w") as fh:
        fh.write("version: 7\nstatus: [\n")


@pytest.mark.parametrize("verb", ["list", "status"])
def test_a_corrupt_older_run_changes_nothing(tmp_path, capsys, verb):
    root = str(tmp_path)
    ids = many_runs(root)
    before = run(capsys, verb, "--root", root, "--project", P)
    corrupt(root, ids[3])
    after = run(capsys, verb, "--root", root, "--project", P)
    assert after == before and after[2] == ""  # not even a warning: it was not read
    # the full read does read it, and says so
    code, _out, err = run(capsys, verb, "--root", root, "--project", P, "--all-runs")
    assert code == 0 and ids[3] in err


def test_the_run_count_comes_from_the_listing(tmp_path, capsys):
    root = str(tmp_path)
    ids = many_runs(root)
    for rid in ids[:10]:  # run dirs without a readable record still count
        os.remove(os.path.join(Layout(root).runs_dir(P, T1), rid, "run-info.yaml"))
    _, out, _ = run(capsys, "list", "--root", root, "--project", P)
    assert out.splitlines()[1].split()[:3] == [T1, "30", "completed"]


def test_all_runs_counts_a_running_older_run(tmp_path, capsys, monkeypatch):
    """The rule of the newest read: a task runs when its newest run does. --all-runs keeps the
    old rule (any run), which shows when an older run still runs next to a newer one."""
    import conductor.store.taskview as taskview
    monkeypatch.setattr(taskview, "runs_alive", lambda infos: [True] * len(infos))
    root = str(tmp_path)
    make_run(root, T1, "20260220-1530000000-100-1", status="running",
             start="2026-02-20T15:30:00Z")
    for minute in (40, 50):  # two newer runs: the running one is not among the newest read
        make_run(root, T1, f"20260220-15{minute}000000-100-1", start=f"2026-02-20T15:{minute}:00Z",
                 end=f"2026-02-20T15:{minute}:30Z")
    open(os.path.join(Layout(root).task_dir(P, T1), "CANCELLED"), "w").close()
    _, out, _ = run(capsys, "list", "--root", root, "--project", P)
    assert out.splitlines()[1].split()[2] == "cancelled"
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--all-runs")
    assert out.splitlines()[1].split()[2] == "completed"


def test_status_filter_takes_task_states(tmp_path, capsys):
    root = str(tmp_path)
    make_run(root, T1, "20260220-1530000000-100-1", status="failed",
             start="2026-02-20T15:30:00Z", end="2026-02-20T15:31:00Z", exit_code=1)
    make_run(root, T2, "20260220-1530000000-101-1", start="2026-02-20T15:30:00Z",
             end="2026-02-20T15:31:00Z")
    write_loop_state(Layout(root).task_dir(P, T1), LoopState("stuck", failures=3))
    for verb in ("list", "status"):
        _, out, err = run(capsys, verb, "--root", root, "--project", P, "--status", "stuck")
        assert [line.split()[0] for line in out.splitlines()[1:]] == [T1] and err == ""
    # upstream's words keep upstream's meaning; "done" (DONE exists) is not "completed"
    _, out, _ = run(capsys, "status", "--root", root, "--project", P, "--status", "done")
    assert out == "TASK_ID  STATUS  EXIT_CODE  LATEST_RUN  DONE  PID_ALIVE  BLOCKED_BY\n" \
        f'No status rows matched --status "done" in project {P}.\n'
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--status", "completed")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [T2]


def test_needs_you_filter_reads_the_bus(tmp_path, capsys):
    from conductor.bus import Message, MessageBus
    root = str(tmp_path)
    make_task(root, T1)
    make_task(root, T2)
    bus = MessageBus(os.path.join(Layout(root).task_dir(P, T2), "TASK-MESSAGE-BUS.md"))
    bus.append(Message(type="QUESTION", project_id=P, task_id=T2, body="which one?"))
    bus.close()
    _, out, _ = run(capsys, "list", "--root", root, "--project", P, "--status", "needs-you")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [T2]
