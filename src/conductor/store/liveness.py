"""Is a run's process still alive, and what should a dead ``running`` run say? (spec 2.6)

Upstream asks ``kill(pid, 0)`` only, so a zombie looks alive and so does an unrelated process
that got the same pid later (spec 9 #14). We also compare the process's creation time with the
run's ``start_time``: the runner records ``start_time`` just before it spawns the agent, so the
agent was created at most a moment after it. A process created more than
:data:`START_TOLERANCE_NS` after the run started is some other process that reused the pid.

The tolerance covers the clock granularity of process creation times (Linux derives them from
the boot time, which is known to the second, plus clock ticks) and a slow spawn. It is not
bigger, so a pid reused a few seconds later is caught. A run with no ``start_time`` cannot be
checked this way and falls back to existence alone.
"""

from __future__ import annotations

import dataclasses
import errno
import os


from ..timefmt import NS
from ..timefmt import now_ns as _clock
from .runinfo import RunInfo, update_run_info

START_TOLERANCE_NS = 2 * NS

STALE_NOT_ALIVE = "reconciled stale running status: process is not alive"
STALE_DONE = "reconciled stale running status: task DONE marker is present"


def process_alive(pid: int, pgid: int, start_ns: int | None) -> bool:
    """The run's leader ``pid`` is alive, or failing that some original member of group ``pgid``.

    A member counts only when it is not a zombie and was created no later than ``start_ns`` +
    :data:`START_TOLERANCE_NS`. So a reused pid or pgid never looks alive, and neither does a
    group kept only by processes the agent started later (its grandchildren outliving it): the
    run is the agent, and the agent is gone.
    """
    if pid > 0 and _original_process(pid, start_ns):
        return True
    if pgid > 0 and group_exists(pgid):
        return any(_original_process(member, start_ns) for member in group_members(pgid))
    return False


def run_alive(info: RunInfo) -> bool:
    """Is the ``running`` record's process alive, counting the pre-spawn window?

    A runner records pid 0 and pgid 0 (and its own pid as ``runner_pid``) until the agent is
    spawned, so the record never names a process group that is not the agent's. Such a record
    is alive while that runner is (it is being set up); with no live runner (it died before
    spawning) or no runner recorded at all, it is dead. Unlike upstream, which never checks
    records with pid and pgid <= 0, these are healed like any dead run.
    """
    try:
        if info.pid > 0 or info.pgid > 0:
            return process_alive(info.pid, info.pgid, info.start_time)
        if info.runner_pid > 0:
            return _original_process(info.runner_pid, info.start_time)
    except (OverflowError, ValueError):  # a pid no process call accepts: no such process
        pass  # (the reader refuses such records; this covers records built in memory)
    return False


def _original_process(pid: int, start_ns: int | None) -> bool:
    import psutil  # imported here: it costs ~15 ms at start-up
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if start_ns is None:
            return True
        return int(proc.create_time() * NS) <= start_ns + START_TOLERANCE_NS
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists; we cannot see more of it


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
    import psutil  # imported here: it costs ~15 ms at start-up
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc.pid)
        except OSError:
            continue
    return members


def reconcile(info: RunInfo, *, done_exists: bool, now_ns: int,
              alive: bool | None = None) -> RunInfo:
    """A corrected copy of a ``running`` record whose process is gone; never writes.

    ``alive`` is probed with :func:`process_alive` when not given. Unlike upstream, a
    ``failed`` run stays failed when DONE appears later: a run killed by a signal or a timeout
    did fail, whatever its task did afterwards (spec 9 #13).
    """
    if info.status != "running":
        return info
    if alive is None:
        alive = run_alive(info)
    if alive:
        return info
    fixed = dataclasses.replace(info)
    if fixed.end_time is None:
        fixed.end_time = now_ns
    if done_exists:
        fixed.status = "completed"
        if fixed.exit_code < 0:
            fixed.exit_code = 0
        if fixed.error_summary in ("", STALE_NOT_ALIVE):
            fixed.error_summary = STALE_DONE
    else:
        fixed.status = "failed"
        if fixed.exit_code == 0:
            fixed.exit_code = -1
        if not fixed.error_summary:
            fixed.error_summary = STALE_NOT_ALIVE
    return fixed


def heal_run(path: str, *, done_exists: bool, now_ns: int | None = None) -> RunInfo:
    """Reconcile the run-info at ``path`` and persist the result under the update lock.

    Only for callers that own the run (the runner, after losing its agent); read-only views
    call :func:`reconcile` and show the result without writing.
    """
    def fix(info: RunInfo) -> RunInfo:
        return reconcile(info, done_exists=done_exists,
                         now_ns=now_ns if now_ns is not None else _clock())

    return update_run_info(path, fix)
