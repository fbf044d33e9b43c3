"""A runs root built by a hostile agent: good tasks next to bad ones, with something planted at
every fixed name and at every directory level, and a sentinel tree outside the root that no verb
may read, write or delete.

Every bad thing gets a task (or project) of its own, so a verb can be pointed at exactly one of
them, and the good tasks around them (sorted before and after) show whether one bad file hides
the rest. Sentinel files hold :data:`SENTINEL`: that text appearing in any output or on the
console's screen means a file outside the root was read.

Kinds planted at a file name:

* ``link-in``: a symbolic link to a good file of the same name inside the root
* ``link-out``: a symbolic link to a sentinel file outside the root
* ``dangling``: a symbolic link to nothing (outside the root)
* ``fifo``: a named pipe (an ``open`` without ``O_NONBLOCK`` would hang forever)
* ``dir``: a directory
* ``devzero``: a symbolic link to /dev/zero (endless zeros)
* ``huge``: a sparse regular file over the name's read cap

and for the YAML files (run-info.yaml, TASK-CONFIG.yaml) an alias bomb and an out-of-range
number. Kinds planted at a directory level (project, task, runs, run): ``link-in``,
``link-out``, ``dangling``, ``fifo``, ``file``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from conductor.store import RunInfo, dump_run_info

SENTINEL = "SENTINEL-4d1f0c7e-outside-the-runs-root"
PROJECT = "hostile"
YAML_PROJECT = "hostile-yaml"  # alias bombs and out-of-range numbers: bounded YAML's cases
DAY = "task-20260101-000000"
GOOD_FIRST = f"{DAY}-aaa-good"
GOOD_LAST = f"{DAY}-zzz-good"
TARGET = f"{DAY}-link-target"  # what the ``link-in`` links point at: a task inside the root
RUN = "20260101-0000000000-1-1"
START_NS = 1767225600 * 10**9  # 2026-01-01T00:00:00Z: old enough for any gc
END_NS = START_NS + 60 * 10**9

RUN_FILES = ["run-info.yaml", "prompt.md", "output.md", "agent-stdout.txt", "agent-stderr.txt"]
TASK_FILES = ["TASK.md", "TASK-CONFIG.yaml", "DONE", "STOP-REQUESTED", "CANCELLED",
              "TASK-LOOP.lock", "TASK-LOOP.log", "TASK-MESSAGE-BUS.md"]
PROJECT_FILES = ["PROJECT-MESSAGE-BUS.md"]
FILE_KINDS = ["link-in", "link-out", "dangling", "fifo", "dir", "devzero", "huge"]
YAML_KINDS = ["alias-bomb", "out-of-range"]
YAML_FILES = {"run-info.yaml", "TASK-CONFIG.yaml"}
DIR_LEVELS = ["project", "task", "runs", "run"]
DIR_KINDS = ["link-in", "link-out", "dangling", "fifo", "file"]

MIB = 1 << 20
# Over every cap we enforce (run-info and TASK-CONFIG 256 KiB, TASK.md 4 MiB, markers 64 KiB);
# sparse, so it costs no disk.
HUGE = 5 * MIB

ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(ord('b') + i)}: &{chr(ord('b') + i)} [" + ",".join([f"*{chr(ord('a') + i)}"] * 9)
    + "]\n" for i in range(8))


def good_run_info(task: str, run: str = RUN, **changes) -> str:
    info = RunInfo(version=1, run_id=run, project_id=PROJECT, task_id=task, agent="claude",
                   pid=0, pgid=0, start_time=START_NS, end_time=END_NS, exit_code=0,
                   status="completed", commandline="claude -p")
    for key, value in changes.items():
        setattr(info, key, value)
    return dump_run_info(info)


def slug(name: str) -> str:
    return name.lower().replace(".", "-").replace("_", "-")


@dataclass
class Case:
    """One bad thing: where it is, what it is, and the task (or project) holding it."""
    level: str          # "run", "task", "project" for a file; "dir" for a directory level
    name: str           # the file name, or the directory level
    kind: str
    project: str
    task: str           # "" for a project-level case
    path: str           # the planted path

    @property
    def id(self) -> str:
        return f"{self.name}-{self.kind}"

    @property
    def is_yaml(self) -> bool:
        return self.kind in YAML_KINDS


@dataclass
class HostileRoot:
    root: str
    outside: str
    cases: list[Case] = field(default_factory=list)
    good_tasks: tuple[str, ...] = (GOOD_FIRST, GOOD_LAST)

    def case(self, case_id: str) -> Case:
        return next(c for c in self.cases if c.id == case_id)

    def task_dir(self, task: str, project: str = PROJECT) -> str:
        return os.path.join(self.root, project, task)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _bus_entry(project: str, task: str, body: str) -> str:
    return ("---\nmsg_id: MSG-20260101-000000-000000001-PID00001-0001\n"
            "ts: 2026-01-01T00:00:00Z\ntype: FACT\n"
            f"project_id: {project}\ntask_id: {task}\n---\n{body}\n\n")


def make_task(root: str, task: str, project: str = PROJECT) -> str:
    """A finished task with one completed run and every file it normally has."""
    task_dir = os.path.join(root, project, task)
    run_dir = os.path.join(task_dir, "runs", RUN)
    os.makedirs(run_dir)
    _write(os.path.join(task_dir, "TASK.md"), f"prompt of {task}\n")
    _write(os.path.join(task_dir, "TASK-MESSAGE-BUS.md"), _bus_entry(project, task, f"fact of {task}"))
    _write(os.path.join(run_dir, "run-info.yaml"), good_run_info(task))
    _write(os.path.join(run_dir, "prompt.md"), f"prompt of {task}\n")
    _write(os.path.join(run_dir, "output.md"), f"output of {task}\n")
    _write(os.path.join(run_dir, "agent-stdout.txt"), f"stdout of {task}\n")
    _write(os.path.join(run_dir, "agent-stderr.txt"), f"stderr of {task}\n")
    return task_dir


def _sentinel_tree(outside: str) -> dict[str, str]:
    """Files and dirs outside the root that links point at; each holds the sentinel text. It
    includes a whole task with a finished run (what a symlinked runs dir would expose to gc)."""
    os.makedirs(outside)
    targets = {}
    for name in RUN_FILES + TASK_FILES + PROJECT_FILES:
        path = os.path.join(outside, "files", name)
        text = f"{SENTINEL} {name}\n"
        if name == "run-info.yaml":
            text = good_run_info(GOOD_FIRST) + f"# {SENTINEL}\n"
        elif name.endswith("MESSAGE-BUS.md"):
            text = _bus_entry(PROJECT, GOOD_FIRST, SENTINEL)
        elif name == "TASK-CONFIG.yaml":
            text = f"depends_on: [{SENTINEL}]\n"
        _write(path, text)
        targets[name] = path
    task_dir = make_task(outside, f"{DAY}-sentinel")
    for base, _dirs, files in os.walk(task_dir):
        for name in files:
            with open(os.path.join(base, name), "a", encoding="utf-8") as fh:
                fh.write(f"# {SENTINEL}\n")
    targets["task"] = task_dir
    targets["project"] = os.path.dirname(task_dir)
    targets["runs"] = os.path.join(task_dir, "runs")
    targets["run"] = os.path.join(task_dir, "runs", RUN)
    return targets


def _plant_file(path: str, kind: str, inside: str, outside: str, cap_name: str) -> None:
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)
    if kind == "link-in":
        os.symlink(inside, path)
    elif kind == "link-out":
        os.symlink(outside, path)
    elif kind == "dangling":
        os.symlink(os.path.join(os.path.dirname(outside), "does-not-exist", cap_name), path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.mkdir(path)
    elif kind == "devzero":
        os.symlink("/dev/zero", path)
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(HUGE)
    elif kind == "file":
        _write(path, "a file where a directory belongs\n")
    elif kind == "alias-bomb":
        _write(path, ALIAS_BOMB)
    elif kind == "out-of-range":
        if cap_name == "run-info.yaml":
            # running, so views ask whether that process group is alive
            _write(path, good_run_info("x", status="running", end_time=None, exit_code=-1)
                   .replace("pgid: 0", "pgid: 99999999999999")
                   .replace("pid: 0", "pid: 99999999999999"))
        else:
            _write(path, "depends_on: [" + f"{DAY}-aaa-good" + "]\nretries: 99999999999999999999999\n")
    else:  # pragma: no cover - a typo in a test
        raise ValueError(kind)


def build(base: str) -> HostileRoot:
    """``<base>/root`` (the runs root) and ``<base>/outside`` (the sentinel tree)."""
    root = os.path.join(base, "root")
    outside = os.path.join(base, "outside")
    os.makedirs(root)
    targets = _sentinel_tree(outside)
    hostile = HostileRoot(root, outside)
    for task in hostile.good_tasks:
        make_task(root, task)
        make_task(root, task, YAML_PROJECT)
    make_task(root, TARGET)
    good_dir = hostile.task_dir(TARGET)
    good_run = os.path.join(good_dir, "runs", RUN)

    for name in RUN_FILES + TASK_FILES:
        level = "run" if name in RUN_FILES else "task"
        kinds = FILE_KINDS + (YAML_KINDS if name in YAML_FILES else [])
        for kind in kinds:
            task = f"{DAY}-{slug(name)}-{kind}"
            project = YAML_PROJECT if kind in YAML_KINDS else PROJECT
            task_dir = make_task(root, task, project)
            where = os.path.join(task_dir, "runs", RUN) if level == "run" else task_dir
            inside = os.path.join(good_run if level == "run" else good_dir, name)
            if not os.path.exists(inside):  # DONE, CANCELLED, ... of the good task
                _write(inside, "")
            path = os.path.join(where, name)
            _plant_file(path, kind, inside, targets[name], name)
            hostile.cases.append(Case(level, name, kind, project, task, path))

    for name in PROJECT_FILES:
        for kind in FILE_KINDS:
            project = f"p-{slug(name)}-{kind}"
            make_task(root, GOOD_FIRST, project)
            path = os.path.join(root, project, name)
            inside = os.path.join(root, PROJECT, name)
            if not os.path.exists(inside):
                _write(inside, _bus_entry(PROJECT, "", "project fact"))
            _plant_file(path, kind, inside, targets[name], name)
            hostile.cases.append(Case("project", name, kind, project, GOOD_FIRST, path))

    for level in DIR_LEVELS:
        for kind in DIR_KINDS:
            inside = {"project": os.path.join(root, PROJECT), "task": good_dir,
                      "runs": os.path.join(good_dir, "runs"), "run": good_run}[level]
            if level == "project":
                project, task = f"p-dir-{kind}", ""
                path = os.path.join(root, project)
            else:
                project, task = PROJECT, f"{DAY}-dir-{level}-{kind}"
                task_dir = hostile.task_dir(task)
                if level == "task":
                    path = task_dir
                else:
                    make_task(root, task)
                    path = os.path.join(task_dir, "runs") if level == "runs" \
                        else os.path.join(task_dir, "runs", RUN)
                    _remove_tree(path)
            if kind == "link-in":
                os.symlink(inside, path)
            elif kind == "link-out":
                os.symlink(targets[level], path)
            elif kind == "dangling":
                os.symlink(os.path.join(outside, "does-not-exist"), path)
            elif kind == "fifo":
                os.mkfifo(path)
            else:
                _write(path, "a file where a directory belongs\n")
            hostile.cases.append(Case("dir", level, kind, project, task, path))
    return hostile


def _remove_tree(path: str) -> None:
    for base, dirs, files in os.walk(path, topdown=False):
        for name in files:
            os.unlink(os.path.join(base, name))
        for name in dirs:
            os.rmdir(os.path.join(base, name))
    os.rmdir(path)


def snapshot(path: str) -> dict[str, tuple]:
    """Every name under ``path`` with its mode, size, mtime and (for regular files) bytes."""
    out = {}
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(base, name)
            st = os.lstat(full)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    data = fh.read()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(full)
            out[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out
