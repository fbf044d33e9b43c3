"""The local executor: the run's agent is a process group on this host (spec 4.3, 4.8, 2.6).

We signal only process groups we started. Two ways to know that:

* the job holds the agent as its unreaped child (:class:`AgentGroup`): until we reap it, its pid
  (which is also its group id, as agents start in a session of their own) cannot be reused, so
  a signal to that group reaches the agent and what it started, never anyone else;
* any other process (``stop``, ``task stop``, the console) reads the run-info, and a record is
  only a claim: :func:`leader_problem` checks the claim against the kernel before any signal.

Liveness (spec 2.6, 9 #14): upstream asks ``kill(pid, 0)`` only, so a zombie looks alive and so
does an unrelated process that got the same pid later. We also compare the process's creation
time with the run's ``start_time``: the runner records ``start_time`` just before it spawns the
agent, so the agent was created at most a moment after it. A process created more than
:data:`START_TOLERANCE_NS` after the run started is some other process that reused the pid. The
tolerance covers the clock granularity of process creation times (Linux derives them from the
boot time, known to the second, plus clock ticks) and a slow spawn. A run with no
``start_time`` falls back to existence alone.

On Linux the process facts come from ``/proc/<pid>/stat`` (state, group, start time in clock
ticks after ``btime``), the same numbers psutil reads, without its ~15 ms import: ``list`` and
``status`` check every running run. Elsewhere psutil answers.

A record also names the host (and its boot id) the agent ran on: a run of another host is
``unknown`` here (its pid means nothing on this one), a run of this host from before a reboot
has ended.
"""

from __future__ import annotations

import errno
import os
import signal
import time
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

from .base import ALIVE, ENDED, LOCAL, UNKNOWN, Executor, Observation, Placement, StartSpec, \
    StopResult

NS = 1_000_000_000
START_TOLERANCE_NS = 2 * NS
STOP_POLL = 0.5


# ---- this host -----------------------------------------------------------------------------

_HOST: tuple[str, str] | None = None


def host_identity() -> tuple[str, str]:
    """(host name, boot id) of this host; the boot id is "" where the kernel has none."""
    global _HOST
    if _HOST is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
                boot = f.read().strip()
        except OSError:
            boot = ""
        _HOST = (os.uname().nodename, boot)
    return _HOST


# ---- process facts: /proc first, psutil elsewhere ------------------------------------------

_BOOT_NS: int | None = None
_TICKS = 0


def _proc_boot() -> tuple[int, int] | None:
    """(boot time in ns, clock ticks per second) from /proc/stat, or None without /proc."""
    global _BOOT_NS, _TICKS
    if _BOOT_NS is None:
        try:
            with open("/proc/stat", "rb") as f:
                for line in f:
                    if line.startswith(b"btime "):
                        _BOOT_NS = int(line.split()[1]) * NS
                        break
            _TICKS = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            _BOOT_NS = -1
        if _BOOT_NS is None or _TICKS <= 0:
            _BOOT_NS = -1
    return None if _BOOT_NS < 0 else (_BOOT_NS, _TICKS)


class _NoProc(Exception):
    """/proc cannot answer for this pid (no /proc, or hidden): ask psutil."""


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, process group, creation time in ns) of ``pid`` from /proc; None when
    there is no such process."""
    boot = _proc_boot()
    if boot is None:
        raise _NoProc
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        raise _NoProc from None
    # "pid (comm) S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    # cutime cstime priority nice threads itrealvalue starttime ..."; comm may hold ") "
    fields = data[data.rfind(b")") + 2:].split()
    try:
        state, pgrp, start_ticks = fields[0].decode("ascii"), int(fields[2]), int(fields[19])
    except (IndexError, ValueError, UnicodeDecodeError):
        raise _NoProc from None
    boot_ns, ticks = boot
    return state, pgrp, boot_ns + start_ticks * NS // ticks


def process_facts(pid: int) -> tuple[bool, int | None] | None:
    """(is a zombie, creation time in ns or None if hidden) of ``pid``; None when there is no
    such process. ``/proc`` on Linux, psutil elsewhere (or where /proc hides the pid)."""
    if pid <= 0:
        return None
    try:
        found = _proc_stat(pid)
    except _NoProc:
        return _psutil_facts(pid)
    if found is None:
        return None
    state, _pgrp, created = found
    return state in "ZX", created


def _psutil_facts(pid: int) -> tuple[bool, int | None] | None:
    import psutil  # imported here: it costs ~15 ms at start-up
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True, None
        return False, int(proc.create_time() * NS)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return False, None  # it exists; we cannot see more of it


def original_process(pid: int, start_ns: int | None) -> bool:
    """``pid`` runs (not a zombie) and was created no later than ``start_ns`` + the tolerance."""
    facts = process_facts(pid)
    if facts is None or facts[0]:
        return False
    created = facts[1]
    if start_ns is None or created is None:
        return True
    return created <= start_ns + START_TOLERANCE_NS


def running(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    facts = process_facts(pid)
    return facts is not None and not facts[0]


def group_exists(pgid: int) -> bool:
    """Some process (maybe only zombies) is in group ``pgid``."""
    if pgid <= 0:
        return False  # killpg(0) would probe our own group, killpg(-n) is an error
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid``; a full process scan, done only when the leader is
    gone but the group is not, which is rare."""
    if _proc_boot() is not None:
        members = []
        try:
            names = os.listdir("/proc")
        except OSError:
            names = []
        for name in names:
            if not name.isdigit():
                continue
            try:
                found = _proc_stat(int(name))
            except _NoProc:
                continue
            if found is not None and found[1] == pgid:
                members.append(int(name))
        if names:
            return members
    import psutil  # imported here: it costs ~15 ms at start-up
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
        except OSError:
            continue
    return members


def process_alive(pid: int, pgid: int, start_ns: int | None) -> bool:
    """The run's leader ``pid`` is alive, or failing that some original member of group ``pgid``.

    A member counts only when it is not a zombie and was created no later than ``start_ns`` +
    :data:`START_TOLERANCE_NS`. So a reused pid or pgid never looks alive, and neither does a
    group kept only by processes the agent started later (its grandchildren outliving it): the
    run is the agent, and the agent is gone.
    """
    if pid > 0 and original_process(pid, start_ns):
        return True
    if pgid > 0 and group_exists(pgid):
        return any(original_process(member, start_ns) for member in group_members(pgid))
    return False


def group_alive(pgid: int) -> bool:
    """A member of group ``pgid`` that really runs (killpg(0) also succeeds for zombies)."""
    if pgid <= 0 or not group_exists(pgid):
        return False
    if running(pgid):  # the leader: no process scan needed
        return True
    return any(running(pid) for pid in group_members(pgid))


# ---- signals -------------------------------------------------------------------------------

def leader_problem(run_id: str, pid: int, pgid: int, start_ns: int | None) -> str | None:
    """Why the run's recorded group must not be signalled (one line), or None when it may.

    It may only when ``pid`` is a live process created within :data:`START_TOLERANCE_NS` of the
    run's ``start_time`` (the runner records that time just before it spawns the agent), that
    process leads its own group, and the group is the recorded ``pgid``. A record naming any
    other process or group (hand-written, stale, or from before the agent was spawned) directs
    no signal.
    """
    head = f"run {run_id}: "
    if pid <= 0 or pgid <= 0:
        return head + (f"no agent process is recorded (pid {pid}, pgid {pgid}); "
                       "not signalling")
    if pid != pgid:
        return head + f"pid {pid} does not lead process group {pgid}; not signalling"
    if pgid == os.getpgrp():
        return head + f"process group {pgid} is this command's own; not signalling"
    if start_ns is None:
        return head + f"no start time is recorded, so pid {pid} cannot be checked; not signalling"
    try:
        try:
            found = _proc_stat(pid)
            facts = None if found is None else (found[0] in "ZX", found[2])
        except _NoProc:
            facts = _psutil_strict(pid)
        if facts is None or facts[0]:
            return head + f"pid {pid} is not running; not signalling"
        created = facts[1]
        actual_pgid = os.getpgid(pid)
    except ProcessLookupError:
        return head + f"pid {pid} is not running; not signalling"
    except (PermissionError, OSError):
        return head + f"pid {pid} cannot be inspected; not signalling"
    if abs(created - start_ns) > START_TOLERANCE_NS:
        return head + (f"pid {pid} is not the run's agent (it started "
                       f"{abs(created - start_ns) / NS:.0f}s away from the run's start time); "
                       "not signalling")
    if actual_pgid != pgid:
        return head + f"pid {pid} does not lead process group {pgid}; not signalling"
    return None


def _psutil_strict(pid: int) -> tuple[bool, int] | None:
    """Like :func:`_psutil_facts`, but a process we cannot inspect is a PermissionError."""
    import psutil  # imported here: it costs ~15 ms at start-up
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True, 0
        return False, int(proc.create_time() * NS)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        raise PermissionError(pid) from None


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to group ``pgid``; only after :func:`leader_problem` said yes, or for a
    group whose leader we hold unreaped (:class:`AgentGroup`)."""
    if pgid <= 1:
        return False  # 0 is our own group, 1 init's: never (a defence, callers check first)
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def wait_group_dead(pgid: int, timeout: float, poll: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(poll, max(0.01, deadline - time.monotonic())))


class AgentGroup:
    """The agent the job spawned (``start_new_session=True``: pid == pgid), held unreaped.

    :meth:`exited` waits for the agent's exit without reaping it (``waitid(WNOWAIT)``), so the
    group id stays ours while we signal what is left of the group; :meth:`reap` collects it.
    """

    def __init__(self, proc) -> None:  # a subprocess.Popen
        self.proc = proc
        self.pid = proc.pid
        self.reaped = False

    def exited(self, timeout: float | None = None) -> bool:
        """Has the agent exited (not reaped)? Waits up to ``timeout`` (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            flags = os.WEXITED | os.WNOWAIT
            if timeout is not None:
                flags |= os.WNOHANG
            try:
                res = os.waitid(os.P_PID, self.pid, flags)
            except ChildProcessError:
                return True
            if res is not None:
                return True
            if deadline is None:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.02, left))

    def signal(self, sig: int) -> bool:
        if self.reaped:
            return False
        return signal_group(self.pid, sig)

    def terminate(self, grace: float = 2.0, poll: float = 0.05) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after ``grace`` seconds."""
        if not self.signal(signal.SIGTERM):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_alive(self.pid):
                return
            time.sleep(poll)
        self.signal(signal.SIGKILL)

    def reap(self) -> int:
        code = self.proc.wait()
        self.reaped = True
        return code


# ---- the executor --------------------------------------------------------------------------

class LocalExecutor(Executor):
    """Runs the command in a new session on this host; the placement's ``handle`` is the
    :class:`AgentGroup` the starting process holds unreaped until it has waited for it."""

    name = LOCAL

    def start(self, spec: StartSpec) -> Placement:
        import subprocess  # imported here: the read verbs observe, they never start
        from ..store import safefs
        out = safefs.open_append(spec.root, spec.stdout_path)
        fds = [out]
        try:
            fds.append(safefs.open_append(spec.root, spec.stderr_path))
            if spec.stdin_path:
                stdin = safefs.open_file(spec.root, spec.stdin_path)
                if stdin is None:
                    raise safefs.UnsafeFileError(
                        f"{spec.stdin_path}: open: no such file or directory")
            else:
                stdin = os.open(os.devnull, os.O_RDONLY)
            fds.append(stdin)
            started = time.time_ns()
            proc = subprocess.Popen(spec.argv, stdin=fds[2], stdout=fds[0], stderr=fds[1],
                                    cwd=spec.cwd, env=spec.env, start_new_session=True,
                                    close_fds=True)
        finally:
            for fd in fds:
                os.close(fd)
        host, boot = host_identity()
        return Placement(executor=LOCAL, run_id=spec.run_id, pid=proc.pid, pgid=proc.pid,
                         start_time=started, runner_pid=os.getpid(), host=host,
                         host_boot_id=boot, handle=AgentGroup(proc))

    def observe(self, placements: Sequence[Placement]) -> list[Observation]:
        return [self._observe(p) for p in placements]

    def _observe(self, p: Placement) -> Observation:
        here, boot = host_identity()
        if p.host and p.host != here:
            return Observation(UNKNOWN, host=p.host, reason=f"runs on host {p.host}")
        if p.host_boot_id and boot and p.host_boot_id != boot:
            return Observation(ENDED, host=p.host, reason="the host has rebooted since")
        try:
            if p.pid > 0 or p.pgid > 0:
                alive = process_alive(p.pid, p.pgid, p.start_time)
            elif p.runner_pid > 0:  # before the spawn: alive while its runner is
                alive = original_process(p.runner_pid, p.start_time)
            else:
                alive = False
        except (OverflowError, ValueError):  # a pid no process call accepts: no such process
            alive = False
        return Observation(ALIVE if alive else ENDED, host=p.host or here)

    def send_stop(self, placement: Placement) -> StopResult:
        return self._begin(placement)

    def _begin(self, p: Placement) -> StopResult:
        if not self._observe(p).alive:
            return StopResult("gone")
        if p.pid <= 0 and p.pgid <= 0 and p.runner_pid > 0:
            return StopResult("not-started", f"run {p.run_id}: its agent has not been started "
                                             f"yet (runner pid {p.runner_pid}); not signalling")
        problem = leader_problem(p.run_id, p.pid, p.pgid, p.start_time)
        if problem:
            return StopResult("refused", problem)
        signal_group(p.pgid, signal.SIGTERM)
        return StopResult("stopped")

    def stop(self, placement: Placement, grace: float, force: bool, *, sent: bool = False,
             poll: float = STOP_POLL) -> StopResult:
        """SIGTERM the verified group (unless ``sent``: the caller did), wait ``grace``, and
        SIGKILL with ``force``. The group was verified before SIGTERM and has had members ever
        since, so its id was never free to be reused: SIGKILL still reaches the agent's."""
        if not sent:
            begun = self._begin(placement)
            if begun.code != "stopped":
                return begun
        pgid = placement.pgid
        if wait_group_dead(pgid, grace, poll):
            return StopResult("stopped")
        if not force:
            return StopResult("timeout")
        signal_group(pgid, signal.SIGKILL)
        wait_group_dead(pgid, 5.0, 0.05)
        return StopResult("killed")

    def where(self, placement: Placement) -> str:
        pid = placement.pid or placement.runner_pid
        text = f"pid {pid}" if pid else "no process yet"
        here = host_identity()[0]
        if placement.host and placement.host != here:
            text += f" on {placement.host}"
        return text


EXECUTOR = LocalExecutor()
