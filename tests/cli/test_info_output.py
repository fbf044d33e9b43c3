"""``output``: file choice, newest run by start time, --tail from the end, --follow."""

from __future__ import annotations

import os
import threading
import time

import pytest

from conductor.cli import info_output
from conductor.cli.main import main
from conductor.store import Layout, RunInfo, read_run_info, write_run_info
from conductor.timefmt import parse_timestamp

P = "proj"
T = "task-20260220-153045-alpha"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONDUCTOR_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "runs")


def make_run(root: str, run_id: str, *, status: str = "completed", start: str | int | None,
             pid: int = 0, files: dict[str, bytes] | None = None) -> str:
    task_dir = Layout(root).ensure_task_dir(P, T)
    run_dir = os.path.join(task_dir, "runs", run_id)
    os.makedirs(run_dir, exist_ok=True)
    start_ns = parse_timestamp(start) if isinstance(start, str) else start
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=run_id, project_id=P, task_id=T, agent="claude", pid=pid, pgid=pid,
        start_time=start_ns, exit_code=0 if status != "running" else -1, status=status,
        end_time=None if status == "running" else start_ns))
    for name, data in (files or {}).items():
        with open(os.path.join(run_dir, name), "wb") as f:
            f.write(data)
    return run_dir


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_newest_run_by_start_time_and_file_choice(root, capsys):
    make_run(root, "20260220-1530450000-100-9", start="2026-02-20T15:30:45Z",
             files={"output.md": b"nine\n"})
    make_run(root, "20260220-1530450000-100-10", start="2026-02-20T15:30:46Z",
             files={"output.md": b"ten\n", "agent-stdout.txt": b"out", "agent-stderr.txt": b"err\n",
                    "prompt.md": b"do it\n"})
    base = ["output", "--root", root, "--project", P, "--task", T]
    assert run(capsys, *base) == (0, "ten\n", "")
    assert run(capsys, *base, "--file", "stdout") == (0, "out\n", "")  # Println adds the newline
    assert run(capsys, *base, "--file", "stderr") == (0, "err\n", "")
    assert run(capsys, *base, "--file", "PROMPT") == (0, "do it\n", "")
    assert run(capsys, *base, "--run", "20260220-1530450000-100-9") == (0, "nine\n", "")


def test_output_falls_back_to_stdout_and_reports_missing_files(root, capsys):
    run_dir = make_run(root, "20260220-1530450000-100-1", start="2026-02-20T15:30:45Z",
                       files={"agent-stdout.txt": b"raw\n"})
    assert run(capsys, "output", "--run-dir", run_dir) == (0, "raw\n", "")
    assert run(capsys, "output", "--run-dir", run_dir, "--file", "stderr")[2] == (
        f"Error: file not found: {os.path.join(run_dir, 'agent-stderr.txt')}\n")
    os.unlink(os.path.join(run_dir, "agent-stdout.txt"))
    assert run(capsys, "output", "--run-dir", run_dir)[2] == (
        f"Error: file not found: {os.path.join(run_dir, 'output.md')} "
        "(also tried agent-stdout.txt)\n")
    assert run(capsys, "output", "--run-dir", run_dir, "--file", "log")[2] == (
        'Error: unknown --file value "log": must be output, stdout, stderr, or prompt\n')


def test_output_scope_errors(root, capsys):
    missing = os.path.join(root, "nowhere")
    assert run(capsys, "output", "--run-dir", missing) == (
        1, "", f"Error: run directory {missing}: stat {missing}: no such file or directory\n")
    assert run(capsys, "output", "--root", root) == (
        1, "", "Error: --project is required when --run-dir is not specified\n")
    assert run(capsys, "output", "--root", root, "--project", P) == (
        1, "", "Error: --task is required when --run-dir is not specified\n")
    assert run(capsys, "output", "--root", root, "--project", P, "--task", T) == (
        1, "", f"Error: no runs found for project {P} task {T}\n")
    make_run(root, "20260220-1530450000-100-1", start="2026-02-20T15:30:45Z")
    assert run(capsys, "output", "--root", root, "--project", P, "--task", T, "--run", "x-1") == (
        1, "", f"Error: run x-1 not found for project {P} task {T}\n")


@pytest.mark.parametrize("content,tail,expected", [
    (b"a\nb\nc\n", 2, "b\nc\n"),
    (b"a\nb\nc", 2, "b\nc\n"),
    (b"a\nb\nc\n", 10, "a\nb\nc\n"),
    (b"a\n\n", 1, "\n"),
    (b"", 3, ""),
    (b"only", 1, "only\n"),
])
def test_tail_counts_lines_like_a_line_scanner(root, capsys, content, tail, expected):
    run_dir = make_run(root, "20260220-1530450000-100-1", start="2026-02-20T15:30:45Z",
                       files={"output.md": content})
    assert run(capsys, "output", "--run-dir", run_dir, "--tail", str(tail)) == (0, expected, "")


def test_tail_of_a_50mb_file_reads_only_the_end(root, capsys, monkeypatch):
    line = b"x" * 99 + b"\n"
    run_dir = make_run(root, "20260220-1530450000-100-1", start="2026-02-20T15:30:45Z")
    path = os.path.join(run_dir, "output.md")
    with open(path, "wb") as f:
        block = line * 10_000
        for _ in range(50):
            f.write(block)
        f.write(b"second to last\nlast line\n")
    assert os.path.getsize(path) > 50_000_000
    read = []
    real_pread = os.pread

    def counting_pread(fd, n, offset):
        data = real_pread(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(info_output.os, "pread", counting_pread)
    code, out, _ = run(capsys, "output", "--run-dir", run_dir, "--tail", "3")
    assert (code, out) == (0, line.decode() + "second to last\nlast line\n")
    assert sum(read) < 1_000_000


def test_print_streams_in_chunks(root, capsys, monkeypatch):
    run_dir = make_run(root, "20260220-1530450000-100-1", start="2026-02-20T15:30:45Z",
                       files={"output.md": b"0123456789" * 100})
    monkeypatch.setattr(info_output, "CHUNK", 64)
    sizes = []
    real_pread = os.pread
    monkeypatch.setattr(info_output.os, "pread",
                        lambda fd, n, off: sizes.append(n) or real_pread(fd, n, off))
    assert run(capsys, "output", "--run-dir", run_dir)[1] == "0123456789" * 100 + "\n"
    assert max(sizes) <= 64


def test_follow_of_a_finished_run_prints_everything(root, capsys):
    run_dir = make_run(root, "20260220-1530450000-100-1", start="2026-02-20T15:30:45Z",
                       files={"output.md": b"final answer\n", "agent-stdout.txt": b"noise\n"})
    assert run(capsys, "output", "--run-dir", run_dir, "--follow") == (0, "final answer\n", "")


def test_follow_streams_a_running_run_until_it_completes(root, capsys, monkeypatch):
    monkeypatch.setattr(info_output, "FOLLOW_POLL", 0.02)
    run_dir = make_run(root, "20260220-1530450000-100-1", status="running",
                       start=time.time_ns(), pid=os.getpid(),
                       files={"agent-stdout.txt": b"line 0\n"})
    stdout = os.path.join(run_dir, "agent-stdout.txt")
    info_path = os.path.join(run_dir, "run-info.yaml")

    def agent():
        for i in range(1, 6):
            time.sleep(0.03)  # pacing only: the follower must print every line however they come
            with open(stdout, "ab") as f:
                f.write(f"line {i}\n".encode())
        with open(stdout, "ab") as f:
            f.write(b"tail without newline")
        info = read_run_info(info_path)
        info.status, info.exit_code, info.end_time = "completed", 0, time.time_ns()
        write_run_info(info_path, info)

    writer = threading.Thread(target=agent)
    writer.start()
    try:
        code, out, err = run(capsys, "output", "--run-dir", run_dir, "-f")
    finally:
        writer.join()
    assert (code, err) == (0, "")
    assert out == "".join(f"line {i}\n" for i in range(6)) + "tail without newline"


def test_follow_gives_up_when_the_live_file_never_appears(root, capsys, monkeypatch):
    monkeypatch.setattr(info_output, "FOLLOW_POLL", 0.01)
    monkeypatch.setattr(info_output, "FOLLOW_FILE_WAIT", 0.05)
    run_dir = make_run(root, "20260220-1530450000-100-1", status="running",
                       start=time.time_ns(), pid=os.getpid())
    assert run(capsys, "output", "--run-dir", run_dir, "-f", "--file", "stderr") == (
        1, "", f"Error: output file not found: {os.path.join(run_dir, 'agent-stderr.txt')}\n")


def test_follow_stops_after_idle_timeout(root, capsys, monkeypatch):
    monkeypatch.setattr(info_output, "FOLLOW_POLL", 0.01)
    monkeypatch.setattr(info_output, "FOLLOW_IDLE", 0.05)
    run_dir = make_run(root, "20260220-1530450000-100-1", status="running",
                       start=time.time_ns(), pid=os.getpid(), files={"agent-stdout.txt": b"hi\n"})
    assert run(capsys, "output", "--run-dir", run_dir, "-f") == (0, "hi\n", "")
