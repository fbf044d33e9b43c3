"""The executor contract: where a run's process executes, and how we start, watch and stop it.

An executor places the command of a run somewhere (a local process group, a Slurm job) and
answers four questions about it. It never touches the run's files: the runner code that runs at
the placement writes the run-info, logs and bus events exactly as a local run does.

* :meth:`Executor.start` — start ``spec`` and return its :class:`Placement` at once (never wait
  for the command to finish);
* :meth:`Executor.stop` — polite stop, ``grace`` seconds, then a forced one with ``force``;
* :meth:`Executor.observe` — the state of many placements in **one** call (one ``squeue`` per
  poll, never one per run): alive, ended or unknown;
* :meth:`Executor.where` — a short text for the console and the CLI ("pid 4242",
  "slurm 1234 on node7").

A :class:`Placement` is what the run-info records about where the run executes
(:func:`placement_of` reads it back from a record). A record is anything with the run-info's
attribute names; the store is imported only to read a run dir's path by the layout's rule.
"""

from __future__ import annotations

import os

from ..record import Fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence

LOCAL = "local"

ALIVE = "alive"      # the executor sees the run's command running
ENDED = "ended"      # it is gone (exit code when the executor knows it)
UNKNOWN = "unknown"  # cannot tell from here (another host, the executor did not answer)


class Placement(Fields):
    """Where one run executes, as its run-info records it.

    Local runs: ``pid``/``pgid`` (the agent, leader of its own group), ``start_time`` (recorded
    just before the spawn), ``runner_pid`` (before the spawn), ``host`` and ``host_boot_id``.
    Other executors: ``pid``/``pgid`` stay 0 in the record (``process_ownership: external``, so
    upstream never signals it); ``job_id``, ``cluster``, the ``host`` it landed on, the agent's
    ``host_pid`` and ``host_pid_start`` there, ``submit_time`` and ``heartbeat_time``.
    """
    executor: str = LOCAL
    run_id: str = ""
    # whose run it is (never recorded: the run dir's path says it); an executor that names its
    # jobs checks a job against these before it signals it (Slurm: the job's --comment)
    project: str = ""
    task: str = ""
    pid: int = 0
    pgid: int = 0
    start_time: int | None = None
    runner_pid: int = 0
    host: str = ""
    host_boot_id: str = ""
    job_id: str = ""
    cluster: str = ""
    host_pid: int = 0
    host_pid_start: int | None = None
    submit_time: int | None = None
    heartbeat_time: int | None = None
    # what the process that started the run holds while it waits (local: the unreaped child);
    # never recorded, never compared (not in _compared), set by keyword only
    handle: Any = None
    _compared = ("executor", "run_id", "project", "task", "pid", "pgid", "start_time", "runner_pid", "host",
                 "host_boot_id", "job_id", "cluster", "host_pid", "host_pid_start",
                 "submit_time", "heartbeat_time")

    def __init__(self, *args, handle: Any = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if handle is not None:
            self.handle = handle


class Observation(Fields):
    """What an executor says about one placement."""
    state: str                    # ALIVE, ENDED or UNKNOWN
    exit_code: int | None = None  # when the executor knows it (the runner may not have said)
    host: str = ""
    reason: str = ""              # one line, e.g. "NODE_FAIL", "not this host"
    _compared = ("state", "exit_code", "host", "reason")

    @property
    def alive(self) -> bool:
        return self.state == ALIVE


class StopResult(Fields):
    """What :meth:`Executor.stop` did. ``code``: ``stopped`` (ended within the grace),
    ``killed`` (ended after the forced stop), ``gone`` (had ended before we asked), ``timeout``
    (still running after the grace, no force), ``refused`` (the placement names nothing we may
    stop; ``detail`` says why), ``not-started`` (no process yet: the runner is setting it up)."""
    code: str
    detail: str = ""
    _compared = ("code", "detail")

    @property
    def ended(self) -> bool:
        return self.code in ("stopped", "killed")


class StartSpec(Fields):
    """A command to run at a placement, with the run's files. For a local agent it is the
    agent's command line; for a remote executor it is the runner (``python -m
    conductor.executor.node <run_dir>``), which runs the agent there."""
    argv: list[str]
    cwd: str
    env: dict[str, str]
    root: str              # the runs root (files are opened from it without following links)
    run_dir: str
    stdin_path: str
    stdout_path: str
    stderr_path: str
    project: str = ""
    task: str = ""
    run_id: str = ""
    grace: float = 30.0    # what a stop's grace will be (Slurm: --signal / KillWait)
    options: dict[str, Any]  # the executor's own config ({} when not given)
    _compared = ("argv", "cwd", "env", "root", "run_dir", "stdin_path", "stdout_path",
                 "stderr_path", "project", "task", "run_id", "grace", "options")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "options" not in self.__dict__:
            self.options = {}


class Executor:
    """One way of executing runs. Subclasses set ``name`` and implement the four calls."""

    name = ""
    # does a run placed here need a heartbeat in its run-info (another host, a shared file
    # system)? Its runner then refreshes heartbeat_time every heartbeat_interval seconds, and
    # the run is alive only while observe says so AND the heartbeat is fresh
    heartbeat_interval = 0.0

    def start(self, spec: StartSpec) -> Placement:
        raise NotImplementedError

    def stop(self, placement: Placement, grace: float, force: bool, *,
             sent: bool = False) -> StopResult:
        """Stop the run: the polite stop (unless ``sent``: :meth:`send_stop` did), up to
        ``grace`` seconds for it to end, then with ``force`` the forced one. Returns when the
        run has ended or the grace is over; a stop that cannot be sent is ``refused``."""
        raise NotImplementedError

    def send_stop(self, placement: Placement) -> StopResult | None:
        """Send the polite stop without waiting (``task stop`` stops every run of a task
        first, then waits for each); None when this executor only stops through :meth:`stop`.
        After a ``stopped`` answer here, :meth:`stop` is called with ``sent=True``."""
        return None

    def observe(self, placements: Sequence[Placement]) -> list[Observation]:
        """One observation per placement, in order; one call for all of them (an executor
        asks its system once: one ``squeue`` for every run, never one per run)."""
        raise NotImplementedError

    def where(self, placement: Placement) -> str:
        raise NotImplementedError


def placement_of(info: Any, run_dir: str | None = None) -> Placement:
    """The placement a run-info records (a record without ``executor`` ran locally).

    ``run_dir``: where the record was read. The run's identity (run id, project, task) then
    comes from that path, not from the record's own words: the record is writable by the agent,
    and a stop must never be pointed at another run's job by editing it."""
    run_id = info.run_id
    project, task = getattr(info, "project_id", ""), getattr(info, "task_id", "")
    if run_dir:
        # the layout's own rule (imported here, at call time: the store imports this module)
        from ..store.runinfo import infer_project_task
        path = os.path.abspath(run_dir)
        run_id = os.path.basename(path)
        project, task = infer_project_task(path) if os.path.basename(
            os.path.dirname(path)) == "runs" else (project, task)
    return Placement(
        executor=getattr(info, "executor", "") or LOCAL, run_id=run_id, project=project,
        task=task, pid=info.pid,
        pgid=info.pgid, start_time=info.start_time, runner_pid=info.runner_pid,
        host=getattr(info, "host", ""), host_boot_id=getattr(info, "host_boot_id", ""),
        job_id=getattr(info, "executor_job_id", ""),
        cluster=getattr(info, "executor_cluster", ""),
        host_pid=getattr(info, "host_pid", 0), host_pid_start=getattr(info, "host_pid_start", None),
        submit_time=getattr(info, "submit_time", None),
        heartbeat_time=getattr(info, "heartbeat_time", None))


def record_fields(placement: Placement) -> dict[str, Any]:
    """The run-info fields of a placement (``info.replace(**record_fields(p))``).

    A run that is not a local process records pid 0, pgid 0 and ``process_ownership:
    external``: upstream then never signals it, or heals it from another host."""
    out: dict[str, Any] = {"executor": placement.executor, "host": placement.host,
                           "host_boot_id": placement.host_boot_id}
    if placement.executor == LOCAL:
        out.update(pid=placement.pid, pgid=placement.pgid)
        if placement.start_time is not None:
            out["start_time"] = placement.start_time
        return out
    out.update(pid=0, pgid=0, process_ownership="external", executor_job_id=placement.job_id,
               executor_cluster=placement.cluster, host_pid=placement.host_pid,
               host_pid_start=placement.host_pid_start, submit_time=placement.submit_time,
               heartbeat_time=placement.heartbeat_time)
    return out


def heartbeat_age(placement: Placement, now_ns: int) -> float | None:
    """Seconds since the run's runner last refreshed ``heartbeat_time`` (None: it never has,
    e.g. a job still queued). An executor with a ``heartbeat_interval`` says ``alive`` only
    while this is below its threshold (a few intervals plus the shared file system's
    attribute-cache time): a node that stopped writing is lost even if its scheduler says
    running."""
    if placement.heartbeat_time is None:
        return None
    return max(0.0, (now_ns - placement.heartbeat_time) / 1e9)
