"""One run of one agent: ``run-agent job`` (spec 4.1 and 4.3), with the defects of spec 9 fixed.

The run directory and a run-info are written before anything slow (9 #19); the agent runs in a
new session with stdin from prompt.md and stdout/stderr appended to the run's files; the idle
timeout and stops take the whole process group down (9 #15); a spawn failure still gets
RUN_CRASH and an output.md (9 #21); output.md falls back to a copy of stdout for every agent
type (9 #22); REST agents run as their own process, so their pid is never ours (9 #16).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..agents import (AgentError, agent_spec, check_gemini_help, commandline, detect_version,
                      extract_output, gemini_rejected_stream_json, is_rest, normalize_type)
from ..agents.streams import GEMINI_REJECTION_SUMMARY
from ..bus import Message, MessageBus
from ..errors import ConductorError
from ..secrets import StreamRedactor, collect, redact, usable
from ..store import (OUTPUT, PROMPT, RUN_INFO, STDERR, STDOUT, Layout, RunInfo, stop_requested,
                     update_run_info, write_run_info, write_task_md_if_missing)
from ..timefmt import format_duration, now_ns
from .env import agent_environment
from .process import classify, signal_group, terminate_group
from .prompt import PreambleInfo, build_prompt

STDERR_TAIL_LINES = 50
VERSIONED_TYPES = ("claude", "codex", "gemini")


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

    @property
    def ok(self) -> bool:
        return self.status == "completed"


def agent_argv(agent: Any) -> list[str]:
    """The command line for an agent; REST types run as ``python -m conductor.agents <type>``."""
    agent_type = normalize_type(agent.type)
    spec = agent_spec(agent_type)
    if is_rest(agent_type):
        argv = [sys.executable, "-m", "conductor.agents", agent_type]
        if getattr(agent, "base_url", ""):
            argv += ["--base-url", agent.base_url]
        if getattr(agent, "model", ""):
            argv += ["--model", agent.model]
        return argv
    if agent_type == "command":
        argv = spec.argv(agent)
        if os.sep not in argv[0] and shutil.which(argv[0]) is None:
            raise AgentError(f'agent "{agent.name}": binary "{argv[0]}" not found in PATH')
        return argv
    return spec.resolve(agent)


class _Forwarder:
    """While the agent runs, SIGTERM/SIGINT/SIGHUP to us go to the agent's group instead."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.signalled = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Forwarder":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame) -> None:
        self.signalled = True
        if self.pgid:
            signal_group(self.pgid, signal.SIGTERM)

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _secrets(req: JobRequest) -> tuple[str, ...]:
    environ = req.environ if req.environ is not None else os.environ
    return usable((*req.secrets, *collect(None, environ), getattr(req.agent, "token", "") or ""))


def run_job(req: JobRequest) -> JobResult:
    req = replace(req, secrets=_secrets(req))
    layout = Layout(req.root)
    task_dir = layout.ensure_task_dir(req.project, req.task)
    write_task_md_if_missing(task_dir, req.prompt)
    workdir = os.path.abspath(req.cwd or task_dir)
    bus = MessageBus(layout.task_bus(req.project, req.task))
    run_id, run_dir = req.run_dir or layout.allocate_run_dir(req.project, req.task)
    paths = {name: os.path.join(run_dir, name) for name in (RUN_INFO, PROMPT, OUTPUT, STDOUT, STDERR)}
    agent_type = normalize_type(req.agent.type)
    info = RunInfo(
        version=1, run_id=run_id, parent_run_id=req.parent_run_id,
        previous_run_id=req.previous_run_id, project_id=req.project, task_id=req.task,
        agent=agent_type, process_ownership="managed", pid=os.getpid(), pgid=os.getpgrp(),
        start_time=now_ns(), end_time=None, exit_code=-1, status="running", cwd=workdir,
        prompt_path=paths[PROMPT], output_path=paths[OUTPUT], stdout_path=paths[STDOUT],
        stderr_path=paths[STDERR], agent_version="")
    info_path = paths[RUN_INFO]
    try:
        write_run_info(info_path, info)  # visible at once, root and child runs alike
    except ConductorError:
        _remove_empty_dir(run_dir)  # a full disk must not leave an orphan run dir behind
        raise

    with _Forwarder() as fwd:
        try:
            argv = agent_argv(req.agent)
            if agent_type == "gemini":
                check_gemini_help(argv[0])
            version = detect_version(argv[0]) if agent_type in VERSIONED_TYPES else ""
        except AgentError as exc:
            return _spawn_failed(info_path, info, bus, redact(str(exc), req.secrets))
        if fwd.signalled:
            return _spawn_failed(info_path, info, bus, "interrupted before the agent started")
        preamble = PreambleInfo(task_dir=task_dir, run_dir=run_dir, project=req.project,
                                task=req.task, run_id=run_id, parent_run_id=req.parent_run_id,
                                bus_path=bus.path, conductor_url=req.conductor_url,
                                runs_root=layout.root)
        try:
            with open(paths[PROMPT], "w", encoding="utf-8") as f:
                f.write(build_prompt(preamble, req.prompt))
            os.chmod(paths[PROMPT], 0o644)
        except OSError as exc:
            return _spawn_failed(info_path, info, bus,
                                 f"write prompt.md: {(exc.strerror or str(exc)).lower()}")
        env = agent_environment(
            req.environ if req.environ is not None else os.environ, project=req.project,
            task=req.task, run_id=run_id, parent_run_id=req.parent_run_id, task_dir=task_dir,
            run_dir=run_dir, bus_path=bus.path, agent_type=agent_type,
            token=getattr(req.agent, "token", "") or "", conductor_url=req.conductor_url,
            extra={**(getattr(req.agent, "env", None) or {}), **req.extra_env},
            agent_name=getattr(req.agent, "name", "") or "", secrets=req.secrets)
        try:
            proc, started = _spawn(argv, paths, workdir, env)
        except OSError as exc:
            return _spawn_failed(info_path, info, bus, f"spawn agent: start process: {exc.strerror or exc}")
        fwd.pgid = proc.pid
        info = replace(info, pid=proc.pid, pgid=proc.pid, start_time=started,
                       commandline=commandline(argv, paths[PROMPT]), agent_version=version)
        update_run_info(info_path, lambda _old: info)
        try:
            bus.append(Message(type="RUN_START", project_id=req.project, task_id=req.task,
                               run_id=run_id, body=_start_body(run_dir, paths)))
        except ConductorError:
            terminate_group(proc.pid)
        if req.on_started:
            req.on_started(info)
        returncode, timed_out = _wait(proc, paths, req.idle_timeout)
        if fwd.signalled:
            terminate_group(proc.pid, grace=1.0)
    return _finish(req, info_path, info, bus, paths, run_dir, task_dir, returncode, timed_out)


def _remove_empty_dir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _spawn(argv: list[str], paths: dict[str, str], workdir: str,
           env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    out = os.open(paths[STDOUT], flags, 0o644)
    err = os.open(paths[STDERR], flags, 0o644)
    stdin = os.open(paths[PROMPT], os.O_RDONLY | os.O_CLOEXEC)
    try:
        started = now_ns()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, cwd=workdir, env=env,
                                start_new_session=True, close_fds=True)
        return proc, started
    finally:
        for fd in (out, err, stdin):
            os.close(fd)


def _start_body(run_dir: str, paths: dict[str, str]) -> str:
    return (f"run started\nrun_dir: {run_dir}\nprompt: {paths[PROMPT]}\nstdout: {paths[STDOUT]}\n"
            f"stderr: {paths[STDERR]}\noutput: {paths[OUTPUT]}")


def _sizes(paths: dict[str, str]) -> tuple[int, int]:
    out = []
    for name in (STDOUT, STDERR):
        try:
            out.append(os.stat(paths[name]).st_size)
        except OSError:
            out.append(-1)
    return out[0], out[1]


def _wait(proc: subprocess.Popen, paths: dict[str, str], idle_timeout: float) -> tuple[int, bool]:
    """Wait for the agent; with an idle timeout, any output growth resets the clock."""
    if idle_timeout <= 0:
        return proc.wait(), False
    interval = min(0.25, max(0.05, idle_timeout / 4))
    last = _sizes(paths)
    last_change = time.monotonic()
    while True:
        try:
            return proc.wait(timeout=interval), False
        except subprocess.TimeoutExpired:
            pass
        now_sizes = _sizes(paths)
        if now_sizes != last:
            last, last_change = now_sizes, time.monotonic()
        elif time.monotonic() - last_change >= idle_timeout:
            terminate_group(proc.pid)
            return proc.wait(), True


def _finish(req: JobRequest, info_path: str, info: RunInfo, bus: MessageBus, paths: dict[str, str],
            run_dir: str, task_dir: str, returncode: int, timed_out: bool) -> JobResult:
    exit_code, status, summary = classify(returncode, timed_out=timed_out)
    agent_type = info.agent
    if not os.path.exists(paths[OUTPUT]):
        text = None
        if agent_type in VERSIONED_TYPES:
            try:
                text = extract_output(agent_type, paths[STDOUT])
            except (OSError, ValueError):
                text = None
        if text:
            text = redact(text, req.secrets)
            _write_text(paths[OUTPUT], text if text.endswith("\n") else text + "\n")
        elif agent_type == "gemini" and gemini_rejected_stream_json(paths[STDERR]):
            exit_code, status, summary = 1, "failed", GEMINI_REJECTION_SUMMARY
    if not os.path.exists(paths[OUTPUT]):
        _copy_stdout(paths[STDOUT], paths[OUTPUT], req.secrets)
    if status == "failed" and stop_requested(task_dir) is not None and not timed_out:
        summary = f"stopped by operator ({summary})" if summary else "stopped by operator"
    summary = redact(summary, req.secrets)
    end = now_ns()

    def final(old: RunInfo) -> RunInfo:
        return replace(old, exit_code=exit_code, end_time=end, status=status, error_summary=summary)

    update_run_info(info_path, final)
    body = f"run stopped with code {exit_code}\nrun_dir: {run_dir}\noutput: {paths[OUTPUT]}"
    if status == "failed":
        tail = redact(stderr_tail(paths[STDERR], STDERR_TAIL_LINES), req.secrets)
        if tail:
            body += f"\n\n## stderr (last {STDERR_TAIL_LINES} lines)\n{tail}"
    _post(bus, "RUN_STOP" if exit_code == 0 else "RUN_CRASH", req, info.run_id, body)
    if timed_out:
        _post(bus, "WARN", req, info.run_id,
              f"agent job timed out after {format_duration(req.idle_timeout)} of idle output")
    error = "" if status == "completed" else (
        f"agent execution failed: {summary}" if summary else "agent execution failed")
    return JobResult(info.run_id, run_dir, exit_code, status, summary, timed_out, error, info.pgid)


def _post(bus: MessageBus, kind: str, req: JobRequest, run_id: str, body: str) -> None:
    try:
        bus.append(Message(type=kind, project_id=req.project, task_id=req.task, run_id=run_id,
                           body=body))
    except ConductorError as exc:
        sys.stderr.write(f"warning: could not post {kind}: {exc}\n")


def _spawn_failed(info_path: str, info: RunInfo, bus: MessageBus, error: str) -> JobResult:
    end = now_ns()

    def failed(old: RunInfo) -> RunInfo:
        return replace(old, end_time=end, exit_code=-1, status="failed", error_summary=error)

    update_run_info(info_path, failed)
    output = info.output_path
    if not os.path.exists(output):
        _write_text(output, f"# Agent did not start\n\n{error}\n")
    run_dir = os.path.dirname(info_path)
    try:
        bus.append(Message(type="RUN_CRASH", project_id=info.project_id, task_id=info.task_id,
                           run_id=info.run_id,
                           body=f"run failed to start\nrun_dir: {run_dir}\nerror: {error}"))
    except ConductorError as exc:
        sys.stderr.write(f"warning: could not post RUN_CRASH: {exc}\n")
    return JobResult(info.run_id, run_dir, -1, "failed", error, False, error)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)


def _copy_stdout(src: str, dst: str, secrets: tuple[str, ...] = ()) -> None:
    """output.md as a copy of stdout, with every secret redacted (it is shown by `output`)."""
    redactor = StreamRedactor(secrets)
    try:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(redactor.feed(chunk))
            fout.write(redactor.flush())
            fout.flush()
            os.fsync(fout.fileno())
        os.chmod(dst, 0o644)
    except FileNotFoundError:
        _write_text(dst, "")


def stderr_tail(path: str, lines: int, max_bytes: int = 256 * 1024) -> str:
    """The last ``lines`` lines of a file, reading only its end (upstream read the whole file)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    if not text.strip():
        return ""
    return "\n".join(text.split("\n")[-lines:])
