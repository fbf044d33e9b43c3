"""Paths inside the runs root, built only from validated ids (spec 1.1).

Ids come from users, agents and environment variables, so a path is never joined from a raw
string: every component goes through :mod:`conductor.ids` first, and the joined path is checked
to stay inside the root with no symbolic link below it. A symlinked task dir would otherwise let
``DONE``, run-info or a bus append land anywhere on the machine.
"""

from __future__ import annotations

import os
import stat

from .. import ids
from ..errors import IdError, LayoutError

DIR_MODE = 0o755
FILE_MODE = 0o644

RUNS = "runs"
RUN_INFO = "run-info.yaml"
PROMPT = "prompt.md"
OUTPUT = "output.md"
STDOUT = "agent-stdout.txt"
STDERR = "agent-stderr.txt"

TASK_MD = "TASK.md"
TASK_BUS = "TASK-MESSAGE-BUS.md"
TASK_CONFIG = "TASK-CONFIG.yaml"
DONE = "DONE"
STOP_REQUESTED = "STOP-REQUESTED"
TASK_STATE = "TASK_STATE.md"
CANCELLED = "CANCELLED"
# ours: what the supervisor is doing besides running an attempt (waiting for a usage limit,
# asking about a budget, stuck after identical failures); upstream ignores it
LOOP_STATE = "LOOP-STATE.json"
TASK_LOOP_LOCK = "TASK-LOOP.lock"  # the supervisor's flock (store/supervision.py)
PROPAGATION_STATE = "TASK-COMPLETE-FACT-PROPAGATION.yaml"
PROPAGATION_LOCK = "TASK-COMPLETE-FACT-PROPAGATION.lock"
ITERATE_SUMMARY = "ITERATE-SUMMARY.md"

PROJECT_BUS = "PROJECT-MESSAGE-BUS.md"
HOME_FOLDERS = "home-folders.md"
PROJECT_FACTS = "PROJECT-FACTS.md"

TASK_FILES = frozenset({TASK_MD, TASK_BUS, TASK_CONFIG, DONE, STOP_REQUESTED, TASK_STATE,
                        CANCELLED, PROPAGATION_STATE, PROPAGATION_LOCK, ITERATE_SUMMARY,
                        LOOP_STATE})
PROJECT_FILES = frozenset({PROJECT_BUS, HOME_FOLDERS, PROJECT_FACTS})
RUN_FILES = frozenset({RUN_INFO, RUN_INFO + ".lock", PROMPT, OUTPUT, STDOUT, STDERR})


class UnsafeIdError(IdError, LayoutError):
    """An id that cannot name a directory; both an :class:`IdError` and a :class:`LayoutError`."""


def _project(value: str) -> str:
    try:
        return ids.validate_project_id(value)
    except IdError as exc:
        raise UnsafeIdError(str(exc)) from None


def _component(kind: str, value: str) -> str:
    try:
        return ids.validate_component(kind, value)
    except IdError as exc:
        raise UnsafeIdError(str(exc)) from None


class Layout:
    """The tree under one runs root. Methods return absolute paths; nothing is created unless the
    method name says so (``ensure_*``, ``allocate_*``)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))

    def __repr__(self) -> str:
        return f"Layout({self.root!r})"

    # ---- paths -------------------------------------------------------------------------
    def project_dir(self, project_id: str) -> str:
        return self._checked(_project(project_id))

    def task_dir(self, project_id: str, task_id: str) -> str:
        return self._checked(_project(project_id), _component("task", task_id))

    def runs_dir(self, project_id: str, task_id: str) -> str:
        return self._checked(_project(project_id), _component("task", task_id), RUNS)

    def run_dir(self, project_id: str, task_id: str, run_id: str) -> str:
        return self._checked(_project(project_id), _component("task", task_id), RUNS,
                             _component("run", run_id))

    def run_file(self, project_id: str, task_id: str, run_id: str, name: str) -> str:
        """A fixed file of a run (``run-info.yaml``, ``prompt.md``, ``output.md``, …)."""
        _known(name, RUN_FILES, "run")
        return os.path.join(self.run_dir(project_id, task_id, run_id), name)

    def run_info_path(self, project_id: str, task_id: str, run_id: str) -> str:
        return self.run_file(project_id, task_id, run_id, RUN_INFO)

    def task_file(self, project_id: str, task_id: str, name: str) -> str:
        """A fixed file of a task (``TASK.md``, ``DONE``, ``STOP-REQUESTED``, …)."""
        _known(name, TASK_FILES, "task")
        return os.path.join(self.task_dir(project_id, task_id), name)

    def task_bus(self, project_id: str, task_id: str) -> str:
        return self.task_file(project_id, task_id, TASK_BUS)

    def project_file(self, project_id: str, name: str) -> str:
        _known(name, PROJECT_FILES, "project")
        return os.path.join(self.project_dir(project_id), name)

    def project_bus(self, project_id: str) -> str:
        return self.project_file(project_id, PROJECT_BUS)

    # ---- creation ----------------------------------------------------------------------
    def ensure_task_dir(self, project_id: str, task_id: str) -> str:
        """``mkdir -p <root>/<p>/<t>/runs`` (mode 0755); returns the task dir."""
        from . import safefs
        project, task = _project(project_id), _component("task", task_id)
        # made level by level through directory descriptors: a link at any level is refused,
        # never created through
        safefs.makedirs(self.root, os.path.join(self.root, project, task, RUNS))
        return self._checked(project, task)

    def allocate_run_dir(self, project_id: str, task_id: str,
                         run_id: str | None = None) -> tuple[str, str]:
        """Create a fresh run dir; on a name clash use ``<run_id>-<random>`` as upstream does."""
        self.ensure_task_dir(project_id, task_id)
        run_id = _component("run", run_id or ids.new_run_id())
        from . import safefs
        runs = self.runs_dir(project_id, task_id)
        fd = safefs.open_dir(self.root, runs)  # the runs dir as it is now: never a link
        try:
            name = run_id
            for _ in range(100):
                try:
                    os.mkdir(name, DIR_MODE, dir_fd=fd)
                    break
                except FileExistsError:
                    name = f"{run_id}-{os.urandom(4).hex()}"  # (`secrets` costs bus post 4 ms)
            else:
                raise LayoutError(f"{runs}: no free run dir name for {run_id}")
        finally:
            os.close(fd)
        return name, os.path.join(runs, name)

    # ---- reverse mapping ---------------------------------------------------------------
    def locate(self, path: str) -> tuple[str, str, str]:
        """``(project, task, run)`` of a canonical ``<root>/<p>/<t>/runs/<r>[/...]`` path."""
        full = os.path.abspath(path)
        rel = os.path.relpath(full, self.root)
        parts = rel.split(os.sep)
        if rel.startswith("..") or len(parts) < 4 or parts[2] != RUNS:
            raise LayoutError(f"{full}: not a run path under {self.root} "
                              "(expected <root>/<project>/<task>/runs/<run>)")
        project, task, run = _project(parts[0]), _component("task", parts[1]), \
            _component("run", parts[3])
        self._checked(project, task, RUNS, run)
        return project, task, run

    # ---- checks ------------------------------------------------------------------------
    def _checked(self, *parts: str) -> str:
        """Join ``parts`` below the root, refusing symlinked components and escapes."""
        path = self.root
        for part in parts:
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            except OSError as exc:
                raise LayoutError(f"{path}: cannot inspect: {exc.strerror}") from None
            if stat.S_ISLNK(st.st_mode):
                raise LayoutError(f"{path}: is a symbolic link; refusing to follow it below the "
                                  "runs root")
        full = os.path.join(self.root, *parts)
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(full)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise LayoutError(f"{full}: resolves to {real}, outside the runs root {real_root}")
        return full


def _known(name: str, allowed: frozenset[str], kind: str) -> None:
    if name not in allowed:
        raise LayoutError(f"{name!r} is not a {kind} file name "
                          f"(known: {', '.join(sorted(allowed))})")
