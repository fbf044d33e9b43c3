"""run-info.yaml on disk: atomic writes, locked updates, concurrent readers and writers."""

import errno
import logging
import multiprocessing
import os
import stat
import subprocess
import textwrap

import pytest

from conductor import locking
from conductor.errors import LockTimeout, RunInfoError
from conductor.store import (RunInfo, RunInfoMissing, dump_run_info, read_run_info,
                             read_run_info_stat, replace_run_info, update_run_info,
                             write_run_info)


def _info(**kw):
    base = dict(run_id="r1", project_id="p", task_id="t", agent="claude", pid=10, pgid=10,
                start_time=1771601445123456789)
    base.update(kw)
    return RunInfo(**base)


@pytest.fixture
def run_dir(tmp_path):
    path = tmp_path / "root" / "p" / "t" / "runs" / "r1"
    path.mkdir(parents=True)
    return path


def test_write_is_exact_with_mode_0644_and_leaves_no_temp(run_dir):
    path = str(run_dir / "run-info.yaml")
    old = os.umask(0o077)
    try:
        write_run_info(path, _info())
    finally:
        os.umask(old)
    assert open(path).read() == dump_run_info(_info())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert sorted(os.listdir(run_dir)) == ["run-info.yaml"]
    assert read_run_info(path) == _info()


def test_out_of_space_keeps_the_previous_file_and_removes_the_temp(run_dir, monkeypatch):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    before = open(path, "rb").read()
    real_write = os.write

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(RunInfoError) as err:
        write_run_info(path, _info(status="failed", exit_code=1))
    monkeypatch.setattr(os, "write", real_write)
    assert str(err.value) == f"{path}: write: no space left on device"
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(run_dir)) == ["run-info.yaml"]


def test_missing_file_and_bad_bytes_are_typed_errors(run_dir):
    path = str(run_dir / "run-info.yaml")
    with pytest.raises(RunInfoMissing, match="read: no such file"):
        read_run_info(path)
    open(path, "wb").write(b"version: 1\nrun_id: \xff\xfe\n")
    with pytest.raises(RunInfoError, match=r"run-info.yaml: not valid UTF-8 text \(byte 19\)"):
        read_run_info(path)


def test_read_with_stat_gives_the_mtime(run_dir):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    info, mtime_ns = read_run_info_stat(path)
    assert info == _info() and mtime_ns == os.stat(path).st_mtime_ns


def test_update_applies_a_mutation_and_keeps_the_lock_file(run_dir):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())

    def finish(info):
        info.status, info.exit_code, info.end_time = "completed", 0, info.start_time + 5

    result = update_run_info(path, finish)
    assert (result.status, result.exit_code) == ("completed", 0)
    assert read_run_info(path) == result
    assert os.path.isfile(path + ".lock")  # kept: spec 9 #11
    assert sorted(os.listdir(run_dir)) == ["run-info.yaml", "run-info.yaml.lock"]


def test_update_accepts_a_returned_record_and_skips_unchanged_writes(run_dir):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    inode = os.stat(path).st_ino
    assert update_run_info(path, lambda info: None) == _info()
    assert os.stat(path).st_ino == inode  # not rewritten
    new = update_run_info(path, lambda info: RunInfo(**{**info.__dict__, "pid": 99}))
    assert new.pid == 99 and read_run_info(path).pid == 99


def test_update_times_out_with_the_lock_path_in_the_message(run_dir):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    with locking.locked_file(path + ".lock", 1.0):
        with pytest.raises(LockTimeout, match=r"run-info.yaml.lock: lock timeout$"):
            update_run_info(path, lambda info: None, timeout=0.05)


def test_a_slow_lock_wait_is_logged(run_dir, caplog, monkeypatch):
    from conductor.store import runinfo as runinfo_mod
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    ticks = iter([10.0, 10.25])
    monkeypatch.setattr(runinfo_mod, "_monotonic", lambda: next(ticks))
    with caplog.at_level(logging.WARNING, logger="conductor.store"):
        update_run_info(path, lambda info: None)
    assert [r.getMessage() for r in caplog.records] == [
        f"run-info lock wait took 250 ms: {path}.lock"]


def test_a_quick_lock_wait_is_not_logged(run_dir, caplog, monkeypatch):
    from conductor.store import runinfo as runinfo_mod
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    ticks = iter([10.0, 10.15])
    monkeypatch.setattr(runinfo_mod, "_monotonic", lambda: next(ticks))
    with caplog.at_level(logging.WARNING, logger="conductor.store"):
        update_run_info(path, lambda info: None)
    assert caplog.records == []


def test_replace_waits_for_the_update_lock(run_dir):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info())
    with locking.locked_file(path + ".lock", 1.0):
        with pytest.raises(LockTimeout):
            replace_run_info(path, _info(pid=5), timeout=0.05)
    replace_run_info(path, _info(pid=5))
    assert read_run_info(path).pid == 5


# ---- across processes ------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import os, sys
    from conductor.store import RunInfo, write_run_info
    path, stop = sys.argv[1], sys.argv[2]
    big = "x" * 20000
    a = RunInfo(run_id="r1", project_id="p", task_id="t", status="running", commandline=big)
    b = RunInfo(run_id="r1", project_id="p", task_id="t", status="failed", exit_code=1,
                end_time=1771601445123456789, error_summary="agent reported failure",
                commandline=big + "y" * 5000)
    n = 0
    while not os.path.exists(stop):
        write_run_info(path, a if n % 2 else b)
        n += 1
""")


def test_readers_never_see_a_half_written_file(run_dir, subprocess_env, python):
    path = str(run_dir / "run-info.yaml")
    stop = str(run_dir.parent / "stop")
    write_run_info(path, RunInfo(run_id="r1", project_id="p", task_id="t",
                                 commandline="x" * 20000))
    writer = subprocess.Popen([python, "-c", WRITER, path, stop], env=subprocess_env)
    seen = set()
    try:
        for _ in range(2000):
            info = read_run_info(path)
            assert info.status in ("running", "failed")
            expected_len = 20000 if info.status == "running" else 25000
            assert len(info.commandline) == expected_len
            seen.add(info.status)
    finally:
        open(stop, "w").close()
        writer.wait(timeout=30)
    assert writer.returncode == 0
    assert seen  # at least the file was read; both versions usually appear


def _increment_many(path, times):
    for _ in range(times):
        def bump(info):
            info.exit_code += 1
        update_run_info(path, bump, timeout=30)


def test_concurrent_updates_lose_nothing(run_dir):
    path = str(run_dir / "run-info.yaml")
    write_run_info(path, _info(exit_code=0))
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_increment_many, args=(path, 50)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert read_run_info(path).exit_code == 200
    assert os.path.exists(path + ".lock")


def test_run_info_over_256_kib_is_refused_and_read_only_that_far(tmp_path, monkeypatch):
    from conductor.store import read_run_info, safefs
    from conductor.store import runinfo as runinfo_mod
    path = tmp_path / "run-info.yaml"
    path.write_text("version: 1\nrun_id: r\n" + "#" * runinfo_mod.MAX_RUN_INFO_BYTES)
    read_bytes = []
    real_read = os.read

    def spy(fd, n):
        data = real_read(fd, n)
        read_bytes.append(len(data))
        return data

    monkeypatch.setattr(safefs.os, "read", spy)
    for reader in (read_run_info, runinfo_mod.read_run_info_stat):
        with pytest.raises(RunInfoError) as err:
            reader(str(path))
        assert str(err.value) == f"{path}: larger than 256 KiB; refusing to read it"
    # the size is known from fstat: nothing is read (and never more than 256 KiB + 1)
    assert sum(read_bytes) <= 2 * (256 * 1024 + 1)
