"""What ``list``, ``status`` and ``watch`` say about a task: upstream's words, mapped at the edge
from the one task model (:mod:`conductor.store.taskview`).

Upstream's views heal stale ``running`` records by rewriting run-info (spec 2.6, 9 #13). Ours
only look: a ``running`` run whose process is gone is corrected in memory with
:func:`conductor.store.reconcile` and shown that way; the file stays as it is for its owner.
Runs are ordered by start time, never by id text (9 #20). ``list`` and ``status`` read the
newest runs of a task only (``--all-runs`` reads them all): see docs/cli.md.
"""

from __future__ import annotations

import os
import stat
import sys

from ..errors import ConductorError
from ..store import OUTPUT, RUNS, STDERR, STDOUT, TASK_BUS, Layout
from ..store.loopstate import LoopState
from ..store.taskview import RunView, TaskView, view_task as _view_task
from ..store.usage import Usage
from ..timefmt import NS, now_ns as _now_ns
from .info_render import go_seconds, local_minute, rfc3339_seconds

FINISHED = ("completed", "failed")
_WARNED: set[str] = set()  # broken run-info files already reported by this process


def view_tasks(layout: Layout, project: str, tasks: list[str], now: int | None = None, *,
               newest: bool = True, bus: bool = False) -> list[TaskView]:
    """:func:`view_task` for each of ``tasks``, with one liveness question per executor for all
    their running runs (one ``squeue`` for a listing of Slurm runs, not one per task)."""
    from ..store.scan import scan_task
    from ..store.taskview import batched_alive
    snaps = [scan_task(layout, project, task, newest=newest) for task in tasks]
    alive = batched_alive(snaps)
    return [view_task(layout, project, task, now, newest=newest, bus=bus, snap=snap, alive=alive)
            for task, snap in zip(tasks, snaps)]


def view_task(layout: Layout, project: str, task: str, now: int | None = None, *,
              newest: bool = True, bus: bool = False, snap=None, alive=None) -> TaskView:
    """The task's view (only its newest runs unless ``newest`` is False), with a warning on
    stderr for each broken file it met."""
    view = _view_task(layout, project, task, now_ns=_now_ns() if now is None else now,
                      newest=newest, bus=bus, snap=snap, alive=alive)
    if view.error:
        sys.stderr.write(f"warning: task {task}: {view.error}\n")
    for run in view.runs:
        if run.error and run.error not in _WARNED:  # once per file, even when watch polls
            _WARNED.add(run.error)
            sys.stderr.write(f"warning: {run.error}\n")
    return view


def task_ids(project_dir: str) -> list[str]:
    """Task dirs of a project (real directories with valid task names), sorted; a task-named
    link or FIFO is named on stderr and skipped."""
    from ..store import safefs
    from ..store.scan import task_names

    def warn(path: str, what: str) -> None:
        sys.stderr.write(f"warning: skip {path}: is {what}\n")

    return task_names(safefs.above(project_dir, 1), project_dir, warn)


# ---- status words ----------------------------------------------------------------------------

def list_status(view: TaskView) -> str:
    """LATEST_STATUS of ``list``: the newest readable run's status, ``done``/``blocked``/``-``
    without runs; ``cancelled`` and ``stopped`` when nothing runs (upstream never shows
    ``cancelled``: 9 #32)."""
    if not view.run_count:
        base = "done" if view.done else ("blocked" if view.blocked_by else "-")
    else:
        latest = view.latest_readable
        base = latest.info.status if latest else ("done" if view.done else "-")
    if base == "running" or view.any_running:
        return base
    if view.cancelled:
        return "cancelled"
    if view.snap.stop_requested and not view.done:
        return "stopped"
    return base


def status_status(view: TaskView) -> str:
    """STATUS of ``status``: the newest run's (``unknown`` when unreadable); ``cancelled`` for a
    cancelled task when nothing runs (upstream never shows it: 9 #32)."""
    if view.cancelled and not view.any_running:
        return "cancelled"
    newest = view.newest
    if newest is None:
        return "done" if view.done else ("blocked" if view.blocked_by else "-")
    if not newest.readable:
        return "unknown"
    return newest.info.status.strip() or "unknown"


class WatchState:
    __slots__ = ("status", "elapsed", "done")

    def __init__(self, status: str, elapsed: float, done: bool) -> None:
        self.status, self.elapsed, self.done = status, elapsed, done


def watch_state(view: TaskView, now: int) -> WatchState:
    """A task is done when its newest readable run finished, or by DONE without such a run."""
    if not view.run_count:
        if view.done:
            return WatchState("done", 0.0, True)
        return WatchState("blocked" if view.blocked_by else "unknown", 0.0, False)
    latest = view.latest_readable
    if latest is None:
        return WatchState("done", 0.0, True) if view.done else WatchState("unknown", 0.0, False)
    info = latest.info
    elapsed = 0.0
    if info.start_time is not None:
        end = info.end_time if info.status in FINISHED and info.end_time is not None else now
        elapsed = (end - info.start_time) / NS
    return WatchState(info.status, elapsed, info.status in FINISHED or info.status == "done")


# ---- activity signals (--activity) -----------------------------------------------------------

MEANINGFUL_TYPES = frozenset({"FACT", "DECISION", "ERROR", "REVIEW"})
PREVIEW_LIMIT = 96


def compact_preview(body: str, limit: int = PREVIEW_LIMIT) -> str:
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    return text[:limit] if limit <= 3 else text[:limit - 3] + "..."


def _bus_signals(task_dir: str):
    """(latest message, ts of the latest meaningful one, error), streaming the bus once."""
    from ..bus import MessageBus
    latest = None
    meaningful_ts = None
    bus = MessageBus(os.path.join(task_dir, TASK_BUS))
    try:
        for msg in bus.iter_messages():
            latest = msg
            if msg.ts is not None and msg.type.strip().upper() in MEANINGFUL_TYPES:
                meaningful_ts = msg.ts
    except (ConductorError, OSError) as exc:
        return None, None, str(exc)
    finally:
        for warning in bus.warnings:  # entries skipped by a limit of ours
            sys.stderr.write(f"warning: {warning}\n")
    return latest, meaningful_ts, None


def _output_mtime(task_dir: str, run: RunView | None) -> int | None:
    if run is None:
        return None
    run_dir = os.path.join(task_dir, RUNS, run.run_id)
    info = run.info
    candidates = [p.strip() for p in (info.output_path, info.stdout_path, info.stderr_path)]
    candidates = [p if os.path.isabs(p) else os.path.join(run_dir, p) for p in candidates if p]
    candidates += [os.path.join(run_dir, n) for n in (OUTPUT, STDOUT, STDERR)]
    from ..store import safefs
    root = safefs.above(task_dir, 2)
    latest = None
    for path in dict.fromkeys(os.path.normpath(p) for p in candidates):
        # only regular files under the root count; a link (to anywhere) or FIFO is not looked
        # through, and a path outside the root is not looked at
        try:
            st = safefs.lstat(root, path)
        except (OSError, ConductorError):
            continue
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        latest = st.st_mtime_ns if latest is None else max(latest, st.st_mtime_ns)
    return latest


def activity_signals(task_dir: str, run: RunView | None, status: str, drift_after: float,
                     now: int) -> dict:
    """The ``activity`` object of upstream's JSON, in its key order."""
    drift_ns = int(drift_after * NS) if drift_after > 0 else 20 * 60 * NS
    latest, meaningful_ts, bus_error = _bus_signals(task_dir)
    signals: dict = {"latest_bus_message": None, "latest_output_activity_at": None,
                     "last_meaningful_signal_at": None, "meaningful_signal_age_seconds": None,
                     "analysis_drift_risk": False, "drift_threshold_seconds": drift_ns // NS,
                     "drift_reason": "task is not running"}
    if latest is not None:
        signals["latest_bus_message"] = {
            "timestamp": rfc3339_seconds(latest.ts) if latest.ts is not None else "",
            "type": latest.type.strip(), "body_preview": compact_preview(latest.body)}
    if meaningful_ts is not None:
        signals["last_meaningful_signal_at"] = rfc3339_seconds(meaningful_ts)
        signals["meaningful_signal_age_seconds"] = max(0, now - meaningful_ts) // NS
    out_ns = _output_mtime(task_dir, run)
    if out_ns is not None:
        signals["latest_output_activity_at"] = rfc3339_seconds(out_ns)
    suffix = f" (message bus read failed: {bus_error})" if bus_error else ""
    if status.strip().lower() != "running":
        signals["drift_reason"] += suffix
        return signals
    start = run.info.start_time if run is not None else None
    if meaningful_ts is not None:
        age = max(0, now - meaningful_ts)
        risk = age > drift_ns
        reason = (f"no meaningful bus signal for {go_seconds(age)}" if risk
                  else f"last meaningful bus signal {go_seconds(age)} ago")
    elif start is not None:
        age = max(0, now - start)
        risk = age > drift_ns
        reason = (f"running for {go_seconds(age)} without meaningful bus signal" if risk
                  else f"no meaningful bus signal yet (running for {go_seconds(age)})")
    else:
        risk, reason = False, "running with no meaningful bus signal"
    signals["analysis_drift_risk"] = risk
    signals["drift_reason"] = reason + suffix
    return signals


def safe_field(text: str) -> str:
    clean = " ".join(text.split())
    return clean or "-"


def bus_summary(signals: dict | None) -> str:
    msg = signals and signals["latest_bus_message"]
    if not msg:
        return "-"
    parts = [p for p in (msg["timestamp"].strip(), msg["type"].strip(),
                         msg["body_preview"].strip()) if p]
    return " ".join(parts) or "-"


def output_minute(signals: dict | None) -> str:
    value = signals and signals["latest_output_activity_at"]
    if not value:
        return "-"
    from ..timefmt import parse_timestamp
    try:
        ns = parse_timestamp(value)
    except ValueError:
        return value
    return local_minute(ns) if ns is not None else value


def age_text(signals: dict | None) -> str:
    age = signals and signals["meaningful_signal_age_seconds"]
    if age is None or signals is None:
        return "-"
    return go_seconds(max(0, age) * NS)


def risk_text(signals: dict | None) -> str:
    if signals is None:
        return "-"
    return "risk" if signals["analysis_drift_risk"] else "ok"


def risk_flag(signals: dict | None) -> str:
    if signals is None:
        return "-"
    return "true" if signals["analysis_drift_risk"] else "false"


def reason_text(signals: dict | None) -> str:
    return "-" if signals is None else safe_field(signals["drift_reason"])


# ---- usage and loop state (ours, issue 10) ---------------------------------------------------

def usage_json(usage: Usage) -> dict:
    """The usage fields of our JSON, in this order; ``cost_usd`` null when no run reported one."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
            # a sum of floats: 0.42 + 0.08 must not print as 0.5000000000000001
            "cost_usd": None if usage.cost_usd is None else round(usage.cost_usd, 6),
            "turns": usage.turns}


def loop_state_json(state: LoopState, now: int) -> dict:
    from ..store.loopview import loop_words
    words = loop_words(state, now)
    return {"state": state.state, "status": words.status, "detail": words.detail,
            "reason": state.reason,
            "since": rfc3339_seconds(state.since) if state.since else "",
            "until": rfc3339_seconds(state.until) if state.until else "",
            "failures": state.failures}


def usage_cells(usage: Usage) -> list[str]:
    """COST and TOKENS cells: ``$0.024`` / ``18.5k``, ``-`` when not reported."""
    from ..store.usage import format_cost, format_tokens
    return [format_cost(usage.cost_usd) or "-",
            format_tokens(usage.tokens) if usage.tokens else "-"]


def loop_cell(state: LoopState | None, now: int) -> str:
    """LOOP cell: ``stuck: 5 identical failures``, ``waiting: limit until 14:05``, ``-``."""
    if state is None:
        return "-"
    from ..store.loopview import loop_words
    return safe_field(loop_words(state, now).text)
