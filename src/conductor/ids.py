"""Identifiers: run, message, task and project ids (spec 1.4).

Run ids keep upstream's shape, ``<YYYYMMDD>-<HHMMSS>0000-<pid>-<seq>``, but the per-process
sequence is zero-padded to four digits so ids from one process and second sort as created.
Upstream treats run ids as opaque strings, so it reads ours; our own code never orders runs by
id text anyway: runs are ordered by ``start_time`` (see :func:`run_sort_key`).
"""

from __future__ import annotations

import itertools
import os
import re

from . import lazyre
from .errors import IdError
from .timefmt import format_compact, now_ns

PROJECT_RE = lazyre.Pattern(r"^(?:[a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9])$", re.ASCII)
TASK_RE = lazyre.Pattern(r"^task-[0-9]{8}-[0-9]{6}-[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$", re.ASCII)
# A single safe path component: what may name a task or run directory we did not create.
_COMPONENT_RE = lazyre.Pattern(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", re.ASCII)
MAX_COMPONENT = 255

_run_seq = itertools.count(1)  # process-wide, as the spec demands
_msg_seq = itertools.count(1)
_SLUG_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _check_path_basics(kind: str, value: str) -> None:
    if "/" in value or "\\" in value:
        raise IdError(f'invalid {kind} ID "{_short(value)}": must not contain path separators'
                      + (" (projects cannot be nested)" if kind == "project" else ""))
    if value in (".", ".."):
        raise IdError(f'invalid {kind} ID "{value}": must not be a relative path reference')
    if "\x00" in value:
        raise IdError(f'invalid {kind} ID "{_short(value)}": must not contain null bytes')


def _printable(value: str) -> str:
    """Control and other invisible characters escaped, so an error stays one readable line."""
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in value)


def validate_project_id(value: str) -> str:
    """Return the id unchanged or raise :class:`IdError` with upstream's message."""
    if value is None or value == "":
        raise IdError("project ID is empty")
    _check_path_basics("project", value)
    if not PROJECT_RE.match(value):
        raise IdError(f'invalid project ID "{_short(value)}": must contain only lowercase letters, '
                      "digits, and hyphens (e.g. my-project)")
    if len(value) > MAX_COMPONENT:
        raise IdError(f'invalid project ID "{_short(value)}": longer than {MAX_COMPONENT} characters')
    return value


def validate_task_id(value: str) -> str:
    """The strict CLI rule: ``task-YYYYMMDD-HHMMSS-<slug>``."""
    if value is None or value == "":
        raise IdError("task ID is empty")
    _check_path_basics("task", value)
    if not TASK_RE.match(value):
        raise IdError(f'invalid task ID "{_short(value)}": must match task-<YYYYMMDD>-<HHMMSS>-<slug> '
                      "(e.g. task-20260220-153045-my-feature)")
    return value


def validate_component(kind: str, value: str) -> str:
    """The lenient rule for ids found on disk or given to the library (``task-001``, legacy runs).

    Anything that is one plain path component made of ASCII letters, digits, ``.``, ``_`` and
    ``-`` (not starting with a dot or hyphen, at most 255 characters) is accepted.
    """
    if value is None or value == "":
        raise IdError(f"{kind} ID is empty")
    _check_path_basics(kind, value)
    if len(value) > MAX_COMPONENT or not _COMPONENT_RE.match(value):
        raise IdError(f'invalid {kind} ID "{_short(value)}": must be a plain name made of letters, '
                      "digits, '.', '_' and '-'")
    return value


def _short(value: str, limit: int = 80) -> str:
    value = _printable(value)
    return value if len(value) <= limit else value[:limit] + f"...({len(value)} chars)"


def new_run_id(when_ns: int | None = None, pid: int | None = None) -> str:
    day, clock = format_compact(when_ns if when_ns is not None else now_ns())
    return f"{day}-{clock}0000-{pid if pid is not None else os.getpid()}-{next(_run_seq):04d}"


def new_msg_id(when_ns: int | None = None, pid: int | None = None) -> str:
    ns = when_ns if when_ns is not None else now_ns()
    day, clock = format_compact(ns)
    seq = next(_msg_seq) % 10000
    return (f"MSG-{day}-{clock}-{ns % 1_000_000_000:09d}-"
            f"PID{(pid if pid is not None else os.getpid()) % 100000:05d}-{seq:04d}")


def random_slug(length: int = 6) -> str:
    import secrets  # loaded on demand: it costs ~4 ms, and `bus post` never needs it
    return "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(length))


def new_task_id(slug: str | None = None, when_ns: int | None = None) -> str:
    day, clock = format_compact(when_ns if when_ns is not None else now_ns())
    task_id = f"task-{day}-{clock}-{slug or random_slug()}"
    return validate_task_id(task_id)


def suggest_project_id(text: str) -> str:
    """Lower-case ASCII letters and digits kept, anything else a hyphen, runs collapsed."""
    out = []
    for ch in text.lower():
        out.append(ch if ch in _SLUG_ALPHABET else "-")
    return re.sub("-+", "-", "".join(out)).strip("-")


def slugify(text: str, limit: int = 40) -> str:
    """A task slug from free text: 3..50 chars of ``[a-z0-9-]``; random when nothing usable remains."""
    slug = suggest_project_id(text)[:limit].strip("-")
    return slug if len(slug) >= 3 else random_slug()


_RUN_TIME_RE = lazyre.Pattern(r"^(?:run_)?([0-9]{8})-([0-9]{6})", re.ASCII)


def run_id_time_ns(run_id: str) -> int | None:
    """Start time inferred from a run id (current and legacy forms), or None."""
    from datetime import datetime, timezone
    m = _RUN_TIME_RE.match(run_id)
    if not m:
        return None
    try:
        dt = datetime.strptime(m[1] + m[2], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(dt.timestamp()) * 1_000_000_000


_NUM_SPLIT = lazyre.Pattern(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Compare digit runs as numbers, so ``…-9`` sorts before ``…-10`` and pids of any width sort."""
    return tuple(int(p) if p.isdigit() else p for p in _NUM_SPLIT.split(text))


def run_sort_key(start_ns: int | None, run_id: str) -> tuple:
    """Order runs by start time, then by the numbers in their ids; never by raw id text."""
    return (start_ns if start_ns is not None else (run_id_time_ns(run_id) or 0), natural_key(run_id))
