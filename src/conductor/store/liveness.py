"""Is a run still alive, and what should a dead ``running`` run say? (spec 2.6)

The executor named in the record answers (:mod:`conductor.executor`; a record without
``executor`` ran locally): :func:`observe_runs` asks each executor once for all of its runs,
and :func:`run_alive` is that for one run. The local executor's rules (pid reuse, zombies, the
pre-spawn window, other hosts) are in :mod:`conductor.executor.local`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

from ..executor.local import (START_TOLERANCE_NS, group_exists, group_members,  # noqa: F401
                              process_alive)
from ..timefmt import now_ns as _clock
from .runinfo import RunInfo, update_run_info

STALE_NOT_ALIVE = "reconciled stale running status: process is not alive"
STALE_DONE = "reconciled stale running status: task DONE marker is present"


def observe_runs(infos: Sequence[RunInfo]):
    """One :class:`conductor.executor.base.Observation` per record, in order: every executor
    is asked once, for all of its runs (one ``squeue`` per poll, never one per run)."""
    from ..executor.base import UNKNOWN, Observation, placement_of
    from ..executor.registry import UnknownExecutor, executor
    out: list = [None] * len(infos)
    groups: dict[str, list[int]] = {}
    for i, info in enumerate(infos):
        groups.setdefault(info.executor or "local", []).append(i)
    for name, indexes in groups.items():
        try:
            found = executor(name)
        except UnknownExecutor as exc:
            for i in indexes:
                out[i] = Observation(UNKNOWN, reason=str(exc))
            continue
        try:
            seen = found.observe([placement_of(infos[i]) for i in indexes])
        except Exception as exc:  # noqa: BLE001 - a broken executor must not break `list`
            seen = [Observation(UNKNOWN, reason=f"{name}: {exc}")] * len(indexes)
        for i, obs in zip(indexes, seen):
            out[i] = obs
    return out


def runs_alive(infos: Sequence[RunInfo]) -> list[bool]:
    """:func:`run_alive` for many records with one executor call each. A run its executor
    cannot see from here (``unknown``: another host, no answer) counts as alive: it is shown as
    running and never healed on a guess."""
    return [obs.state != "ended" for obs in observe_runs(infos)]


def run_alive(info: RunInfo) -> bool:
    """Is the ``running`` record's process alive, counting the pre-spawn window?

    A runner records pid 0 and pgid 0 (and its own pid as ``runner_pid``) until the agent is
    spawned, so the record never names a process group that is not the agent's. Such a record
    is alive while that runner is (it is being set up); with no live runner (it died before
    spawning) or no runner recorded at all, it is dead. Unlike upstream, which never checks
    records with pid and pgid <= 0, these are healed like any dead run. A run of another
    executor is alive while that executor says so.
    """
    return runs_alive([info])[0]


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
    fixed = info.replace()
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
