"""Appending, reading, tailing, following and rotating a bus file."""

import os
import subprocess
import sys
import time

import pytest

from conductor.bus import BusReader, Message, MessageBus
from conductor.bus.codec import encode_entry
from conductor.errors import BusError


def bus_at(tmp_path, name="TASK-MESSAGE-BUS.md"):
    return MessageBus(str(tmp_path / name))


def post(bus, body, type_="INFO"):
    return bus.append(Message(type=type_, project_id="p", task_id="t", body=body))


def test_append_validates_type_and_project(tmp_path):
    bus = bus_at(tmp_path)
    with pytest.raises(BusError, match="^message type is empty$"):
        bus.append(Message(project_id="p"))
    with pytest.raises(BusError, match="^project id is empty$"):
        bus.append(Message(type="INFO"))
    assert not os.path.exists(bus.path)


def test_first_entry_has_no_separator_and_file_ends_with_newline(tmp_path):
    bus = bus_at(tmp_path)
    post(bus, "one")
    post(bus, "two")
    raw = open(bus.path, "rb").read()
    assert raw.startswith(b"---\nmsg_id: MSG-")
    assert b"---\none\n\n---\nmsg_id:" in raw
    assert raw.endswith(b"---\ntwo\n")
    assert oct(os.stat(bus.path).st_mode & 0o777) == "0o644"


def test_issue_gets_its_own_id_and_ids_are_in_file_order(tmp_path):
    bus = bus_at(tmp_path)
    msgs = [post(bus, str(i), "ISSUE" if i == 3 else "INFO") for i in range(50)]
    assert msgs[3].issue_id == msgs[3].msg_id
    read = bus.read_all()
    assert [m.msg_id for m in read] == [m.msg_id for m in msgs]
    assert len({m.msg_id for m in read}) == 50


def test_lock_is_flock_and_held_lock_times_out(tmp_path, python, subprocess_env):
    bus = bus_at(tmp_path)
    post(bus, "x")
    holder = subprocess.Popen(
        [python, "-c", "import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)", bus.path],
        stdout=subprocess.PIPE, env=subprocess_env)
    try:
        assert holder.stdout.readline() == b"locked\n"
        locks = open("/proc/locks").read()
        ino = os.stat(bus.path).st_ino
        assert any("FLOCK" in line and f":{ino} " in line for line in locks.splitlines())
        quick = MessageBus(bus.path, lock_timeout=0.1, attempts=1)
        with pytest.raises(BusError, match="^append failed after 1 attempts: lock message bus: lock timeout$"):
            post(quick, "blocked")
    finally:
        holder.kill()
        holder.wait()
    post(bus, "after")
    assert [m.body for m in bus.read_all()] == ["x", "after"]


def test_symlinked_bus_is_refused(tmp_path):
    target = tmp_path / "elsewhere.md"
    target.write_text("")
    link = tmp_path / "TASK-MESSAGE-BUS.md"
    link.symlink_to(target)
    bus = MessageBus(str(link))
    with pytest.raises(BusError, match='is a symlink$'):
        post(bus, "x")
    with pytest.raises(BusError, match='is a symlink$'):
        bus.read_all()
    assert target.read_text() == ""


def test_directory_in_place_of_bus_is_refused(tmp_path):
    (tmp_path / "TASK-MESSAGE-BUS.md").mkdir()
    with pytest.raises(BusError, match="is not a regular file$"):
        post(bus_at(tmp_path), "x")


def test_missing_bus_reads_empty(tmp_path):
    bus = bus_at(tmp_path)
    assert bus.read_all() == [] and bus.tail(20) == [] and bus.reader().poll() == []


def test_read_since_follows_upstream_cursor_rule(tmp_path):
    bus = bus_at(tmp_path)
    msgs = [post(bus, str(i)) for i in range(5)]
    assert [m.body for m in bus.read_since(msgs[2].msg_id)] == ["3", "4"]
    with pytest.raises(BusError, match='^since id "nope" not found: since id not found$'):
        bus.read_since("nope")


def test_tail_on_big_file_with_mapping_bodies(tmp_path):
    # upstream's ReadLastN returned empty msg_ids and header text here (spec 9 #4)
    bus = bus_at(tmp_path)
    bodies = [f"key: value {i}\nother: {i}\n[2026-02-20 15:30:45] ERROR: fake legacy" for i in range(3000)]
    with open(bus.path, "wb") as f:
        for i, body in enumerate(bodies):
            f.write((b"\n" if i else b"") + encode_entry(Message(msg_id=f"M{i}", ts=1, type="FACT",
                                                                 project_id="p", body=body)))
    assert os.path.getsize(bus.path) > 64 * 1024 * 4
    for n in (1, 20, 700, 3000, 5000):
        got = bus.tail(n)
        assert [m.msg_id for m in got] == [f"M{i}" for i in range(max(0, 3000 - n), 3000)]
        assert [m.body for m in got] == bodies[max(0, 3000 - n):]


def test_tail_without_entry_markers_falls_back_to_full_scan(tmp_path):
    bus = bus_at(tmp_path)
    lines = "".join(f"[2026-02-20 15:30:{i % 60:02d}] INFO: line {i}\n" for i in range(5000))
    open(bus.path, "w").write(lines)
    got = bus.tail(3)
    assert [m.body for m in got] == ["line 4997", "line 4998", "line 4999"]


def test_reader_returns_only_new_messages_and_waits_for_partial(tmp_path):
    bus = bus_at(tmp_path)
    reader = BusReader(bus.path)
    post(bus, "one")
    assert [m.body for m in reader.poll()] == ["one"]
    assert reader.poll() == []
    entry = b"\n" + encode_entry(Message(msg_id="P", ts=1, type="T", project_id="p", body="partial body"))
    with open(bus.path, "ab") as f:
        f.write(entry[:-5])
        f.flush()
        assert reader.poll() == []
        f.write(entry[-5:])
    assert [m.msg_id for m in reader.poll()] == ["P"]
    post(bus, "two")
    assert [m.body for m in reader.poll()] == ["two"]


def test_reader_restarts_when_file_shrinks(tmp_path):
    bus = bus_at(tmp_path)
    reader = BusReader(bus.path)
    for i in range(3):
        post(bus, f"old {i}")
    assert len(reader.poll()) == 3
    with open(bus.path, "wb"):
        pass
    post(bus, "fresh")
    assert [m.body for m in reader.poll()] == ["fresh"]
    assert reader.resets == 1


def test_rotation_loses_and_repeats_nothing_for_a_reader(tmp_path):
    bus = bus_at(tmp_path)
    reader = BusReader(bus.path)
    seen = []
    post(bus, "a")
    seen += reader.poll()
    post(bus, "b")  # appended before rotation, not yet read
    archive = bus.rotate()
    assert archive and os.path.exists(archive) and not os.path.exists(bus.path)
    post(bus, "c")
    seen += reader.poll()
    post(bus, "d")
    seen += reader.poll()
    assert [m.body for m in seen] == ["a", "b", "c", "d"]
    assert [m.body for m in MessageBus(archive).read_all()] == ["a", "b"]


def test_poll_between_rotation_and_the_next_append_reads_the_new_file_from_its_start(tmp_path):
    """A poll that finds the bus renamed and not yet re-created must not keep the old offset:
    the new file, once written past that offset, would otherwise lose its first messages."""
    bus = bus_at(tmp_path)
    reader = BusReader(bus.path)
    post(bus, "a")
    assert [m.body for m in reader.poll()] == ["a"]
    post(bus, "b")
    bus.rotate()
    assert [m.body for m in reader.poll()] == ["b"]  # drained; no new file yet
    for body in ("c", "d", "e", "f"):  # the new file grows past the old offset
        post(bus, body)
    assert [m.body for m in reader.poll()] == ["c", "d", "e", "f"]
    assert reader.poll() == []


def test_new_bus_that_vanishes_while_the_reader_opens_it_is_read_from_its_start(
        tmp_path, monkeypatch):
    from conductor.bus import busfile
    bus = bus_at(tmp_path)
    reader = BusReader(bus.path)
    post(bus, "a")
    assert [m.body for m in reader.poll()] == ["a"]
    bus.rotate()
    post(bus, "b")
    real_open = busfile._open_read
    monkeypatch.setattr(busfile, "_open_read", lambda path: None)  # gone again as we open it
    assert reader.poll() == []
    monkeypatch.setattr(busfile, "_open_read", real_open)
    for body in ("c", "d", "e"):
        post(bus, body)
    assert [m.body for m in reader.poll()] == ["b", "c", "d", "e"]


def _wait_until_open_in(proc, path, timeout=60.0):
    """Until ``proc`` holds a descriptor on ``path``'s file (our lock is polled, so /proc/locks
    shows no waiter: the open descriptor is what commits the writer to this file)."""
    want = os.stat(path)
    fds = f"/proc/{proc.pid}/fd"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the writer exited before opening the bus"
        for name in os.listdir(fds) if os.path.isdir(fds) else ():
            try:
                st = os.stat(os.path.join(fds, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
                return
        time.sleep(0.01)
    raise AssertionError(f"the writer did not open {path} within {timeout}s")


def test_writer_waiting_on_lock_during_rotation_writes_to_new_file(tmp_path, python, subprocess_env):
    bus = bus_at(tmp_path)
    post(bus, "before")
    fd = os.open(bus.path, os.O_RDONLY)
    import fcntl
    fcntl.flock(fd, fcntl.LOCK_EX)
    writer = subprocess.Popen(
        [python, "-c", "import sys; from conductor.bus import *; "
         "MessageBus(sys.argv[1]).append(Message(type='INFO', project_id='p', body='late'))", bus.path],
        env=subprocess_env)
    _wait_until_open_in(writer, bus.path)  # the writer now polls for the lock on the old file
    os.rename(bus.path, bus.path + ".archived")
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    assert writer.wait(timeout=20) == 0
    assert [m.body for m in MessageBus(bus.path).read_all()] == ["late"]
    assert [m.body for m in MessageBus(bus.path + ".archived").read_all()] == ["before"]


def test_failed_write_leaves_previous_content(tmp_path, python, subprocess_env):
    bus = bus_at(tmp_path)
    post(bus, "kept")
    before = open(bus.path, "rb").read()
    # a file-size limit makes the append fail part-way, as a full disk would
    code = ("import resource,signal,sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 100}, {len(before) + 100})); "
            "from conductor.bus import *; from conductor.errors import BusError\n"
            "try:\n MessageBus(sys.argv[1]).append(Message(type='INFO', project_id='p', body='x'*5000))\n"
            "except BusError as e:\n print(e); sys.exit(3)")
    proc = subprocess.run([python, "-c", code, bus.path], env=subprocess_env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith(f'append to message bus "{bus.path}": File too large')
    assert open(bus.path, "rb").read() == before
    post(bus, "after")
    assert [m.body for m in bus.read_all()] == ["kept", "after"]


def test_rotation_before_the_first_poll_loses_nothing(tmp_path):
    bus = bus_at(tmp_path)
    post(bus, "a")
    reader = BusReader(bus.path)
    post(bus, "b")
    bus.rotate()
    post(bus, "c")
    assert [m.body for m in reader.poll()] == ["a", "b", "c"]


def test_a_plain_flock_and_ours_exclude_each_other(tmp_path):
    """Another program's BSD flock (what the Go tool takes) and ours: each side sees the other."""
    import fcntl

    from conductor import locking
    from conductor.errors import LockTimeout
    bus = bus_at(tmp_path)
    post(bus, "x")
    with open(bus.path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BusError, match="lock timeout$"):
            post(MessageBus(bus.path, lock_timeout=0.05, attempts=1), "blocked")
        fcntl.flock(held, fcntl.LOCK_UN)
    fd = os.open(bus.path, os.O_RDONLY)
    try:
        locking.acquire(fd, 1.0)
        with open(bus.path, "rb") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LockTimeout):
            other_fd = os.open(bus.path, os.O_RDONLY)
            try:
                locking.acquire(other_fd, 0.05)
            finally:
                os.close(other_fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --- an appending bus keeps its file open between appends ----------------------------------

def test_one_bus_object_follows_deletion_and_recreation_of_its_file(tmp_path):
    bus = bus_at(tmp_path)
    post(bus, "first")
    os.unlink(bus.path)
    post(bus, "second")
    assert [m.body for m in MessageBus(bus.path).read_all()] == ["second"]
    os.rename(bus.path, bus.path + ".old")
    open(bus.path, "w").close()  # someone else's new, empty bus
    post(bus, "third")
    assert [m.body for m in MessageBus(bus.path).read_all()] == ["third"]
    assert [m.body for m in MessageBus(bus.path + ".old").read_all()] == ["second"]


def test_a_symlink_put_in_place_of_an_open_bus_is_refused(tmp_path):
    bus = bus_at(tmp_path)
    post(bus, "first")
    target = tmp_path / "elsewhere.md"
    target.write_text("")
    os.unlink(bus.path)
    os.symlink(target, bus.path)
    with pytest.raises(BusError, match="is a symlink$"):
        post(bus, "second")
    assert target.read_text() == ""


def test_threads_sharing_one_bus_object_lose_nothing_and_keep_time_order(tmp_path):
    import threading
    bus = bus_at(tmp_path)

    def write(name):
        for i in range(200):
            bus.append(Message(type="INFO", project_id="p", run_id=name, body=str(i)))

    threads = [threading.Thread(target=write, args=(f"t{k}",)) for k in range(8)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-append included
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    got = MessageBus(bus.path).read_all()
    assert len(got) == 1600 and len({m.msg_id for m in got}) == 1600
    assert [m.ts for m in got] == sorted(m.ts for m in got)  # stamped under the lock: file order
    for k in range(8):
        assert [m.body for m in got if m.run_id == f"t{k}"] == [str(i) for i in range(200)]


def test_a_forked_child_does_not_share_the_parents_lock(tmp_path):
    """flock belongs to the open file: a child using the parent's descriptor would get a lock the
    parent holds. The child must open its own and wait like any other writer."""
    import fcntl
    bus = MessageBus(str(tmp_path / "TASK-MESSAGE-BUS.md"), lock_timeout=0.3, attempts=1)
    post(bus, "parent")
    fcntl.flock(bus._wfd, fcntl.LOCK_EX)  # the parent is in the middle of an append
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            post(bus, "child")
            os._exit(0)
        except BusError:
            os._exit(7)
        except BaseException:
            os._exit(9)
    _, status = os.waitpid(pid, 0)
    fcntl.flock(bus._wfd, fcntl.LOCK_UN)
    assert os.waitstatus_to_exitcode(status) == 7  # lock timeout: it waited for the parent
    post(bus, "parent again")
    assert [m.body for m in bus.read_all()] == ["parent", "parent again"]


def test_closed_bus_reopens_on_the_next_append(tmp_path):
    with bus_at(tmp_path) as bus:
        post(bus, "a")
    assert bus._wfd is None
    post(bus, "b")
    bus.close()
    bus.close()
    assert [m.body for m in bus.read_all()] == ["a", "b"]
