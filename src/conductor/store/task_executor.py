"""TASK-EXECUTOR: the executor a task was started with (``run-agent task --executor X``, or the
console's new-task dialog), so that a restart or resume runs it on X again (issue 14).

One line, the executor's name. Written atomically through :mod:`safefs`; read hostile-safe: a
link, FIFO, directory or garbage there is one :class:`~conductor.errors.LayoutError` line naming
the file, never followed or blocked on.
"""

from __future__ import annotations

import os
import re

from ..errors import LayoutError
from . import safefs
from .layout import FILE_MODE

TASK_EXECUTOR = "TASK-EXECUTOR"
MAX_BYTES = 256
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def path_of(task_dir: str) -> str:
    return os.path.join(task_dir, TASK_EXECUTOR)


def write_task_executor(root: str, task_dir: str, name: str) -> None:
    """Record ``name`` (a known executor's name) as the task's executor."""
    safefs.write_atomic(root, path_of(task_dir), (name.strip().lower() + "\n").encode(),
                        FILE_MODE)


def read_task_executor(root: str, task_dir: str) -> str:
    """The recorded executor's name; "" when the task has no record."""
    path = path_of(task_dir)
    data = safefs.read_bytes(root, path, MAX_BYTES)  # a link/FIFO/dir: UnsafeFileError, one line
    if data is None:
        return ""
    try:
        name = data.decode("ascii").strip()
    except UnicodeDecodeError:
        name = None
    if name is None or not _NAME.fullmatch(name):
        raise LayoutError(f"{path}: executor: not an executor name (delete the file, or start "
                          "the task with --executor)")
    return name


def recorded_executor(root: str, task_dir: str) -> str:
    """The task's TASK-EXECUTOR as a known executor's name; "" when there is none. A hostile
    record or an executor this conductor does not know: one line naming the file."""
    from ..executor.registry import UnknownExecutor, executor
    name = read_task_executor(root, task_dir)  # garbage, a link, a FIFO: one line
    if name:
        try:
            executor(name)
        except UnknownExecutor as exc:
            raise UnknownExecutor(f"{path_of(task_dir)}: {exc}") from None
    return name


def configured_executor(agent, config, environ) -> tuple[str, str]:
    """(name, where it comes from) when neither a flag nor the task's record says:
    $CONDUCTOR_EXECUTOR, the agent's ``executor:``, the config's ``defaults.executor``, local.
    The name is not checked here."""
    for name, source in ((environ.get("CONDUCTOR_EXECUTOR", ""), "$CONDUCTOR_EXECUTOR"),
                         (getattr(agent, "executor", "") or "", "the agent's executor:"),
                         (config.defaults.executor if config is not None else "",
                          "defaults.executor")):
        if name and name.strip():
            return name.strip().lower(), source
    return "local", "the default"
