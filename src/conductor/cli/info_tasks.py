"""What ``list``, ``status`` and ``watch`` say about a task, computed from disk without writing.

Upstream's views heal stale ``running`` records by rewriting run-info (spec 2.6, 9 #13). Ours
only look: a ``running`` run whose process is gone is corrected in memory with
:func:`conductor.store.reconcile` and shown that way; the file stays as it is for its owner.
Runs are ordered by start time, never by id text (9 #20).
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field

from ..errors import ConductorError
from ..store import (CANCELLED, TASK_BUS, Layout, RunInfo, RunSnapshot, TaskSnapshot, run_alive,
                     reconcile, scan_task)
from ..store.loopstate import LoopState, read_loop_state
from ..store.usage import Usage, total_usage
from ..timefmt import NS, now_ns as _now_ns
from .info_render import go_seconds, local_minute, rfc3339_seconds

FINISHED = ("completed", "failed")
_WARNED: set[str] = set()  # broken run-info files already reported by this process


@dataclass
class RunView:
    """One run as shown: the record after in-memory reconciliation, and whether it is alive."""
    snap: RunSnapshot
    info: RunInfo
    readable: bool
    alive: bool = False

    @property
    def run_id(self) -> str:
        return self.snap.run_id


@dataclass
class TaskView:
    snap: TaskSnapshot
    runs: list[RunView] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)
    cancelled: bool = False
    loop_state: LoopState | None = None  # only while it holds (store.loopview.effective)

    @property
    def usage(self) -> Usage:
        """Every readable run's tokens and cost, summed."""
        return total_usage(r.info for r in self.runs if r.readable)

    @property
    def id(self) -> str:
        return self.snap.id

    @property
    def done(self) -> bool:
        return self.snap.done

    @property
    def newest(self) -> RunView | None:
        """The run that started last, readable or not (what ``status`` reports)."""
        return self.runs[-1] if self.runs else None

    @property
    def latest_readable(self) -> RunView | None:
        """The last-started run with a readable run-info (what ``list`` and ``watch`` report)."""
        for run in reversed(self.runs):
            if run.readable:
                return run
        return None

    @property
    def any_running(self) -> bool:
        return any(r.info.status == "running" for r in self.runs)


def view_run(snap: RunSnapshot, done: bool, now: int) -> RunView:
    readable = not snap.orphan and snap.error is None
    info = snap.info
    if not readable or info.status != "running":
        return RunView(snap, info, readable)
    alive = run_alive(info)
    return RunView(snap, reconcile(info, done_exists=done, now_ns=now, alive=alive), readable,
                   alive)


def view_task(layout: Layout, project: str, task: str, now: int | None = None) -> TaskView:
    now = _now_ns() if now is None else now
    snap = scan_task(layout, project, task)
    if snap.error:
        sys.stderr.write(f"warning: task {task}: {snap.error}\n")
    for run in snap.runs:
        if run.error and run.error not in _WARNED:  # once per file, even when watch polls
            _WARNED.add(run.error)
            sys.stderr.write(f"warning: {run.error}\n")
    view = TaskView(snap, [view_run(r, snap.done, now) for r in snap.runs])
    view.cancelled = _marker_file(layout.root, os.path.join(snap.path, CANCELLED))
    view.loop_state = _loop_state(snap.path)
    if not snap.runs and not snap.done and snap.depends_on:
        from ..runner.deps import blocked_by
        view.blocked_by = blocked_by(layout.project_dir(project), snap.depends_on)
    return view


def _loop_state(task_dir: str) -> LoopState | None:
    from ..store.loopview import effective
    state = read_loop_state(task_dir)
    if state is None or state.ended:
        return state
    from ..store.supervision import loop_alive
    try:
        alive = loop_alive(task_dir)
    except OSError:
        alive = False
    return effective(state, alive)


def _marker_file(root: str, path: str) -> bool:
    """Is there a regular file (not a link to one, nothing odd above it) at ``path``?"""
    from ..store import safefs
    return safefs.is_file(root, path)


def _looks_like_task(name: str) -> bool:
    from ..ids import validate_task_id
    try:
        validate_task_id(name)
    except ConductorError:
        return False
    return True


def task_ids(project_dir: str) -> list[str]:
    """Task dirs of a project (real directories with valid task names), sorted."""
    from ..ids import validate_component
    from ..store import safefs
    names = []
    # listed through the project dir's descriptor, reached from the root without following a
    # link: a link at a task name is skipped, never entered
    for name, kind in safefs.entries(safefs.above(project_dir, 1), project_dir).items():
        if kind != safefs.DIR:
            if kind != safefs.FILE and _looks_like_task(name):  # a link or FIFO, say
                path = os.path.join(project_dir, name)
                try:
                    what = safefs.describe(os.lstat(path).st_mode)
                except OSError:
                    continue  # gone meanwhile
                sys.stderr.write(f"warning: skip {path}: is {what}\n")
            continue
        try:
            validate_component("task", name)
        except ConductorError:
            continue
        names.append(name)
    return sorted(names)


# ---- status words ----------------------------------------------------------------------------

def list_status(view: TaskView) -> str:
    """LATEST_STATUS of ``list``: the newest readable run's status, ``done``/``blocked``/``-``
    without runs; ``cancelled`` and ``stopped`` when nothing runs (upstream never shows
    ``cancelled``: 9 #32)."""
    if not view.runs:
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


@dataclass
class WatchState:
    status: str
    elapsed: float
    done: bool


def watch_state(view: TaskView, now: int) -> WatchState:
    """A task is done when its newest readable run finished, or by DONE without such a run."""
    if not view.runs:
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
    run_dir = os.path.join(task_dir, "runs", run.run_id)
    info = run.info
    candidates = [p.strip() for p in (info.output_path, info.stdout_path, info.stderr_path)]
    candidates = [p if os.path.isabs(p) else os.path.join(run_dir, p) for p in candidates if p]
    candidates += [os.path.join(run_dir, n) for n in ("output.md", "agent-stdout.txt",
                                                       "agent-stderr.txt")]
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
