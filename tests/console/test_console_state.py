"""The console's state file: concurrent savers keep each other's keys; a broken file is ignored."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading

from conductor.console.state import load_state, save_state


def test_concurrent_savers_in_threads_keep_every_key(tmp_path):
    path = str(tmp_path / "state.json")
    barrier = threading.Barrier(16)

    def save(i: int) -> None:
        barrier.wait()
        for round_ in range(20):
            assert save_state(path, {f"key{i}": round_})

    threads = [threading.Thread(target=save, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert load_state(path) == {f"key{i}": 19 for i in range(16)}
    assert sorted(os.listdir(tmp_path)) == ["state.json", "state.json.lock"]  # no temp file left


def _save_many(path: str, i: int) -> None:
    for round_ in range(20):
        save_state(path, {f"console{i}": round_})


def test_two_consoles_saving_at_once_keep_both_keys(tmp_path):
    path = str(tmp_path / "state.json")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save_many, args=(path, i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh) == {f"console{i}": 19 for i in range(4)}


def test_an_unwritable_place_is_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert save_state(str(blocker / "state.json"), {"theme": "nord"}) is False


def test_a_broken_file_is_ignored_and_replaced(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert load_state(str(path)) == {}
    assert save_state(str(path), {"theme": "nord"})
    assert json.loads(path.read_text()) == {"theme": "nord"}
