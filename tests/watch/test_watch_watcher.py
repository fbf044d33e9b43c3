"""RootWatcher against a real runs root, in both modes, with changes made by other processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading

import pytest

import conductor.watch.watcher as watcher_mod
from conductor.watch import RootWatcher, WatchEvent, filesystem_type

P = "demo"
T = "task-20260220-153045-watch"
R = "20260220-1530450000-4242-0001"
WAIT = 10.0  # "arrives within 10 s": generous, never a timing assertion
MODES = [pytest.param(False, id="inotify"), pytest.param(True, id="polling")]


class Collector:
    """Consumes a watcher's batches in a task and lets a test wait for an event."""

    def __init__(self, watcher: RootWatcher) -> None:
        self.watcher = watcher
        self.batches: list[list[WatchEvent]] = []
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "Collector":
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc) -> None:
        self.watcher.stop()
        await asyncio.wait_for(self.task, WAIT)

    async def _run(self) -> None:
        async for batch in self.watcher.batches():
            self.batches.append(batch)

    @property
    def events(self) -> list[WatchEvent]:
        return [e for b in self.batches for e in b]

    async def wait_for(self, kind: str, **fields) -> WatchEvent:
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            for e in self.events:
                if e.kind == kind and all(getattr(e, k) == v for k, v in fields.items()):
                    return e
            if asyncio.get_running_loop().time() > deadline:
                got = [(e.kind, e.task, e.run, e.file) for e in self.events]
                raise AssertionError(f"no {kind} {fields} within {WAIT}s; got {got}")
            await asyncio.sleep(0.02)


def _watcher(root, force_polling: bool) -> RootWatcher:
    return RootWatcher(str(root), force_polling=force_polling, poll_interval=0.1)


def _run_py(code: str, env: dict) -> None:
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)


def _make_task(root) -> str:
    task_dir = os.path.join(str(root), P, T)
    os.makedirs(os.path.join(task_dir, "runs"))
    return task_dir


@pytest.mark.parametrize("force_polling", MODES)
def test_changes_by_other_processes_arrive_as_typed_events(tmp_path, subprocess_env, force_polling):
    root = tmp_path / "runs"
    task_dir = _make_task(root)
    run_dir = os.path.join(task_dir, "runs", R)

    async def main():
        w = _watcher(root, force_polling)
        async with Collector(w) as c:
            assert await w.wait_ready(WAIT)
            assert w.mode == ("polling" if force_polling else "inotify")
            # a process posting to the task's bus (the CLI agents use)
            subprocess.run([sys.executable, "-m", "conductor", "bus", "post", "--root", str(root),
                            "--project", P, "--task", T, "--type", "PROGRESS", "--body", "hi"],
                           env=subprocess_env, check=True, timeout=30, capture_output=True)
            await c.wait_for("bus_grew", project=P, task=T, file="TASK-MESSAGE-BUS.md")
            # a process creating a run dir
            _run_py(f"import os; os.mkdir({run_dir!r})", subprocess_env)
            await c.wait_for("run_changed", task=T, run=R, file="")
            # a process writing run-info (atomically, through a temp file and a rename)
            _run_py("from conductor.store import RunInfo, write_run_info\n"
                    f"write_run_info({run_dir!r} + '/run-info.yaml', RunInfo(version=1, "
                    f"run_id={R!r}, project_id={P!r}, task_id={T!r}, agent='command', pid=1, "
                    "pgid=1, start_time=1, end_time=None, exit_code=-1, status='running'))",
                    subprocess_env)
            await c.wait_for("run_changed", task=T, run=R, file="run-info.yaml")
            # a process appending to the run's stdout
            _run_py(f"open({run_dir!r} + '/agent-stdout.txt', 'a').write('line\\n')",
                    subprocess_env)
            await c.wait_for("log_grew", task=T, run=R, file="agent-stdout.txt")
            # a process writing DONE
            _run_py(f"open({task_dir!r} + '/DONE', 'w').close()", subprocess_env)
            await c.wait_for("task_changed", project=P, task=T, file="DONE")
        # temp files of the atomic write never surface
        assert not [e for e in c.events if e.path.endswith(".tmp") or e.path.endswith(".lock")]
        for batch in c.batches:  # one event per (kind, project, task, run, file) in a batch
            assert len({e.key for e in batch}) == len(batch)

    asyncio.run(main())


@pytest.mark.parametrize("force_polling", MODES)
def test_root_created_after_the_watcher_started(tmp_path, force_polling):
    root = tmp_path / "later" / "runs"

    async def main():
        w = _watcher(root, force_polling)
        async with Collector(w) as c:
            assert not await w.wait_ready(0.3)
            assert w.mode == "polling" and "waiting" in w.reason
            _make_task(root)
            assert await w.wait_ready(WAIT)
            assert w.mode == ("polling" if force_polling else "inotify")
            await c.wait_for("rescan")  # what was made before the watch: re-read everything
            with open(os.path.join(str(root), P, T, "TASK-MESSAGE-BUS.md"), "a") as f:
                f.write("x\n")
            await c.wait_for("bus_grew", task=T)
        assert c.batches[0] == [WatchEvent("rescan", path=str(root))]

    asyncio.run(main())


@pytest.mark.parametrize("force_polling", MODES)
def test_root_removed_and_recreated_gives_a_rescan(tmp_path, force_polling):
    root = tmp_path / "runs"
    _make_task(root)

    async def main():
        w = _watcher(root, force_polling)
        async with Collector(w) as c:
            assert await w.wait_ready(WAIT)
            shutil.rmtree(root)
            for _ in range(int(WAIT / 0.02)):  # until the watcher noticed
                if not w.ready.is_set():
                    break
                await asyncio.sleep(0.02)
            assert not w.ready.is_set()
            _make_task(root)
            await c.wait_for("rescan")
            assert await w.wait_ready(WAIT)
            open(os.path.join(str(root), P, T, "DONE"), "w").close()
            await c.wait_for("task_changed", task=T, file="DONE")

    asyncio.run(main())


@pytest.mark.parametrize("force_polling", MODES)
def test_stop_ends_the_iterator(tmp_path, force_polling):
    root = tmp_path / "runs"
    root.mkdir()

    async def main():
        w = _watcher(root, force_polling)
        c = Collector(w)
        task = asyncio.create_task(c._run())
        assert await w.wait_ready(WAIT)
        w.stop()
        await asyncio.wait_for(task, WAIT)  # the async for ended by itself
        assert not w.ready.is_set()
        # a stopped watcher yields nothing
        assert [b async for b in w.batches()] == []

    asyncio.run(main())


def test_root_replaced_at_once_is_watched_again(tmp_path):
    """rm -rf and mkdir in one go: inotify reports the root's own removal; watch the new one."""
    root = tmp_path / "runs"
    _make_task(root)

    async def main():
        w = _watcher(root, False)
        async with Collector(w) as c:
            assert await w.wait_ready(WAIT)
            shutil.rmtree(root)
            _make_task(root)
            await c.wait_for("rescan")
            assert await w.wait_ready(WAIT)
            open(os.path.join(str(root), P, T, "DONE"), "w").close()
            await c.wait_for("task_changed", task=T, file="DONE")

    asyncio.run(main())


def test_stop_from_another_thread_and_no_thread_left(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()

    async def main():
        w = _watcher(root, False)
        c = Collector(w)
        task = asyncio.create_task(c._run())
        assert await w.wait_ready(WAIT)
        threading.Timer(0.05, w.stop).start()
        await asyncio.wait_for(task, WAIT)

    asyncio.run(main())
    for t in threading.enumerate():
        if t.name.startswith("conductor-watch"):
            t.join(WAIT)
            assert not t.is_alive()


def test_breaking_out_of_the_loop_cleans_up(tmp_path):
    root = tmp_path / "runs"
    _make_task(root)

    async def main():
        w = _watcher(root, False)
        gen = w.batches()
        first = asyncio.create_task(gen.__anext__())
        assert await w.wait_ready(WAIT)
        open(os.path.join(str(root), P, T, "DONE"), "w").close()
        batch = await asyncio.wait_for(first, WAIT)
        assert batch[0].file == "DONE"
        await gen.aclose()
        assert not w.ready.is_set()

    asyncio.run(main())


def test_falls_back_to_polling_when_inotify_fails(tmp_path, monkeypatch):
    import watchfiles._rust_notify as rust

    class LimitReached:
        def __init__(self, *args):
            raise OSError("OS file watch limit reached. (MaxFilesWatch)")

    monkeypatch.setattr(rust, "RustNotify", LimitReached)
    root = tmp_path / "runs"
    task_dir = _make_task(root)

    async def main():
        w = _watcher(root, False)
        async with Collector(w) as c:
            assert await w.wait_ready(WAIT)
            assert w.mode == "polling"
            assert w.reason == "inotify unavailable: OS file watch limit reached. (MaxFilesWatch)"
            with open(os.path.join(task_dir, "TASK-MESSAGE-BUS.md"), "a") as f:
                f.write("x\n")
            await c.wait_for("bus_grew", task=T)

    asyncio.run(main())


def test_network_file_systems_are_polled(tmp_path, monkeypatch):
    monkeypatch.setattr(watcher_mod, "filesystem_type", lambda path: "nfs4")
    root = tmp_path / "runs"
    task_dir = _make_task(root)

    async def main():
        w = _watcher(root, False)
        async with Collector(w) as c:
            assert await w.wait_ready(WAIT)
            assert w.mode == "polling"
            assert "nfs4" in w.reason
            open(os.path.join(task_dir, "STOP-REQUESTED"), "w").close()
            await c.wait_for("task_changed", file="STOP-REQUESTED")

    asyncio.run(main())


def test_filesystem_type_picks_the_longest_mount(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "40 22 0:50 / /mnt/shared rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2\n"
        "41 22 0:51 / /mnt/shared\\040space rw - cifs //srv/x rw\n")
    assert filesystem_type("/mnt/shared/runs/demo", str(info)) == "nfs4"
    assert filesystem_type("/mnt/shared", str(info)) == "nfs4"
    assert filesystem_type("/mnt/sharedx/runs", str(info)) == "ext4"
    assert filesystem_type("/mnt/shared space/runs", str(info)) == "cifs"
    assert filesystem_type("/home/u", str(tmp_path / "absent")) is None
