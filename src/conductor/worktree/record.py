"""``WORKTREE.json`` in a task dir: where the task's worktree is, its branch and base.

Exact keys (another reader, the Changes tab, depends on them)::

    {"repo": "<abs top level of the source repository>", "path": "<abs worktree path>",
     "branch": "conductor/<task-id>", "base_ref": "<ref as given>",
     "base_commit": "<40-hex sha>", "created_at": "<RFC 3339 UTC>"}

Written atomically through :mod:`conductor.store.safefs`; read the same way, so a link, a
FIFO, a directory or garbage planted there is one error line naming the file and the field,
never followed and never blocking.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import ConductorError
from ..store import safefs

WORKTREE_JSON = "WORKTREE.json"
MAX_RECORD_BYTES = 64 * 1024
BRANCH_PREFIX = "conductor/"
KEYS = ("repo", "path", "branch", "base_ref", "base_commit", "created_at")
_SHA = re.compile(r"[0-9a-f]{40}\Z")


class WorktreeRecordError(ConductorError):
    """WORKTREE.json cannot be read: one line naming the file and the field."""


@dataclass(frozen=True)
class WorktreeRecord:
    repo: str
    path: str
    branch: str
    base_ref: str
    base_commit: str
    created_at: str

    def to_json(self) -> bytes:
        import json  # only where a record is written: `run-agent job` never imports json
        data = {key: getattr(self, key) for key in KEYS}
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def record_path(task_dir: str) -> str:
    return os.path.join(task_dir, WORKTREE_JSON)


def branch_for(task: str) -> str:
    return BRANCH_PREFIX + task


def read_record(task_dir: str) -> WorktreeRecord | None:
    """The task's record, or None when the task has no worktree. A record that is not a
    regular file, not JSON, or has a missing or wrong field raises
    :class:`WorktreeRecordError` (``<path>: <field>: <what is wrong>``)."""
    path = record_path(task_dir)
    try:
        data = safefs.read_bytes(safefs.above(task_dir, 2), path, MAX_RECORD_BYTES)
    except ConductorError as exc:
        raise WorktreeRecordError(str(exc)) from None
    except OSError as exc:
        raise WorktreeRecordError(f"{path}: {safefs.reason(exc)}") from None
    if data is None:
        return None
    return parse_record(data, path)


def parse_record(data: bytes, path: str) -> WorktreeRecord:
    import json  # only for a task that has a worktree
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WorktreeRecordError(f"{path}: not a JSON object") from None
    if not isinstance(raw, dict):
        raise WorktreeRecordError(f"{path}: not a JSON object")
    values = {}
    for key in KEYS:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            what = "missing" if value is None else "must be a non-empty string"
            raise WorktreeRecordError(f"{path}: {key}: {what}")
        if "\0" in value or any(not ch.isprintable() for ch in value):
            raise WorktreeRecordError(f"{path}: {key}: holds a control character")
        values[key] = value
    for key in ("repo", "path"):
        if not os.path.isabs(values[key]):
            raise WorktreeRecordError(f"{path}: {key}: must be an absolute path")
    if not values["branch"].startswith(BRANCH_PREFIX):
        raise WorktreeRecordError(f"{path}: branch: must start with {BRANCH_PREFIX}")
    if not _SHA.match(values["base_commit"]):
        raise WorktreeRecordError(f"{path}: base_commit: must be a 40-hex commit id")
    return WorktreeRecord(**values)


def write_record(task_dir: str, record: WorktreeRecord) -> None:
    """Replace the task's WORKTREE.json atomically (through safefs: never through a link)."""
    safefs.write_atomic(safefs.above(task_dir, 2), record_path(task_dir), record.to_json())


def info_rows(task_dir: str) -> list[tuple[str, str]]:
    """What Info shows about a task's worktree: its path, branch and base ("" rows: none)."""
    try:
        record = read_record(task_dir)
    except WorktreeRecordError as exc:
        return [("worktree", f"unreadable: {exc}")]
    if record is None:
        return []
    return [("worktree", record.path), ("branch", record.branch),
            ("base", f"{record.base_ref} ({record.base_commit[:12]})")]
