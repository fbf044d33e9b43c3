"""``run-agent list | status | output | watch | gc`` (spec 5.7-5.10, 5.13).

All but ``gc`` are read-only: they never write run-info or any other file (upstream heals stale
records as a side effect of looking, spec 9 #13). Output formats follow upstream byte for byte;
see ``docs/cli.md`` for every verb and for where we differ.
"""

from __future__ import annotations

import os
import sys
import time

from ..errors import ConductorError, UsageError
from .parser import duration
from . import scope as sc

DRIFT_AFTER = 20 * 60.0
WATCH_INTERVAL = 2.0
WATCH_TIMEOUT = 30 * 60.0
LIST_FILTERS = ("running", "active", "done", "all_finished", "failed", "blocked", "queued",
                "partial_failure", "completed", "unknown", "cancelled", "stopped")

_ROOT_HELP = "runs root (default: $CONDUCTOR_ROOT, config storage.runs_dir, ~/.run-agent/runs)"
_CONFIG_HELP = "config file whose storage.runs_dir names the runs root"
_ACTIVITY_HELP = ("add activity signals: latest bus message, output activity, age of the last "
                  "meaningful bus signal (FACT/DECISION/ERROR/REVIEW), analysis drift risk")
_USAGE_HELP = ("add COST, TOKENS and LOOP columns (and usage in --json even when none was "
               "reported); they are shown anyway when a task's newest run reports usage or a "
               "task has a loop state")
_ALL_RUNS_HELP = ("read every run of each task, not only the newest: the newest by start time "
                  "over all runs, and a task counts as running when any run is")
_DRIFT_HELP = ("with --activity: flag drift risk when a running task has had no meaningful bus "
               "signal for this long (default 20m)")


def register(sub, verb: str | None = None) -> None:
    """Add the read verbs; only ``verb``'s parser when it is one of them (`list` and `status`
    are run by scripts in loops, and each parser costs start-up time)."""
    verbs = {"list": _register_list, "status": _register_status, "output": _register_output,
             "watch": _register_watch, "gc": _register_gc}
    for name, add in verbs.items():
        if verb is None or verb not in verbs or verb == name:
            add(sub)


def _register_output(sub) -> None:
    from . import info_output
    info_output.register(sub)


def _register_gc(sub) -> None:
    from . import info_gc
    info_gc.register(sub)


def _root_flags(p) -> None:
    p.add_argument("--root", default=None, help=_ROOT_HELP)
    p.add_argument("--config", default=None, help=_CONFIG_HELP)


def _view_flags(p) -> None:
    """The flags ``list`` and ``status`` share after their own."""
    p.add_argument("--activity", action="store_true", help=_ACTIVITY_HELP)
    p.add_argument("--drift-after", type=duration, default=DRIFT_AFTER, help=_DRIFT_HELP)
    p.add_argument("--usage", action="store_true", help=_USAGE_HELP)
    p.add_argument("--all-runs", action="store_true", help=_ALL_RUNS_HELP)


def _register_list(sub) -> None:
    p = sub.add_parser(
        "list", help="list projects, the tasks of a project, or the runs of a task",
        description="Without --project: the projects under the runs root. With --project: a "
                    "table of its tasks. With --project and --task: a table of the task's runs. "
                    "Read-only.")
    _root_flags(p)
    p.add_argument("--project", default="", help="list this project's tasks")
    p.add_argument("--task", default="", help="list this task's runs (needs --project)")
    p.add_argument("--status", default="",
                   help="filter tasks: running|active, done|all_finished, failed, blocked, "
                        "queued (no runs yet), cancelled, stopped, completed, unknown, "
                        "partial_failure; or a task state: needs-you, waiting, stuck, loop-dead, "
                        "limit, budget, backoff (see docs/cli.md)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _view_flags(p)
    p.set_defaults(func=cmd_list)


def _register_status(sub) -> None:
    p = sub.add_parser(
        "status", help="latest run status of each task of a project",
        description="One row per task (sorted): the status, exit code and id of its newest run "
                    "(by start time), its DONE marker and whether the run's process is alive. "
                    "Read-only: a dead 'running' run is shown as failed (or completed when DONE "
                    "exists) without rewriting its run-info.")
    p.add_argument("--project", default=None, help="project id (required, except with --tmux)")
    _root_flags(p)
    p.add_argument("--task", action="append", default=[],
                   help="only this task (repeatable; default: every task)")
    p.add_argument("--tmux", action="store_true",
                   help="one short line for tmux's status-right: running, needs-you, failed, "
                        "stuck and loop-dead task counts (every project unless --project)")
    p.add_argument("--ascii", action="store_true", help="with --tmux: letters, not symbols")
    p.add_argument("--status", default="",
                   help="filter rows: active (= running), done|all_finished (DONE exists), "
                        "pending (no runs), or a status (running, completed, failed, blocked, "
                        "unknown); or a task state: needs-you, waiting, stuck, loop-dead, "
                        "limit, budget, backoff (see docs/cli.md)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--concise", action="store_true",
                   help="tab-separated rows: task status exit_code latest_run done pid_alive")
    _view_flags(p)
    p.set_defaults(func=cmd_status)


def _register_watch(sub) -> None:
    p = sub.add_parser(
        "watch", help="wait until tasks finish (exit 1 on timeout)",
        description="Poll the given tasks until each one's newest readable run is completed or "
                    "failed (or DONE exists without runs). Exit 0 when all are done; exit 1 "
                    "with 'timeout after <d>: not all tasks completed' otherwise. Read-only.")
    p.add_argument("--project", required=True, help="project id (required)")
    p.add_argument("--task", action="append", default=[], help="task to watch (repeatable)")
    _root_flags(p)
    p.add_argument("--timeout", type=duration, default=WATCH_TIMEOUT,
                   help="give up after this long (default 30m)")
    p.add_argument("--json", action="store_true", help="print one JSON line per poll")
    p.add_argument("--interval", type=duration, default=WATCH_INTERVAL,
                   help="time between polls (default 2s)")
    p.set_defaults(func=cmd_watch)


def _now() -> int:
    return time.time_ns()


def _out(text: str) -> None:
    sys.stdout.write(text)


# ----------------------------------------------------------------------------- list

def cmd_list(args, environ=None, cwd=None) -> int:
    environ = os.environ if environ is None else environ
    if args.task and not args.project:
        raise UsageError("--task requires --project")
    root = sc.runs_root(args.root, args.config, environ)
    if not args.project:
        return _list_projects(root, args.json)
    from ..store import Layout
    layout = Layout(root)
    if not args.task:
        return _list_tasks(layout, args.project, args)
    return _list_runs(layout, args.project, args.task, args.json,
                      getattr(args, "usage", False))


def _list_projects(root: str, as_json: bool) -> int:
    from ..store.scan import project_names
    from .info_render import go_json
    try:
        names = project_names(root)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"root directory not found: {root}") from None
    except OSError as exc:
        raise ConductorError(f"read root directory: {exc.strerror}") from None
    if as_json:
        _out(go_json({"projects": names or None}))
    else:
        _out("".join(name + "\n" for name in names))
    return 0


def _project_dir(layout, project: str) -> str:
    path = layout.project_dir(project)
    if not os.path.isdir(path):
        raise UsageError(f"project directory not found: {path}")
    return path


def _list_tasks(layout, project: str, args) -> int:
    from . import info_tasks as it
    from .info_render import go_json, local_minute, rfc3339_seconds, tab_table
    project_dir = _project_dir(layout, project)
    now = _now()
    rows = []
    newest, bus = _read_mode(args, LIST_FILTERS)
    for view in it.view_tasks(layout, project, it.task_ids(project_dir), now, newest=newest, bus=bus):
        status = it.list_status(view)
        activity = None
        if args.activity:
            latest = view.latest_readable
            activity = it.activity_signals(view.snap.path, latest, status, args.drift_after, now)
        rows.append((view, status, activity))
    rows = _filter_list_rows(rows, args.status)
    force = getattr(args, "usage", False)
    extended = force or any(view.reports_usage or view.loop_state for view, _, _ in rows)
    if args.json:
        tasks = []
        total = None
        for view, status, activity in rows:
            row = {"task_id": view.id, "runs": view.run_count, "latest_status": status,
                   "done": view.done,
                   "last_activity": rfc3339_seconds(view.snap.mtime_ns) if view.snap.mtime_ns else ""}
            if view.cancelled:
                row["cancelled"] = True
            if view.snap.depends_on:
                row["depends_on"] = view.snap.depends_on
            if view.blocked_by:
                row["blocked_by"] = view.blocked_by
            if activity is not None:
                row["activity"] = activity
            total = _add_usage(row, view, now, force, total)
            tasks.append(row)
        out = {"tasks": tasks or None}
        if total is not None:
            out["usage"] = it.usage_json(total)
        _out(go_json(out))
        return 0
    header = ["TASK_ID", "RUNS", "LATEST_STATUS", "DONE", "BLOCKED_BY", "LAST_ACTIVITY"]
    if args.activity:
        header += ["LAST_BUS", "LAST_OUTPUT", "MEANINGFUL_AGE", "DRIFT_RISK", "DRIFT_REASON"]
    if extended:
        header += USAGE_COLUMNS
    table = [header]
    for view, status, activity in rows:
        cells = [view.id, str(view.run_count), status, "DONE" if view.done else "-",
                 ",".join(view.blocked_by) or "-",
                 local_minute(view.snap.mtime_ns) if view.snap.mtime_ns else "-"]
        if args.activity:
            cells += [it.bus_summary(activity), it.output_minute(activity), it.age_text(activity),
                      it.risk_text(activity), it.reason_text(activity)]
        if extended:
            cells += it.usage_cells(view.usage) + [it.loop_cell(view.loop_state, now)]
        table.append(cells)
    _out(tab_table(table))
    return 0


# Ours (issue 10): appended after upstream's columns, and only when a row has something to show
# or --usage asks, so a root of upstream's runs lists byte for byte as upstream does.
USAGE_COLUMNS = ["COST", "TOKENS", "LOOP"]


def _read_mode(args, upstream) -> tuple[bool, bool]:
    """(read only the newest runs of each task, read the bus's last message): all runs with
    --all-runs; the bus only for a --status word of the task states (needs-you)."""
    text = getattr(args, "status", "") or ""
    return not getattr(args, "all_runs", False), _operator_filter(text, upstream) is not None


def _add_usage(row: dict, view, now: int, force: bool, total):
    """Our JSON keys of a task row: ``usage`` (its runs summed) and ``loop_state``, each only
    when there is one (or with --usage); returns the project total so far (None: nothing)."""
    from . import info_tasks as it
    usage = view.usage if (view.reports_usage or force) else None
    if usage is not None and (usage or force):
        row["usage"] = it.usage_json(usage)
        total = usage if total is None else total + usage
    if view.loop_state is not None:
        row["loop_state"] = it.loop_state_json(view.loop_state, now)
    return total


def _operator_filter(text: str, upstream) -> str | None:
    """The filter word when it is one only the task states know (needs-you, stuck, limit...),
    else None: upstream's words keep upstream's meaning."""
    from ..store.taskview import filter_word
    wanted = text.strip().lower()
    if not wanted or wanted in upstream or filter_word(wanted) is None:
        return None
    return wanted


def _filter_list_rows(rows, text: str):
    from ..store.taskview import matches
    wanted = text.strip().lower()
    if not wanted:
        return rows
    if _operator_filter(wanted, LIST_FILTERS) is not None:
        return [r for r in rows if matches(r[0], wanted)]
    if wanted not in LIST_FILTERS:
        sys.stderr.write(f'warning: unknown --status filter "{text}"; showing all tasks\n')
        return rows

    def keep(view, status) -> bool:
        if wanted in ("running", "active"):
            return status == "running"
        if wanted in ("done", "all_finished"):
            return view.done
        if wanted == "queued":
            return status == "-"
        return status == wanted

    return [r for r in rows if keep(r[0], r[1])]


def _list_runs(layout, project: str, task: str, as_json: bool, force: bool = False) -> int:
    from . import info_tasks as it
    from ..store.usage import run_usage
    from .info_render import go_json, go_seconds, local_second, tab_table
    runs_dir = layout.runs_dir(project, task)
    if not os.path.isdir(runs_dir):
        raise UsageError(f"no runs found for project {project} task {task}")
    view = it.view_task(layout, project, task, _now(), newest=False)
    rows = []
    usages = {}
    for run in view.runs:
        info = run.info
        if not run.readable:
            rows.append({"run_id": run.run_id, "status": "unknown", "exit_code": 0, "started": "",
                         "duration": "-"})
            continue
        started = duration_text = ""
        if info.start_time is not None:
            started = local_second(info.start_time)
            if info.status == "running" or info.end_time is None:
                duration_text = "running"
            else:
                duration_text = go_seconds(info.end_time - info.start_time)
        rows.append({"run_id": run.run_id, "status": info.status, "exit_code": info.exit_code,
                     "started": started, "duration": duration_text})
        usages[run.run_id] = (run_usage(info), info)
    extended = force or any(u for u, _ in usages.values())
    if as_json:
        for row in rows:
            usage, info = usages.get(row["run_id"], (None, None))
            if usage is not None and (usage or force):
                row["usage"] = it.usage_json(usage)
            if info is not None and info.failure:
                row["failure"] = info.failure
        out = {"runs": rows or None}
        total = view.usage
        if total or force:
            out["usage"] = it.usage_json(total)
        _out(go_json(out))
        return 0
    header = ["RUN_ID", "STATUS", "EXIT_CODE", "STARTED", "DURATION"]
    if extended:
        header += ["COST", "TOKENS", "MODEL"]
    table = [header]
    for r in rows:
        cells = [r["run_id"], r["status"], str(r["exit_code"]), r["started"], r["duration"]]
        if extended:
            usage, info = usages.get(r["run_id"], (None, None))
            cells += it.usage_cells(usage) + [it.safe_field(info.model)] if usage is not None \
                else ["-", "-", "-"]
        table.append(cells)
    _out(tab_table(table))
    return 0


# ----------------------------------------------------------------------------- status

def cmd_status(args, environ=None, cwd=None) -> int:
    from ..store import Layout
    from . import info_tasks as it
    environ = os.environ if environ is None else environ
    project = (args.project or "").strip()
    if getattr(args, "tmux", False):
        return _status_tmux(args, project, environ)
    if args.project is None:
        raise UsageError('required flag(s) "project" not set')
    if not project:
        raise UsageError("--project is required")
    if args.json and args.concise:
        raise UsageError("--concise cannot be used with --json")
    layout = Layout(sc.runs_root(args.root, args.config, environ))
    project_dir = _project_dir(layout, project)
    tasks = sorted({t.strip() for t in args.task if t.strip()})
    for task in tasks:
        task_dir = layout.task_dir(project, task)
        if not os.path.exists(task_dir):
            raise UsageError(f"task directory not found: {task_dir}")
        if not os.path.isdir(task_dir):
            raise UsageError(f"task path is not a directory: {task_dir}")
    now = _now()
    newest, bus = _read_mode(args, STATUS_FILTERS)
    rows = [_status_row(view, args, now)
            for view in it.view_tasks(layout, project, tasks or it.task_ids(project_dir), now,
                                      newest=newest, bus=bus)]
    rows = [r for r in rows if _status_matches(r, args.status)]
    _print_status(rows, project, tasks, args)
    return 0


def _status_tmux(args, project: str, environ) -> int:
    """``status --tmux``: the summary line (alerts.summary), or nothing when nothing is on."""
    from ..alerts.summary import summary
    if project:
        from ..ids import validate_project_id
        validate_project_id(project)
    text = summary(sc.runs_root(args.root, args.config, environ), project,
                   ascii_only=args.ascii)
    if text:
        sys.stdout.write(text + "\n")
    return 0


def _status_row(view, args, now: int) -> dict:
    from . import info_tasks as it
    task = view.id
    status = it.status_status(view)
    newest = view.newest
    readable = newest is not None and newest.readable
    row = {"task_id": task, "status": status,
           "exit_code": newest.info.exit_code if readable else None,
           "latest_run": newest.run_id if newest else "", "done": view.done,
           "pid_alive": (newest.info.status == "running" and newest.alive) if readable else None}
    if view.cancelled:
        row["cancelled"] = True
    if view.snap.depends_on:
        row["depends_on"] = view.snap.depends_on
    if view.blocked_by:
        row["blocked_by"] = view.blocked_by
    if args.activity:
        row["activity"] = it.activity_signals(view.snap.path, newest, status, args.drift_after,
                                              now)
    row["_view"] = view  # for our usage columns and keys; never printed
    return row


STATUS_FILTERS = ("active", "done", "all_finished", "pending", "running", "completed", "failed",
                  "blocked", "unknown", "cancelled", "-")


def _status_matches(row: dict, text: str) -> bool:
    from ..store.taskview import matches
    wanted = text.strip().lower()
    if not wanted:
        return True
    if _operator_filter(wanted, STATUS_FILTERS) is not None:
        return matches(row["_view"], wanted)
    if wanted == "active":
        return row["status"].lower() == "running"
    if wanted in ("done", "all_finished"):
        return row["done"]
    if wanted == "pending":
        return row["status"] == "-"
    return row["status"].lower() == wanted


def _status_empty(project: str, tasks: list[str], text: str) -> str:
    from .info_render import go_quote
    text = text.strip()
    where = f"for task {tasks[0]}" if len(tasks) == 1 else f"in project {project}"
    if text:
        return f"No status rows matched --status {go_quote(text)} {where}.\n"
    return f"No status rows found {where}.\n"


def _print_status(rows: list[dict], project: str, tasks: list[str], args) -> None:
    from . import info_tasks as it
    from .info_render import go_json, tab_table
    now = _now()
    force = getattr(args, "usage", False)
    views = [r.pop("_view", None) for r in rows]
    extended = force or any(v is not None and (v.reports_usage or v.loop_state) for v in views)

    def dash(value) -> str:
        if value is None or value == "":
            return "-"
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    if args.json:
        total = None
        for row, view in zip(rows, views):
            if view is not None:
                total = _add_usage(row, view, now, force, total)
        out = {"tasks": rows}
        if total is not None:
            out["usage"] = it.usage_json(total)
        _out(go_json(out))
        return
    if args.concise:
        if not rows:
            _out(_status_empty(project, tasks, args.status))
        for r in rows:
            cells = [r["task_id"], r["status"], dash(r["exit_code"]), dash(r["latest_run"]),
                     dash(r["done"]), dash(r["pid_alive"])]
            if args.activity:
                a = r["activity"]
                msg = a["latest_bus_message"]
                cells += [it.age_text(a), it.risk_flag(a),
                          it.safe_field(msg["type"]) if msg else "-",
                          it.safe_field(msg["timestamp"]) if msg else "-",
                          it.safe_field(msg["body_preview"]) if msg else "-",
                          it.safe_field(a["latest_output_activity_at"] or "")]
            _out("\t".join(cells) + "\n")
        return
    header = ["TASK_ID", "STATUS", "EXIT_CODE", "LATEST_RUN", "DONE", "PID_ALIVE", "BLOCKED_BY"]
    if args.activity:
        header += ["LAST_BUS", "LAST_OUTPUT", "MEANINGFUL_AGE", "DRIFT_RISK", "DRIFT_REASON"]
    if extended:
        header += USAGE_COLUMNS
    table = [header]
    for r, view in zip(rows, views):
        cells = [r["task_id"], r["status"], dash(r["exit_code"]), dash(r["latest_run"]),
                 dash(r["done"]), dash(r["pid_alive"]), ",".join(r.get("blocked_by", [])) or "-"]
        if args.activity:
            a = r["activity"]
            cells += [it.bus_summary(a), it.output_minute(a), it.age_text(a), it.risk_text(a),
                      it.reason_text(a)]
        if extended:
            cells += it.usage_cells(view.usage) + [it.loop_cell(view.loop_state, now)] \
                if view is not None else ["-", "-", "-"]
        table.append(cells)
    _out(tab_table(table))
    if not rows and args.status.strip():
        _out(_status_empty(project, tasks, args.status))


# ----------------------------------------------------------------------------- watch

_PHASES = {"running": "active", "blocked": "blocked", "completed": "completed",
           "done": "completed", "failed": "failed"}


def cmd_watch(args, environ=None, cwd=None) -> int:
    from ..store import Layout
    from . import info_tasks as it
    from .info_render import go_json, go_quote
    from ..timefmt import format_duration
    environ = os.environ if environ is None else environ
    if not args.task:
        raise UsageError("at least one --task is required")
    layout = Layout(sc.runs_root(args.root, args.config, environ))
    for task in args.task:
        layout.task_dir(args.project, task)  # validates the ids before any waiting
    deadline = time.monotonic() + args.timeout
    previous: dict[str, str] = {}
    if not args.json:
        _out(f"Watching {len(args.task)} task(s) for project {go_quote(args.project)}:\n")
    while True:
        now = _now()
        states = [(t, it.watch_state(view, now))
                  for t, view in zip(args.task, it.view_tasks(layout, args.project, args.task, now))]
        all_done = all(s.done for _, s in states)
        remaining = deadline - time.monotonic()
        if args.json:
            _out(go_json({"tasks": [{"task_id": t, "status": s.status, "elapsed": s.elapsed,
                                     "done": s.done} for t, s in states],
                          "all_done": all_done}, indent=None))
        else:
            _out(_watch_report(states, previous, all_done, remaining))
        sys.stdout.flush()
        if all_done:
            return 0
        if remaining <= 0:
            raise ConductorError(f"timeout after {format_duration(args.timeout)}: "
                                 "not all tasks completed")
        time.sleep(max(0.0, min(args.interval, remaining)) if args.interval > 0 else 0.0)


def _watch_report(states, previous: dict[str, str], all_done: bool, remaining: float) -> str:
    from .info_render import go_seconds
    counts = {"active": 0, "blocked": 0, "completed": 0, "failed": 0, "pending": 0}
    for _, s in states:
        counts[_PHASES.get(s.status, "pending")] += 1
    lines = ["  phase counts: " + " ".join(f"{k}={v}" for k, v in counts.items()) + "\n"]
    for task, s in states:
        phase = _PHASES.get(s.status, "pending")
        whole = int(s.elapsed)  # Go: truncation, then / and % towards zero
        minutes, seconds = abs(whole) // 60, abs(whole) % 60
        if whole < 0:
            minutes, seconds = -minutes, -seconds
        label = "duration" if s.done else "elapsed"
        lines.append(f"  {task:<45} [{s.status:<9}] {phase:<9} {label}: {minutes}m{seconds}s\n")
        before = previous.get(task)
        if before is None:
            lines.append(f"    transition: unknown -> {phase}\n")
        elif before != phase:
            lines.append(f"    transition: {before} -> {phase}\n")
        previous[task] = phase
    if all_done:
        lines.append("All tasks complete.\n")
    else:
        lines.append(f"Waiting for {counts['active']} active and {counts['blocked']} blocked "
                     f"task(s)... (timeout in {go_seconds(int(remaining * 1e9))})\n")
    return "".join(lines)
