"""The Slurm executor: a run is a batch job whose script is the node runner.

Verbs map one to one onto Slurm's commands, run as programs (no Slurm library):

* ``start`` — ``sbatch --parsable --no-requeue`` with the run's stdout/stderr files (``-o``/``-e``,
  appended), ``-J``/``--comment`` naming project, task and run, ``--signal=B:TERM@<grace>`` (at a
  time limit the runner gets the same SIGTERM and grace as an operator's stop), and the
  ``slurm:`` options (partition, time, cpus, mem, account, extra arguments). The batch script
  is ``exec <python> -m conductor.runner.placed <run_dir>``: the runner itself, which writes the
  run's files exactly as a local run does. The job gets the submitting environment without
  secrets (``--export=ALL`` of a filtered environment; tokens travel in a 0600 file on the
  shared file system, see :mod:`conductor.runner.placed`).
* ``observe`` — **one** ``squeue --states=all --jobs=<every id>`` for all placements. Queued,
  running and completing jobs are alive while the runner's heartbeat is fresh; a job Slurm
  ended (or forgot) is ended, its exit code and reason from ``sacct`` when accounting is on,
  else ``scontrol show job``; a failed ``squeue`` is ``unknown`` for all.
* ``stop`` — ``scancel --signal=TERM --full`` (the runner and every process of the batch step,
  which the runner forwards to its agent), ``grace`` seconds, then ``scancel --signal=KILL
  --full`` with ``force``. ``scancel`` is sent even to a job Slurm reports ended: it is the
  fence before a lost run is restarted.

**Whose job it is.** The job id comes from the run's run-info, which the agent can write. So
nothing is cancelled on the record's word: the same ``squeue`` that gives the state gives the
job's user and ``--comment``, and a job that is not ours, or whose comment does not name this
run's project, task and run (taken from the run dir's path, not from the record), is refused
with one line and never signalled; ``observe`` reports it ended ("not this run's job"), so the
loop does not wait on a stranger's job either.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

from ..errors import ConductorError
from .base import ALIVE, ENDED, UNKNOWN, Executor, Observation, Placement, StartSpec, \
    StopResult, heartbeat_age

NAME = "slurm"
COMMAND_TIMEOUT = 30.0
STOP_POLL = 0.2
FORCE_WAIT = 30.0
SKEW_NS = 5 * 1_000_000_000
# a record without a job id is being submitted for at most sbatch's timeout; older than this,
# its placer died before it could record the id (nothing of it can be running under our name)
SUBMIT_WINDOW = 2 * COMMAND_TIMEOUT
# Slurm's job states: still holding the job's processes (alive) and ended
ALIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                          "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING",
                          "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "POWER_UP_NODE"})
# queued: no process yet; `scancel --signal` refuses these ("Job can not be altered now")
QUEUED_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                           "RESV_DEL_HOLD"})
ENDED_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                          "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT",
                          "REVOKED"})
# what a state says about a job its runner could not record the end of
STATE_REASONS = {"NODE_FAIL": "NODE_FAIL (the node failed)",
                 "OUT_OF_MEMORY": "OUT_OF_MEMORY (the job ran out of memory)",
                 "TIMEOUT": "TIMEOUT (the job reached its time limit)",
                 "BOOT_FAIL": "BOOT_FAIL (the node did not boot)",
                 "DEADLINE": "DEADLINE (the job reached its deadline)",
                 "PREEMPTED": "PREEMPTED (the job was preempted)"}
# the options of the config's ``slurm:`` section and the sbatch flag each becomes
OPTION_FLAGS = {"partition": "--partition", "time": "--time", "cpus": "--cpus-per-task",
                "mem": "--mem", "account": "--account", "qos": "--qos",
                "cluster": "--clusters"}


class SlurmError(ConductorError):
    pass


# what one squeue row says about a job: the fields of SQUEUE_FORMAT, the comment last (it is
# free text and may hold the separator)
SQUEUE_FORMAT = "--format=%i|%T|%N|%r|%U|%k"


class Job(NamedTuple):
    state: str
    nodes: str
    reason: str
    uid: str
    comment: str


NO_JOB = Job("", "", "", "", "")


def _tool(name: str) -> str:
    return os.environ.get(f"CONDUCTOR_SLURM_{name.upper()}", name)


def run_tool(name: str, args: list[str], *, env: dict[str, str] | None = None,
             stdin: str | None = None, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run Slurm command ``name``; its stdout, or a one-line :class:`SlurmError` naming the
    command, its exit code and the first line it printed on stderr."""
    argv = [_tool(name), *args]
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                              timeout=timeout, errors="replace")
    except FileNotFoundError:
        raise SlurmError(f"{name}: not found on PATH (is this a Slurm submit host?)") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{name}: no answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise SlurmError(f"{name}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise SlurmError(f"{name} exited with code {done.returncode}: "
                         f"{_first_line(done.stderr) or _first_line(done.stdout) or 'no message'}")
    return done.stdout


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def job_name(spec: StartSpec) -> str:
    return f"conductor:{spec.project}/{spec.task}"


def controller_away(exc: SlurmError) -> bool:
    """Did the command fail because slurmctld could not be reached (down, failing over)?"""
    text = str(exc)
    return "Unable to contact slurm controller" in text or "no answer within" in text


def job_comment(spec: StartSpec | Placement) -> str:
    """The ``--comment`` a run's job carries, and what a job must carry to be stopped as it."""
    return f"conductor project={spec.project} task={spec.task} run={spec.run_id}"


def foreign(placement: Placement, job: Job) -> str:
    """"" when ``job`` is the run's own job (this user's, its comment naming the placement's
    project, task and run); else one line saying whose it is instead."""
    if job.uid.strip().isdigit() and int(job.uid) != os.getuid():
        return f"Slurm job {placement.job_id} is not this run's job (it belongs to uid {job.uid})"
    if job.comment != job_comment(placement):
        shown = job.comment if len(job.comment) <= 200 else job.comment[:200] + "..."
        return f"Slurm job {placement.job_id} is not this run's job (its comment is {shown!r})"
    return ""


def batch_script(spec: StartSpec) -> str:
    return "#!/bin/sh\n# conductor run " + job_comment(spec).split(" ", 1)[1] + "\nexec " + \
        " ".join(shlex.quote(arg) for arg in spec.argv) + "\n"


def _option_args(options: dict) -> list[str]:
    out = []
    for key, flag in OPTION_FLAGS.items():
        value = options.get(key)
        if value not in (None, "", 0):
            out.append(f"{flag}={value}")
    extra = options.get("args") or []
    if isinstance(extra, str):
        extra = shlex.split(extra)
    out.extend(str(arg) for arg in extra)
    return out


def is_secret_var(name: str) -> bool:
    """A variable that carries a token: conductor's own and every agent type's."""
    from ..agents.registry import token_vars
    from ..secrets import is_conductor_secret_var
    return is_conductor_secret_var(name) or name in token_vars()


def submit_env(env: dict[str, str]) -> dict[str, str]:
    """The environment sbatch hands the job: ``env`` without token variables (slurmctld
    stores a job's environment; the runner reads tokens from a 0600 file instead)."""
    return {k: v for k, v in env.items() if not is_secret_var(k)}


def parse_exit(text: str) -> tuple[int | None, str]:
    """Slurm's ``ExitCode=3:0`` (status:signal) as our exit code and a reason ("" or
    "signal 9"): a signal reads as 128 + its number, as a shell reports it."""
    code, _, sig = (text or "").partition(":")
    try:
        status, signum = int(code), int(sig or 0)
    except ValueError:
        return None, ""
    if signum:
        return 128 + signum, f"signal {signum}"
    return status, ""


def _cache_key() -> str:
    """Which cluster a cached queue is of: the squeue program and the Slurm config in force."""
    import hashlib
    import shutil
    program = shutil.which(_tool("squeue")) or ""
    text = "\0".join((os.path.realpath(program) if program else "",
                      os.environ.get("SLURM_CONF", ""), os.environ.get("SLURM_CLUSTERS", "")))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _read_cache(folder: str, path: str) -> dict | None:
    import json
    import stat
    try:
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None  # not our private directory: never trust what is in it
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode) or fst.st_uid != os.getuid():
                return None
            data = os.read(fd, 16 << 20)
        finally:
            os.close(fd)
        found = json.loads(data)
        if isinstance(found, dict) and isinstance(found.get("taken"), int) \
                and isinstance(found.get("rows"), dict) \
                and isinstance(found.get("error", ""), str) \
                and all(isinstance(row, list) and len(row) == len(Job._fields)
                        and all(isinstance(v, str) for v in row)
                        for row in found["rows"].values()):
            return found  # (a cache of an older shape, or garbage, is asked again)
    except (OSError, ValueError):
        pass
    return None


def _write_cache(folder: str, path: str, cached: dict) -> None:
    import json
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, json.dumps(cached).encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        pass


class SlurmExecutor(Executor):
    name = NAME
    # the node's runner refreshes heartbeat_time this often; a run whose heartbeat is older
    # than heartbeat_stale while Slurm says it runs is lost (its node stopped writing). The
    # threshold allows for a network file system's attribute cache (NFS: up to 60 s).
    heartbeat_interval = float(os.environ.get("CONDUCTOR_SLURM_HEARTBEAT", "15"))
    heartbeat_stale = float(os.environ.get("CONDUCTOR_SLURM_HEARTBEAT_STALE", "120"))
    # how long one `squeue --me` answers every task loop's poll (0: each asks for its own jobs)
    queue_ttl = float(os.environ.get("CONDUCTOR_SLURM_QUEUE_TTL", "1"))
    # how long "the controller cannot be reached" answers every process. With slurmctld down,
    # squeue retries for MessageTimeout (10 s by default) before it fails: without this, every
    # poll of every loop, every `list` and every console refresh would wait that long
    down_ttl = float(os.environ.get("CONDUCTOR_SLURM_DOWN_TTL", "10"))

    def __init__(self) -> None:
        self._cluster: str | None = None
        self._sacct_ok = True
        self.calls = 0  # how many Slurm commands this process ran (the tests and benchmark)

    def _run(self, name: str, args: list[str], **kw) -> str:
        self.calls += 1
        return run_tool(name, args, **kw)

    # ---- start -------------------------------------------------------------------------

    def sbatch_args(self, spec: StartSpec) -> list[str]:
        grace = max(1, int(round(spec.grace)))
        return ["--parsable", "--no-requeue", f"--job-name={job_name(spec)}",
                f"--comment={job_comment(spec)}", f"--output={spec.stdout_path}",
                f"--error={spec.stderr_path}", "--open-mode=append", f"--chdir={spec.cwd}",
                f"--signal=B:TERM@{grace}", "--export=ALL", *_option_args(spec.options)]

    def start(self, spec: StartSpec) -> Placement:
        submitted = time.time_ns()
        out = self._run("sbatch", self.sbatch_args(spec), env=submit_env(spec.env),
                        stdin=batch_script(spec))
        answer = _first_line(out)
        job_id, _, cluster = answer.partition(";")
        if not job_id.strip().isdigit():
            raise SlurmError(f"sbatch: unexpected answer {answer[:80]!r} (expected a job id)")
        return Placement(executor=NAME, run_id=spec.run_id, job_id=job_id.strip(),
                         cluster=cluster.strip() or str(spec.options.get("cluster") or "")
                         or self.cluster_name(spec.env), submit_time=submitted)

    def cluster_name(self, env: dict[str, str] | None = None) -> str:
        """ClusterName from ``scontrol show config`` (once per process; "" when it fails)."""
        if self._cluster is None:
            try:
                out = self._run("scontrol", ["show", "config"], env=env)
            except SlurmError:
                return ""
            self._cluster = ""
            for line in out.splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "ClusterName":
                    self._cluster = value.strip()
                    break
        return self._cluster

    # ---- observe -----------------------------------------------------------------------

    def queue(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """``{job id: Job}`` from one ``squeue`` call; a job Slurm no longer knows is
        absent."""
        ids = sorted({j for j in job_ids if j}, key=lambda j: (len(j), j))
        if not ids:
            return {}
        try:
            return self._squeue([f"--jobs={','.join(ids)}"])
        except SlurmError as exc:
            if "Invalid job id" in str(exc):  # every id is unknown to Slurm by now
                return {}
            raise

    def _squeue(self, which: list[str]) -> dict[str, Job]:
        out = self._run("squeue", ["--noheader", "--states=all", *which, SQUEUE_FORMAT])
        found = {}
        for line in out.splitlines():
            parts = line.split("|", len(Job._fields))
            if len(parts) == len(Job._fields) + 1:
                found[parts[0].strip()] = Job._make([p.strip() for p in parts[1:-1]] + parts[-1:])
        return found

    def shared_queue(self, placements: Sequence[Placement]) -> dict[str, Job]:
        """:meth:`queue` for ``placements``, shared between processes: every task loop polls
        its own run, so hundreds of loops would each run squeue every poll. One
        ``squeue --me --states=all`` (all of this user's jobs) is kept for
        :attr:`queue_ttl` seconds in a 0700 directory of ours and answers every process whose
        jobs were all submitted before it was taken; any other asks Slurm itself."""
        if self.queue_ttl <= 0:
            return self.queue([p.job_id for p in placements])
        import tempfile
        ids = [p.job_id for p in placements if p.job_id]
        key = _cache_key()
        folder = os.path.join(tempfile.gettempdir(), f"conductor-slurm-{os.getuid()}")
        path = os.path.join(folder, f"squeue-{key}.json")
        now = time.time_ns()
        cached = _read_cache(folder, path)
        if cached is not None and cached.get("error") \
                and 0 <= now - cached["taken"] < self.down_ttl * 1e9:
            raise SlurmError(cached["error"])  # asked a moment ago: the controller is away
        if cached is None or cached.get("error") \
                or not 0 <= now - cached["taken"] < self.queue_ttl * 1e9:
            taken = time.time_ns()
            try:
                rows = self._squeue(["--me"])
            except SlurmError as exc:
                if not controller_away(exc):
                    return self.queue(ids)  # (an squeue without --me, say): ask by id
                _write_cache(folder, path, {"taken": taken, "rows": {}, "error": str(exc)})
                raise
            cached = {"taken": taken, "rows": rows}
            _write_cache(folder, path, cached)
        rows = cached["rows"]
        # a job missing from the snapshot has ended only if it was submitted well before it
        # was taken (SKEW: the submitting host's clock may differ from ours)
        if all(p.job_id in rows or (p.submit_time is not None
                                    and p.submit_time < cached["taken"] - SKEW_NS)
               for p in placements if p.job_id):
            return {j: Job._make(rows[j]) for j in ids if j in rows}
        return self.queue(ids)

    def observe(self, placements: Sequence[Placement]) -> list[Observation]:
        try:
            queue = self.shared_queue(placements)
        except SlurmError as exc:
            return [Observation(UNKNOWN, reason=str(exc)) for _ in placements]
        now = time.time_ns()
        out: list[Observation | None] = []
        ended: list[int] = []
        for i, p in enumerate(placements):
            if not p.job_id:  # submitting: the placing side records the id in a moment
                waited = (now - p.start_time) / 1e9 if p.start_time else 0.0
                if waited > SUBMIT_WINDOW + SKEW_NS / 1e9:
                    out.append(Observation(ENDED, reason=(
                        f"no job id {waited:.0f} s after the run was recorded: the process "
                        "that placed it ended before sbatch answered")))
                else:
                    out.append(Observation(ALIVE, reason="submitting"))
                continue
            row = queue.get(p.job_id, NO_JOB)
            stranger = foreign(p, row) if row is not NO_JOB else ""
            if stranger:  # a stranger's job: never waited on
                out.append(Observation(ENDED, reason=stranger))
                continue
            state, nodes = row.state, row.nodes
            if state in ALIVE_STATES or (state and state not in ENDED_STATES):
                age = heartbeat_age(p, now) if state == "RUNNING" else None
                if age is not None and age > self.heartbeat_stale:
                    out.append(Observation(ENDED, host=nodes, reason=(
                        f"heartbeat {age:.0f} s old while Slurm says RUNNING on {nodes}")))
                else:
                    out.append(Observation(ALIVE, host=nodes, reason=state))
                continue
            out.append(None)
            ended.append(i)
        if ended:
            facts = self._ended_facts([placements[i].job_id for i in ended])
            for i in ended:
                job = placements[i].job_id
                state, nodes, reason = queue.get(job, NO_JOB)[:3]
                code, why = None, ""
                if job in facts:
                    f_state, code, f_reason, f_nodes = facts[job]
                    state = state or f_state
                    nodes = nodes or f_nodes
                    reason = reason if reason not in ("", "None") else f_reason
                    why = f_reason if f_reason.startswith("signal") else ""
                words = STATE_REASONS.get(state, state) if state else \
                    f"job {job} is no longer known to Slurm"
                if why:
                    words += f", {why}"
                elif reason and reason not in ("None", "NonZeroExitCode"):
                    words += f" ({reason})" if "(" not in words else f", {reason}"
                out[i] = Observation(ENDED, exit_code=code, host=nodes, reason=words)
        return [o for o in out if o is not None]

    def _ended_facts(self, job_ids: list[str]) -> dict[str, tuple[str, int | None, str, str]]:
        """``{job id: (state, exit code, reason, nodes)}`` for jobs that ended: one ``sacct``
        call when accounting is on, else ``scontrol show job`` for each (rare: only a run
        whose runner could not record its end gets here)."""
        facts: dict[str, tuple[str, int | None, str, str]] = {}
        if self._sacct_ok:
            try:
                out = self._run("sacct", ["--noheader", "--parsable2", "--allocations",
                                          f"--jobs={','.join(job_ids)}",
                                          "--format=JobID,State,ExitCode,NodeList,Reason"])
                for line in out.splitlines():
                    parts = line.split("|")
                    if len(parts) >= 5 and parts[0] in job_ids:
                        code, why = parse_exit(parts[2])
                        state = parts[1].split()[0] if parts[1] else ""
                        facts[parts[0]] = (state, code, why or parts[4], parts[3])
            except SlurmError:
                self._sacct_ok = False  # accounting storage disabled: scontrol from now on
        for job in job_ids:
            if job in facts:
                continue
            try:
                out = self._run("scontrol", ["--oneliner", "show", "job", job])
            except SlurmError:
                continue
            fields = dict(word.partition("=")[::2] for word in out.split() if "=" in word)
            code, why = parse_exit(fields.get("ExitCode", ""))
            facts[job] = (fields.get("JobState", ""), code, why or fields.get("Reason", ""),
                          fields.get("NodeList", ""))
        return facts

    # ---- stop ----------------------------------------------------------------------------

    def _scancel(self, placement: Placement, signal_name: str) -> None:
        self._run("scancel", [f"--signal={signal_name}", "--full", placement.job_id])

    def _job(self, placement: Placement) -> Job | None:
        """The run's job as Slurm shows it now; None when Slurm no longer knows the id. A
        :class:`SlurmError` names a job that is not this run's."""
        job = self.queue([placement.job_id]).get(placement.job_id)
        stranger = foreign(placement, job) if job is not None else ""
        if stranger:
            raise SlurmError(f"{stranger}; not cancelling it")
        return job

    def _state(self, placement: Placement) -> str:
        job = self._job(placement)
        return job.state if job is not None else ""

    def send_stop(self, placement: Placement) -> StopResult | None:
        if not placement.job_id:
            return StopResult("not-started", f"run {placement.run_id}: its job is being "
                                             "submitted; try again in a moment")
        try:
            job = self._job(placement)
            if job is None:  # Slurm has forgotten it: nothing of it can run any more
                return StopResult("gone")
            if job.state in QUEUED_STATES:  # nothing runs yet; Slurm signals no pending job
                self._run("scancel", [placement.job_id])
            else:
                self._scancel(placement, "TERM")
        except SlurmError as exc:
            return StopResult("refused", f"run {placement.run_id}: {exc}")
        if job.state not in ALIVE_STATES:
            return StopResult("gone")
        return StopResult("stopped")

    def stop(self, placement: Placement, grace: float, force: bool, *,
             sent: bool = False) -> StopResult:
        if not sent:
            first = self.send_stop(placement)
            if first is not None and first.code != "stopped":
                return first
        deadline = time.monotonic() + max(0.0, grace)
        try:
            while True:
                if self._state(placement) not in ALIVE_STATES:
                    return StopResult("stopped")
                if time.monotonic() >= deadline:
                    break
                time.sleep(min(STOP_POLL, max(0.0, deadline - time.monotonic())))
            if not force:
                return StopResult("timeout")
            self._scancel(placement, "KILL")
            deadline = time.monotonic() + FORCE_WAIT
            while self._state(placement) in ALIVE_STATES:
                if time.monotonic() >= deadline:
                    return StopResult("timeout", f"job {placement.job_id} still in Slurm's "
                                                 f"queue {FORCE_WAIT:.0f} s after SIGKILL")
                time.sleep(STOP_POLL)
        except SlurmError as exc:
            return StopResult("refused", f"run {placement.run_id}: {exc}")
        return StopResult("killed")

    def where(self, placement: Placement) -> str:
        if not placement.job_id:
            return "slurm (submitting)"
        text = f"slurm job {placement.job_id}"
        if placement.host:
            text += f" on {placement.host}"
        return text


EXECUTOR = SlurmExecutor()
