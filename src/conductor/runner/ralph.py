"""The Ralph loop: ``run-agent task`` (spec 4.6), restarting the root agent until DONE.

Beyond upstream: one supervisor per task (an exclusive lock for the loop's life), a
STOP-REQUESTED marker is honoured before and after every attempt and during waits (9 #17),
only the current root's children are waited for (9 #18), dependency waits can time out (9 #34),
and ``--restart-delay 0`` means no delay (9 #31).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..bus import Message, MessageBus
from ..errors import ConductorError
from ..store import (Layout, clear_stop_requested, done_exists, done_marker_present, heal_run,
                     read_cancelled, read_depends_on, read_run_info, read_task_prompt,
                     write_depends_on, write_task_md_if_missing)
from ..timefmt import format_duration
from .children import find_active_children, wait_for_children
from .deps import DependencyError, check_depends_on, find_cycle, wait_for_dependencies
from .job import JobRequest, run_job
from .process import group_alive
from .prompt import task_prompt
from .stop import STOP_SIGNAL, marker_present
from .supervisor import SupervisorLock

DEFAULT_MAX_ATTEMPTS = 100
DEFAULT_RESTART_DELAY = 1.0
DEFAULT_CHILD_WAIT = 300.0
DEFAULT_CHILD_POLL = 1.0
DEFAULT_DEP_POLL = 2.0
SETTLE_TIME = 2.0


class TaskError(ConductorError):
    pass


class TaskStopped(TaskError):
    pass


@dataclass
class TaskRequest:
    root: str
    project: str
    task: str
    agent: Any
    prompt: str | None = None
    cwd: str | None = None
    depends_on: list[str] | None = None  # None: keep TASK-CONFIG.yaml as it is
    dependency_poll: float = DEFAULT_DEP_POLL
    dependency_timeout: float | None = None
    conductor_url: str = ""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    restart_delay: float = DEFAULT_RESTART_DELAY
    child_wait_timeout: float = DEFAULT_CHILD_WAIT
    child_poll_interval: float = DEFAULT_CHILD_POLL
    idle_timeout: float = 0.0
    resume: bool = False
    parent_run_id: str = ""
    environ: dict[str, str] | None = None
    secrets: tuple[str, ...] = ()  # every configured token, for the runs (conductor.secrets)
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskOutcome:
    attempts: int
    run_ids: list[str]
    waited_children: list[str] = field(default_factory=list)


class RalphLoop:
    def __init__(self, req: TaskRequest) -> None:
        self.req = req
        self.layout = Layout(req.root)
        self.task_dir = self.layout.ensure_task_dir(req.project, req.task)
        self.bus = MessageBus(self.layout.task_bus(req.project, req.task))
        self._last_pgid = 0
        self._operator_stop = False  # set by STOP_SIGNAL from `stop`/`task stop`

    def post(self, kind: str, body: str) -> None:
        try:
            self.bus.append(Message(type=kind, project_id=self.req.project, task_id=self.req.task,
                                    body=body))
        except ConductorError:
            pass

    def stopped(self) -> bool:
        """The operator stopped the task: told us directly (:data:`STOP_SIGNAL`), or by the
        STOP-REQUESTED marker (checked without ever blocking on what is planted there)."""
        return self._operator_stop or marker_present(self.layout.root, self.task_dir)

    def _on_stop_signal(self, _signum, _frame) -> None:
        self._operator_stop = True

    def run(self) -> TaskOutcome:
        req = self.req
        if req.max_attempts < 1:
            raise TaskError("--max-restarts must be at least 1 (it counts attempts)")
        old = None
        if threading.current_thread() is threading.main_thread():
            # installed before the lock is taken: `stop` signals only a lock holder that
            # catches STOP_SIGNAL
            old = signal.signal(STOP_SIGNAL, self._on_stop_signal)
        try:
            with SupervisorLock(self.task_dir, req.task):
                clear_stop_requested(self.task_dir)  # starting a task is the operator's say-so
                self._heal_stale_runs()
                prompt = self._prompt()
                self._dependencies()
                return self._loop(prompt)
        finally:
            if old is not None:
                signal.signal(STOP_SIGNAL, old)

    def _heal_stale_runs(self) -> None:
        """Runs left ``running`` by a supervisor or job that was killed (or a reboot) are
        finished on disk now: holding the task's lock makes this loop their owner."""
        from ..store import safefs
        runs_dir = os.path.join(self.task_dir, "runs")
        # listed through descriptors from the root: a symlinked runs dir is never entered
        names = safefs.subdirs(safefs.above(self.task_dir, 2), runs_dir)
        done = done_marker_present(self.task_dir)
        for name in names:
            path = os.path.join(runs_dir, name, "run-info.yaml")
            try:
                if read_run_info(path).status == "running":
                    heal_run(path, done_exists=done)
            except ConductorError:
                continue

    def _prompt(self) -> str:
        existing = read_task_prompt(self.task_dir)
        if self.req.prompt and self.req.prompt.strip():
            write_task_md_if_missing(self.task_dir, self.req.prompt.strip())
            return self.req.prompt.strip()
        if existing is not None and existing.strip():
            return existing.strip()
        raise TaskError("TASK.md not found and no prompt provided")

    def _dependencies(self) -> None:
        req = self.req
        project_dir = self.layout.project_dir(req.project)
        if req.depends_on is not None:
            deps = check_depends_on(req.task, req.depends_on)
            cycle = find_cycle(project_dir, req.task, deps)
            if cycle:
                raise DependencyError("dependency cycle detected: " + " -> ".join(cycle))
            write_depends_on(self.task_dir, deps)
        else:
            deps = read_depends_on(self.task_dir)
        if deps:
            wait_for_dependencies(project_dir, self.task_dir, deps, poll=req.dependency_poll,
                                  timeout=req.dependency_timeout, post=self.post,
                                  should_stop=self.stopped)

    def _check_stop(self) -> None:
        cancelled = read_cancelled(self.task_dir)
        if cancelled is not None:
            reason = f": {cancelled.reason}" if cancelled.reason else ""
            self.post("INFO", f"task cancelled (CANCELLED present{reason}); not restarting")
            raise TaskStopped(f"task cancelled{reason}")
        if marker_present(self.layout.root, self.task_dir):
            self.post("INFO", "task stopped by operator (STOP-REQUESTED present); not restarting")
            raise TaskStopped("task stopped: STOP-REQUESTED is present")
        if self._operator_stop:  # told directly; the marker could not be written
            self.post("INFO", "task stopped by operator (told directly; STOP-REQUESTED absent); "
                              "not restarting")
            raise TaskStopped("task stopped by operator")

    def _loop(self, prompt: str) -> TaskOutcome:
        req = self.req
        attempt = 0
        run_ids: list[str] = []
        previous = ""
        while True:
            if done_exists(self.task_dir):
                return self._done(attempt, run_ids)
            self._check_stop()
            if attempt >= req.max_attempts:
                self.post("ERROR", f"task failed: max restarts ({req.max_attempts}) exceeded")
                raise TaskError("max restarts exceeded")
            self.post("INFO", f"starting root agent (restart #{attempt})")
            result = run_job(JobRequest(
                root=req.root, project=req.project, task=req.task,
                prompt=task_prompt(prompt, attempt=attempt, resume=req.resume), agent=req.agent,
                cwd=req.cwd, parent_run_id=req.parent_run_id, previous_run_id=previous,
                idle_timeout=req.idle_timeout, conductor_url=req.conductor_url,
                environ=req.environ, extra_env=req.extra_env, secrets=req.secrets,
                should_stop=lambda: self._operator_stop))
            run_ids.append(result.run_id)
            previous = result.run_id
            self._last_pgid = result.pgid
            if not result.ok:
                self.post("WARNING", f"root agent failed on restart #{attempt}: {result.error}")
            attempt += 1
            if done_exists(self.task_dir):
                return self._done(attempt, run_ids)
            self._check_stop()
            self._sleep(req.restart_delay)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stopped() or read_cancelled(self.task_dir) is not None:
                return
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _done(self, attempts: int, run_ids: list[str]) -> TaskOutcome:
        req = self.req
        # only the children of the attempt that wrote DONE (the current root) are waited for;
        # runs left by earlier attempts are stale (spec 9 #18)
        roots = {run_ids[-1]} if run_ids else None
        active = find_active_children(self.task_dir, roots)
        if not active and self._last_pgid:
            active = self._settle(roots)
        waited = [c.run_id for c in active]
        if not active:
            self.post("INFO", "task completed (DONE marker present, no active children)")
        else:
            self.post("INFO", f"waiting for {len(active)} children to complete: [{' '.join(waited)}]")
            left = wait_for_children(self.task_dir, roots, timeout=req.child_wait_timeout,
                                     poll=req.child_poll_interval, should_stop=self.stopped)
            if left:
                ids = " ".join(c.run_id for c in left)
                self.post("WARNING", f"timeout waiting for children after "
                                     f"{format_duration(req.child_wait_timeout)}: [{ids}]")
            else:
                self.post("INFO", "task completed (all children finished)")
        self._propagate()
        return TaskOutcome(attempts, run_ids, waited)

    def _settle(self, roots: set[str] | None) -> list:
        """A child started in the background just before DONE may not have its run dir yet.

        While the finished root agent's process group still has live members, give them a
        moment to show up as child runs.
        """
        deadline = time.monotonic() + SETTLE_TIME
        while time.monotonic() < deadline and group_alive(self._last_pgid):
            time.sleep(0.05)
            active = find_active_children(self.task_dir, roots)
            if active:
                return active
        return []

    def _propagate(self) -> None:
        from .propagation import propagate_completion
        try:
            outcome = propagate_completion(self.layout, self.req.project, self.req.task)
        except ConductorError as exc:
            self.post("ERROR", f"task completion fact propagation failed: {exc}")
            return
        if outcome.posted:
            self.post("FACT", f"task completion facts propagated to project bus "
                              f"(msg_id={outcome.msg_id} key={outcome.key})")
        else:
            self.post("INFO", f"task completion facts already propagated (key={outcome.key})")


def run_task(req: TaskRequest) -> TaskOutcome:
    return RalphLoop(req).run()
