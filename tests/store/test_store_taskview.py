"""The one task-status model (store.taskview): every state from files on disk, both
vocabularies in filters, and the newest-runs read that ``list`` and ``status`` use."""

from __future__ import annotations

import os

import pytest

from conductor.bus import Message, MessageBus
from conductor.store import Layout, RunInfo, scan_task, write_run_info
from conductor.store import taskview as tv
from conductor.store.loopstate import LoopState, write_loop_state
from conductor.store.scan import id_second, newest_candidates
from conductor.timefmt import NS

P = "proj"
T = "task-20260101-000000-model"
DEP = "task-20260101-000000-dep"
BASE = 1767225600 * NS  # 2026-01-01 00:00:00 UTC
NOW = BASE + 3600 * NS


def run_id(second: int, pid: int = 100, seq: int = 1) -> str:
    return f"20260101-{second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}0000-{pid}-{seq}"


def write_run(layout, task, second, status="completed", *, pid=100, seq=1, start=None,
              **fields) -> str:
    rid = run_id(second, pid, seq)
    path = os.path.join(layout.runs_dir(P, task), rid)
    os.makedirs(path, exist_ok=True)
    write_run_info(os.path.join(path, "run-info.yaml"), RunInfo(
        run_id=rid, project_id=P, task_id=task, agent="claude", status=status,
        exit_code=0 if status == "completed" else 1,
        start_time=BASE + (second if start is None else start) * NS,
        end_time=None if status == "running" else BASE + (second + 5) * NS, **fields))
    return rid


@pytest.fixture
def layout(tmp_path):
    lay = Layout(str(tmp_path / "runs"))
    os.makedirs(lay.task_dir(P, T))
    return lay


def touch(layout, name, task=T):
    open(os.path.join(layout.task_dir(P, task), name), "w").close()


def view(layout, task=T, **kw):
    return tv.view_task(layout, P, task, now_ns=NOW, **kw)


# ---- every state, from disk -----------------------------------------------------------------

def test_queued_completed_failed_stopped_cancelled(layout):
    assert view(layout).status == "queued"
    write_run(layout, T, 10, "failed")
    assert view(layout).status == "failed"
    touch(layout, "STOP-REQUESTED")
    assert view(layout).status == "stopped"
    touch(layout, "CANCELLED")
    assert view(layout).status == "cancelled"
    touch(layout, "DONE")
    assert view(layout).status == "completed"


def test_a_run_stopped_by_the_operator_is_stopped(layout):
    write_run(layout, T, 10, "failed", error_summary="stopped by operator (SIGTERM)")
    v = view(layout)
    assert v.status == "stopped" and v.newest.status == "stopped"


def test_running_and_loop_dead_follow_the_supervisor_lock(layout, monkeypatch):
    write_run(layout, T, 10, "running", pid=os.getpid())
    monkeypatch.setattr(tv, "runs_alive", lambda infos: [True] * len(infos))
    assert view(layout).status == "loop-dead"  # a run claims to run, no supervisor
    monkeypatch.setattr(tv, "loop_alive", lambda task_dir: True)
    v = view(layout)
    assert v.status == "running" and v.newest.alive and v.any_running
    monkeypatch.setattr(tv, "runs_alive", lambda infos: [False] * len(infos))
    v = view(layout)  # the process is gone: reconciled in memory, never written
    assert v.newest.info.status == "failed" and v.status == "running"  # a live loop between runs
    with open(os.path.join(v.newest.path, "run-info.yaml")) as fh:
        assert "status: running" in fh.read()


def test_waiting_on_dependencies_until_the_dependency_completes(layout):
    with open(os.path.join(layout.task_dir(P, T), "TASK-CONFIG.yaml"), "w") as fh:
        fh.write(f"depends_on:\n  - {DEP}\n")
    v = view(layout)
    assert (v.status, v.waiting_on, v.blocked_by) == ("waiting", [DEP], [DEP])
    os.makedirs(layout.task_dir(P, DEP))
    write_run(layout, DEP, 10, "failed")
    assert view(layout).waiting_on == [DEP]
    write_run(layout, DEP, 20, "completed")  # the newest run of the dependency completed
    assert view(layout).status == "queued"


def test_needs_you_from_a_question_on_the_bus(layout):
    write_run(layout, T, 10, "failed")
    bus = MessageBus(os.path.join(layout.task_dir(P, T), "TASK-MESSAGE-BUS.md"))
    bus.append(Message(type="QUESTION", project_id=P, task_id=T, body="which database?"))
    bus.close()
    assert view(layout).status == "needs-you"
    assert view(layout, bus=False).status == "failed"  # the bus is read only when asked


@pytest.mark.parametrize("state,alive,want", [
    (LoopState("limit", until=NOW + 60 * NS), True, "waiting"),
    (LoopState("backoff", until=NOW + 40 * NS), True, "waiting"),
    (LoopState("budget", reason="budget of $5 reached"), True, "needs-you"),
    (LoopState("stuck", failures=3), False, "stuck"),
    (LoopState("failed", reason="auth"), False, "failed"),
    (LoopState("limit", until=NOW + 60 * NS), False, "failed"),  # no supervisor: no wait
])
def test_loop_states(layout, monkeypatch, state, alive, want):
    write_run(layout, T, 10, "failed")
    write_loop_state(layout.task_dir(P, T), state)
    monkeypatch.setattr(tv, "loop_alive", lambda task_dir: alive)
    v = view(layout)
    assert v.status == want
    assert (v.loop_state is not None) == (alive or state.ended)


def test_unknown_when_the_newest_record_is_unreadable(layout):
    write_run(layout, T, 10, "completed")
    os.makedirs(os.path.join(layout.runs_dir(P, T), run_id(20)))  # no run-info
    v = view(layout)
    assert v.status == "unknown" and v.latest_readable.run_id == run_id(10)


def test_every_state_is_documented_and_drawn():
    from conductor.console.status import LOOKS
    assert set(tv.STATES) <= set(LOOKS)
    for state in tv.STATES:
        assert f"``{state}``" in tv.__doc__


# ---- the vocabularies -----------------------------------------------------------------------

@pytest.mark.parametrize("word,state", [
    ("done", "completed"), ("completed", "completed"), ("blocked", "waiting"),
    ("waiting", "waiting"), ("active", "running"), ("pending", "queued"),
    ("needs_you", "needs-you"), ("Needs-You", "needs-you"), ("stuck", "stuck"),
    ("limit", "limit"), ("budget", "budget"), ("backoff", "backoff"), ("nonsense", None)])
def test_filter_words(word, state):
    assert tv.filter_word(word) == state


def test_words_lists_each_state_with_its_synonyms():
    assert tv.words("completed") == ("completed", "all_finished", "done")
    assert tv.words("waiting") == ("waiting", "blocked")
    assert tv.words("stuck") == ("stuck",)


def test_matches_either_vocabulary_and_the_loop_state(layout, monkeypatch):
    write_run(layout, T, 10, "failed")
    write_loop_state(layout.task_dir(P, T), LoopState("limit", until=NOW + 60 * NS))
    monkeypatch.setattr(tv, "loop_alive", lambda task_dir: True)
    v = view(layout)
    assert tv.matches(v, "waiting") and tv.matches(v, "blocked") and tv.matches(v, "limit")
    assert not tv.matches(v, "budget") and not tv.matches(v, "running")
    assert not tv.matches(v, "no-such-word")


# ---- the newest runs only ---------------------------------------------------------------------

def test_id_second():
    assert id_second("20260221-1015000000-1234-1") == "20260221101500"
    assert id_second("run_20260221-101500-1234") == "20260221101500"
    assert id_second("task-001") == ""


def test_newest_candidates_are_the_two_newest_seconds():
    names = [run_id(s, pid) for s in (1, 2, 3) for pid in (9, 10)]
    newest, older = newest_candidates(names)
    assert sorted(newest) == sorted(run_id(s, p) for s in (2, 3) for p in (9, 10))
    assert list(older) == [[run_id(1, 9), run_id(1, 10)]]
    assert newest_candidates(names + ["legacy"])[0] == names + ["legacy"]  # no time: read all


def test_newest_read_counts_every_run_and_orders_by_start_time(layout):
    for second in range(0, 100):
        write_run(layout, T, second)
    # same id second, the lower pid started later: start time decides, not the id
    write_run(layout, T, 200, pid=9, start=201)
    write_run(layout, T, 200, pid=10, start=200)
    snap = scan_task(layout, P, T, newest=True)
    assert snap.run_count == 102 and not snap.complete
    assert len(snap.runs) == 3  # the ids of seconds 200 and 99
    v = view(layout, newest=True)
    assert v.run_count == 102 and v.newest.run_id == run_id(200, 9)
    full = view(layout)
    assert full.run_count == 102 and full.newest.run_id == run_id(200, 9)


def test_newest_read_goes_back_to_the_newest_readable_run(layout):
    for second in (10, 20):
        write_run(layout, T, second)
    for second in (30, 40, 50):
        path = os.path.join(layout.runs_dir(P, T), run_id(second))
        os.makedirs(path)
        with open(os.path.join(path, "run-info.yaml"), "w") as fh:
            fh.write("version: 7\n")  # broken
    v = view(layout, newest=True)
    assert v.latest_readable.run_id == run_id(20) and v.newest.run_id == run_id(50)
    assert v.run_count == 5


def test_usage_sums_every_run_even_of_a_newest_view(layout):
    write_run(layout, T, 10, input_tokens=100, output_tokens=10, cost_usd=0.25)
    for second in range(20, 30):
        write_run(layout, T, second)
    write_run(layout, T, 40, input_tokens=1, output_tokens=1, cost_usd=0.5)
    v = view(layout, newest=True)
    assert v.reports_usage and not v.snap.complete
    assert v.usage.cost_usd == 0.75 and v.usage.input_tokens == 101


def test_a_view_made_by_hand():
    view = tv.TaskView(project="p", task="t1", path="/r/p/t1", status="running", runs=[])
    assert (view.project, view.task, view.path, view.status, view.key) == \
        ("p", "t1", "/r/p/t1", "running", ("p", "t1"))
    assert view.newest is None and view.run_count == 0 and not view.usage
