"""One run of one agent: ``run-agent job`` (spec 4.1 and 4.3), with the defects of spec 9 fixed.

The run directory and a run-info are written before anything slow (9 #19); the agent runs in a
new session with stdin from prompt.md and stdout/stderr appended to the run's files; the idle
timeout and stops take the whole process group down (9 #15); a spawn failure still gets
RUN_CRASH and an output.md (9 #21); output.md falls back to a copy of stdout for every agent
type (9 #22); REST agents run as their own process, so their pid is never ours (9 #16).
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from dataclasses import dataclass, field

from ..record import replace

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `run-agent job` does not import typing
    from typing import Any, Callable, Mapping

from ..agents import AgentError, commandline, detect_version, normalize_type
from ..agents.backend import (SPAWN, TIMEOUT, Backend, Failure, Launch, Outcome, StreamWatch,
                              Usage)
from ..agents.streams import parse_event, read_text_tail
from ..agents.registry import backend as backend_of
from ..bus import Message, MessageBus
from ..errors import ConductorError
from ..secrets import StreamRedactor, collect, redact, usable
from ..store import (OUTPUT, PROMPT, RUN_INFO, STDERR, STDOUT, Layout, RunInfo, update_run_info,
                     write_run_info, write_task_md_if_missing)
from ..store import safefs
from ..timefmt import format_duration, now_ns
from .env import agent_environment
from .process import AgentGroup, classify
from .prompt import PreambleInfo, build_prompt

STDERR_TAIL_LINES = 50
OUTPUT_COPY_LIMIT = 64 << 20  # output.md copies at most the last 64 MiB of agent-stdout.txt
WATCH_INTERVAL = 0.25  # how often a live stream reader looks for new events
LINE_LIMIT = 16 << 20  # a longer unfinished line is skipped by the live reader (not by outcome)


class JobError(ConductorError):
    """The agent did not finish successfully; the run's files say why."""


@dataclass
class JobRequest:
    root: str
    project: str
    task: str
    prompt: str
    agent: Any  # conductor.config.AgentConfig or anything with name/type/token/command/...
    cwd: str | None = None
    parent_run_id: str = ""
    previous_run_id: str = ""
    idle_timeout: float = 0.0
    conductor_url: str = ""
    run_dir: tuple[str, str] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] | None = None
    secrets: tuple[str, ...] = ()  # every configured token (conductor.secrets.collect)
    on_started: Callable[[RunInfo], None] | None = None
    # the supervisor's "the operator stopped the task": checked before the spawn (no agent is
    # started) and right after it (the stop could not see the agent yet: it is terminated)
    should_stop: Callable[[], bool] | None = None
    resume_session: str = ""  # the agent session to continue ("" = a fresh one)
    # what that session had reported before (its raw running total), for backends whose
    # resumed sessions report the whole session's usage (Backend.cumulative_session_usage)
    session_usage: Usage | None = None
    budget_usd: float | None = None  # what is left of the task's cost budget for this attempt
    # the supervisor's budget, checked with the usage seen so far while the agent runs: a
    # Failure ends the attempt (stopped, failure kind "budget")
    usage_check: Callable[[Usage], Failure | None] | None = None
    # the executor that placed this runner where it runs ("": none, this is a local run).
    # Set by the node runner (conductor.runner.placed): the record then says pid 0, pgid 0,
    # process_ownership external, and where the agent runs on this host (host_pid...)
    placed_by: str = ""
    heartbeat: float = 0.0  # seconds between heartbeat_time refreshes (0: none), for placed runs
    # hooks and the webhook (conductor.alerts.targets.Targets): run_stop goes to the webhook
    alerts: Any = None


@dataclass
class JobResult:
    run_id: str
    run_dir: str
    exit_code: int
    status: str
    error_summary: str
    timed_out: bool = False
    error: str = ""
    pgid: int = 0
    failure: Failure | None = None  # what the agent (or the runner) said went wrong
    usage: Usage = field(default_factory=Usage)
    session_id: str = ""  # the session a later attempt may continue ("" when none can be)
    session_usage: Usage = field(default_factory=Usage)  # as the agent reported it (raw)

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def agent_argv(agent: Any, launch: Launch | None = None,
               environ: Mapping[str, str] | None = None) -> list[str]:
    """The command line of one attempt, as the agent's backend builds it; a program that is
    not on PATH is an AgentError naming the agent and the binary."""
    found = backend_of(agent.type)
    launch = launch or Launch(agent=agent, environ=environ if environ is not None else os.environ)
    argv = found.argv(launch)
    if os.sep not in argv[0]:
        path = (environ if environ is not None else os.environ).get("PATH")
        import shutil  # a bare program name only: shutil costs every start 2 ms
        if shutil.which(argv[0], path=path) is None:
            name = getattr(agent, "name", "") or found.type
            hint = f" (install: {found.install_hint})" if found.install_hint else ""
            raise AgentError(f'agent "{name}": binary "{argv[0]}" not found in PATH{hint}')
    return argv


class _Forwarder:
    """While the agent runs, SIGTERM/SIGINT/SIGHUP to us go to the agent's group instead.

    Only to the group of the agent we spawned and still hold unreaped (:class:`AgentGroup`);
    before the spawn a signal only marks the job interrupted, so it does not spawn at all.
    """

    def __init__(self) -> None:
        self.group: AgentGroup | None = None
        self.signalled = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Forwarder":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        self.signalled = True
        if self.group is not None:
            self.group.signal(signal.SIGTERM)

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _worktree_path(task_dir: str) -> str:
    from ..worktree.record import read_record
    record = read_record(task_dir)
    return record.path if record is not None else ""


def _secrets(req: JobRequest) -> tuple[str, ...]:
    environ = req.environ if req.environ is not None else os.environ
    return usable((*req.secrets, *collect(None, environ), getattr(req.agent, "token", "") or ""))


def run_job(req: JobRequest) -> JobResult:
    req = replace(req, secrets=_secrets(req))
    layout = Layout(req.root)
    task_dir = layout.ensure_task_dir(req.project, req.task)
    write_task_md_if_missing(task_dir, req.prompt)
    # a task with a worktree (WORKTREE.json, issue 13) runs there, its child jobs too
    workdir = os.path.abspath(req.cwd or _worktree_path(task_dir) or task_dir)
    bus = MessageBus(layout.task_bus(req.project, req.task))
    run_id, run_dir = req.run_dir or layout.allocate_run_dir(req.project, req.task)
    paths = {name: os.path.join(run_dir, name) for name in (RUN_INFO, PROMPT, OUTPUT, STDOUT, STDERR)}
    agent_type = normalize_type(req.agent.type)
    # Until the agent exists the record names no process group (pid 0, pgid 0): the runner's
    # own group is its caller's (a shell, the console), and a stop must never reach it. The
    # runner's pid goes in runner_pid, which views use to tell "being set up" from "dead"
    # and which nothing ever signals.
    info = RunInfo(
        version=1, run_id=run_id, parent_run_id=req.parent_run_id,
        previous_run_id=req.previous_run_id, project_id=req.project, task_id=req.task,
        agent=agent_type, process_ownership="managed", pid=0, pgid=0,
        start_time=now_ns(), end_time=None, exit_code=-1, status="running", cwd=workdir,
        prompt_path=paths[PROMPT], output_path=paths[OUTPUT], stdout_path=paths[STDOUT],
        stderr_path=paths[STDERR], agent_version="", runner_pid=os.getpid(),
        **_local_host())
    info_path = paths[RUN_INFO]
    if req.placed_by:
        info = _placed_record(req, info)
    try:
        if req.placed_by and os.path.lexists(info_path):  # the placing side wrote it first
            info = update_run_info(info_path, lambda old: _keep_placement(old, info))
        else:
            write_run_info(info_path, info)  # visible at once, root and child runs alike
    except ConductorError:
        _remove_empty_dir(run_dir)  # a full disk must not leave an orphan run dir behind
        raise
    ident = safefs.identity(layout.root, run_dir)
    ctx = _Context(req, layout.root, run_dir, ident, paths, bus)

    environ = req.environ if req.environ is not None else os.environ
    with _Forwarder() as fwd:
        try:
            found = backend_of(agent_type)
            launch = Launch(agent=req.agent, environ=environ, resume=req.resume_session,
                            budget_usd=req.budget_usd, cwd=workdir)
            problems = found.preflight(launch)
            if problems:
                return _spawn_failed(ctx, info, redact(problems[0].message, req.secrets),
                                     problems[0].kind)
            argv = agent_argv(req.agent, launch, environ)
            version = detect_version(argv[0], found.version_timeout,
                                     {**environ, **found.environment(launch)}) \
                if found.version_probe else ""
        except AgentError as exc:
            return _spawn_failed(ctx, info, redact(str(exc), req.secrets))
        if _stop_asked(req):
            return _spawn_failed(ctx, info, "stopped by operator before the agent started")
        if fwd.signalled:
            return _spawn_failed(ctx, info, "interrupted before the agent started")
        preamble = PreambleInfo(task_dir=task_dir, run_dir=run_dir, project=req.project,
                                task=req.task, run_id=run_id, parent_run_id=req.parent_run_id,
                                bus_path=bus.path, conductor_url=req.conductor_url,
                                runs_root=layout.root)
        try:
            safefs.write_atomic(layout.root, paths[PROMPT],
                                build_prompt(preamble, req.prompt).encode("utf-8"))
        except ConductorError as exc:
            return _spawn_failed(ctx, info, f"write prompt.md: {exc}")
        env = agent_environment(
            environ, project=req.project,
            task=req.task, run_id=run_id, parent_run_id=req.parent_run_id, task_dir=task_dir,
            run_dir=run_dir, bus_path=bus.path, agent_type=agent_type,
            token=getattr(req.agent, "token", "") or "", conductor_url=req.conductor_url,
            extra={**(getattr(req.agent, "env", None) or {}), **req.extra_env},
            agent_name=getattr(req.agent, "name", "") or "", secrets=req.secrets,
            backend_env=found.environment(launch))
        try:
            placement = _spawn(layout.root, argv, paths, workdir, env, run_id)
        except ConductorError as exc:
            return _spawn_failed(ctx, info, f"spawn agent: {exc}")
        except OSError as exc:
            return _spawn_failed(ctx, info, f"spawn agent: start process: {exc.strerror or exc}")
        group = fwd.group = placement.handle
        if fwd.signalled or _stop_asked(req):  # a stop that came while we spawned
            group.terminate(grace=1.0)
        # the configured model until the agent names one (codex never does); where it runs
        info = replace(info, **_placed(req, placement),
                       commandline=commandline(argv, paths[PROMPT]), agent_version=version,
                       model=found.model(launch))
        try:
            update_run_info(info_path, lambda old: _keep_placement(old, info))
        except ConductorError as exc:
            # without a record naming it, nobody could stop the agent: do not let it run
            group.terminate()
            group.reap()
            return _spawn_failed(ctx, info, f"record the agent: {exc}")
        try:
            bus.append(Message(type="RUN_START", project_id=req.project, task_id=req.task,
                               run_id=run_id, body=_start_body(run_dir, paths)))
        except ConductorError:
            group.terminate()
        if req.on_started:
            req.on_started(info)
        # a stop while the agent runs is the stopping command's to carry out (SIGTERM, its
        # grace, SIGKILL with --force); the supervisor's flag only keeps it from restarting
        watch = found.watch()
        usage_check = req.usage_check
        if usage_check is not None and found.cumulative_session_usage and req.resume_session \
                and req.session_usage is not None:
            earlier, check = req.session_usage, usage_check
            usage_check = lambda usage: check(usage.minus(earlier))  # noqa: E731
        with _heartbeat(req, info_path, group) as beat:
            timed_out, live = _wait(group, paths, req.idle_timeout, watch, usage_check,
                                    found.stderr_is_progress)
        if fwd.signalled or beat.ended_elsewhere:
            group.terminate(grace=1.0)  # what the agent left in its group, still ours
        returncode = group.reap()
        fwd.group = None
    return _finish(req, info_path, info, bus, paths, run_dir, task_dir, returncode, timed_out,
                   ctx, found, live)


def _placed(req: JobRequest, placement) -> dict:
    """The record's fields for the agent just started (``placement``, by the local executor).

    A local run records the agent's pid/pgid; a run placed by another executor records them as
    ``host_pid``/``host_pid_start`` on this host and keeps pid 0, pgid 0 and external."""
    from ..executor.base import record_fields
    if not req.placed_by:
        return record_fields(placement)
    return dict(pid=0, pgid=0, process_ownership="external", executor=req.placed_by,
                host=placement.host, host_boot_id=placement.host_boot_id,
                host_pid=placement.pid, host_pid_start=placement.start_time)


def _local_host() -> dict:
    from ..executor.local import LOCAL, host_identity
    host, boot = host_identity()
    return dict(executor=LOCAL, host=host, host_boot_id=boot)


def _placed_record(req: JobRequest, info: RunInfo) -> RunInfo:
    """The first record of a run placed by another executor: nothing upstream may signal."""
    from ..executor.local import host_identity
    host, boot = host_identity()
    return replace(info, process_ownership="external", runner_pid=0, executor=req.placed_by,
                   host=host, host_boot_id=boot, heartbeat_time=now_ns())


_PLACING_KEYS = ("executor_job_id", "executor_cluster", "submit_time")


def _keep_placement(old: RunInfo, new: RunInfo) -> RunInfo:
    """``new`` with what the placing side recorded (job id, cluster, submit time), which it
    may write while this runner starts: both updates hold the run-info lock, neither is lost."""
    keep = {key: getattr(old, key) for key in _PLACING_KEYS
            if getattr(old, key) and not getattr(new, key)}
    return replace(new, **keep) if keep else new


class _heartbeat:
    """While the agent runs, refresh ``heartbeat_time`` every interval the placing executor
    asks for (a run on another host is alive only while its heartbeat is fresh).

    A beat that finds the record no longer running means the placing side has ended the run
    without us: it lost sight of this node (a partition, a dead slurmd), recorded the run lost,
    fenced it and started the next attempt elsewhere. The agent here must not go on beside its
    successor: its group is stopped at once (``ended_elsewhere`` says why)."""

    def __init__(self, req: JobRequest, info_path: str, group=None) -> None:
        self.interval = req.heartbeat if req.placed_by else 0.0
        self.path = info_path
        self.group = group
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.ended_elsewhere = ""

    def __enter__(self) -> "_heartbeat":
        if self.interval > 0:
            self.thread = threading.Thread(target=self._beat, daemon=True)
            self.thread.start()
        return self

    def _beat(self) -> None:
        while not self.done.wait(self.interval):
            try:
                info = update_run_info(self.path, _beat_once)
            except ConductorError:
                continue
            if info.status != "running":
                self.ended_elsewhere = info.error_summary or info.status
                if self.group is not None:
                    self.group.terminate(grace=2.0)
                return

    def __exit__(self, *exc) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()


def _beat_once(old: RunInfo) -> RunInfo | None:
    if old.status != "running":
        return None
    old.heartbeat_time = now_ns()
    return None


def _stop_asked(req: JobRequest) -> bool:
    return bool(req.should_stop and req.should_stop())


@dataclass
class _Context:
    req: JobRequest
    root: str
    run_dir: str
    identity: tuple[int, int] | None
    paths: dict[str, str]
    bus: MessageBus

    def run_dir_problem(self) -> str:
        """One line when the run dir is no longer the directory we created, else ""."""
        if self.identity is not None and safefs.identity(self.root, self.run_dir) == self.identity:
            return ""
        return (f"run {os.path.basename(self.run_dir)}: run dir {self.run_dir} was replaced or "
                "turned into a link while the agent ran; writing nothing through it")


def _remove_empty_dir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _spawn(root: str, argv: list[str], paths: dict[str, str], workdir: str,
           env: dict[str, str], run_id: str = ""):
    """The agent, started by the local executor: a new session on this host, stdin from
    prompt.md, stdout/stderr appended to the run's files. Its placement's ``handle`` is the
    :class:`AgentGroup` we hold unreaped."""
    from ..executor.base import StartSpec
    from ..executor.registry import executor
    return executor().start(StartSpec(
        argv=argv, cwd=workdir, env=env, root=root, run_dir=os.path.dirname(paths[PROMPT]),
        stdin_path=paths[PROMPT], stdout_path=paths[STDOUT], stderr_path=paths[STDERR],
        run_id=run_id))


def _start_body(run_dir: str, paths: dict[str, str]) -> str:
    return (f"run started\nrun_dir: {run_dir}\nprompt: {paths[PROMPT]}\nstdout: {paths[STDOUT]}\n"
            f"stderr: {paths[STDERR]}\noutput: {paths[OUTPUT]}")


def _sizes(paths: dict[str, str]) -> tuple[int, int]:
    out = []
    for name in (STDOUT, STDERR):
        try:
            out.append(os.lstat(paths[name]).st_size)
        except OSError:
            out.append(-1)
    return out[0], out[1]


class _LiveReader:
    """Follows the agent's stdout by offset and feeds each complete JSON line to the backend's
    :class:`StreamWatch`. The file is opened once, without following a link or waiting on a
    FIFO; a line longer than :data:`LINE_LIMIT` is skipped rather than held."""

    def __init__(self, path: str, watch: StreamWatch) -> None:
        self.watch = watch
        self.fd: int | None = None
        self.path = path
        self.partial = b""
        self.skipping = False

    def poll(self) -> tuple[bool, Failure | None]:
        """(progress seen, failure) since the last poll."""
        if self.fd is None:
            try:
                self.fd = safefs.open_leaf(self.path)
            except OSError:
                return False, None
        progress = False
        while True:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except OSError:
                return progress, None
            if not chunk:
                return progress, None
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()
            if len(self.partial) > LINE_LIMIT:
                self.partial, self.skipping = b"", True
            for line in lines:
                if self.skipping:
                    self.skipping = False
                    continue
                event = parse_event(line)
                if event is None:
                    continue
                try:
                    verdict = self.watch.feed(event)
                except Exception:  # noqa: BLE001 - an odd event must not kill the runner
                    continue
                progress = progress or verdict.progress
                if verdict.failure is not None:
                    return True, verdict.failure

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class _Live:
    """What was seen while the agent ran: the failure that ended it early, if any."""
    failure: Failure | None = None
    watch: StreamWatch | None = None


def _wait(group: AgentGroup, paths: dict[str, str], idle_timeout: float,
          watch: StreamWatch | None = None,
          usage_check: Callable[[Usage], Failure | None] | None = None,
          stderr_is_progress: bool = True) -> tuple[bool, _Live]:
    """Wait for the agent to exit (it is not reaped). Returns (timed out, what was seen live).

    With a stream reader (``watch``), only the events it calls progress reset the idle clock
    (codex prints a reconnect line every 40 s forever without network: that is not progress),
    a failure it reports ends the attempt at once, and ``usage_check`` (the task's budget) sees
    the usage so far; stderr growth counts too unless ``stderr_is_progress`` is False. Without
    a reader, any growth of stdout or stderr resets the clock."""
    live = _Live(watch=watch)
    if idle_timeout <= 0 and watch is None:
        group.exited()
        return False, live
    reader = _LiveReader(paths[STDOUT], watch) if watch is not None else None
    interval = WATCH_INTERVAL if idle_timeout <= 0 else min(WATCH_INTERVAL,
                                                            max(0.05, idle_timeout / 4))
    last = _sizes(paths)
    last_change = time.monotonic()
    seen_usage = Usage()
    try:
        while True:
            if group.exited(timeout=interval):
                if reader is not None:
                    reader.poll()  # the last events, for the usage and session the run records
                return False, live
            if reader is not None:
                progress, failure = reader.poll()
                if stderr_is_progress:
                    now_sizes = _sizes(paths)
                    progress = progress or now_sizes[1] != last[1]
                    last = now_sizes
                usage = reader.watch.usage
                if failure is None and usage_check is not None and usage != seen_usage:
                    seen_usage = usage.copy()
                    failure = usage_check(usage)
                if failure is not None:
                    live.failure = failure
                    group.terminate()
                    group.exited()
                    return False, live
            else:
                now_sizes = _sizes(paths)
                progress = now_sizes != last
                last = now_sizes
            if progress:
                last_change = time.monotonic()
            elif idle_timeout > 0 and time.monotonic() - last_change >= idle_timeout:
                group.terminate()
                group.exited()
                return True, live
    finally:
        if reader is not None:
            reader.close()


def _finish(req: JobRequest, info_path: str, info: RunInfo, bus: MessageBus, paths: dict[str, str],
            run_dir: str, task_dir: str, returncode: int, timed_out: bool,
            ctx: _Context, found: Backend, live: _Live) -> JobResult:
    exit_code, status, summary = classify(returncode, timed_out=timed_out)
    moved = ctx.run_dir_problem()  # the agent controlled its run dir until now
    if moved:
        sys.stderr.write(moved + "\n")
        _post(bus, "RUN_CRASH", req, info.run_id,
              f"run stopped with code {exit_code}\nrun_dir: {run_dir}\nerror: {moved}")
        return JobResult(info.run_id, run_dir, exit_code, "failed", moved, timed_out,
                         f"agent execution failed: {moved}", info.pgid)
    outcome = _with_regular(ctx, paths[STDOUT],
                            lambda p: found.outcome(p, paths[STDERR], returncode)) or Outcome()
    if not outcome.session_id and live.watch is not None:
        outcome.session_id, outcome.model = live.watch.session_id, live.watch.model
    if not outcome.usage and live.watch is not None:
        outcome.usage = live.watch.usage
    failure = live.failure or outcome.failure
    if failure is None and returncode != 0 and not timed_out:
        failure = found.describe_exit(returncode)
    if failure is None and timed_out:
        failure = Failure(TIMEOUT, summary)
    stopped = (status == "failed" or failure is not None) and not timed_out and \
        _stop_requested_quietly(req, ctx.root, task_dir)
    if failure is not None and not stopped:
        status, summary = "failed", redact(failure.message, req.secrets)
        failure = Failure(failure.kind, summary, failure.reset_at)
    elif stopped:
        failure = None
    problems: list[str] = []
    if not _exists(ctx, paths[OUTPUT]):
        if outcome.answer and outcome.answer.strip() and failure is None:
            text = outcome.answer
            _write_output(ctx, text if text.endswith("\n") else text + "\n", problems)
        elif failure is not None:
            # the agent's error is the run's summary and an ERROR on the bus, never its answer
            _write_output(ctx, f"# Agent failed\n\n{failure.message}\n", problems)
        else:
            _copy_stdout(ctx, problems)
    if status == "failed" and stopped:
        summary = f"stopped by operator ({summary})" if summary else "stopped by operator"
    summary = redact(summary, req.secrets)
    end = now_ns()
    usage = raw_usage = outcome.usage
    if found.cumulative_session_usage and req.resume_session and req.session_usage is not None:
        usage = raw_usage.minus(req.session_usage)
    reset = int(failure.reset_at * 1e9) if failure and failure.reset_at else None

    kept: list[RunInfo] = []

    def final(old: RunInfo) -> RunInfo:
        if req.placed_by and old.status != "running":
            # the placing side ended this run without us (lost, fenced, restarted elsewhere):
            # its record stands; a late end from here must not turn it into a success
            kept.append(old)
            return old
        return replace(old, exit_code=exit_code, end_time=end, status=status, error_summary=summary,
                       model=outcome.model or old.model, session_id=outcome.session_id,
                       input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                       cached_tokens=usage.cached_tokens, cost_usd=usage.cost_usd or 0.0,
                       turns=usage.turns, failure=failure.kind if failure else "",
                       limit_reset=reset)

    try:
        update_run_info(info_path, final)
    except ConductorError as exc:
        problems.insert(0, f"could not record the run's end (exit code {exit_code}): {exc}")
    if kept:
        return _ended_elsewhere(req, bus, info, kept[0], run_dir, returncode)
    if req.alerts:  # upstream's run_stop webhook, delivered by a helper that outlives us
        from ..alerts.watch import fire_run_stop
        fire_run_stop(task_dir, final(info), req.alerts)
    if failure is not None:
        _post(bus, "ERROR", req, info.run_id, f"{found.type}: {failure.message}")
    body = f"run stopped with code {exit_code}\nrun_dir: {run_dir}\noutput: {paths[OUTPUT]}"
    if status == "failed":
        tail = redact(stderr_tail(paths[STDERR], STDERR_TAIL_LINES), req.secrets)
        if tail:
            body += f"\n\n## stderr (last {STDERR_TAIL_LINES} lines)\n{tail}"
    if problems:
        body += "\n\n## problems\n" + "\n".join(problems)
    _post(bus, "RUN_STOP" if status == "completed" else "RUN_CRASH", req, info.run_id, body)
    if timed_out:
        _post(bus, "WARN", req, info.run_id,
              f"agent job timed out after {format_duration(req.idle_timeout)} of idle output")
    if status == "completed" and not problems:
        error = ""
    elif status == "completed":
        status, error = "failed", "; ".join(problems)
    else:
        error = f"agent execution failed: {summary}" if summary else "agent execution failed"
        if problems:
            error += "; " + "; ".join(problems)
    return JobResult(info.run_id, run_dir, exit_code, status, summary, timed_out, error, info.pgid,
                     failure, usage, outcome.session_id if outcome.resumable else "", raw_usage)


def _ended_elsewhere(req: JobRequest, bus: MessageBus, info: RunInfo, record: RunInfo,
                     run_dir: str, returncode: int) -> JobResult:
    """The agent ended here after the placing side had recorded the run's end (it lost sight
    of this node): one WARN on the task's bus and on stderr, the record left as it is."""
    why = record.error_summary or record.status
    how = f"was ended by signal {-returncode}" if returncode < 0 else \
        f"exited with code {returncode}"
    note = (f"run {info.run_id} was recorded {record.status} by the side that placed it "
            f"({why}) while its agent still ran on {info.host or 'this node'}; the agent {how} "
            "and the record was kept")
    sys.stderr.write(note + "\n")
    _post(bus, "WARN", req, info.run_id, note)
    return JobResult(info.run_id, run_dir, record.exit_code, record.status, why, False,
                     f"agent execution failed: {why}", info.pgid)


def _stop_requested_quietly(req: JobRequest, root: str, task_dir: str) -> bool:
    from .stop import marker_present
    return _stop_asked(req) or marker_present(root, task_dir)


def _exists(ctx: _Context, path: str) -> bool:
    """A regular file is at ``path`` (what the agent wrote). A link or FIFO planted there is not
    an answer: it is replaced by ours, by rename, never followed."""
    try:
        st = safefs.lstat(ctx.root, path)
    except ConductorError:
        return False  # the write that follows reports what is wrong
    return st is not None and not stat.S_ISLNK(st.st_mode) and not stat.S_ISFIFO(st.st_mode)


def _with_regular(ctx: _Context, path: str, fn: Callable[[str], Any]) -> Any:
    """``fn`` on ``path`` when it is a regular file reached without links from the root (None
    otherwise). ``fn`` opens it again with the stream parsers' own no-link, non-blocking open
    (agents.streams.open_stream), so a file swapped meanwhile is refused there too."""
    if not safefs.is_file(ctx.root, path):
        return None
    try:
        return fn(path)
    except (OSError, ValueError):
        return None


def _write_output(ctx: _Context, text: str, problems: list[str]) -> None:
    """output.md through a temporary file and a rename, every secret redacted (`output` shows
    it)."""
    text = redact(text, ctx.req.secrets)
    try:
        safefs.write_atomic(ctx.root, ctx.paths[OUTPUT], text.encode("utf-8"))
    except ConductorError as exc:
        problems.append(str(exc))


def _post(bus: MessageBus, kind: str, req: JobRequest, run_id: str, body: str) -> None:
    try:
        bus.append(Message(type=kind, project_id=req.project, task_id=req.task, run_id=run_id,
                           body=body))
    except ConductorError as exc:
        sys.stderr.write(f"warning: could not post {kind}: {exc}\n")


def _spawn_failed(ctx: _Context, info: RunInfo, error: str, kind: str = SPAWN) -> JobResult:
    end = now_ns()
    info_path = ctx.paths[RUN_INFO]

    def failed(old: RunInfo) -> RunInfo:
        return replace(old, end_time=end, exit_code=-1, status="failed", error_summary=error,
                       failure=kind)

    problems = []
    try:
        update_run_info(info_path, failed)
    except ConductorError as exc:
        problems.append(f"could not record the failure: {exc}")
    if not _exists(ctx, info.output_path):
        _write_output(ctx, f"# Agent did not start\n\n{error}\n", problems)
    if ctx.req.alerts:  # a run that never started stopped too (run_stop, failed)
        from ..alerts.watch import fire_run_stop
        fire_run_stop(os.path.dirname(os.path.dirname(ctx.run_dir)), failed(info), ctx.req.alerts)
    run_dir = ctx.run_dir
    try:
        ctx.bus.append(Message(type="RUN_CRASH", project_id=info.project_id, task_id=info.task_id,
                               run_id=info.run_id,
                               body=f"run failed to start\nrun_dir: {run_dir}\nerror: {error}"))
    except ConductorError as exc:
        sys.stderr.write(f"warning: could not post RUN_CRASH: {exc}\n")
    message = "; ".join([error, *problems])
    return JobResult(info.run_id, run_dir, -1, "failed", error, False, message,
                     failure=Failure(kind, error))


def _copy_stdout(ctx: _Context, problems: list[str]) -> None:
    """output.md = a copy of agent-stdout.txt with every secret redacted, through a temporary
    file and a rename."""
    src, dst = ctx.paths[STDOUT], ctx.paths[OUTPUT]
    try:
        data = safefs.read_bytes(ctx.root, src, OUTPUT_COPY_LIMIT)
    except ConductorError:
        data = safefs.read_tail(ctx.root, src, OUTPUT_COPY_LIMIT) if safefs.is_file(ctx.root, src) \
            else b""
    try:
        redactor = StreamRedactor(ctx.req.secrets)
        safefs.write_atomic(ctx.root, dst, redactor.feed(data or b"") + redactor.flush())
    except ConductorError as exc:
        problems.append(str(exc))


def stderr_tail(path: str, lines: int, max_bytes: int = 256 * 1024) -> str:
    """The last ``lines`` lines of a file, reading only its end (upstream read the whole file).

    A link, FIFO or anything but a regular file at ``path`` gives ""."""
    text = read_text_tail(path, max_bytes).rstrip("\n")
    if not text.strip():
        return ""
    return "\n".join(text.split("\n")[-lines:])
