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
from dataclasses import dataclass, field, replace
from typing import Any

from .. import defaults
from ..agents.backend import BUDGET, LIMIT, Failure, Launch
from ..bus import Message, MessageBus
from ..errors import ConductorError
from ..store import (Layout, clear_cancelled, clear_done, clear_stop_requested, done_exists, done_marker_present, heal_run,
                     read_cancelled, read_depends_on, read_run_info, read_task_prompt,
                     write_depends_on, write_task_md_if_missing)
from ..store import loopstate
from ..store.layout import RUN_INFO
from ..store.usage import Usage, run_usage
from ..timefmt import format_duration, now_ns
from . import policy
from .children import find_active_children, wait_for_children
from .deps import DependencyError, check_depends_on, find_cycle, wait_for_dependencies
from .job import JobRequest, run_job
from .process import group_alive
from .prompt import task_prompt
from .stop import STOP_SIGNAL, marker_present
from .supervisor import SupervisorLock

DEFAULT_MAX_ATTEMPTS = defaults.MAX_ATTEMPTS
DEFAULT_RESTART_DELAY = defaults.RESTART_DELAY
DEFAULT_CHILD_WAIT = defaults.CHILD_WAIT
DEFAULT_CHILD_POLL = defaults.CHILD_POLL
DEFAULT_DEP_POLL = defaults.DEP_POLL
SETTLE_TIME = 2.0
ANSWER_POLL = 0.5  # how often a QUESTION's answer is looked for


class TaskError(ConductorError):
    pass


class TaskStopped(TaskError):
    pass


class LockLost(TaskError):
    """The task's lock was lost and could not be taken again (issue 14): another loop may
    own the task now, so this one starts no more runs."""


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
    max_cost_usd: float | None = None     # the task's cost budget (USD); None: none
    max_tokens: int | None = None         # the task's token budget; None: none
    failure_limit: int = policy.DEFAULT_FAILURE_LIMIT  # identical failures in a row -> stuck
    backoff_max: float = policy.DEFAULT_BACKOFF_MAX
    limit_wait_max: float = policy.DEFAULT_LIMIT_WAIT_MAX
    limit_fallback: float = policy.LIMIT_FALLBACK_WAIT
    resume_mode: str = defaults.RESUME_MODE         # when an attempt continues the agent's session
    # where each attempt runs (conductor.executor): "" or "local" in this process, as a child
    # process group of ours; another executor places the run and the loop watches it
    executor: str = ""
    placed_poll: float = 1.0              # how often a placed run is observed
    executor_options: dict = field(default_factory=dict)  # the executor's config (`slurm:`)
    # clear DONE and CANCELLED once the lock is held (the orchestrator's resume/restart: a
    # start that fails before the lock leaves them as they were)
    clear_markers: bool = False
    # issue 13: create the task's git worktree (conductor.worktree.manage.WorktreeSettings)
    # when it has none; a task with one (WORKTREE.json) always runs there
    worktree: Any = None
    # hooks and the webhook (conductor.alerts.targets.Targets, from the config; None: none)
    alerts: Any = None
    # issue 14: the executor was chosen explicitly (--executor, the console's dialogs): the loop
    # records it in TASK-EXECUTOR once it holds the task's lock (a start refused leaves the record)
    record_executor: bool = False


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
        self._alerts: Any = None  # conductor.alerts.watch.TaskAlerts while the loop runs
        self._ended_on: TaskError | None = None  # the loop ended on this (alerts: failed)
        self._lock: SupervisorLock | None = None
        self._lock_lost = ""  # the one line, once the task's lock is gone for good
        self._lock_taken = False  # ... and another loop holds it: its task files are not ours
        self._run_dir = ""    # the current attempt's run, once started (a lost lock stops it)
        self._run_mutex = threading.Lock()

    def post(self, kind: str, body: str) -> None:
        try:
            self.bus.append(Message(type=kind, project_id=self.req.project, task_id=self.req.task,
                                    body=body))
        except ConductorError:
            pass

    def stopped(self) -> bool:
        """The operator stopped the task: told us directly (:data:`STOP_SIGNAL`), or by the
        STOP-REQUESTED marker (checked without ever blocking on what is planted there)."""
        return (self._operator_stop or bool(self._lock_lost)
                or marker_present(self.layout.root, self.task_dir))

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
            with SupervisorLock(self.task_dir, req.task, on_lost=self._on_lock_lost,
                                on_retaken=self._on_lock_retaken) as self._lock:
                clear_stop_requested(self.task_dir)  # starting a task is the operator's say-so
                if req.clear_markers:
                    clear_done(self.task_dir)
                    clear_cancelled(self.task_dir)
                self._record_executor()
                loopstate.clear_loop_state(self.task_dir)  # stuck/failed end with a new start
                self._start_alerts()
                self._heal_stale_runs()
                self._worktree()
                prompt = self._prompt()
                self._preflight()
                self._dependencies()
                return self._loop(prompt)
        except TaskError as exc:
            self._ended_on = exc
            if self._lock_lost and not isinstance(exc, LockLost):  # a wait it ended
                self._ended_on = LockLost(self._lock_lost)
                raise self._ended_on from None
            raise
        finally:
            if old is not None:
                signal.signal(STOP_SIGNAL, old)
            if self._alerts is not None:  # the lock is released: the task's final state
                ended = self._ended_on
                self._alerts.finish(failed=ended is not None and not isinstance(ended, TaskStopped))

    def _start_alerts(self) -> None:
        """Hooks and the webhook (issue 13): a watcher thread of this supervisor."""
        if not self.req.alerts:
            return
        from ..alerts.watch import TaskAlerts
        self._alerts = TaskAlerts(self.layout.root, self.req.project, self.req.task,
                                  self.task_dir, self.req.alerts)
        self._alerts.start()

    def _heal_stale_runs(self) -> None:
        """Runs left ``running`` by a supervisor or job that was killed (or a reboot) are
        finished on disk now: holding the task's lock makes this loop their owner. A run of
        another executor that it reports ended is stopped through it first (fenced), so the
        next attempt never runs beside it."""
        from ..executor.base import placement_of
        from ..executor.registry import executor
        from ..store import safefs
        from ..store.liveness import runs_alive
        runs_dir = os.path.join(self.task_dir, "runs")
        # listed through descriptors from the root: a symlinked runs dir is never entered
        names = safefs.subdirs(safefs.above(self.task_dir, 2), runs_dir)
        done = done_marker_present(self.task_dir)
        running = []
        for name in names:
            path = os.path.join(runs_dir, name, RUN_INFO)
            try:
                info = read_run_info(path)
            except ConductorError:
                continue
            if info.status == "running":
                running.append((path, info))
        for (path, info), alive in zip(running, runs_alive([i for _p, i in running])):
            if alive:
                continue
            try:
                if info.executor not in ("", "local"):
                    executor(info.executor).stop(placement_of(info, os.path.dirname(path)),
                                                 10.0, True)
                heal_run(path, done_exists=done)
            except (ConductorError, OSError):
                continue

    def _record_executor(self) -> None:
        """TASK-EXECUTOR (issue 14): the executor chosen for this start, written under the lock,
        so that a start refused because a loop runs never changes what that loop runs on."""
        if not self.req.record_executor:
            return
        from ..store.task_executor import write_task_executor
        try:
            write_task_executor(self.layout.root, self.task_dir, self.req.executor or "local")
        except (ConductorError, OSError) as exc:  # a directory planted there: one line
            self.post("ERROR", f"task not started: {exc}")
            raise TaskError(str(exc)) from None

    def _worktree(self) -> None:
        """The task's worktree (created once, under the lock; reused by every later start):
        every attempt, and every child job of the task, runs in it."""
        from ..worktree.manage import ensure_worktree
        try:
            record = ensure_worktree(self.req.root, self.req.project, self.req.task,
                                     self.task_dir, self.req.worktree,
                                     note=lambda text: self.post("INFO", text))
        except ConductorError as exc:
            self._state(loopstate.FAILED, str(exc))
            self.post("ERROR", f"task not started: {exc}")
            raise TaskError(str(exc)) from None
        if record is None:
            return
        self.post("INFO", f"worktree: {record.path} (branch {record.branch}, base "
                              f"{record.base_ref} {record.base_commit[:12]})")
        self.req = replace(self.req, cwd=record.path)

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
        self._check_lock()
        cancelled = read_cancelled(self.task_dir)
        if cancelled is not None:
            reason = f": {cancelled.reason}" if cancelled.reason else ""
            self.post("INFO", f"task cancelled (CANCELLED present{reason}); not restarting")
            raise TaskStopped(f"task cancelled{reason}")
        # `task stop` tells the loop and writes the marker: which of the two the loop sees first
        # is a matter of timing, so both end with the same line (the bus says which it saw)
        if marker_present(self.layout.root, self.task_dir):
            self.post("INFO", "task stopped by operator (STOP-REQUESTED present); not restarting")
            raise TaskStopped("task stopped by operator")
        if self._operator_stop:  # told directly; the marker is not there (yet, or at all)
            self.post("INFO", "task stopped by operator (told directly; STOP-REQUESTED absent); "
                              "not restarting")
            raise TaskStopped("task stopped by operator")

    # ---- fail fast ---------------------------------------------------------------------

    def _launch(self) -> Launch:
        environ = self.req.environ if self.req.environ is not None else dict(os.environ)
        return Launch(agent=self.req.agent, environ=environ,
                      cwd=os.path.abspath(self.req.cwd or self.task_dir))

    def _backend(self):
        from ..agents.registry import backend
        return backend(self.req.agent.type)

    def _preflight(self) -> None:
        """What makes every attempt fail is found before the first one: one line on the
        terminal, an ERROR on the bus, a ``failed`` loop state, and no run at all."""
        from ..agents.registry import backend
        try:
            problems = backend(self.req.agent.type).preflight(self._launch())
        except ConductorError as exc:
            problems = [Failure("config", str(exc))]
        if problems:
            self._fatal(problems[0], attempts=0)

    def _fatal(self, failure: Failure, *, attempts: int) -> None:
        where = "before the first attempt" if attempts == 0 else f"on attempt {attempts}"
        self._state(loopstate.FAILED, failure.message)
        self.post("ERROR", f"task stopped {where}: {failure.message} "
                           f"({failure.kind}: not retried)")
        raise TaskError(failure.message)

    def _state(self, state: str, reason: str, *, until: float | None = None, failures: int = 0,
               question: str = "") -> None:
        try:
            loopstate.write_loop_state(self.task_dir, loopstate.LoopState(
                state=state, reason=reason, since=now_ns(),
                until=int(until * 1e9) if until is not None else None, failures=failures,
                question=question))
        except (ConductorError, OSError):
            pass  # the bus message says the same; a full disk must not stop the loop
        if self._alerts is not None:  # the watcher looks now, not at its next poll
            self._alerts.nudge()

    # ---- the loop ------------------------------------------------------------------------

    def _loop(self, prompt: str) -> TaskOutcome:
        req = self.req
        attempt = 0
        run_ids: list[str] = []
        previous = ""
        resume = ""           # the agent session the next attempt continues
        last_session = ""
        streak: tuple[tuple[str, str] | None, int] = (None, 0)
        limits = 0            # limit waits in a row (a limit that never lifts ends as stuck)
        session_totals: dict[str, Usage] = {}  # each session's usage as last reported (raw)
        self.budget = policy.Budget(req.max_cost_usd, req.max_tokens)
        self.original_budget = policy.Budget(req.max_cost_usd, req.max_tokens)
        budget_stop = ""      # the agent itself stopped on a budget (claude's --max-budget-usd)
        while True:
            self._check_lock()  # before DONE: another loop's DONE is not this loop's success
            if done_exists(self.task_dir):
                return self._done(attempt, run_ids)
            self._check_stop()
            if attempt >= req.max_attempts:
                self.post("ERROR", f"task failed: max restarts ({req.max_attempts}) exceeded")
                raise TaskError("max restarts exceeded")
            spent = self._spent() if (self.budget or budget_stop) else Usage()
            if (self.budget or budget_stop) and self._ask_if_over_budget(spent, budget_stop):
                budget_stop = ""
                resume = last_session if req.resume_mode != "never" else ""
                continue
            if self._answered_question(run_ids):
                resume = last_session if req.resume_mode != "never" else resume
            self._verify_lock()  # never start an attempt without the lock, checked just now
            loopstate.clear_loop_state(self.task_dir)
            self.post("INFO", f"starting root agent (restart #{attempt})"
                      + (f", resuming session {resume}" if resume else ""))
            result = self._attempt(JobRequest(
                root=req.root, project=req.project, task=req.task,
                prompt=task_prompt(prompt, attempt=attempt, resume=req.resume), agent=req.agent,
                cwd=req.cwd, parent_run_id=req.parent_run_id, previous_run_id=previous,
                idle_timeout=req.idle_timeout, conductor_url=req.conductor_url,
                environ=req.environ, extra_env=req.extra_env, secrets=req.secrets,
                alerts=req.alerts,
                should_stop=lambda: self._operator_stop or bool(self._lock_lost),
                on_started=self._run_started, resume_session=resume,
                session_usage=session_totals.get(resume),
                budget_usd=self.budget.left_usd(spent),
                usage_check=self._usage_check(spent) if self.budget else None))
            self._run_dir = ""
            run_ids.append(result.run_id)
            previous = result.run_id
            self._last_pgid = result.pgid
            last_session = result.session_id or last_session
            if result.session_id:
                session_totals[result.session_id] = result.session_usage
            resume = ""
            self._check_lock()
            if done_exists(self.task_dir):
                return self._done(attempt + 1, run_ids)
            self._check_stop()
            failure = result.failure
            delay = req.restart_delay
            if result.ok:
                streak, limits = (None, 0), 0
            elif failure is not None and failure.kind == LIMIT:
                limits += 1
                if limits > max(1, req.failure_limit):
                    self._stuck(f"{limits} usage-limit waits in a row: {failure.message}", limits)
                self._wait_limit(failure)
                resume = result.session_id if req.resume_mode != "never" else ""
                continue  # a limit is not a failed attempt
            elif failure is not None and failure.kind == BUDGET:
                # the check at the top asks the operator, even when our sum of the runs is a
                # hair under the budget the agent enforced itself (it never loops unasked)
                budget_stop = failure.message or "budget reached"
                resume = result.session_id if req.resume_mode != "never" else ""
                continue
            elif failure is not None and not self._backend().retryable(failure):
                self._fatal(failure, attempts=attempt + 1)
            else:
                self.post("WARNING", f"root agent failed on restart #{attempt}: {result.error}")
                key = policy.signature(failure, result.error)
                streak = (key, streak[1] + 1 if streak[0] == key else 1)
                if streak[1] >= max(1, req.failure_limit):
                    self._stuck(f"{streak[1]} identical failures in a row: "
                                f"{failure.message if failure else result.error}", streak[1])
                delay = policy.backoff(req.restart_delay, streak[1], req.backoff_max)
                if streak[1] > 1:
                    until = time.time() + delay
                    self._state(loopstate.BACKOFF, failure.message if failure else result.error,
                                until=until, failures=streak[1])
                    self.post("INFO", f"same failure {streak[1]} times in a row; next attempt in "
                                      f"{format_duration(delay)}")
            attempt += 1
            if req.resume_mode == "always":
                resume = result.session_id
            self._sleep(delay)

    # ---- the task's lock (issue 14: lost on a network file system) -----------------------

    def _on_lock_lost(self, line: str, taken: bool) -> None:
        """The lock is gone for good (the watchdog thread, or the probe before an attempt):
        no more attempts; the current run is stopped through its executor, as an operator's
        stop would; the bus and the loop state say why in one line. The loop state only when
        no other loop holds the lock: that loop's state is not ours to overwrite."""
        with self._run_mutex:
            self._lock_lost, self._lock_taken = line, taken
            run_dir = self._run_dir
        if not taken:
            self._state(loopstate.FAILED, line)
        self.post("ERROR", line)
        if run_dir:
            self._stop_lost_run(run_dir)

    def _on_lock_retaken(self, fault: str) -> None:
        self.post("WARN", f"lost the task lock ({fault}) and took it again; going on")

    def _run_started(self, info) -> None:
        run_dir = os.path.join(self.layout.runs_dir(self.req.project, self.req.task), info.run_id)
        with self._run_mutex:
            self._run_dir = run_dir
            lost = self._lock_lost
        if lost:  # lost while the run was being started: the watchdog could not see it yet
            self._stop_lost_run(run_dir)

    def _stop_lost_run(self, run_dir: str) -> None:
        from .stop import stop_run
        try:
            stop_run(run_dir, grace=defaults.STOP_GRACE, force=True)
        except (ConductorError, OSError):
            pass  # ended already, or its record is unreadable: nothing more to stop

    def _verify_lock(self) -> None:
        if self._lock is not None:
            self._lock.verify()
        self._check_lock()

    def _check_lock(self) -> None:
        if self._lock_lost:
            if not self._lock_taken:  # again: an attempt's start may have cleared it
                self._state(loopstate.FAILED, self._lock_lost)
            raise LockLost(self._lock_lost)

    def _attempt(self, job: JobRequest):
        """One attempt: in this process (local), or placed by the task's executor and watched
        through it (:func:`conductor.runner.placed.place_run`: a lost run is stopped through
        its executor before it counts as ended, so the next attempt never runs beside it)."""
        name = (self.req.executor or "local").strip().lower()
        if name == "local":
            return run_job(job)
        from .placed import place_run
        result = place_run(name, job, poll=self.req.placed_poll,
                           options=self.req.executor_options)
        if self.req.alerts:  # the node side has no config: run_stop is posted from here
            self._run_stop(result.run_dir)
        return result

    def _run_stop(self, run_dir: str) -> None:
        from ..alerts.watch import fire_run_stop
        try:
            info = read_run_info(os.path.join(run_dir, RUN_INFO))
        except ConductorError:
            return
        fire_run_stop(self.task_dir, info, self.req.alerts)

    def _stuck(self, reason: str, failures: int) -> None:
        self._state(loopstate.STUCK, reason, failures=failures)
        self.post("ERROR", f"task stuck: {reason}; not restarting (start it again when fixed)")
        raise TaskError(f"task stuck: {reason}")

    # ---- limits --------------------------------------------------------------------------

    def _wait_limit(self, failure: Failure) -> None:
        req = self.req
        seconds = policy.limit_wait(failure, cap=req.limit_wait_max, fallback=req.limit_fallback)
        until = time.time() + seconds
        shown = time.strftime("%H:%M", time.localtime(until))
        if seconds >= 24 * 3600:
            shown = time.strftime("%Y-%m-%d %H:%M", time.localtime(until))
        self._state(loopstate.LIMIT, failure.message, until=until)
        self.post("INFO", f"waiting: limit until {shown} ({failure.message}); "
                          "this wait does not count as an attempt")
        self._sleep(seconds)
        self._check_stop()
        self.post("INFO", "limit wait over; resuming")

    # ---- budgets -------------------------------------------------------------------------

    def _spent(self) -> Usage:
        """Usage of every run of the task (children too): what the budget is measured on."""
        from ..store import safefs
        runs_dir = os.path.join(self.task_dir, "runs")
        total = Usage()
        for name in safefs.subdirs(safefs.above(self.task_dir, 2), runs_dir):
            try:
                total = total + run_usage(read_run_info(os.path.join(runs_dir, name,
                                                                     RUN_INFO)))
            except ConductorError:
                continue
        return total

    def _usage_check(self, spent_before: Usage):
        budget = self.budget

        def check(usage_so_far: Usage) -> Failure | None:
            reason = budget.reached(spent_before + usage_so_far)
            return Failure(BUDGET, reason) if reason else None
        return check

    def _ask_if_over_budget(self, spent: Usage, stopped: str = "") -> bool:
        """When the budget is spent (``spent``: the task's runs so far) or the agent stopped on
        one (``stopped``): a QUESTION on the bus, the ``budget`` loop state, and a wait for the
        operator's answer (which sets the new budget). True when it asked."""
        reason = self.budget.reached(spent) or stopped
        if not reason:
            return False
        question = self._post_question(
            f"{reason} — answer to continue with a new budget (a number such as "
            f"{self._example(spent)} is the new total; \"stop\" ends the task)")
        self._state(loopstate.BUDGET, reason, question=question)
        answer = self._wait_answer(question)
        new = policy.apply_answer(self.budget, spent, answer, self.original_budget)
        if new is None:
            self.post("INFO", f"budget not extended (answer: {answer.strip()[:200]}); stopping")
            loopstate.clear_loop_state(self.task_dir)
            raise TaskStopped("budget reached and not extended")
        self.budget = new
        limit = policy.Budget(new.max_cost_usd, new.max_tokens)
        self.post("INFO", "budget extended: " + ", ".join(
            part for part in (
                f"max cost ${limit.max_cost_usd:.2f}" if limit.max_cost_usd is not None else "",
                f"max tokens {limit.max_tokens}" if limit.max_tokens is not None else "")
            if part))
        return True

    def _example(self, spent: Usage) -> str:
        tokens = self.budget.max_tokens
        if tokens is not None and spent.tokens >= tokens and not (
                self.budget.max_cost_usd is not None
                and (spent.cost_usd or 0.0) >= self.budget.max_cost_usd):
            return str(max(1000, spent.tokens * 2))
        return f"${max(1.0, (spent.cost_usd or 0.0) * 2):.2f}"

    def _post_question(self, body: str) -> str:
        try:
            msg = self.bus.append(Message(type="QUESTION", project_id=self.req.project,
                                          task_id=self.req.task, body=body))
            return msg.msg_id
        except ConductorError:
            return ""

    def _wait_answer(self, question: str) -> str:
        """The body of the first USER message after the QUESTION ``question`` (waiting for
        it, and honouring stop and cancel while waiting)."""
        offset = None
        while True:
            self._check_stop()
            try:
                if offset is None:
                    messages, offset = self.bus.tail_with_offset(0)
                    reader = self.bus.reader(offset)
                    seen = any(m.msg_id == question for m in messages)
                    after = messages[next((i + 1 for i, m in enumerate(messages)
                                           if m.msg_id == question), len(messages)):]
                    if not seen:
                        after = []
                else:
                    after = reader.poll()
            except ConductorError:
                after = []
            for msg in after:
                if msg.type == "USER":
                    return msg.body
            time.sleep(ANSWER_POLL)

    def _answered_question(self, run_ids: list[str]) -> bool:
        """The last attempt asked a QUESTION and stopped: wait for the operator's answer
        before the next attempt, which then continues the agent's session."""
        if not run_ids:
            return False
        try:
            last = self.bus.tail(20)
        except ConductorError:
            return False
        asked = [m for m in last if m.type == "QUESTION" and m.run_id == run_ids[-1]]
        if not asked:
            return False
        question = asked[-1]
        later = last[last.index(question) + 1:]
        if any(m.type == "USER" for m in later):
            return True
        self._state(loopstate.QUESTION, question.body.strip().split("\n")[0][:200],
                    question=question.msg_id)
        self._wait_answer(question.msg_id)
        return True

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
