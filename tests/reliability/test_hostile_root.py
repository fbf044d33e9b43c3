"""Every verb against a runs root where agents planted links, FIFOs, directories, /dev/zero and
huge files at every fixed name and directory level (``hostile_root.py``).

Each verb runs as a subprocess under a timeout (a FIFO opened without ``O_NONBLOCK`` would hang
it forever). For each we check: no traceback, the documented exit code and the exact line a user
sees for the bad file, the good tasks next to the bad ones still listed, and nothing outside the
root read (the sentinel text never appears in any output or on the console's screen), written or
deleted (the sentinel tree is compared name by name, mode, size, mtime and bytes).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest

from . import hostile_root as hr
from .hostile_root import GOOD_FIRST, GOOD_LAST, PROJECT, SENTINEL, YAML_PROJECT

TIMEOUT = 60

LINK = "is a symbolic link; refusing to follow it below the runs root"
REFUSED = {
    "link-in": LINK, "link-out": LINK, "dangling": LINK, "devzero": LINK,
    "fifo": "is a FIFO, expected a regular file",
    "dir": "is a directory, expected a regular file",
}
CAPS = {"run-info.yaml": "256 KiB", "TASK-CONFIG.yaml": "256 KiB", "TASK.md": "4 MiB",
        "DONE": "64 KiB", "STOP-REQUESTED": "64 KiB", "CANCELLED": "64 KiB"}


def refusal(case: hr.Case) -> str:
    """The words after ``<path>: `` for a file case."""
    if case.kind == "huge":
        return f"larger than {CAPS[case.name]}; refusing to read it"
    return REFUSED[case.kind]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One hostile root for the verbs that only read."""
    return hr.build(str(tmp_path_factory.mktemp("hostile")))


@pytest.fixture
def fresh(tmp_path):
    """A hostile root of this test's own, for verbs that change the disk."""
    return hr.build(str(tmp_path))


@pytest.fixture
def untouched(request):
    """Yields the hostile root (shared or fresh, as the test names it) and then checks that its
    sentinel tree is exactly as it was."""
    hostile = request.getfixturevalue(request.param if hasattr(request, "param") else "shared")
    before = hr.snapshot(hostile.outside)
    yield hostile
    assert hr.snapshot(hostile.outside) == before, "the sentinel tree outside the root changed"


def cli(hostile: hr.HostileRoot, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JRUN_", "CONDUCTOR_"))}
    env["HOME"] = os.path.dirname(hostile.root)  # no operator config is read
    proc = subprocess.run([sys.executable, "-m", "conductor", *args, "--root", hostile.root],
                          env=env, cwd=os.path.dirname(hostile.root), capture_output=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert SENTINEL not in out and SENTINEL not in err, "a file outside the root was read"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _describe() -> list[hr.Case]:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return hr.build(tmp).cases


_ALL = _describe()


def _params(selected: list[hr.Case]) -> list:
    return [pytest.param(c.id, id=c.id) for c in selected]


# ---------------------------------------------------------------------------- list and status

VIEWS = [
    ("list",),
    ("list", "--json"),
    ("list", "--project", PROJECT),
    ("list", "--project", PROJECT, "--json"),
    ("list", "--project", PROJECT, "--activity"),
    ("status", "--project", PROJECT),
    ("status", "--project", PROJECT, "--json", "--activity"),
]


def _expected_warnings(hostile: hr.HostileRoot) -> list[str]:
    """The one warning line each bad file gives in a project view."""
    lines = []
    for c in hostile.cases:
        if c.project != PROJECT or c.is_yaml:
            continue
        if c.name == "run-info.yaml":
            lines.append(f"warning: {c.path}: {refusal(c)}")
        elif c.name == "TASK-CONFIG.yaml":
            lines.append(f"warning: task {c.task}: {c.path}: {refusal(c)}")
        elif c.level == "dir" and c.name == "task" and c.kind != "file":
            what = "a symbolic link" if c.kind != "fifo" else "a FIFO"
            lines.append(f"warning: skip {c.path}: is {what}")
        elif c.level == "dir" and c.name in ("runs", "run"):
            what = {"fifo": "a FIFO", "file": "a regular file"}.get(c.kind, "a symbolic link")
            lines.append(f"warning: task {c.task}: {c.path}: is {what}, expected a directory")
    return lines


@pytest.mark.parametrize("args", VIEWS, ids=[" ".join(a) for a in VIEWS])
def test_views_list_the_good_tasks_and_name_each_bad_file_once(untouched, args):
    hostile = untouched
    result = cli(hostile, *args)
    assert result.returncode == 0, result.stderr
    if "--project" not in args:
        listed = set(result.stdout.replace('"', " ").replace(",", " ").split())
        assert PROJECT in listed and YAML_PROJECT in listed
        # project names that are links, FIFOs or files are skipped, never entered
        assert not any(name.startswith("p-dir-") for name in listed)
        assert "p-project-message-bus-md-fifo" in listed
        return
    assert GOOD_FIRST in result.stdout and GOOD_LAST in result.stdout
    warnings = result.stderr.splitlines()
    for line in _expected_warnings(hostile):
        assert warnings.count(line) == 1, (line, result.stderr)
    # nothing else is said on stderr: one line per bad file, no noise
    assert len(warnings) == len(_expected_warnings(hostile)), result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    if args[0] == "status" and "--json" not in args:
        for c in hostile.cases:
            if c.project == PROJECT and c.name == "run-info.yaml":
                assert rows[c.task].split()[1] == "unknown", rows[c.task]


@pytest.mark.parametrize("args", [("list", "--project", YAML_PROJECT),
                                  ("status", "--project", YAML_PROJECT, "--json", "--activity")],
                         ids=["list", "status --json --activity"])
def test_views_survive_alias_bombs_and_out_of_range_numbers(untouched, args):
    result = cli(untouched, *args)
    assert result.returncode == 0, result.stderr
    assert GOOD_FIRST in result.stdout and GOOD_LAST in result.stdout


# ---------------------------------------------------------------------------- output

_OUTPUT_FLAG = {"output.md": [], "agent-stdout.txt": ["--file", "stdout"],
                "agent-stderr.txt": ["--file", "stderr"], "prompt.md": ["--file", "prompt"]}


@pytest.mark.parametrize("case_id", _params(
    [c for c in _ALL if c.level == "run" and c.name in _OUTPUT_FLAG]))
@pytest.mark.parametrize("tail", [[], ["--tail", "5"], ["--follow"]], ids=["all", "tail", "follow"])
def test_output_refuses_a_bad_file_with_one_line(untouched, case_id, tail):
    hostile = untouched
    case = hostile.case(case_id)
    args = ["output", "--project", case.project, "--task", case.task,
            *_OUTPUT_FLAG[case.name], *tail]
    result = cli(hostile, *args)
    if case.kind == "huge":  # logs have no cap: 5 MiB of NUL bytes, streamed
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert len(result.stdout) == hr.HUGE + 1  # and the newline a last line gets
        return
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {case.path}: {refusal(case)}\n"


@pytest.mark.parametrize("kind", ["fifo", "link-out"])
def test_output_follow_of_a_running_run_refuses_a_bad_stdout_at_once(tmp_path, kind):
    """A live run (this test's own process stands in for the agent) whose stdout became a
    FIFO or a link: --follow says so in one line instead of blocking or following."""
    import time
    hostile = hr.HostileRoot(str(tmp_path / "root"), str(tmp_path / "outside"))
    os.makedirs(hostile.outside)
    secret = os.path.join(hostile.outside, "secret.txt")
    with open(secret, "w") as fh:
        fh.write(SENTINEL + "\n")
    task = f"{hr.DAY}-live"
    run_dir = os.path.join(hr.make_task(hostile.root, task), "runs", hr.RUN)
    with open(os.path.join(run_dir, "run-info.yaml"), "w") as fh:
        fh.write(hr.good_run_info(task, status="running", end_time=None, exit_code=-1,
                                  pid=os.getpid(), start_time=time.time_ns()))
    stdout = os.path.join(run_dir, "agent-stdout.txt")
    os.unlink(stdout)
    os.mkfifo(stdout) if kind == "fifo" else os.symlink(secret, stdout)
    result = cli(hostile, "output", "--project", PROJECT, "--task", task, "--follow")
    what = "is a FIFO, expected a regular file" if kind == "fifo" else LINK
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {stdout}: {what}\n")


@pytest.mark.parametrize("task", [GOOD_FIRST, GOOD_LAST])
def test_output_of_the_good_tasks(untouched, task):
    result = cli(untouched, "output", "--project", PROJECT, "--task", task)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"output of {task}\n", "")


@pytest.mark.parametrize("case_id", _params([c for c in _ALL if c.name == "run-info.yaml"]))
def test_output_of_a_run_with_a_bad_run_info_still_prints_its_output(untouched, case_id):
    case = untouched.case(case_id)
    result = cli(untouched, "output", "--project", case.project, "--task", case.task,
                 "--tail", "5")
    assert (result.returncode, result.stdout) == (0, f"output of {case.task}\n")


@pytest.mark.parametrize("case_id", _params(
    [c for c in _ALL if c.level == "dir" and c.name in ("runs", "run")]))
def test_output_of_a_task_whose_runs_or_run_dir_is_not_a_directory(untouched, case_id):
    case = untouched.case(case_id)
    result = cli(untouched, "output", "--project", case.project, "--task", case.task)
    assert result.returncode == 1
    if case.name == "runs" and case.kind != "fifo" and case.kind != "file":
        assert result.stderr == f"Error: {case.path}: {LINK}\n"
    else:
        assert result.stderr == (f"Error: no runs found for project {case.project} "
                                 f"task {case.task}\n")


# ---------------------------------------------------------------------------- the supervisor

@pytest.mark.parametrize("case_id", _params([c for c in _ALL if c.name == "TASK.md"]))
def test_the_supervisor_never_feeds_a_bad_task_md_to_an_agent(untouched, case_id):
    case = untouched.case(case_id)
    runs = os.path.join(untouched.task_dir(case.task), "runs")
    before = sorted(os.listdir(runs))
    result = cli(untouched, "task", "--project", case.project, "--task", case.task,
                 "--agent", "claude", "--max-restarts", "1")
    assert result.returncode == 1
    assert result.stderr == f"Error: {case.path}: {refusal(case)}\n"
    assert sorted(os.listdir(runs)) == before  # no run was started


# ---------------------------------------------------------------------------- buses

@pytest.mark.parametrize("case_id", _params(
    [c for c in _ALL if c.name in ("TASK-MESSAGE-BUS.md", "PROJECT-MESSAGE-BUS.md")]))
def test_bus_read_refuses_a_bad_bus(untouched, case_id):
    case = untouched.case(case_id)
    args = ["bus", "read", "--project", case.project]
    if case.name == "TASK-MESSAGE-BUS.md":
        args += ["--task", case.task]
    result = cli(untouched, *args)
    if case.kind == "huge":  # 5 MiB of NUL bytes: streamed, no message in it
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        return
    assert result.returncode == 1
    what = "is a symlink" if case.kind in ("link-in", "link-out", "dangling", "devzero") \
        else "is not a regular file"
    assert result.stderr == f'Error: message bus path "{case.path}" {what}\n'


# ---------------------------------------------------------------------------- watch

def test_watch_polls_good_and_bad_tasks_until_its_timeout(untouched):
    bad = [c.task for c in untouched.cases if c.project == PROJECT and c.level != "project"
           and c.task and not (c.level == "dir" and c.name == "task")]
    args = ["watch", "--project", PROJECT, "--timeout", "1s", "--interval", "0.2s"]
    for task in [GOOD_FIRST, *bad[:40], GOOD_LAST]:
        args += ["--task", task]
    result = cli(untouched, *args)
    assert result.returncode == 1
    assert "timeout after 1s: not all tasks completed" in result.stdout + result.stderr


# ---------------------------------------------------------------------------- stop

@pytest.mark.parametrize("untouched", ["fresh"], indirect=True)
def test_task_stop_of_bad_tasks_writes_only_inside_the_root(untouched):
    hostile = untouched
    for case in [c for c in hostile.cases if c.level == "task" and not c.is_yaml]:
        result = cli(hostile, "task", "stop", "--project", case.project, "--task", case.task)
        marker = os.path.join(hostile.task_dir(case.task), "STOP-REQUESTED")
        if case.name == "STOP-REQUESTED" and case.kind == "dir":
            # stop always stops: the marker that cannot be written is one warning, not an error
            assert (result.returncode, result.stderr) == (
                0, f"warning: stop marker not written: {marker}: is a directory, expected a "
                   "regular file\n")
            assert result.stdout.endswith(
                f"Stopped task {case.project}/{case.task} (STOP-REQUESTED not written; the loop, "
                "if any, was told directly not to restart it)\n")
            continue
        assert result.returncode == 0, (case.id, result.stderr)
        assert result.stdout.endswith(f"Stopped task {case.project}/{case.task} "
                                      "(STOP-REQUESTED written; the loop will not restart it)\n")
        # a link or FIFO planted at the name was replaced by the marker, not written through
        assert os.path.isfile(marker) and not os.path.islink(marker), case.id


@pytest.mark.parametrize("untouched", ["fresh"], indirect=True)
def test_stop_of_bad_tasks_finds_no_running_run(untouched):
    hostile = untouched
    for case in [c for c in hostile.cases if c.level in ("run", "task") and not c.is_yaml]:
        result = cli(hostile, "stop", "--project", case.project, "--task", case.task)
        assert (result.returncode, result.stdout, result.stderr) == (
            1, "", f"Error: no running runs found for project {case.project} task {case.task}\n"
        ), case.id


# ---------------------------------------------------------------------------- gc

@pytest.mark.parametrize("untouched", ["fresh"], indirect=True)
def test_gc_deletes_finished_runs_inside_the_root_only(untouched):
    hostile = untouched
    dry = cli(hostile, "gc", "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert SENTINEL not in dry.stdout
    warnings = dry.stderr.splitlines()
    for case in hostile.cases:
        if case.level == "dir" and case.name == "runs" and case.project == PROJECT:
            what = {"fifo": "is a FIFO, expected a directory",
                    "file": "is a regular file, expected a directory"}.get(case.kind, LINK)
            assert warnings.count(f"warning: skip {case.path}: {what}") == 1, dry.stderr
        if case.name == "run-info.yaml" and not case.is_yaml:
            run_dir = os.path.dirname(case.path)
            assert warnings.count(f"warning: skip {run_dir}: read run-info: {case.path}: "
                                  f"{refusal(case)}") == 1, dry.stderr
    result = cli(hostile, "gc", "--older-than", "0s")
    assert result.returncode == 0, result.stderr
    good_run = os.path.join(hostile.task_dir(GOOD_FIRST), "runs", hr.RUN)
    assert f"deleting {good_run} " in result.stdout
    assert not os.path.lexists(good_run)
    # runs behind a symbolic link (into the sentinel tree or inside the root) are not entered
    for case in hostile.cases:
        if case.level == "dir" and case.name == "runs" and case.kind.startswith("link"):
            assert os.path.islink(case.path)
        if case.name == "run-info.yaml" and not case.is_yaml:
            assert os.path.lexists(case.path), case.id  # unreadable run-info: kept
    assert os.path.isdir(os.path.join(hostile.task_dir(hr.TARGET), "runs"))
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith("Deleted ") and summary.endswith(" MB")


@pytest.mark.parametrize("untouched", ["fresh"], indirect=True)
def test_gc_delete_done_tasks_and_rotate_bus(untouched):
    result = cli(untouched, "gc", "--older-than", "0s", "--delete-done-tasks", "--rotate-bus",
                 "--bus-max-size", "1B")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------- task delete

@pytest.mark.parametrize("untouched", ["fresh"], indirect=True)
def test_task_delete_of_bad_tasks_removes_links_never_their_targets(untouched):
    hostile = untouched
    for case in [c for c in hostile.cases if c.project == PROJECT and c.task]:
        task_dir = hostile.task_dir(case.task)
        if not os.path.lexists(task_dir):
            continue
        result = cli(hostile, "task", "delete", "--project", PROJECT, "--task", case.task,
                     "--force")
        if case.level == "dir" and case.name == "task":
            assert result.returncode == 1, case.id
            if case.kind in ("fifo", "file"):
                assert result.stderr == f"Error: task not found: {PROJECT}/{case.task}\n"
            else:
                assert result.stderr == f"Error: {task_dir}: {LINK}\n", result.stderr
            continue
        assert (result.returncode, result.stdout) == (0, f"Deleted task: {case.task}\n"), \
            (case.id, result.stderr)
        assert not os.path.lexists(task_dir)
    result = cli(hostile, "list", "--project", PROJECT)
    assert GOOD_FIRST in result.stdout and GOOD_LAST in result.stdout


# ---------------------------------------------------------------------------- in-process readers

def _in_time(fn, timeout: float = 10.0):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it blocks."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked (a FIFO opened without O_NONBLOCK?)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.mark.parametrize("case_id", _params([c for c in _ALL if c.name == "TASK-LOOP.lock"]))
def test_a_bad_supervisor_lock_is_no_loop_and_is_never_followed(untouched, case_id):
    from conductor.runner.supervisor import SupervisorLock
    from conductor.store.supervision import holder_pid, loop_alive
    from conductor.store.safefs import UnsafeFileError
    case = untouched.case(case_id)
    task_dir = untouched.task_dir(case.task)
    assert _in_time(lambda: loop_alive(task_dir)) is False
    assert _in_time(lambda: holder_pid(task_dir)) is None
    if case.kind == "huge":
        return
    with pytest.raises(UnsafeFileError) as caught:
        _in_time(lambda: SupervisorLock(task_dir, case.task).acquire())
    if case.kind == "dir":
        assert str(caught.value) == f"{case.path}: is a directory, expected a regular file"
    elif case.kind != "fifo":
        assert str(caught.value) == f"{case.path}: {LINK}"


@pytest.mark.parametrize("case_id", _params(
    [c for c in _ALL if c.name == "TASK-LOOP.log" and c.kind != "huge"]))
def test_the_consoles_start_refuses_a_bad_loop_log_before_starting_anything(untouched, case_id):
    from conductor.orchestrator import start_task
    from conductor.store.safefs import UnsafeFileError
    case = untouched.case(case_id)
    with pytest.raises(UnsafeFileError) as caught:
        _in_time(lambda: start_task(untouched.root, case.project, case.task, agent="none"))
    assert str(caught.value) == f"{case.path}: {refusal(case)}"


@pytest.mark.parametrize("case_id", _params(
    [c for c in _ALL if c.name in ("TASK.md", "DONE", "STOP-REQUESTED", "CANCELLED",
                                   "TASK-CONFIG.yaml")]))
def test_task_markers_refuse_links_fifos_and_huge_files(untouched, case_id):
    from conductor.store import (done_marker_present, read_depends_on, read_task_prompt,
                                 stop_requested)
    from conductor.store.safefs import UnsafeFileError
    case = untouched.case(case_id)
    task_dir = untouched.task_dir(case.task, case.project)
    if case.name in ("DONE", "CANCELLED"):
        # a marker counts only as a regular file
        present = _in_time(lambda: done_marker_present(task_dir))
        assert present is (case.name == "DONE" and case.kind == "huge")
        return
    read = {"TASK.md": read_task_prompt, "STOP-REQUESTED": stop_requested,
            "TASK-CONFIG.yaml": read_depends_on}[case.name]
    if case.is_yaml:  # bounded YAML: read quickly, or refused in one line naming the file
        from conductor.errors import ConfigError
        try:
            _in_time(lambda: read(task_dir))
        except ConfigError as exc:
            assert str(exc).startswith(f"{case.path}:") and "\n" not in str(exc)
        return
    with pytest.raises(UnsafeFileError) as caught:
        _in_time(lambda: read(task_dir))
    assert str(caught.value) == f"{case.path}: {refusal(case)}"


# ---------------------------------------------------------------------------- the console

def test_the_console_lists_good_tasks_and_shows_bad_files_as_one_line(untouched, tmp_path):
    from conductor.console.app import ConductorApp
    from conductor.console.widgets.run_tree import NodeRef
    from console.live import select, settle, until
    from console.screen_text import screen_text

    hostile = untouched
    screens: list[str] = []
    panes = [c for c in hostile.cases if c.project == PROJECT and c.level == "run"
             and c.name != "run-info.yaml"
             and (c.kind in ("link-out", "fifo") or c.id == "agent-stdout.txt-devzero")]
    task_panes = [c for c in hostile.cases if c.project == PROJECT and c.level == "task"
                  and c.name in ("TASK.md", "TASK-MESSAGE-BUS.md")
                  and c.kind in ("link-out", "fifo", "devzero")]

    async def scenario():
        app = ConductorApp(hostile.root, state_path=str(tmp_path / "state.json"), watch=False)
        async with app.run_test(size=(160, 45)) as pilot:
            await until(pilot, lambda: app.loaded, 30, "first scan")
            for task in (GOOD_FIRST, GOOD_LAST):
                assert app.run_tree.task_view(PROJECT, task) is not None
            for case in panes:
                await select(pilot, app, NodeRef("run", PROJECT, case.task, hr.RUN))
                for tab in "1234":
                    await pilot.press(tab)
                    await settle(pilot)
                    screens.append(screen_text(app))
            for case in task_panes:
                await select(pilot, app, NodeRef("task", PROJECT, case.task))
                for tab in "156":
                    await pilot.press(tab)
                    await settle(pilot)
                    screens.append(screen_text(app))
            await select(pilot, app, NodeRef("task", PROJECT, GOOD_LAST))
            await settle(pilot)
            screens.append(screen_text(app))
            await pilot.press("j")  # still answering keys
            await settle(pilot)

    asyncio.run(scenario())
    text = "\n".join(screens)
    assert SENTINEL not in text
    assert "cannot read" in text
