"""``run-agent task archive|restore``: the task dir moves to ``<root>/.archive/<project>/<task>``
and back; a live task, a taken name and links are refused with one line and exit 1."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from conductor.cli.main import main
from conductor.store import Layout, RunInfo, write_run_info

P = "proj"
T = "task-20260220-153045-arch"
RUN = "20260220-1530450000-100-1"

pytestmark = pytest.mark.usefixtures("utc_isolated")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def verb(capsys, root: str, name: str) -> tuple[int, str, str]:
    return run(capsys, "task", name, "--root", root, "--project", P, "--task", T)


def make_task(root: str) -> str:
    d = Layout(root).ensure_task_dir(P, T)
    with open(os.path.join(d, "TASK.md"), "w") as f:
        f.write("do it\n")
    return d


def archived(root: str) -> str:
    return os.path.join(os.path.abspath(root), ".archive", P, T)


def test_archive_then_restore_moves_the_task_and_back(capsys, root):
    d = make_task(root)
    code, out, err = verb(capsys, root, "archive")
    assert (code, out, err) == (0, f"Archived task: {T} -> {archived(root)}\n", "")
    assert not os.path.exists(d)
    assert open(os.path.join(archived(root), "TASK.md")).read() == "do it\n"
    # the archive is no project: list shows the project without the task, nothing more
    code, out, err = run(capsys, "list", "--root", root)
    assert (code, out, err) == (0, f"{P}\n", "")
    code, out, err = verb(capsys, root, "restore")
    assert (code, out, err) == (0, f"Restored task: {T} -> {d}\n", "")
    assert open(os.path.join(d, "TASK.md")).read() == "do it\n"
    assert os.listdir(os.path.join(root, ".archive")) == []  # the empty project dir goes


def test_archive_and_restore_of_what_is_not_there(capsys, root):
    os.makedirs(root)
    assert verb(capsys, root, "archive") == (1, "", f"Error: task not found: {P}/{T}\n")
    assert verb(capsys, root, "restore") == (1, "", f"Error: archived task not found: {P}/{T}\n")


def test_archive_refuses_a_name_already_archived_and_restore_a_taken_name(capsys, root):
    make_task(root)
    assert verb(capsys, root, "archive")[0] == 0
    make_task(root)
    assert verb(capsys, root, "archive") == (
        1, "", f"Error: task {T} of project {P} is already archived ({archived(root)}); "
               "restore or delete that one first\n")
    assert verb(capsys, root, "restore") == (
        1, "", f"Error: task {T} already exists in project {P}; not restoring over it\n")
    assert os.path.isdir(archived(root)) and os.path.isdir(Layout(root).task_dir(P, T))


def test_archive_refuses_a_live_task(capsys, root):
    d = make_task(root)
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()
    try:
        run_dir = os.path.join(d, "runs", RUN)
        os.makedirs(run_dir)
        write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
            run_id=RUN, project_id=P, task_id=T, agent="claude", pid=proc.pid, pgid=proc.pid,
            start_time=time.time_ns(), status="running"))
        assert verb(capsys, root, "archive") == (
            1, "", f"Error: task {T} is running (run {RUN} is alive); stop it first "
                   "(run-agent task stop), then archive it\n")
        assert os.path.isdir(d) and not os.path.exists(os.path.join(root, ".archive"))
    finally:
        proc.kill()


def test_a_symlinked_archive_is_refused_and_nothing_moves(capsys, root, tmp_path):
    d = make_task(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, os.path.join(root, ".archive"))
    code, out, err = verb(capsys, root, "archive")
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: {os.path.abspath(root)}/.archive") and "link" in err
    assert os.path.isdir(d) and os.listdir(elsewhere) == []
    # restore does not read through the link either
    (elsewhere / P / T).mkdir(parents=True)
    code, out, err = verb(capsys, root, "restore")
    assert (code, out) == (1, "") and "link" in err
    assert os.listdir(elsewhere / P) == [T]


def test_a_symlinked_task_dir_is_refused(capsys, root, tmp_path):
    link = os.path.join(os.path.abspath(root), P, T)
    os.makedirs(os.path.dirname(link))
    target = tmp_path / "real-task"
    target.mkdir()
    os.symlink(target, link)
    code, out, err = verb(capsys, root, "archive")
    assert (code, out, err) == (1, "", f"Error: {link}: is a symbolic link; refusing to follow "
                                       "it below the runs root\n")
    assert os.path.islink(link) and not os.path.exists(os.path.join(root, ".archive"))


def test_a_link_or_file_on_the_archive_path_is_refused(capsys, root, tmp_path):
    d = make_task(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.makedirs(os.path.join(root, ".archive"))
    os.symlink(elsewhere, os.path.join(root, ".archive", P))  # the project level is a link
    code, out, err = verb(capsys, root, "archive")
    assert (code, out) == (1, "") and "link" in err
    assert os.path.isdir(d) and os.listdir(elsewhere) == []
    os.unlink(os.path.join(root, ".archive", P))
    os.rmdir(os.path.join(root, ".archive"))
    open(os.path.join(root, ".archive"), "w").close()  # a file where the archive goes
    code, out, err = verb(capsys, root, "archive")
    assert (code, out) == (1, "")
    assert err == f"Error: {os.path.abspath(root)}/.archive: is a regular file, expected a directory\n"
    assert os.path.isdir(d)
