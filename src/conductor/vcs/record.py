"""A task's worktree record, ``WORKTREE.json`` in the task dir, read as untrusted input.

Written by ``run-agent task --worktree`` (keys ``repo``, ``path``, ``branch``, ``base_ref``,
``base_commit``, ``created_at``). Anyone who can write the task dir can write it, and merge and
discard act on what it names, so every field is checked: absolute paths, a 40-hex commit, a
branch under ``conductor/`` that git accepts. A bad record is one line naming the file and the
field.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from ..errors import ConductorError

WORKTREE_FILE = "WORKTREE.json"
RECORD_LIMIT = 64 * 1024
BRANCH_PREFIX = "conductor/"
_SHA = re.compile(r"[0-9a-f]{40}\Z")
_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|(//)|([\x00-\x20\x7f~^:?*\[\\])|(@\{)|(\.lock$)|(/$)|(\.$)")


class WorktreeRecordError(ConductorError):
    """WORKTREE.json is unreadable or a field is wrong: ``<file>: <field>: <what>``."""

    def __init__(self, path: str, field: str, message: str) -> None:
        self.path = path
        self.field = field
        super().__init__(f"{path}: {field}: {message}" if field else f"{path}: {message}")


@dataclass(frozen=True)
class WorktreeRecord:
    repo: str
    path: str
    branch: str
    base_ref: str
    base_commit: str
    created_at: str
    file: str = ""


def _text(path: str, data: dict, key: str, *, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise WorktreeRecordError(path, key, f"must be a string, got {type(value).__name__}")
    if required and not value:
        raise WorktreeRecordError(path, key, "missing")
    if len(value) > 4096 or "\x00" in value or "\n" in value:
        raise WorktreeRecordError(path, key, "not a plausible value")
    return value


def parse_record(path: str, raw: bytes) -> WorktreeRecord:
    """The checked record from the file's bytes (``path`` names it in errors)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WorktreeRecordError(path, "", f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WorktreeRecordError(path, "", "not a JSON object")
    repo, where = _text(path, data, "repo"), _text(path, data, "path")
    for key, value in (("repo", repo), ("path", where)):
        if not os.path.isabs(value) or os.path.normpath(value) != value.rstrip("/") or \
                value == "/":
            raise WorktreeRecordError(path, key, f"must be an absolute, normalised path: {value!r}")
    if os.path.normpath(repo) == os.path.normpath(where):
        raise WorktreeRecordError(path, "path", "is the repository itself")
    branch = _text(path, data, "branch")
    if not branch.startswith(BRANCH_PREFIX) or len(branch) == len(BRANCH_PREFIX) or \
            _BAD_REF.search(branch):
        raise WorktreeRecordError(path, "branch",
                                  f"must be a branch under {BRANCH_PREFIX}, got {branch!r}")
    base_ref = _text(path, data, "base_ref", required=False)  # as given: HEAD~2, v1.0, a sha
    if base_ref.startswith("-") or any(not ch.isprintable() for ch in base_ref):
        raise WorktreeRecordError(path, "base_ref", f"not a git revision: {base_ref!r}")
    commit = _text(path, data, "base_commit")
    if not _SHA.match(commit):
        raise WorktreeRecordError(path, "base_commit", f"must be 40 hex digits, got {commit!r}")
    created = _text(path, data, "created_at", required=False)
    return WorktreeRecord(repo=repo, path=where, branch=branch, base_ref=base_ref,
                          base_commit=commit, created_at=created, file=path)


def read_worktree_record(task_dir: str) -> WorktreeRecord | None:
    """The task's record, None when it has none. Read through safefs: a link, FIFO or
    directory at the name, or a file over 64 KiB, is one error line, never followed."""
    from ..store import safefs
    path = os.path.join(os.path.abspath(task_dir), WORKTREE_FILE)
    try:
        raw = safefs.read_bytes(safefs.layout_root(path), path, RECORD_LIMIT)
    except OSError as exc:
        raise WorktreeRecordError(path, "", f"cannot read: {exc.strerror or exc}") from None
    if raw is None:
        return None
    return parse_record(path, raw)
