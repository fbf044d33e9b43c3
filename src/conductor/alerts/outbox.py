"""The task dir's ``alerts/`` folder: what fired, and what of it is delivered.

``alerts/<hash>.json`` is created once per transition (its name is a hash of the event's
key, created with ``O_EXCL``): its existence is what deduplicates a transition across polls
and supervisor restarts. It holds the event's facts — the hook environment and the webhook
body — and the ids of the targets it goes to, never a secret or a URL. Each delivery done
(or given up: reported on the bus) adds ``alerts/<hash>.<target>.done``. An event with a
target not done is pending: the next helper process started for the task delivers it.
``alerts/supervisor.json`` says whether the task's supervisor ended cleanly (loop-lost).

Everything goes through :mod:`conductor.store.safefs`: the task dir is the agents' to write.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..errors import ConductorError
from ..store import safefs

DIR = "alerts"
MAX_ENTRY_BYTES = 256 * 1024
KEEP = 200  # delivered events kept; older ones are removed (their transitions are long past)



def folder(task_dir: str) -> str:
    return os.path.join(task_dir, DIR)


def root_of(task_dir: str) -> str:
    return safefs.above(task_dir, 2)


def entry_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:24] + ".json"


def enqueue(task_dir: str, key: str, facts: dict, targets: list[str]) -> str | None:
    """Record an event; its entry's name, or None when this transition fired before."""
    root = root_of(task_dir)
    safefs.makedirs(root, folder(task_dir))
    name = entry_name(key)
    data = json.dumps({"key": key, "targets": targets, **facts}, ensure_ascii=False,
                      sort_keys=True).encode("utf-8")
    created = safefs.create_exclusive(root, os.path.join(folder(task_dir), name), data, 0o600)
    return name if created else None


def fired(task_dir: str, key: str) -> bool:
    """Has this transition fired? (False when alerts/ cannot be read: enqueue then says why.)"""
    try:
        return safefs.lstat(root_of(task_dir),
                            os.path.join(folder(task_dir), entry_name(key))) is not None
    except (ConductorError, OSError):
        return False


def read_entry(task_dir: str, name: str) -> dict | None:
    try:
        data = safefs.read_bytes(root_of(task_dir), os.path.join(folder(task_dir), name),
                                 MAX_ENTRY_BYTES)
    except (ConductorError, OSError):
        return None
    if data is None:
        return None
    try:
        entry = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("targets"), list) else None


def done_name(name: str, target: str) -> str:
    return f"{name[:-5]}.{target}.done"


def mark_done(task_dir: str, name: str, target: str) -> None:
    try:
        safefs.create_exclusive(root_of(task_dir),
                                os.path.join(folder(task_dir), done_name(name, target)), b"")
    except (ConductorError, OSError):
        pass


def pending(task_dir: str) -> list[tuple[str, dict, list[str]]]:
    """(entry name, entry, targets not yet done) of every event with a delivery left."""
    try:
        names = safefs.listdir(root_of(task_dir), folder(task_dir))
    except (ConductorError, OSError):
        return []
    present = set(names)
    found = []
    for name in sorted(n for n in names if n.endswith(".json") and len(n) == 29):
        entry = read_entry(task_dir, name)
        if entry is None:
            continue
        left = [t for t in entry["targets"] if isinstance(t, str)
                and done_name(name, t) not in present]
        if left:
            found.append((name, entry, left))
    return found


def read_json(task_dir: str, name: str) -> dict:
    try:
        data = safefs.read_bytes(root_of(task_dir), os.path.join(folder(task_dir), name), 64 * 1024)
        value = json.loads(data.decode("utf-8")) if data else {}
    except (ConductorError, OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(task_dir: str, name: str, value: dict) -> None:
    root = root_of(task_dir)
    try:
        safefs.makedirs(root, folder(task_dir))
        safefs.write_atomic(root, os.path.join(folder(task_dir), name),
                            json.dumps(value, sort_keys=True).encode("utf-8") + b"\n")
    except (ConductorError, OSError):
        pass


def prune(task_dir: str, keep: int = KEEP) -> int:
    """Remove the oldest delivered events beyond ``keep`` (with their markers); how many.
    A removed event's transition is long past (an older question, an earlier run), so
    forgetting it cannot fire it again."""
    root, where = root_of(task_dir), folder(task_dir)
    try:
        names = safefs.listdir(root, where)
    except (ConductorError, OSError):
        return 0
    entries = [n for n in names if n.endswith(".json") and len(n) == 29]
    if len(entries) <= keep:
        return 0
    waiting = {name for name, _entry, _left in pending(task_dir)}
    dated = []
    for name in entries:
        if name in waiting:
            continue
        try:
            st = safefs.lstat(root, os.path.join(where, name))
        except (ConductorError, OSError):
            continue
        if st is not None:
            dated.append((st.st_mtime_ns, name))
    dated.sort()
    removed = 0
    for _mtime, name in dated[:len(entries) - keep]:
        stem = name[:-5] + "."
        for other in names:
            if other == name or (other.startswith(stem) and other.endswith(".done")):
                try:
                    safefs.unlink(root, os.path.join(where, other))
                except (ConductorError, OSError):
                    pass
        removed += 1
    return removed
