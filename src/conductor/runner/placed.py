"""A run placed by an executor other than local: both ends of it.

The placing side (:func:`place_run`, called by the Ralph loop instead of :func:`run_job`)
allocates the run dir, writes a first record (pid 0, pgid 0, ``process_ownership: external``,
``executor: <name>``) and the run's spec (``run-spec.json``: the job request without secrets or
callables), asks the executor to start ``python -m conductor.runner.placed <run_dir>`` there,
records the job id it answers, and then watches the run through the executor's ``observe``
until the record says it ended. A run the executor reports ended while its record still says
running is *lost* (node failure, OOM, a time limit): its executor's stop is sent first (so a
run that is only unreachable cannot go on beside its successor), then the record is marked
failed with the executor's reason, and only then does the loop start the next attempt.

The node side (:func:`main`) is the same :func:`run_job` as a local run, told who placed it:
the agent is a local process group on that host, and the run's files, run-info, bus events and
output.md are written exactly as for a local run.

What does not cross: the agent's token (never written to the shared file system; the node gets
it from its own environment or token file), the loop's callables (the live budget check: a
placed attempt gets what is left of the budget as its ``budget_usd`` and the loop checks the
total between attempts), and ``should_stop`` (the node's runner reads STOP-REQUESTED itself,
and ``stop`` reaches the run through its executor).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict

from ..record import replace
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

from ..agents.backend import NETWORK, Failure, Usage
from ..bus import Message, MessageBus
from ..errors import ConductorError
from ..executor.base import ENDED, StartSpec, placement_of
from ..executor.registry import executor
from ..store import (OUTPUT, PROMPT, RUN_INFO, STDERR, STDOUT, Layout, RunInfo, read_run_info,
                     update_run_info, write_run_info, write_task_md_if_missing)
from ..store import safefs
from ..store.liveness import observe_runs
from ..timefmt import now_ns
from .job import JobRequest, JobResult

SPEC = "run-spec.json"
# the agent's token and the token variables of the placing side's environment, for the node's
# runner only: a 0600 file in the run dir (shared file system), read and removed by the node;
# never in the job's environment (a scheduler stores that and shows it to its administrators)
SECRETS = "run-secrets.json"
# set in a placed run's environment, so the agent's child runs (`run-agent job`) are placed by
# the same executor
EXECUTOR_ENV = "CONDUCTOR_EXECUTOR"
POLL = 1.0
LOST_STOP_GRACE = 10.0
_AGENT_SECRET_FIELDS = ("token",)  # never written to the shared file system


def place_run(name: str, req: JobRequest, *, poll: float = POLL,
              sleep: Callable[[float], None] = time.sleep, options: dict | None = None,
              grace: float | None = None) -> JobResult:
    """Run ``req`` through executor ``name`` and wait for it; the result as :func:`run_job`'s.
    ``options``: the executor's own config (``slurm:``); ``grace``: what a stop allows."""
    found = executor(name)
    layout = Layout(req.root)
    task_dir = layout.ensure_task_dir(req.project, req.task)
    write_task_md_if_missing(task_dir, req.prompt)
    workdir = os.path.abspath(req.cwd or task_dir)
    run_id, run_dir = req.run_dir or layout.allocate_run_dir(req.project, req.task)
    paths = {n: os.path.join(run_dir, n) for n in (RUN_INFO, PROMPT, OUTPUT, STDOUT, STDERR)}
    info = RunInfo(
        version=1, run_id=run_id, parent_run_id=req.parent_run_id,
        previous_run_id=req.previous_run_id, project_id=req.project, task_id=req.task,
        agent=(req.agent.type or "").strip().lower(), process_ownership="external", pid=0,
        pgid=0, start_time=now_ns(), end_time=None, exit_code=-1, status="running",
        cwd=workdir, prompt_path=paths[PROMPT], output_path=paths[OUTPUT],
        stdout_path=paths[STDOUT], stderr_path=paths[STDERR], agent_version="", executor=name)
    info_path = paths[RUN_INFO]
    write_run_info(info_path, info)
    bus = MessageBus(layout.task_bus(req.project, req.task))
    environ, secret = _split_env(req.environ if req.environ is not None else os.environ)
    environ[EXECUTOR_ENV] = name
    try:
        safefs.write_atomic(layout.root, os.path.join(run_dir, SPEC),
                            json.dumps(_spec(req, name)).encode("utf-8"), 0o600)
        token = getattr(req.agent, "token", "") or ""
        if token or secret:
            safefs.write_atomic(layout.root, os.path.join(run_dir, SECRETS),
                                json.dumps({"token": token, "env": secret}).encode("utf-8"),
                                0o600)
        placement = found.start(StartSpec(
            argv=[sys.executable, "-m", "conductor.runner.placed", run_dir], cwd=workdir,
            env=environ, root=layout.root, run_dir=run_dir, stdin_path="",
            stdout_path=paths[STDOUT], stderr_path=paths[STDERR], project=req.project,
            task=req.task, run_id=run_id, options=dict(options or {}),
            **({"grace": grace} if grace is not None else {})))
    except (ConductorError, OSError) as exc:
        _drop_secrets(layout.root, run_dir)
        return _ended(info_path, run_id, run_dir, bus, req, f"{name}: start: {exc}", -1)
    keys = dict(executor_job_id=placement.job_id, executor_cluster=placement.cluster,
                submit_time=placement.submit_time or now_ns())
    info = update_run_info(info_path, lambda old: replace(old, **keys))
    if req.on_started:
        req.on_started(info)
    if _stop_requested(req):
        # the operator stopped the task while the job was being submitted, when there was no
        # job id to cancel: the loop cancels it now (a later stop finds the id in the record)
        try:
            found.stop(placement_of(info, run_dir),
                       grace if grace is not None else LOST_STOP_GRACE, True)
        except (ConductorError, OSError):
            pass
    try:
        return _watch(found, info_path, run_id, run_dir, bus, req, poll, sleep)
    finally:  # the node removes it once read; a job that never started leaves it to us
        _drop_secrets(layout.root, run_dir)


def _split_env(environ) -> tuple[dict[str, str], dict[str, str]]:
    """(the environment without token variables, the token variables)."""
    from ..agents.registry import token_vars
    from ..secrets import is_conductor_secret_var
    secret_names = token_vars()
    plain, secret = {}, {}
    for key, value in environ.items():
        if is_conductor_secret_var(key) or key in secret_names:
            secret[key] = value
        else:
            plain[key] = value
    return plain, secret


def _drop_secrets(root: str, run_dir: str) -> None:
    try:
        safefs.unlink(root, os.path.join(run_dir, SECRETS))
    except (ConductorError, OSError):
        pass


def _read_secrets(run_dir: str) -> dict:
    """The node's copy of the secrets file, removed once read; {} when there is none. Refused
    (one line) when it is not a regular 0600 file of ours."""
    import stat as _stat
    path = os.path.join(run_dir, SECRETS)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConductorError(f"{path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode) or st.st_mode & 0o077 or st.st_uid != os.getuid():
            raise ConductorError(f"{path}: must be a regular file of ours with mode 0600 "
                                 f"(is {_stat.filemode(st.st_mode)}); not reading it")
        data = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        found = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ConductorError(f"{path}: not JSON: {exc}") from None
    return found if isinstance(found, dict) else {}


def _spec(req: JobRequest, name: str) -> dict:
    agent = {k: v for k, v in asdict(req.agent).items() if k not in _AGENT_SECRET_FIELDS} \
        if hasattr(req.agent, "__dataclass_fields__") else \
        {"name": getattr(req.agent, "name", ""), "type": req.agent.type,
         "command": list(getattr(req.agent, "command", []) or [])}
    return {"version": 1, "executor": name, "root": req.root, "project": req.project,
            "task": req.task, "prompt": req.prompt, "agent": agent, "cwd": req.cwd,
            "parent_run_id": req.parent_run_id, "previous_run_id": req.previous_run_id,
            "idle_timeout": req.idle_timeout, "conductor_url": req.conductor_url,
            "extra_env": req.extra_env, "resume_session": req.resume_session,
            "budget_usd": req.budget_usd,
            "heartbeat_interval": executor(name).heartbeat_interval}


def _watch(found, info_path: str, run_id: str, run_dir: str, bus: MessageBus, req: JobRequest,
           poll: float, sleep: Callable[[float], None]) -> JobResult:
    while True:
        info = read_run_info(info_path)
        if info.status != "running":
            return _result(info, run_dir)
        seen = observe_runs([info])[0]
        if seen.state == ENDED:
            info = read_run_info(info_path)  # its runner may have written the end just now
            if info.status != "running":
                return _result(info, run_dir)
            # lost: fence it before anything restarts (the executor's stop, forced)
            try:
                found.stop(placement_of(info, run_dir), LOST_STOP_GRACE, True)
            except (ConductorError, OSError):
                pass
            why = seen.reason or "the executor reports it ended"
            if _stop_requested(req):  # the operator's stop ended it (a queued job, say)
                error = f"stopped by the operator before its runner recorded an end: {why}"
            elif not info.host_pid and why.startswith("CANCELLED"):
                # scancel'd in the queue (`stop` of the run dir, or by hand): nothing was lost
                error = f"cancelled before its job started: {why}"
            else:
                error = f"run lost: {why} (its runner recorded no end)"
            return _ended(info_path, run_id, run_dir, bus, req, error,
                          seen.exit_code if seen.exit_code is not None else -1)
        sleep(poll)


def _stop_requested(req: JobRequest) -> bool:
    """Did an operator stop this run's task? The loop was told (a stop signals the supervisor
    before it writes STOP-REQUESTED), or the marker is there."""
    if req.should_stop is not None and req.should_stop():
        return True
    from .stop import marker_present
    try:
        return marker_present(req.root, Layout(req.root).task_dir(req.project, req.task))
    except ConductorError:
        return False


def _ended(info_path: str, run_id: str, run_dir: str, bus: MessageBus, req: JobRequest,
           error: str, exit_code: int, kind: str = "") -> JobResult:
    """Fail the run with ``error``. ``kind``: its failure kind ("": none; both are retried by
    the loop, with backoff and the stuck check on identical failures)."""
    end = now_ns()

    def failed(old: RunInfo) -> RunInfo:
        if old.status != "running":
            return old
        return replace(old, status="failed", end_time=end,
                       exit_code=exit_code if exit_code not in (0, None) else -1,
                       error_summary=error, failure=kind or old.failure)

    info = update_run_info(info_path, failed)
    try:
        bus.append(Message(type="RUN_CRASH", project_id=req.project, task_id=req.task,
                           run_id=run_id, body=f"run failed\nrun_dir: {run_dir}\nerror: {error}"))
    except ConductorError as exc:
        sys.stderr.write(f"warning: could not post RUN_CRASH: {exc}\n")
    return _result(info, run_dir)


def _result(info: RunInfo, run_dir: str) -> JobResult:
    usage = Usage(info.input_tokens, info.output_tokens, info.cached_tokens,
                  info.cost_usd or None, info.turns)
    failure = Failure(info.failure, info.error_summary) if info.failure else None
    if info.status == "completed":
        error = ""
    else:
        error = f"agent execution failed: {info.error_summary}" if info.error_summary \
            else "agent execution failed"
    return JobResult(info.run_id, run_dir, info.exit_code, info.status, info.error_summary,
                     info.error_summary == "timed out", error, 0, failure, usage,
                     info.session_id, usage)


# ---- the node side ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m conductor.runner.placed <run_dir>``: run the placed run here."""
    from ..config.model import AgentConfig
    from .job import run_job
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m conductor.runner.placed RUN_DIR\n")
        return 2
    run_dir = os.path.abspath(args[0])
    try:
        with open(os.path.join(run_dir, SPEC), encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"placed run {run_dir}: read {SPEC}: {exc}\n")
        return 2
    try:
        secrets = _read_secrets(run_dir)
    except ConductorError as exc:
        sys.stderr.write(f"placed run {run_dir}: {exc}\n")
        return 2
    environ = dict(os.environ)
    environ.update({k: str(v) for k, v in (secrets.get("env") or {}).items()})
    from .stop import marker_present
    agent = AgentConfig(**spec["agent"])
    if secrets.get("token"):
        agent.token = str(secrets["token"])
    task_dir = Layout(spec["root"]).task_dir(spec["project"], spec["task"])
    req = JobRequest(
        root=spec["root"], project=spec["project"], task=spec["task"], prompt=spec["prompt"],
        agent=agent, cwd=spec.get("cwd"), parent_run_id=spec.get("parent_run_id", ""),
        previous_run_id=spec.get("previous_run_id", ""),
        idle_timeout=spec.get("idle_timeout", 0.0), conductor_url=spec.get("conductor_url", ""),
        run_dir=(os.path.basename(run_dir), run_dir), extra_env=spec.get("extra_env") or {},
        resume_session=spec.get("resume_session", ""), budget_usd=spec.get("budget_usd"),
        placed_by=spec["executor"], heartbeat=float(spec.get("heartbeat_interval") or 0.0),
        environ=environ,
        should_stop=lambda: marker_present(spec["root"], task_dir))
    problem = reach_problem(agent, environ)
    if problem:  # fail the run with the reason instead of an agent's opaque network error
        layout = Layout(spec["root"])
        _ended(os.path.join(run_dir, RUN_INFO), os.path.basename(run_dir), run_dir,
               MessageBus(layout.task_bus(req.project, req.task)), req, problem, -1, NETWORK)
        sys.stderr.write(f"placed run {run_dir}: {problem}\n")
        return 1
    result = run_job(req)
    return 0 if result.ok else 1


# where each agent type's API is, when its config names no base_url (preflight on the node)
API_HOSTS = {"claude": "api.anthropic.com", "codex": "api.openai.com",
             "gemini": "generativelanguage.googleapis.com", "perplexity": "api.perplexity.ai",
             "xai": "api.x.ai"}
REACH_TIMEOUT = 5.0


def reach_problem(agent, environ, timeout: float = REACH_TIMEOUT) -> str:
    """"" when this node can open a TCP connection to the agent's API (through HTTPS_PROXY
    when one is set), else one line saying which host it could not reach from which node."""
    import socket
    from urllib.parse import urlsplit
    base = (getattr(agent, "base_url", "") or "").strip()
    kind = (getattr(agent, "type", "") or "").strip().lower()
    if base:
        parts = urlsplit(base if "://" in base else f"https://{base}")
        host, port = parts.hostname or "", parts.port or (80 if parts.scheme == "http" else 443)
    elif kind in API_HOSTS:
        host, port = API_HOSTS[kind], 443
    else:
        return ""  # a command agent: nothing to check
    if not host:
        return ""
    proxy = environ.get("HTTPS_PROXY") or environ.get("https_proxy") or ""
    target, via = (host, port), ""
    if proxy and not _no_proxy(host, environ):
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if p.hostname:
            target, via = (p.hostname, p.port or 3128), f" through HTTPS_PROXY {p.hostname}"
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        return (f"node {os.uname().nodename} cannot reach {host}:{port}{via}: {why} (set "
                "HTTPS_PROXY, or place this agent on nodes that reach its API)")
    return ""


def _no_proxy(host: str, environ) -> bool:
    for item in (environ.get("NO_PROXY") or environ.get("no_proxy") or "").split(","):
        item = item.strip().lstrip(".")
        if item == "*" or (item and (host == item or host.endswith("." + item))):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
