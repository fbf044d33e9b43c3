"""``run-agent output``: print or follow a run's output, prompt or logs (spec 5.9).

Agent logs can be gigabytes, so nothing here reads a whole file into memory: printing streams
fixed-size chunks, ``--tail N`` reads backwards from the end until it has N lines, and
``--follow`` copies only the bytes past its offset. Like upstream (which prints line by line
with ``Println``) a last line without a newline gets one.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ..errors import ConductorError, UsageError
from ..store.layout import RUN_INFO
from . import scope as sc

CHUNK = 1 << 16
FOLLOW_POLL = 0.5
FOLLOW_FILE_WAIT = 5.0
FOLLOW_IDLE = 60.0

FILES = {"output": "output.md", "stdout": "agent-stdout.txt", "stderr": "agent-stderr.txt",
         "prompt": "prompt.md"}


def register(sub) -> None:
    p = sub.add_parser(
        "output", help="print a run's output.md, stdout, stderr or prompt",
        description="Print a file of one run: --run-dir, or the newest run (by start time) of "
                    "--project/--task, or --run. --follow tails the live file of a running run "
                    "until it finishes, 60s pass without new data, or Ctrl-C.")
    p.add_argument("--run-dir", default="", help="the run directory (instead of project/task/run)")
    p.add_argument("--root", default=None,
                   help="runs root (default: $CONDUCTOR_ROOT, config storage.runs_dir, "
                        "~/.run-agent/runs)")
    p.add_argument("--config", default=None, help="config file whose storage.runs_dir names the root")
    p.add_argument("--project", default="", help="project id")
    p.add_argument("--task", default="", help="task id")
    p.add_argument("--run", default="", help="run id (default: the newest run)")
    p.add_argument("--tail", type=int, default=0, help="print only the last N lines (0 = all)")
    p.add_argument("--file", default="output",
                   help="output (output.md, else agent-stdout.txt; the default), stdout, stderr, "
                        "or prompt")
    p.add_argument("-f", "--follow", action="store_true",
                   help="follow the file while the run is running")
    p.set_defaults(func=cmd_output)


def cmd_output(args, environ=None, cwd=None) -> int:
    global _REDACTOR
    environ = os.environ if environ is None else environ
    run_dir = resolve_run_dir(args, environ)
    from ..secrets import StreamRedactor
    _REDACTOR = StreamRedactor(_known_secrets(args.config, environ))
    root = _anchor(args, run_dir)
    try:
        if args.follow:
            return follow_output(run_dir, args.file, root=root)
        print_file(resolve_file(run_dir, args.file, root=root), args.tail, root=root)
        return 0
    finally:
        rest, _REDACTOR = _REDACTOR.flush(), None
        if rest:
            _write(rest)


_REDACTOR = None  # set by cmd_output: every configured token is printed as ***


def _known_secrets(config_path, environ) -> tuple[str, ...]:
    """The tokens of the config (when one loads) and of the environment."""
    from ..config import find_config, load_config, load_config_lenient
    from ..secrets import collect
    config = None
    try:
        path = find_config(config_path)
        if path:
            try:
                config = load_config(path)  # reads token files too
            except ConductorError:
                config = load_config_lenient(path)
    except ConductorError:
        config = None
    return collect(config, environ)


def _anchor(args, run_dir: str) -> str:
    """Where file access starts its no-link walk: the runs root for --project/--task (no level
    below it may be a link); the run dir itself for --run-dir (the operator named it, so it may
    be a link, but the file in it may not)."""
    if args.run_dir:
        return os.path.abspath(run_dir)
    from ..store import safefs
    return safefs.above(run_dir, 4)


def _open(path: str, root: str | None) -> int | None:
    """A descriptor of the regular file ``path`` opened through :mod:`safefs` (None when
    absent): a link is refused with one line, a FIFO or device never blocks and is refused."""
    from ..store import safefs
    return safefs.open_file(root or os.path.dirname(os.path.abspath(path)), path)


def _exists(path: str, root: str | None) -> bool:
    from ..store import safefs
    try:
        return safefs.lstat(root or os.path.dirname(os.path.abspath(path)), path) is not None
    except ConductorError:
        return True  # something odd is there: opening it names the problem


def resolve_run_dir(args, environ) -> str:
    if args.run_dir:
        try:
            os.stat(args.run_dir)
        except OSError as exc:
            raise UsageError(f"run directory {args.run_dir}: stat {args.run_dir}: "
                             f"{(exc.strerror or str(exc)).lower()}") from None
        return args.run_dir
    from ..store import Layout, scan_task
    root = sc.runs_root(args.root, args.config, environ)
    if not args.project:
        raise UsageError("--project is required when --run-dir is not specified")
    if not args.task:
        raise UsageError("--task is required when --run-dir is not specified")
    layout = Layout(root)
    if args.run:
        from ..ids import validate_component
        validate_component("run", args.run)
    if not os.path.isdir(layout.runs_dir(args.project, args.task)):
        raise UsageError(f"no runs found for project {args.project} task {args.task}")
    runs = scan_task(layout, args.project, args.task).runs
    if args.run:
        runs = [r for r in runs if r.run_id == args.run]
        if not runs:
            raise UsageError(f"run {args.run} not found for project {args.project} "
                             f"task {args.task}")
    if not runs:
        raise UsageError(f"no runs found for project {args.project} task {args.task}")
    return runs[-1].path


def resolve_file(run_dir: str, which: str, *, root: str | None = None) -> str:
    key = which.lower() or "output"
    if key not in FILES:
        raise UsageError(f'unknown --file value "{which}": must be output, stdout, stderr, '
                         "or prompt")
    path = os.path.join(run_dir, FILES[key])
    if _exists(path, root):
        return path
    if key == "output":
        fallback = os.path.join(run_dir, FILES["stdout"])
        if _exists(fallback, root):
            return fallback
        raise UsageError(f"file not found: {path} (also tried agent-stdout.txt)")
    raise UsageError(f"file not found: {path}")


def _write(data: bytes) -> None:
    """Raw bytes to stdout (logs need not be UTF-8); text-only streams get decoded text."""
    if _REDACTOR is not None:
        data = _REDACTOR.feed(data)
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    buffer.write(data)
    buffer.flush()


def print_file(path: str, tail: int = 0, *, root: str | None = None) -> None:
    try:
        fd = _open(path, root)
    except FileNotFoundError:
        fd = None
    except OSError as exc:
        raise ConductorError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    if fd is None:
        raise ConductorError(f"open {path}: no such file or directory")
    try:
        size = os.fstat(fd).st_size
        start = tail_offset(fd, size, tail) if tail > 0 else 0
        last = copy_range(fd, start, size)
        if last not in (None, b"\n"):
            _write(b"\n")
    finally:
        os.close(fd)


def copy_range(fd: int, start: int, end: int | None = None) -> bytes | None:
    """Copy bytes ``[start, end)`` (to EOF when ``end`` is None) to stdout in chunks; return the
    last byte written, or None when nothing was."""
    pos, last = start, None
    while end is None or pos < end:
        want = CHUNK if end is None else min(CHUNK, end - pos)
        chunk = os.pread(fd, want, pos)
        if not chunk:
            break
        _write(chunk)
        pos += len(chunk)
        last = chunk[-1:]
    return last


def tail_offset(fd: int, size: int, lines: int) -> int:
    """Offset of the first of the last ``lines`` lines, reading blocks backwards from the end.

    A final newline ends the last line rather than starting an empty one, as Go's line scanner
    counts them.
    """
    end = size
    if end and os.pread(fd, 1, end - 1) == b"\n":
        end -= 1
    found = 0
    pos = end
    while pos > 0:
        block_start = max(0, pos - CHUNK)
        block = os.pread(fd, pos - block_start, block_start)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            found += 1
            if found == lines:
                return block_start + idx + 1
        pos = block_start
    return 0


# ----------------------------------------------------------------------------- follow

class _Stop(Exception):
    pass


def _run_status(run_dir: str) -> str | None:  # run-info and DONE are read through safefs
    """The run's status as a reader should see it: a dead ``running`` run counts as finished
    (reconciled in memory only; nothing is written)."""
    from ..store import done_marker_present, read_run_info, reconcile
    try:
        info = read_run_info(os.path.join(run_dir, RUN_INFO))
    except ConductorError:
        return None
    if info.status != "running":
        return info.status
    task_dir = os.path.dirname(os.path.dirname(os.path.abspath(run_dir)))
    return reconcile(info, done_exists=done_marker_present(task_dir), now_ns=time.time_ns()).status


def follow_output(run_dir: str, which: str, *, root: str | None = None) -> int:
    status = _run_status(run_dir)
    if status is not None and status != "running":
        print_file(resolve_file(run_dir, which, root=root), 0, root=root)
        return 0
    key = which.lower() or "output"
    if key not in FILES:
        raise UsageError(f'unknown --file value "{which}": must be output, stdout, stderr, '
                         "or prompt")
    path = os.path.join(run_dir, FILES["stdout" if key == "output" else key])
    deadline = time.monotonic() + FOLLOW_FILE_WAIT
    while not _exists(path, root):
        if time.monotonic() >= deadline:
            raise ConductorError(f"output file not found: {path}")
        time.sleep(FOLLOW_POLL)
    fd = _open(path, root)  # a link or FIFO is refused here with one line, before any output
    if fd is not None:
        os.close(fd)
    with _stop_on_signals():
        try:
            _follow(run_dir, path, root)
        except (_Stop, KeyboardInterrupt):
            _write(b"\n")
    return 0


def _follow(run_dir: str, path: str, root: str | None = None) -> None:
    offset = 0
    last_data = time.monotonic()
    while True:
        copied = _drain(path, offset, root)
        if copied:
            offset += copied
            last_data = time.monotonic()
        status = _run_status(run_dir)
        if status is not None and status != "running":
            _drain(path, offset, root)
            return
        if time.monotonic() - last_data > FOLLOW_IDLE:
            return
        time.sleep(FOLLOW_POLL)


def _drain(path: str, offset: int, root: str | None = None) -> int:
    try:
        fd = _open(path, root)
    except (OSError, ConductorError):  # swapped for a link or FIFO meanwhile: nothing to copy
        return 0
    if fd is None:
        return 0
    try:
        if os.fstat(fd).st_size < offset:  # truncated: nothing sensible to resume from
            return 0
        pos = offset
        while True:
            chunk = os.pread(fd, CHUNK, pos)
            if not chunk:
                return pos - offset
            _write(chunk)
            pos += len(chunk)
    finally:
        os.close(fd)


class _stop_on_signals:
    """SIGTERM ends a follow like Ctrl-C does (only the main thread may install handlers)."""

    def __enter__(self):
        self.previous = None
        import threading  # (`list` and `status` import this module and need no thread)
        if threading.current_thread() is threading.main_thread():
            def stop(_signum, _frame):
                raise _Stop()
            self.previous = signal.signal(signal.SIGTERM, stop)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
