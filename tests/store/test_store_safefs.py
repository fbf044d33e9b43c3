"""The safe file module: links, FIFOs, devices, sizes and escapes, each with a sentinel outside."""

from __future__ import annotations

import os
import threading

import pytest

from conductor.errors import LayoutError
from conductor.store import safefs
from conductor.store.safefs import UnsafeFileError


@pytest.fixture
def tree(tmp_path):
    """``root/p/t/runs/r`` and a sentinel dir outside the root with one file."""
    root = tmp_path / "root"
    run = root / "p" / "t" / "runs" / "r"
    run.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n")
    return str(root), str(run), outside


def _snapshot(path):
    out = {}
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(base, name)
            st = os.lstat(full)
            data = open(full, "rb").read() if os.path.isfile(full) and not os.path.islink(full) else None
            out[os.path.relpath(full, path)] = (st.st_mode, data)
    return out


def test_reads_writes_and_deletes_a_plain_file(tree):
    root, run, _ = tree
    path = os.path.join(run, "output.md")
    assert safefs.read_bytes(root, path, 100) is None
    safefs.write_atomic(root, path, b"hello\n")
    assert safefs.read_bytes(root, path, 100) == b"hello\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    assert safefs.read_tail(root, path, 3) == b"lo\n"
    assert safefs.unlink(root, path) is True
    assert safefs.unlink(root, path) is False
    assert os.listdir(run) == []  # no temporary file left behind


@pytest.mark.parametrize("level", ["p", "t", "runs", "r"])
def test_a_link_at_any_level_is_refused_and_nothing_outside_is_touched(tree, level):
    root, run, outside = tree
    parts = ["p", "t", "runs", "r"]
    target = os.path.join(root, *parts[:parts.index(level) + 1])
    os.rename(target, str(outside / "moved"))
    os.symlink(str(outside / "moved"), target)
    before = _snapshot(str(outside))
    path = os.path.join(run, "output.md")
    for call in (lambda: safefs.read_bytes(root, path, 100),
                 lambda: safefs.write_atomic(root, path, b"x"),
                 lambda: safefs.unlink(root, path),
                 lambda: safefs.rmtree(root, os.path.join(run, "sub")),
                 lambda: safefs.open_append(root, path),
                 lambda: safefs.create_exclusive(root, path, b"x")):
        with pytest.raises(UnsafeFileError) as info:
            call()
        assert str(info.value) == (f"{target}: is a symbolic link; refusing to follow it below "
                                   "the runs root")
    assert _snapshot(str(outside)) == before
    assert safefs.identity(root, run) is None


def test_a_link_at_the_file_name_is_never_followed(tree):
    root, run, outside = tree
    path = os.path.join(run, "output.md")
    os.symlink(str(outside / "secret.txt"), path)
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        safefs.read_bytes(root, path, 100)
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        safefs.open_append(root, path)
    # a whole-file write replaces the link itself
    safefs.write_atomic(root, path, b"ours\n")
    assert not os.path.islink(path) and open(path).read() == "ours\n"
    assert (outside / "secret.txt").read_text() == "outside\n"


def test_a_dangling_link_is_not_created_through(tree):
    root, run, outside = tree
    path = os.path.join(run, "output.md")
    os.symlink(str(outside / "new.txt"), path)
    assert safefs.create_exclusive(root, path, b"x") is False
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        safefs.open_append(root, path)
    assert not (outside / "new.txt").exists()


def test_a_fifo_never_blocks_and_is_refused(tree):
    root, run, _ = tree
    path = os.path.join(run, "run-info.yaml")
    os.mkfifo(path)
    done = []

    def attempt():
        for call in (lambda: safefs.read_bytes(root, path, 100),
                     lambda: safefs.read_tail(root, path, 100),
                     lambda: safefs.open_append(root, path)):
            try:
                call()
            except UnsafeFileError as exc:
                done.append(str(exc))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "a FIFO blocked a read"
    assert done == [f"{path}: is a FIFO, expected a regular file"] * 3


def test_devices_and_directories_are_refused(tree):
    root, run, _ = tree
    os.mkdir(os.path.join(run, "output.md"))
    with pytest.raises(UnsafeFileError) as info:
        safefs.read_bytes(root, os.path.join(run, "output.md"), 10)
    assert str(info.value) == f"{run}/output.md: is a directory, expected a regular file"
    with pytest.raises(UnsafeFileError, match="is a directory, expected a regular file"):
        safefs.write_atomic(root, os.path.join(run, "output.md"), b"x")
    with pytest.raises(UnsafeFileError, match="is a directory, expected a file"):
        safefs.unlink(root, os.path.join(run, "output.md"))
    os.symlink("/dev/zero", os.path.join(run, "agent-stdout.txt"))
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        safefs.read_bytes(root, os.path.join(run, "agent-stdout.txt"), 10)


def test_reads_are_capped_without_reading_the_file(tree):
    root, run, _ = tree
    path = os.path.join(run, "run-info.yaml")
    with open(path, "wb") as f:
        f.write(b"x" * (300 * 1024))
    with pytest.raises(UnsafeFileError) as info:
        safefs.read_bytes(root, path, 256 * 1024)
    assert str(info.value) == f"{path}: larger than 256 KiB; refusing to read it"
    assert safefs.read_bytes(root, path, 300 * 1024) == b"x" * (300 * 1024)


def test_paths_outside_the_root_are_refused(tree):
    root, _, outside = tree
    for path in (str(outside / "secret.txt"), os.path.join(root, "..", "outside", "secret.txt"),
                 os.path.dirname(root)):
        with pytest.raises(UnsafeFileError, match="outside the runs root"):
            safefs.read_bytes(root, path, 100)
    with pytest.raises(LayoutError, match="outside the runs root"):
        safefs.unlink(root, str(outside / "secret.txt"))
    assert (outside / "secret.txt").read_text() == "outside\n"


def test_rmtree_removes_links_inside_never_their_targets(tree):
    root, run, outside = tree
    os.symlink(str(outside), os.path.join(run, "link-to-outside"))
    os.symlink(str(outside / "secret.txt"), os.path.join(run, "file-link"))
    os.mkdir(os.path.join(run, "sub"))
    os.symlink(str(outside), os.path.join(run, "sub", "deeper"))
    os.mkfifo(os.path.join(run, "fifo"))
    before = _snapshot(str(outside))
    task = os.path.dirname(os.path.dirname(run))
    assert safefs.rmtree(root, task) is True
    assert not os.path.lexists(task)
    assert _snapshot(str(outside)) == before
    assert safefs.rmtree(root, task) is False


def test_writing_through_a_hard_link_is_refused(tree):
    root, run, outside = tree
    path = os.path.join(run, "agent-stdout.txt")
    os.link(str(outside / "secret.txt"), path)
    with pytest.raises(UnsafeFileError) as info:
        safefs.open_append(root, path)
    assert str(info.value) == f"{path}: has 2 hard links; refusing to write through it"
    assert (outside / "secret.txt").read_text() == "outside\n"


def test_identity_follows_the_directory_not_the_name(tree):
    root, run, _ = tree
    before = safefs.identity(root, run)
    assert before is not None
    os.rename(run, run + "-old")
    os.mkdir(run)
    assert safefs.identity(root, run) not in (None, before)


def test_makedirs_and_listdir(tree):
    root, _, outside = tree
    new = os.path.join(root, "q", "t2", "runs")
    safefs.makedirs(root, new)
    assert os.path.isdir(new)
    assert safefs.listdir(root, os.path.join(root, "q")) == ["t2"]
    assert safefs.listdir(root, os.path.join(root, "missing")) == []
    os.symlink(str(outside), os.path.join(root, "q", "evil"))
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        safefs.makedirs(root, os.path.join(root, "q", "evil", "runs"))
    assert os.listdir(str(outside)) == ["secret.txt"]


def test_a_full_disk_write_keeps_the_old_file(tree, monkeypatch):
    root, run, _ = tree
    path = os.path.join(run, "output.md")
    safefs.write_atomic(root, path, b"old\n")
    real_write = os.write

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(UnsafeFileError) as info:
        safefs.write_atomic(root, path, b"new\n")
    monkeypatch.setattr(os, "write", real_write)
    assert str(info.value) == f"{path}: write: no space left on device"
    assert open(path).read() == "old\n"
    assert os.listdir(run) == ["output.md"]


def test_entries_report_links_as_links_and_subdirs_skip_them(tree):
    root, run, outside = tree
    runs = os.path.dirname(run)
    os.symlink(str(outside), os.path.join(runs, "linked"))
    os.mkfifo(os.path.join(runs, "pipe"))
    with open(os.path.join(runs, "file"), "w") as fh:
        fh.write("x")
    assert safefs.entries(root, runs) == {"r": safefs.DIR, "linked": safefs.LINK,
                                          "pipe": safefs.OTHER, "file": safefs.FILE}
    assert safefs.subdirs(root, runs) == ["r"]
    assert safefs.entries(root, os.path.join(runs, "missing")) == {}
    with pytest.raises(UnsafeFileError) as caught:
        safefs.entries(root, os.path.join(runs, "linked"))
    assert str(caught.value) == (f"{runs}/linked: is a symbolic link; refusing to follow it "
                                 "below the runs root")
    assert safefs.subdirs(root, os.path.join(runs, "linked")) == []


def test_anchors_and_mtimes(tree):
    root, run, _ = tree
    output = os.path.join(run, "output.md")
    task_md = os.path.join(root, "p", "t", "TASK.md")
    assert safefs.above(output, 5) == root
    assert safefs.layout_root(output) == root
    assert safefs.layout_root(task_md) == root
    assert safefs.mtime_ns(root, output) is None
    safefs.write_atomic(root, output, b"x")
    assert safefs.mtime_ns(root, output) == os.lstat(output).st_mtime_ns
    fd = safefs.open_view(output)
    try:
        assert os.read(fd, 10) == b"x"
    finally:
        os.close(fd)
    assert safefs.open_view(task_md) is None


def test_a_missing_root_reads_as_absent(tmp_path):
    root = str(tmp_path / "no-root")
    path = os.path.join(root, "p", "t", "TASK.md")
    assert safefs.read_bytes(root, path, 10) is None
    assert safefs.lstat(root, path) is None
    assert safefs.listdir(root, root) == []
    assert safefs.is_file(root, path) is False


def test_lock_checks_never_block_on_a_fifo_or_follow_a_link(tree):
    from conductor import locking
    root, run, outside = tree
    fifo = os.path.join(run, "a.lock")
    os.mkfifo(fifo)
    link = os.path.join(run, "b.lock")
    os.symlink(str(outside / "secret.txt"), link)
    done = threading.Event()
    result = {}

    def check():
        result["fifo"] = locking.is_locked(fifo)
        result["link"] = locking.is_locked(link)
        try:
            with locking.locked_file(fifo, 0.1):
                result["locked"] = True
        except OSError as exc:
            result["locked"] = str(exc)
        done.set()

    threading.Thread(target=check, daemon=True).start()
    assert done.wait(10), "a lock check blocked on a FIFO"
    assert result == {"fifo": False, "link": False,
                      "locked": f"[Errno 22] not a regular file: '{fifo}'"}


def test_run_info_and_task_files_are_read_through_safefs(tree):
    from conductor.errors import RunInfoError
    from conductor.store import read_run_info, read_task_prompt, write_stop_requested
    root, run, outside = tree
    info = os.path.join(run, "run-info.yaml")
    with open(info, "wb") as fh:
        fh.truncate((256 << 10) + 1)
    with pytest.raises(RunInfoError) as caught:
        read_run_info(info)
    assert str(caught.value) == f"{info}: larger than 256 KiB; refusing to read it"
    task_dir = os.path.join(root, "p", "t")
    os.mkfifo(os.path.join(task_dir, "TASK.md"))
    with pytest.raises(UnsafeFileError) as caught:
        read_task_prompt(task_dir)
    assert str(caught.value) == f"{task_dir}/TASK.md: is a FIFO, expected a regular file"
    marker = os.path.join(task_dir, "STOP-REQUESTED")
    os.symlink(str(outside / "secret.txt"), marker)
    write_stop_requested(task_dir, permanent=True)  # replaces the link, never writes through it
    assert not os.path.islink(marker) and open(marker).read() == "permanent\n"
    assert (outside / "secret.txt").read_text() == "outside\n"
