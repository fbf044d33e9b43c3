"""The followed files' fast path (``FollowWatcher``): a direct inotify wait on the few files
the panes show, re-targeted as the selection changes."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from conductor.watch import FollowWatcher, follow_available

pytestmark = pytest.mark.skipif(not follow_available(), reason="no inotify here")

TIMEOUT = 10.0


def make(tmp_path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        paths.append(str(path))
    return paths


def append(path: str, text: str = "a line\n") -> None:
    with open(path, "a") as fh:
        fh.write(text)


def seen(batch) -> list[tuple[str, str]]:
    return sorted((e.kind, e.path) for e in batch.events)


def run(scenario):
    async def main():
        watcher = FollowWatcher(gap=0)
        stream = watcher.batches().__aiter__()

        async def next_batch():
            return await asyncio.wait_for(stream.__anext__(), TIMEOUT)
        try:
            await scenario(watcher, next_batch)
        finally:
            watcher.stop()
            async for _ in stream:  # the stream ends once stopped
                pass
    asyncio.run(main())


def test_arming_reads_each_file_once_then_every_append_is_an_event(tmp_path):
    log, bus = make(tmp_path, "r1/agent-stdout.txt", "t1/TASK-MESSAGE-BUS.md")

    async def scenario(watcher, next_batch):
        watcher.target({log: "log_grew", bus: "bus_grew"})
        first = await next_batch()
        assert first.armed == {log, bus}
        assert seen(first) == [("bus_grew", bus), ("log_grew", log)]
        append(log)
        assert seen(await next_batch()) == [("log_grew", log)]
        append(bus)
        assert seen(await next_batch()) == [("bus_grew", bus)]
    run(scenario)


def test_retargeting_drops_the_old_file_and_arms_the_new_one(tmp_path):
    a, b = make(tmp_path, "r1/agent-stdout.txt", "r2/agent-stdout.txt")

    async def scenario(watcher, next_batch):
        watcher.target({a: "log_grew"})
        assert (await next_batch()).armed == {a}
        append(b)  # written while b was not watched yet: read when it is armed
        watcher.target({b: "log_grew"})
        batch = await next_batch()
        assert batch.armed == {b} and seen(batch) == [("log_grew", b)]
        append(a)  # no longer followed: nothing
        append(b)
        assert seen(await next_batch()) == [("log_grew", b)]
        watcher.target({b: "log_grew"})  # unchanged: no batch, no re-read
        append(b, "another\n")
        batch = await next_batch()
        assert batch.armed == {b} and seen(batch) == [("log_grew", b)]
    run(scenario)


def test_a_sibling_file_in_the_same_directory_is_not_an_event(tmp_path):
    log, info = make(tmp_path, "r1/agent-stdout.txt", "r1/run-info.yaml")

    async def scenario(watcher, next_batch):
        watcher.target({log: "log_grew"})
        await next_batch()
        append(info)
        append(log)
        assert seen(await next_batch()) == [("log_grew", log)]
    run(scenario)


def test_a_rotated_bus_is_an_event(tmp_path):
    (bus,) = make(tmp_path, "t1/TASK-MESSAGE-BUS.md")

    async def scenario(watcher, next_batch):
        watcher.target({bus: "bus_grew"})
        await next_batch()
        os.rename(bus, bus + ".20260621-000000.archived")
        assert seen(await next_batch()) == [("bus_grew", bus)]
        append(bus)
        assert seen(await next_batch()) == [("bus_grew", bus)]
    run(scenario)


def test_a_removed_directory_disarms_its_files_and_a_missing_one_is_never_armed(tmp_path):
    log, bus = make(tmp_path, "r1/agent-stdout.txt", "t1/TASK-MESSAGE-BUS.md")
    missing = str(tmp_path / "r9" / "agent-stdout.txt")

    async def scenario(watcher, next_batch):
        watcher.target({log: "log_grew", bus: "bus_grew", missing: "log_grew"})
        assert (await next_batch()).armed == {log, bus}
        shutil.rmtree(os.path.dirname(log))
        batch = await next_batch()
        while log in batch.armed:  # the file's deletion may come first
            batch = await next_batch()
        assert batch.armed == {bus}
    run(scenario)


def test_a_directory_created_later_is_armed_when_targeted_again(tmp_path):
    log = str(tmp_path / "r1" / "agent-stdout.txt")
    (other,) = make(tmp_path, "r0/agent-stdout.txt")

    async def scenario(watcher, next_batch):
        watcher.target({log: "log_grew", other: "log_grew"})
        assert (await next_batch()).armed == {other}
        os.makedirs(os.path.dirname(log))
        append(log)
        watcher.target({log: "log_grew", other: "log_grew"})  # the same files: retried
        batch = await next_batch()
        assert batch.armed == {log, other} and seen(batch) == [("log_grew", log)]
    run(scenario)


def test_a_symlinked_directory_is_left_to_the_root_watcher(tmp_path):
    (log,) = make(tmp_path, "real/agent-stdout.txt")
    os.symlink(tmp_path / "real", tmp_path / "link")
    linked = str(tmp_path / "link" / "agent-stdout.txt")

    async def scenario(watcher, next_batch):
        watcher.target({linked: "log_grew", log: "log_grew"})
        assert (await next_batch()).armed == {log}
    run(scenario)


def test_stop_before_start_ends_the_stream_at_once():
    watcher = FollowWatcher()
    watcher.stop()
    watcher.target({"/nowhere/agent-stdout.txt": "log_grew"})  # ignored, no error

    async def main():
        return [b async for b in watcher.batches()]
    assert asyncio.run(main()) == []


def test_no_fast_path_on_a_network_file_system(tmp_path, monkeypatch):
    import conductor.watch.watcher as watcher_module
    monkeypatch.setattr(watcher_module, "filesystem_type", lambda path: "nfs4")
    watcher = FollowWatcher(str(tmp_path))
    watcher.target({str(tmp_path / "r1" / "agent-stdout.txt"): "log_grew"})

    async def main():
        return [b async for b in watcher.batches()]
    assert asyncio.run(asyncio.wait_for(main(), TIMEOUT)) == []
    assert watcher.failed == ("runs root is on nfs4: no notifications for other machines' "
                              "writes")
