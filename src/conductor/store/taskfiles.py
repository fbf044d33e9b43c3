"""The small files of a task dir (spec 1.1, 4.14): TASK.md, DONE, STOP-REQUESTED, TASK_STATE.md
and TASK-CONFIG.yaml. Each function takes the task dir (from :class:`Layout`).

These files are written non-atomically by upstream and by agents, so readers accept what they
find; only the shapes the spec calls errors (a DONE directory) are errors.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    import yaml

from ..errors import ConfigError, LayoutError
from ..timefmt import NS, format_rfc3339nano, now_ns, parse_timestamp
from ..formats.yamlguard import AliasLimitError, check_aliases, too_nested
from ..yamlv3 import INDENT, render_scalar
from .layout import CANCELLED, DONE, FILE_MODE, STOP_REQUESTED, TASK_CONFIG, TASK_MD, TASK_STATE
from . import safefs
from .runinfo import NodeLoader

PERMANENT = "permanent"
# TASK-CONFIG.yaml holds a list of task ids; agents can write anything there. Bigger files are
# refused, reading at most this many bytes plus one.
MAX_TASK_CONFIG_BYTES = 256 * 1024


MAX_TASK_MD_BYTES = 4 << 20       # a prompt
MAX_TASK_CONFIG_BYTES = 256 << 10
MAX_MARKER_BYTES = 64 << 10       # DONE, STOP-REQUESTED, CANCELLED
MAX_TASK_STATE_BYTES = 4 << 20


def _path(task_dir: str, name: str) -> str:
    return os.path.join(task_dir, name)


def _root(path: str) -> str:
    """The runs root of a task file ``<root>/<project>/<task>/<name>``: every access walks from
    there with :mod:`safefs`, so neither the project nor the task dir may be a link."""
    return safefs.above(path, 3)


def _read_text(path: str, limit: int) -> str | None:
    """The file's text (None when absent); a link, FIFO, device or directory at the name, or a
    file over ``limit`` bytes, is an :class:`~conductor.store.safefs.UnsafeFileError`."""
    return safefs.read_text(_root(path), path, limit)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return safefs.lstat(_root(path), path)
    except safefs.UnsafeFileError:
        return None


def _remove(path: str) -> bool:
    return safefs.unlink(_root(path), path)


def _create_exclusive(path: str, data: bytes) -> bool:
    """Create ``path`` with ``data`` unless something (even a symlink) is already there; a
    failed write (a full disk) leaves no empty TASK.md that would later read as "no prompt"."""
    return safefs.create_exclusive(_root(path), path, data, FILE_MODE)


def _write(path: str, data: bytes) -> None:
    """Replace ``path`` atomically; a link or FIFO planted at the name is replaced, not
    written through."""
    safefs.write_atomic(_root(path), path, data, FILE_MODE)


# ---- TASK.md ---------------------------------------------------------------------------------

def read_task_prompt(task_dir: str) -> str | None:
    """The task prompt (TASK.md, trimmed), or None when there is no TASK.md."""
    text = _read_text(_path(task_dir, TASK_MD), MAX_TASK_MD_BYTES)
    return None if text is None else text.strip()


def write_task_md_if_missing(task_dir: str, prompt: str) -> bool:
    """Write ``prompt + "\\n"`` to TASK.md unless it exists; an existing prompt is never
    overwritten (spec 1.1). Returns whether it was written."""
    return _create_exclusive(_path(task_dir, TASK_MD), (prompt + "\n").encode("utf-8"))


# ---- DONE ------------------------------------------------------------------------------------

def done_exists(task_dir: str) -> bool:
    """Is the task finished? Only a regular file counts; a DONE directory is an error for the
    loop (upstream's ``DONE is a directory``)."""
    st = _lstat(_path(task_dir, DONE))
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        raise LayoutError("DONE is a directory")
    return stat.S_ISREG(st.st_mode)


def done_marker_present(task_dir: str) -> bool:
    """Like :func:`done_exists` but a DONE directory simply does not count (what views and
    reconciliation need: they ignore it rather than fail)."""
    st = _lstat(_path(task_dir, DONE))
    return st is not None and stat.S_ISREG(st.st_mode)


def write_done(task_dir: str) -> None:
    path = _path(task_dir, DONE)
    st = _lstat(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise LayoutError("DONE is a directory")
    if st is None or not stat.S_ISREG(st.st_mode):  # absent, or a link/FIFO agents planted
        _write(path, b"")


def clear_done(task_dir: str) -> bool:
    """Remove DONE (top-level ``resume`` does). Returns whether there was one."""
    path = _path(task_dir, DONE)
    st = _lstat(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise LayoutError("DONE is a directory")
    return _remove(path)


# ---- STOP-REQUESTED --------------------------------------------------------------------------

@dataclass(frozen=True)
class StopRequest:
    """A stop marker: ``permanent`` (``--no-restart``) or a time (ns UTC; None if unreadable)."""
    permanent: bool
    requested_ns: int | None


def stop_requested(task_dir: str) -> StopRequest | None:
    text = _read_text(_path(task_dir, STOP_REQUESTED), MAX_MARKER_BYTES)
    if text is None:
        return None
    content = text.strip()
    if content == PERMANENT:
        return StopRequest(True, None)
    try:
        return StopRequest(False, parse_timestamp(content) if content else None)
    except ValueError:
        return StopRequest(False, None)


def write_stop_requested(task_dir: str, permanent: bool = False, *,
                         when_ns: int | None = None) -> None:
    """``permanent\\n`` or the RFC 3339 UTC time (whole seconds, as Go's RFC3339) + ``\\n``."""
    if permanent:
        text = PERMANENT
    else:
        ns = now_ns() if when_ns is None else when_ns
        text = format_rfc3339nano(ns - ns % NS)
    _write(_path(task_dir, STOP_REQUESTED), (text + "\n").encode("ascii"))


def clear_stop_requested(task_dir: str) -> bool:
    return _remove(_path(task_dir, STOP_REQUESTED))


# ---- CANCELLED -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cancellation:
    """``task cancel``'s marker: ``cancelled_at: <RFC3339 UTC>\\nreason: <text>\\n`` (spec 1.1)."""
    cancelled_at: str
    reason: str


def read_cancelled(task_dir: str) -> Cancellation | None:
    """The marker, or None. Any content counts as cancelled; missing fields read as ``""``.
    Anything else at the name (a link, a FIFO, a directory, a huge file) is never opened or
    followed, and counts as cancelled with no time and no reason: someone put it there."""
    try:
        text = _read_text(_path(task_dir, CANCELLED), MAX_MARKER_BYTES)
    except safefs.UnsafeFileError:
        return Cancellation("", "")
    if text is None:
        return None
    when = reason = ""
    for line in text.split("\n"):
        if line.startswith("cancelled_at:") and not when:
            when = line[len("cancelled_at:"):].strip()
        elif line.startswith("reason:") and not reason:
            reason = line[len("reason:"):].strip()
    return Cancellation(when, reason)


def write_cancelled(task_dir: str, reason: str, *, when_ns: int | None = None) -> Cancellation:
    """Write CANCELLED as upstream does (whole-second RFC 3339 UTC time, the reason as given)."""
    ns = now_ns() if when_ns is None else when_ns
    when = format_rfc3339nano(ns - ns % NS)
    _write(_path(task_dir, CANCELLED), f"cancelled_at: {when}\nreason: {reason}\n".encode("utf-8"))
    return Cancellation(when, reason)


def clear_cancelled(task_dir: str) -> bool:
    return _remove(_path(task_dir, CANCELLED))


# ---- TASK_STATE.md ---------------------------------------------------------------------------

def read_task_state(task_dir: str) -> str:
    """The agent's own notes on where the task stands, or ``""``."""
    return _read_text(_path(task_dir, TASK_STATE), MAX_TASK_STATE_BYTES) or ""


# ---- TASK-CONFIG.yaml ------------------------------------------------------------------------

def normalize_depends_on(items: list[str]) -> list[str]:
    """Trim, drop empties, keep the first of duplicates (spec 4.10)."""
    seen: dict[str, None] = {}
    for item in items:
        item = item.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def read_depends_on(task_dir: str) -> list[str]:
    path = _path(task_dir, TASK_CONFIG)
    text = _read_text(path, MAX_TASK_CONFIG_BYTES)
    if text is None:
        return []
    if too_nested(text):  # libyaml's composer would crash the interpreter (segfault)
        raise ConfigError("invalid YAML: too deeply nested", path=path)
    import yaml  # only for a TASK-CONFIG.yaml (a task with dependencies)
    loader = NodeLoader(text)
    try:
        root = loader.get_node() if loader.check_node() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path=path,
                          line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    if root is None:
        return []
    if "*" in text:
        try:
            check_aliases(root)
        except AliasLimitError as exc:
            raise ConfigError(f"YAML aliases expand beyond {exc.limit} nodes", path=path,
                              line=exc.line) from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected a mapping", path=path, line=root.start_mark.line + 1)
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "depends_on":
            return _string_list(value, path)
    return []


def _string_list(node: yaml.Node, path: str) -> list[str]:
    import yaml
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and not node.style and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError("expected a list of task ids", path=path, line=line, field="depends_on")
    items = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode):
            raise ConfigError("expected a task id", path=path, line=item.start_mark.line + 1,
                              field="depends_on")
        items.append(item.value)
    return normalize_depends_on(items)


def write_depends_on(task_dir: str, depends_on: list[str]) -> None:
    """Write the list as yaml.v3 does, or delete the file when the list is empty."""
    deps = normalize_depends_on(depends_on)
    path = _path(task_dir, TASK_CONFIG)
    if not deps:
        _remove(path)
        return
    lines = ["depends_on:\n"]
    lines += [f"{' ' * INDENT}- {render_scalar(dep, INDENT + 2)}\n" for dep in deps]
    _write(path, "".join(lines).encode("utf-8"))
