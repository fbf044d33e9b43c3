"""``run-agent gc``: delete old finished runs, DONE tasks, and rotate big buses (spec 5.13).

The only verb of this family that changes the disk, and only in these ways. It never deletes a
``running`` run (even a stale one: the runner or ``stop`` owns those), a run of unknown status,
or a run dir without run-info (one being set up looks exactly like that, spec 9 #19). Bus
rotation goes through :meth:`MessageBus.rotate`, which takes the bus lock and names the archive
in UTC (upstream renames without the lock and in local time: 9 #8).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time

from ..errors import ConductorError, UsageError
from ..store.layout import PROJECT_BUS, RUN_INFO, TASK_BUS
from .parser import duration
from . import scope as sc

MB = 1024 * 1024
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": MB, "GB": 1024 * MB}


def register(sub) -> None:
    p = sub.add_parser(
        "gc", help="delete old finished runs; optionally rotate big buses and drop DONE tasks",
        description="Delete run dirs whose status is completed or failed and whose start time "
                    "(else end time) is older than --older-than. Running, unknown and "
                    "run-info-less dirs are never deleted.")
    p.add_argument("--root", default=None,
                   help="runs root (default: $CONDUCTOR_ROOT, config storage.runs_dir, "
                        "~/.run-agent/runs)")
    p.add_argument("--config", default=None, help="config file whose storage.runs_dir names the root")
    p.add_argument("--older-than", type=duration, default=168 * 3600.0,
                   help="delete runs that started before now minus this (default 168h)")
    p.add_argument("--dry-run", action="store_true", help="print what would go; change nothing")
    p.add_argument("--project", default="", help="only this project")
    p.add_argument("--keep-failed", action="store_true", help="keep failed runs")
    p.add_argument("--rotate-bus", action="store_true",
                   help="rename buses larger than --bus-max-size to <bus>.<UTC stamp>.archived")
    p.add_argument("--bus-max-size", default="10MB",
                   help="rotation threshold: a number of bytes or B/KB/MB/GB, base 1024 "
                        "(default 10MB)")
    p.add_argument("--delete-done-tasks", action="store_true",
                   help="also delete task dirs that have DONE, no runs left, and an mtime "
                        "older than the cutoff")
    p.set_defaults(func=cmd_gc)


def parse_size(text: str) -> int:
    m = _SIZE_RE.match(text)
    if not m:
        raise UsageError(f'invalid --bus-max-size "{text}": expected a number of bytes or '
                         "a size like 10MB (units B, KB, MB, GB)")
    return int(float(m[1]) * _UNITS[(m[2] or "").upper()])


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def cmd_gc(args, environ=None, cwd=None) -> int:
    from ..store import Layout
    environ = os.environ if environ is None else environ
    max_bus = parse_size(args.bus_max_size) if args.rotate_bus else 0
    layout = Layout(sc.runs_root(args.root, args.config, environ))
    cutoff_ns = time.time_ns() - int(args.older_than * 1e9)
    deleted = freed = 0
    for project in _projects(layout, args.project):
        project_dir = layout.project_dir(project)
        for task in _task_names(project_dir):
            task_dir = layout.task_dir(project, task)
            for run_dir in _run_dirs(task_dir):
                size = _gc_run(run_dir, cutoff_ns, args.dry_run, args.keep_failed)
                if size is not None:
                    deleted += 1
                    freed += size
            if args.delete_done_tasks:
                _gc_done_task(task_dir, cutoff_ns, args.dry_run)
            if args.rotate_bus:
                _rotate(os.path.join(task_dir, TASK_BUS), max_bus, args.dry_run)
        if args.rotate_bus:
            _rotate(os.path.join(project_dir, PROJECT_BUS), max_bus, args.dry_run)
    action = "Would delete" if args.dry_run else "Deleted"
    sys.stdout.write(f"{action} {deleted} runs, freed {freed / MB:.1f} MB\n")
    return 0


def _projects(layout, only: str) -> list[str]:
    if only:
        from ..store import safefs
        path = layout.project_dir(only)
        if not safefs.is_dir(layout.root, path):
            raise ConductorError(f"read project directory {path}: open {path}: "
                                 "no such file or directory")
        return [only]
    from ..store.scan import project_names
    try:
        return project_names(layout.root)
    except OSError as exc:
        raise ConductorError(f"read root directory {layout.root}: open {layout.root}: "
                             f"{(exc.strerror or str(exc)).lower()}") from None


def _task_names(project_dir: str) -> list[str]:
    from .info_tasks import task_ids
    return task_ids(project_dir)


def _run_dirs(task_dir: str) -> list[str]:
    """Run dirs of a task, listed through descriptors walked from the root: a ``runs`` that is
    a link (into another root, say) is skipped with a warning, never entered."""
    from ..ids import natural_key, validate_component
    from ..store import safefs
    runs = os.path.join(task_dir, "runs")
    try:
        found = safefs.entries(safefs.above(task_dir, 2), runs)
    except ConductorError as exc:
        sys.stderr.write(f"warning: skip {runs}: {_strip(exc, runs)}\n")
        return []
    out = []
    for name, kind in found.items():
        if kind != safefs.DIR:
            continue
        try:
            validate_component("run", name)
        except ConductorError:
            continue
        out.append(os.path.join(runs, name))
    return sorted(out, key=lambda path: natural_key(os.path.basename(path)))


def _strip(exc: Exception, path: str) -> str:
    text = str(exc)
    return text[len(path) + 2:] if text.startswith(path + ": ") else text


def _gc_run(run_dir: str, cutoff_ns: int, dry_run: bool, keep_failed: bool) -> int | None:
    """Delete one run dir if it qualifies; returns its size when it was (or would be) deleted."""
    from ..store import RunInfoMissing, read_run_info
    from .info_render import local_second
    try:
        info = read_run_info(os.path.join(run_dir, RUN_INFO))
    except RunInfoMissing:
        sys.stderr.write(f"warning: skipping orphaned run dir {run_dir} (no run-info.yaml)\n")
        return None
    except ConductorError as exc:
        sys.stderr.write(f"warning: skip {run_dir}: read run-info: {exc}\n")
        return None
    if info.status not in ("completed", "failed"):
        return None
    if keep_failed and info.status == "failed":
        return None
    when = info.start_time if info.start_time is not None else info.end_time
    if when is None or when >= cutoff_ns:
        return None
    size = dir_size(run_dir)
    started = local_second(info.start_time) if info.start_time is not None else "-"
    detail = f"(status={info.status}, started={started}, size={_mb(size)})"
    if dry_run:
        sys.stdout.write(f"[dry-run] would delete {run_dir} {detail}\n")
        return size
    sys.stdout.write(f"deleting {run_dir} {detail}\n")
    try:
        _rmtree(run_dir, 4)
    except (OSError, ConductorError) as exc:
        sys.stderr.write(f"warning: delete {run_dir}: {_why(exc, run_dir)}\n")
        return None
    return size


def _gc_done_task(task_dir: str, cutoff_ns: int, dry_run: bool) -> None:
    from ..store.supervision import loop_alive
    from ..store import done_marker_present
    if not done_marker_present(task_dir) or _run_dirs(task_dir) or loop_alive(task_dir):
        return
    from ..store import safefs
    try:
        mtime = safefs.mtime_ns(safefs.above(task_dir, 2), task_dir)
    except OSError:
        return
    if mtime is None or mtime >= cutoff_ns:
        return
    if dry_run:
        sys.stdout.write(f"[dry-run] would delete task {task_dir}\n")
        return
    sys.stdout.write(f"deleting task {task_dir}\n")
    try:
        _rmtree(task_dir, 2)
    except (OSError, ConductorError) as exc:
        sys.stderr.write(f"warning: delete {task_dir}: {_why(exc, task_dir)}\n")


def _rmtree(path: str, depth: int) -> None:
    """Remove ``path`` (``depth`` levels below the root) through descriptors walked from the
    root: no level of it may be a link, and links inside are removed, never entered."""
    from ..store import safefs
    safefs.rmtree(safefs.above(path, depth), path)


def _why(exc: Exception, path: str) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, ConductorError):
        return str(exc.strerror or exc)
    return _strip(exc, path)


def _rotate(bus_path: str, max_size: int, dry_run: bool) -> None:
    from ..bus import MessageBus
    from ..store import safefs
    depth = 3 if os.path.basename(bus_path) == TASK_BUS else 2  # up to the root
    try:
        st = safefs.lstat(safefs.above(bus_path, depth), bus_path)
    except (OSError, ConductorError):
        return
    if st is None or st.st_size <= max_size:
        return
    if dry_run:
        sys.stdout.write(f"[dry-run] would rotate {bus_path} (size={_mb(st.st_size)})\n")
        return
    try:
        archive = MessageBus(bus_path).rotate()
    except ConductorError as exc:
        sys.stderr.write(f"warning: rotate {bus_path}: {exc}\n")
        return
    if archive:
        sys.stdout.write(f"rotated {bus_path} -> {archive} (size={_mb(st.st_size)})\n")


def dir_size(path: str) -> int:
    """Bytes of the regular files below ``path``; links are not followed. The walk goes
    through directory descriptors (``os.fwalk``), so a directory swapped for a link while we
    walk is not entered either."""
    total = 0
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        for _dirpath, _dirs, files, dir_fd in os.fwalk(".", dir_fd=top):
            for name in files:
                try:
                    st = os.lstat(name, dir_fd=dir_fd)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
    finally:
        os.close(top)
    return total
