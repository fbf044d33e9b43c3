"""The console's control actions: orchestrator verbs with typed results.

Every method calls one orchestrator verb and returns an :class:`ActionResult`, never raises:
a failure is a result with ``ok=False`` and the error's text. The methods block (a stop waits
out its grace period), so the app calls them in thread workers and renders the result on the
event loop (status line and a toast). No Textual import: the words are tested without a screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ..defaults import CONSOLE_GRACE
from ..words import count


@dataclass(frozen=True)
class ActionResult:
    """What a control action did. ``text`` is the one line the operator reads."""
    action: str
    ok: bool
    message: str
    project: str = ""
    task: str = ""
    pid: int | None = None
    # a delete or archive refused because the task's worktree branch holds unmerged work
    worktree_refused: bool = False

    @property
    def text(self) -> str:
        return self.message if self.ok else f"{self.action}: {self.message}"


@dataclass(frozen=True)
class ExecutorNow:
    """Where a task's runs go when it is started again without a choice: ``name``, and
    ``source``: TASK-EXECUTOR, $CONDUCTOR_EXECUTOR, the agent's executor:, defaults.executor or
    the default. ``error``: the task's record could not be read (one line naming the file)."""
    name: str
    source: str
    error: str = ""


def describe(action: str, result: Any, task: str) -> str:
    """The status-line words for a verb's return value."""
    if action == "stop":
        stopped = sum(1 for o in result or [] if getattr(o, "stopped", False))
        notes = "".join(f"; {o.notice}" for o in result or [] if getattr(o, "notice", ""))
        return f"stop: {task} stop requested; {count(stopped, 'run')} stopped{notes}"
    if action == "stop run":
        return f"stop run: {getattr(result, 'message', '') or getattr(result, 'notice', '')}"
    if action in ("start", "restart"):
        if getattr(result, "confirmed", True) is False:
            return (f"{action}: {task} starting (pid {getattr(result, 'pid', '?')}; "
                    "no supervisor holds the task yet)")
        return f"{action}: {task} started (supervisor pid {getattr(result, 'pid', '?')})"
    if action == "post":
        return f"posted {getattr(result, 'type', '')} {getattr(result, 'msg_id', '')}"
    if action == "new task":
        return f"started {task} (supervisor pid {getattr(result, 'pid', '?')})"
    if action == "delete":
        stopped = getattr(result, "stopped", None)
        return f"deleted {task}" + (" (stopped first)" if stopped else "")
    if action == "archive":
        return (f"archived {task} to {getattr(result, 'target', '?')} (run-agent task restore "
                f"--project {getattr(result, 'project', '?')} --task {task} brings it back)")
    if action == "restore":
        return f"restored {task} to project {getattr(result, 'project', '?')}"
    return f"{action}: done"


class Controller:
    """Control verbs on one runs root. ``config_path`` is the config a started loop reads."""

    STOP_GRACE = CONSOLE_GRACE

    def __init__(self, root: str, config_path: str | None = None, *,
                 agents: dict | None = None) -> None:
        self.root = root
        self.config_path = config_path
        self.agents = agents or {}
        # (project, task) -> the error of its last start that failed (cleared when one starts);
        # the Info tab shows it
        self.start_failures: dict[tuple[str, str], str] = {}

    def agent_for(self, task) -> str | None:
        """The config agent to run a task (a TaskView) again with: run-info records the agent
        *type*, so the one agent of that type, else the config's default (None)."""
        latest = task.latest
        if latest is None:
            return None
        if latest.agent in self.agents:
            return latest.agent
        same = [name for name, agent in self.agents.items() if agent.type == latest.agent]
        return same[0] if len(same) == 1 else None

    def _run(self, action: str, project: str, task: str, fn: Callable[[], Any]) -> ActionResult:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is shown, none is swallowed
            from ..orchestrator import StartFailed
            message = str(exc) or type(exc).__name__
            if isinstance(exc, StartFailed):
                self.start_failures[(project, task)] = message
            from ..worktree.manage import RemovalRefused
            return ActionResult(action, False, message, project, task,
                                worktree_refused=isinstance(exc, RemovalRefused))
        if action in ("start", "restart", "new task"):
            self.start_failures.pop((project, task), None)
        pid = getattr(result, "pid", None)
        return ActionResult(action, True, describe(action, result, task), project, task,
                            pid if isinstance(pid, int) else None)

    def start(self, project: str, task: str, *, agent: str | None) -> ActionResult:
        """Start a task that is not running (clears DONE/STOP-REQUESTED/CANCELLED)."""
        from .. import orchestrator
        return self._run("start", project, task, lambda: orchestrator.resume_task(
            self.root, project, task, agent=agent, config_path=self.config_path))

    def stop(self, project: str, task: str) -> ActionResult:
        from .. import orchestrator
        return self._run("stop", project, task, lambda: orchestrator.stop_task(
            self.root, project, task, force=True, grace=self.STOP_GRACE))

    def stop_run(self, project: str, task: str, run: str) -> ActionResult:
        from .. import orchestrator
        return self._run("stop run", project, task, lambda: orchestrator.stop_run(
            self.root, project, task, run, force=True, grace=self.STOP_GRACE))

    def restart(self, project: str, task: str, *, agent: str | None,
                executor: str | None = None) -> ActionResult:
        """Stop the task if it runs and start it again; ``executor``: on that executor from
        now on (the new loop records it in TASK-EXECUTOR; None: as the task's record or the
        config says)."""
        from dataclasses import replace

        from .. import orchestrator
        result = self._run("restart", project, task, lambda: orchestrator.restart_task(
            self.root, project, task, grace=self.STOP_GRACE, agent=agent,
            config_path=self.config_path, executor=executor))
        if result.ok and executor:
            result = replace(result, message=result.message.replace(
                f"{task} start", f"{task} on {executor}: start", 1))
        return result

    def executor_now(self, project: str, task: str, agent: str | None, config=None,
                     environ=None) -> ExecutorNow:
        """Where a restart of the task would run it without a choice (reads the task dir:
        call it off the event loop): its TASK-EXECUTOR, else what the config picks for
        ``agent`` (a started loop inherits ``environ``, $CONDUCTOR_EXECUTOR included)."""
        from ..errors import ConductorError
        from ..store import Layout
        from ..store.task_executor import configured_executor, recorded_executor
        error = ""
        try:
            recorded = recorded_executor(self.root, Layout(self.root).task_dir(project, task))
        except ConductorError as exc:  # a hostile record: said in the dialog, then replaced
            recorded, error = "", str(exc)
        if recorded:
            return ExecutorNow(recorded, "TASK-EXECUTOR")
        if not agent and config is not None:
            agent = config.defaults.agent or None
        name, source = configured_executor(self.agents.get(agent or ""), config,
                                           os.environ if environ is None else environ)
        return ExecutorNow(name, source, error)

    def post(self, project: str, task: str | None, msg_type: str, body: str, *,
             shown_task: str = "") -> ActionResult:
        """Post to the task's bus, or the project's when ``task`` is None."""
        from .. import orchestrator
        return self._run("post", project, shown_task, lambda: orchestrator.post_message(
            self.root, project, task, msg_type, body))

    def new_task(self, req) -> ActionResult:
        """Write TASK.md, then launch the detached supervisor (a checked NewTaskRequest)."""
        from .. import orchestrator
        from .screens.new_task import budget_args

        def create():
            orchestrator.new_task(self.root, req.project, req.task, req.prompt,
                                  depends_on=req.depends_on or None,
                                  unknown_deps_ok=req.unknown_deps_ok)
            return orchestrator.start_task(
                self.root, req.project, req.task, agent=req.agent, config_path=self.config_path,
                cwd=os.path.expanduser(req.cwd) if req.cwd else None,
                extra_args=budget_args(req) or None, worktree=req.worktree,
                executor=req.executor or None)
        return self._run("new task", req.project, req.task, create)

    def delete(self, project: str, task: str, *, force: bool = False,
               worktree_force: bool = False) -> ActionResult:
        """Delete a task's directory; a live task is refused unless ``force`` (stop it first,
        SIGKILL after the console's grace), unmerged work on its worktree branch unless
        ``worktree_force``."""
        from .. import orchestrator
        return self._run("delete", project, task, lambda: orchestrator.delete_task(
            self.root, project, task, force=force, grace=self.STOP_GRACE,
            worktree_force=worktree_force))

    def archive(self, project: str, task: str, *, force: bool = False) -> ActionResult:
        """Move a stopped task to ``<root>/.archive/<project>/<task>`` (restorable); its
        worktree is removed (refused with unmerged work unless ``force``)."""
        from .. import orchestrator
        return self._run("archive", project, task, lambda: orchestrator.archive_task(
            self.root, project, task, force=force))

    def restore(self, project: str, task: str) -> ActionResult:
        """Move an archived task back to its project (refused when the name is taken)."""
        from .. import orchestrator
        return self._run("restore", project, task, lambda: orchestrator.restore_task(
            self.root, project, task))
