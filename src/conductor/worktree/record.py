"""``WORKTREE.json`` in a task dir: where the task's worktree is, its branch and base.

The one reader and writer of the record (the runner, the orchestrator's delete and archive,
the console's Info and Changes tabs, :mod:`conductor.vcs`' merge and discard all use it).
Exact keys::

    {"repo": "<abs top level of the source repository>", "path": "<abs worktree path>",
     "branch": "conductor/<task-id>", "base_ref": "<ref as given>",
     "base_commit": "<40-hex sha>", "created_at": "<RFC 3339 UTC>"}

Anyone who can write the task dir can write the record, and merge, discard, delete and
archive act on what it names, so it is read as untrusted input: through
:mod:`conductor.store.safefs` (a link, a FIFO, a directory or a file over 64 KiB is one error
line, never followed and never blocking), every field a one-line string, ``repo`` and ``path``
absolute and normalised and not the same dir, ``branch`` a valid ref name under
``conductor/``, ``base_ref`` never an option for git, ``base_commit`` 40 hex digits. Every
error is one line: ``<file>: <field>: <what is wrong>``. Written atomically the same way.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..errors import ConductorError
from ..store import safefs

WORKTREE_JSON = "WORKTREE.json"
MAX_RECORD_BYTES = 64 * 1024
MAX_VALUE_CHARS = 4096
BRANCH_PREFIX = "conductor/"
KEYS = ("repo", "path", "branch", "base_ref", "base_commit", "created_at")
_SHA = re.compile(r"[0-9a-f]{40}\Z")
# what git refuses in a ref name (git check-ref-format), and a space: never in our branches
_BAD_REF_CHAR = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")
_JSON_TYPES = {dict: "an object", list: "an array", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


class WorktreeRecordError(ConductorError):
    """WORKTREE.json is unreadable or a field is wrong: ``<file>: <field>: <what>`` (the
    field is left out when the whole file is wrong: not a regular file, not JSON)."""

    def __init__(self, path: str, field: str, message: str) -> None:
        self.path = path
        self.field = field
        super().__init__(": ".join(part for part in (path, field, message) if part))


@dataclass(frozen=True)
class WorktreeRecord:
    repo: str
    path: str
    branch: str
    base_ref: str
    base_commit: str
    created_at: str
    # the WORKTREE.json it was read from, for messages ("" when built, not read): neither
    # compared nor written
    file: str = field(default="", compare=False)

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
    regular file (or is over 64 KiB), not JSON, or has a missing or wrong field raises
    :class:`WorktreeRecordError` (one line naming the file and the field)."""
    path = record_path(task_dir)
    try:
        data = safefs.read_bytes(safefs.above(task_dir, 2), path, MAX_RECORD_BYTES)
    except ConductorError as exc:  # a link, FIFO, directory or device; too large
        text = str(exc)  # safefs' line names the file first
        raise WorktreeRecordError(path, "", text.removeprefix(path + ": ")) from None
    except OSError as exc:
        raise WorktreeRecordError(path, "", safefs.reason(exc)) from None
    if data is None:
        return None
    return parse_record(data, path)


def _text(path: str, raw: dict, key: str) -> str:
    if key not in raw:
        raise WorktreeRecordError(path, key, "missing")
    value = raw[key]
    if not isinstance(value, str):
        what = _JSON_TYPES.get(type(value), type(value).__name__)
        raise WorktreeRecordError(path, key, f"must be a string, got {what}")
    if not value:
        raise WorktreeRecordError(path, key, "is empty")
    if len(value) > MAX_VALUE_CHARS:
        raise WorktreeRecordError(path, key, f"longer than {MAX_VALUE_CHARS} characters")
    if any(not ch.isprintable() for ch in value):
        raise WorktreeRecordError(path, key, "holds a control character")
    return value


def _valid_branch(branch: str) -> bool:
    """A branch under ``conductor/`` that git accepts as a ref name, and no option for git."""
    if not branch.startswith(BRANCH_PREFIX) or _BAD_REF_CHAR.search(branch):
        return False
    parts = branch[len(BRANCH_PREFIX):].split("/")
    return all(part and part[0] not in ".-" and not part.endswith((".", ".lock")) and part != "@"
               for part in parts)


def parse_record(data: bytes, path: str) -> WorktreeRecord:
    """The checked record from the file's bytes (``path`` names the file in errors and is
    kept as the record's ``file``)."""
    import json  # only for a task that has a worktree
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise WorktreeRecordError(path, "", "not JSON (not UTF-8)") from None
    except ValueError as exc:  # json's words name a line and column, never the content
        words = str(exc).splitlines()[:1] or ["invalid"]
        raise WorktreeRecordError(path, "", f"not JSON ({words[0]})") from None
    except RecursionError:
        raise WorktreeRecordError(path, "", "not JSON (nested too deep)") from None
    if not isinstance(raw, dict):
        raise WorktreeRecordError(path, "", "not a JSON object")
    values = {key: _text(path, raw, key) for key in KEYS}
    for key in ("repo", "path"):
        value = values[key]
        if not os.path.isabs(value) or os.path.normpath(value) != value or value == "/":
            raise WorktreeRecordError(path, key, f"must be an absolute, normalised path, "
                                                 f"got {value!r}")
    if values["repo"] == values["path"]:
        raise WorktreeRecordError(path, "path", "is the repository itself")
    if not _valid_branch(values["branch"]):
        raise WorktreeRecordError(path, "branch", f"must be a branch under {BRANCH_PREFIX}, "
                                                  f"got {values['branch']!r}")
    if values["base_ref"].startswith("-"):  # as given: HEAD~2, v1.0, a sha; never an option
        raise WorktreeRecordError(path, "base_ref",
                                  f"not a git revision, got {values['base_ref']!r}")
    if not _SHA.match(values["base_commit"]):
        raise WorktreeRecordError(path, "base_commit", f"must be a 40-hex commit id, "
                                                       f"got {values['base_commit']!r}")
    return WorktreeRecord(**values, file=path)


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
