"""run-info.yaml: the record of one run, byte-compatible with upstream (spec 2).

Writing reproduces yaml.v3's bytes exactly (field order, quoting, ``T…Z`` timestamps with
nanoseconds). Reading never lets PyYAML build values: PyYAML's YAML 1.1 rules would turn
``yes`` into a bool and timestamps into microsecond datetimes, which would change the
completion-propagation key. We compose nodes and convert each one by Go's rules instead, with a
line-based fast path for the plain files upstream and we write.
"""

from __future__ import annotations

import copy
import os
import re
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator

    import yaml

from .. import locking
from . import safefs
from ..errors import LockTimeout, RunInfoError
from .layout import RUN_INFO
from ..record import Fields
from ..formats.civil import days_from_civil, month_days
from ..formats.numbers import GO_INT_TEXT, INT64, go_int_value
from ..formats.yamlguard import AliasLimitError, check_aliases, too_nested
from ..timefmt import NS, format_rfc3339nano, parse_timestamp
from ..yamlv3 import INDENT, Raw, render_scalar, resolves_to_non_string

SUPPORTED_VERSION = 1
LOCK_TIMEOUT = 5.0
SLOW_LOCK_WARNING = 0.2
RUN_INFO_NAME = RUN_INFO
# A run-info is a few hundred bytes; an agent could write gigabytes there. Readers read at most
# this much (plus one byte, to tell) and refuse bigger files.
MAX_RUN_INFO_BYTES = 256 * 1024
# pid and pgid are a pid_t: anything outside an int32 cannot name a process (and overflows
# os.kill and friends), so it is a field error, not a value to act on.
PID_LIMIT = 2 ** 31
TEMP_PREFIX = "run-info."
TEMP_SUFFIX = ".yaml.tmp"
_monotonic = time.monotonic  # the clock the lock-wait warning uses (replaced in tests)


class RunInfo(Fields):
    """One run, field for field and in the order of spec 2.1.

    Times are ``int`` nanoseconds since the epoch (UTC); ``None`` is Go's zero time. A plain
    class (:class:`conductor.record.Fields`: the annotated class attributes are the defaults,
    ``_compared`` the order), not a dataclass: ``list`` and ``status`` start faster without
    ``dataclasses``. Copy one with :meth:`replace`.
    """
    version: int = SUPPORTED_VERSION
    run_id: str = ""
    parent_run_id: str = ""
    previous_run_id: str = ""
    project_id: str = ""
    task_id: str = ""
    agent: str = ""
    process_ownership: str = ""
    pid: int = 0
    pgid: int = 0
    start_time: int | None = None
    end_time: int | None = None
    exit_code: int = -1
    status: str = "running"
    cwd: str = ""
    prompt_path: str = ""
    output_path: str = ""
    stdout_path: str = ""
    stderr_path: str = ""
    commandline: str = ""
    error_summary: str = ""
    agent_version: str = ""
    # Not upstream's (it ignores unknown keys, spec 2.2): the pid of the runner that writes this
    # record, so a record written before the agent exists (pid 0) can tell "being set up" from
    # "its runner died". Informational only: it is never signalled. Omitted when 0.
    runner_pid: int = 0
    # Also ours, each omitted when empty: what the agent reported about itself (issue 10).
    # The model it ran, its own session id (claude session_id, codex thread_id, gemini
    # session_id; an answered QUESTION resumes it), tokens and cost, and, for a failed run,
    # the kind of failure the loop acts on and when a usage limit resets.
    model: str = ""
    session_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    turns: int = 0
    failure: str = ""
    limit_reset: int | None = None
    # Also ours, each omitted when empty: where the run executes (conductor.executor; issue
    # 11). ``executor`` names it (absent: local); ``host`` and ``host_boot_id`` the machine
    # (a pid means nothing on another one, or after a reboot). A run that is not a local
    # process records pid 0, pgid 0 and process_ownership external, so upstream never signals
    # it, and instead: the executor's job id and cluster, the agent's pid and its start time
    # on that host, when it was submitted, and the heartbeat its runner refreshes.
    executor: str = ""
    host: str = ""
    host_boot_id: str = ""
    executor_job_id: str = ""
    executor_cluster: str = ""
    host_pid: int = 0
    host_pid_start: int | None = None
    submit_time: int | None = None
    heartbeat_time: int | None = None


_INT, _STR, _TIME, _FLOAT = "int", "str", "time", "float"
# (field, kind, omitted when empty)
_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("version", _INT, False), ("run_id", _STR, False), ("parent_run_id", _STR, True),
    ("previous_run_id", _STR, True), ("project_id", _STR, False), ("task_id", _STR, False),
    ("agent", _STR, False), ("process_ownership", _STR, True), ("pid", _INT, False),
    ("pgid", _INT, False), ("start_time", _TIME, False), ("end_time", _TIME, False),
    ("exit_code", _INT, False), ("status", _STR, False), ("cwd", _STR, True),
    ("prompt_path", _STR, True), ("output_path", _STR, True), ("stdout_path", _STR, True),
    ("stderr_path", _STR, True), ("commandline", _STR, True), ("error_summary", _STR, True),
    ("agent_version", _STR, False), ("runner_pid", _INT, True),
    ("model", _STR, True), ("session_id", _STR, True), ("input_tokens", _INT, True),
    ("output_tokens", _INT, True), ("cached_tokens", _INT, True), ("cost_usd", _FLOAT, True),
    ("turns", _INT, True), ("failure", _STR, True), ("limit_reset", _TIME, True),
    ("executor", _STR, True), ("host", _STR, True), ("host_boot_id", _STR, True),
    ("executor_job_id", _STR, True), ("executor_cluster", _STR, True), ("host_pid", _INT, True),
    ("host_pid_start", _TIME, True), ("submit_time", _TIME, True),
    ("heartbeat_time", _TIME, True),
)
_KIND = {name: kind for name, kind, _ in _FIELDS}
# What Go's decoder leaves in a field the file does not set.
_GO_ZERO = {name: (0 if kind == _INT else 0.0 if kind == _FLOAT else None if kind == _TIME else "")
            for name, kind, _ in _FIELDS}
RunInfo._compared = tuple(name for name, _, _ in _FIELDS)
RunInfo._names = frozenset(RunInfo._compared)
assert all(name in RunInfo.__annotations__ for name in RunInfo._compared) \
    and len(RunInfo.__annotations__) == len(RunInfo._compared)


# ---- writing ---------------------------------------------------------------------------------

def dump_run_info(info: RunInfo) -> str:
    """The exact text yaml.v3 writes for this record (``yamlv3.emit_mapping`` of
    :func:`run_info_items`; built here line by line because it is on the hot path)."""
    lines = []
    for name, value in run_info_items(info):
        if isinstance(value, Raw):
            text = value.text
        elif isinstance(value, int):
            text = str(value)
        else:
            text = render_scalar(value, INDENT)
        lines.append(f"{name}: {text}\n")
    return "".join(lines)


def run_info_items(info: RunInfo) -> list[tuple[str, int | str | Raw]]:
    """The ``(key, value)`` pairs yaml.v3 would marshal, omitempty fields left out."""
    items: list[tuple[str, int | str | Raw]] = []
    for name, kind, omit_empty in _FIELDS:
        value = getattr(info, name)
        if omit_empty and (value == "" or value is None or (kind in (_INT, _FLOAT) and not value)):
            continue
        if kind == _TIME:
            value = Raw(format_rfc3339nano(value))
        elif kind == _FLOAT:
            value = Raw(format_float(value))
        elif kind == _INT:
            value = int(value)
        elif is_safe_plain(value):
            value = Raw(value)  # what render_scalar returns, without its per-character scan
        items.append((name, value))
    return items


# Strings yaml.v3 certainly writes plain: a letter, digit or "/" first, then a conservative
# character set with single spaces between words; minus the words YAML 1.1 reads as null or
# bool and the digit-led words it reads as numbers or timestamps.
_SAFE_PLAIN = re.compile(r"[A-Za-z0-9/][A-Za-z0-9/._()<>=+,@-]*(?: [A-Za-z0-9/._()<>=+,@-]+)*",
                         re.ASCII)
_PLAIN_KEYWORDS = frozenset(
    "null Null NULL true True TRUE false False FALSE y Y yes Yes YES n N no No NO "
    "on On ON off Off OFF".split())


def is_safe_plain(value: str) -> bool:
    """A shortcut for ``render_scalar(value) == value`` on common strings (ids, paths)."""
    if not _SAFE_PLAIN.fullmatch(value) or value in _PLAIN_KEYWORDS:
        return False
    return not (value[0].isdigit() and resolves_to_non_string(value))


def write_run_info(path: str, info: RunInfo) -> None:
    """Replace ``path`` atomically: a reader sees the old file or the new one, never a mix.

    This does not take the update lock; use :func:`update_run_info` or :func:`replace_run_info`
    when another process may be updating the same run.
    """
    _write_atomic(path, dump_run_info(info).encode("utf-8"))


def _root(path: str) -> str:
    """The runs root of ``<root>/<project>/<task>/runs/<run>/run-info.yaml``: reads and writes
    walk from there with :mod:`safefs`, so no level of the run's path may be a link."""
    return safefs.above(path, 5)


def _write_atomic(path: str, data: bytes) -> None:
    """Write a temporary file beside ``path`` and rename it over the name, through the run
    dir's descriptor (a link planted at the name is replaced, never written through)."""
    try:
        safefs.write_atomic(_root(path), path, data, 0o644)
    except safefs.UnsafeFileError as exc:
        raise RunInfoError(path, _strip(exc, path)) from None


# ---- locked updates --------------------------------------------------------------------------

def update_run_info(path: str, fn: Callable[[RunInfo], RunInfo | None],
                    timeout: float = LOCK_TIMEOUT) -> RunInfo:
    """Read, change and rewrite a run-info under an exclusive flock on ``<path>.lock``.

    ``fn`` gets a private copy and may mutate it (returning None) or return a new record. The
    file is rewritten only when the record changed. Unlike upstream, the lock file is kept:
    unlinking it lets a waiter and a newcomer hold "exclusive" locks on two different inodes
    at once and lose an update (spec 9 #11).
    """
    with _run_info_lock(path, timeout):
        current = read_run_info(path)
        draft = copy.copy(current)
        result = fn(draft)
        updated = draft if result is None else result
        if updated != current:
            write_run_info(path, updated)
        return updated


def replace_run_info(path: str, info: RunInfo, timeout: float = LOCK_TIMEOUT) -> None:
    """A full rewrite that still waits for the update lock, so it cannot race an updater
    (upstream's unlocked rewrites do, spec 9 #12)."""
    with _run_info_lock(path, timeout):
        write_run_info(path, info)


class _run_info_lock:
    def __init__(self, path: str, timeout: float) -> None:
        self.lock_path = path + ".lock"
        self.timeout = timeout
        self._cm: object | None = None

    def __enter__(self) -> None:
        started = _monotonic()
        try:
            fd = safefs.open_file(_root(self.lock_path), self.lock_path,
                                  os.O_RDWR | os.O_CREAT, 0o644)
        except safefs.UnsafeFileError as exc:
            raise RunInfoError(self.lock_path, f"lock: {_strip(exc, self.lock_path)}") from None
        except OSError as exc:
            raise RunInfoError(self.lock_path, f"lock: {safefs.reason(exc)}") from None
        assert fd is not None  # O_CREAT: opened, or an error above
        try:
            locking.acquire(fd, self.timeout)
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, LockTimeout):
                raise LockTimeout(f"{self.lock_path}: lock timeout") from None
            raise
        self._cm = fd
        waited = _monotonic() - started
        if waited >= SLOW_LOCK_WARNING:
            import logging  # only when there is something to say (it costs a reader ~5 ms)
            logging.getLogger("conductor.store").warning("run-info lock wait took %.0f ms: %s", waited * 1000, self.lock_path)

    def __exit__(self, *exc_info: object) -> None:
        fd, self._cm = self._cm, None
        try:
            locking.release(fd)  # type: ignore[arg-type]
        finally:
            os.close(fd)  # type: ignore[arg-type]


def _strip(exc: Exception, path: str) -> str:
    """An :class:`UnsafeFileError`'s words without its leading ``<path>: ``."""
    text = str(exc)
    prefix = f"{os.path.abspath(path)}: "
    return text[len(prefix):] if text.startswith(prefix) else text


# ---- reading ---------------------------------------------------------------------------------

class RunInfoMissing(RunInfoError):
    """The run dir has no run-info.yaml (yet, for a run being set up; or at all, for an orphan)."""


def read_run_info(path: str) -> RunInfo:
    return parse_run_info(_read_text(path), path)


def read_run_info_stat(path: str, run_fd: int | None = None) -> tuple[RunInfo, int]:
    """The record and the file's mtime in ns, from one open (what a scanner needs); ``run_fd``
    is the run dir's descriptor when the caller holds it (see :func:`_read_bytes`)."""
    data, mtime_ns = _read_bytes(path, run_fd)
    return parse_run_info(_decode(data, path), path), mtime_ns


def _read_text(path: str) -> str:
    return _decode(_read_bytes(path)[0], path)


def _read_bytes(path: str, run_fd: int | None = None) -> tuple[bytes, int]:
    """The file's bytes and mtime from one open through :mod:`safefs`: a link, FIFO, device or
    directory at the name (or a link above it) is refused with one line naming the file, never
    followed or waited on; a file over :data:`MAX_RUN_INFO_BYTES` is refused unread.

    ``run_fd``: the run dir, already opened safely by the caller (a scanner walks each level
    once, instead of once per file: a 10,000-run scan costs half as many system calls)."""
    try:
        if run_fd is None:
            fd = safefs.open_file(_root(path), path)
        else:
            fd = safefs.open_regular_at(run_fd, os.path.basename(path), path)
    except FileNotFoundError:
        fd = None
    except safefs.UnsafeFileError as exc:
        raise RunInfoError(path, _strip(exc, path)) from None
    except OSError as exc:
        raise RunInfoError(path, f"read: {safefs.reason(exc)}") from None
    if fd is None:
        raise RunInfoMissing(path, "read: no such file")
    try:
        mtime_ns = os.fstat(fd).st_mtime_ns
        data = safefs.read_fd(fd, path, MAX_RUN_INFO_BYTES)
    except safefs.UnsafeFileError as exc:
        raise RunInfoError(path, _strip(exc, path)) from None
    except OSError as exc:
        raise RunInfoError(path, f"read: {safefs.reason(exc)}") from None
    finally:
        os.close(fd)
    return data, mtime_ns


def _decode(data: bytes, path: str) -> str:
    if len(data) > MAX_RUN_INFO_BYTES:
        raise RunInfoError(path, f"larger than {MAX_RUN_INFO_BYTES // 1024} KiB; "
                                 "refusing to read it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunInfoError(path, f"not valid UTF-8 text (byte {exc.start})") from None


class _Scalar:
    __slots__ = ("text", "plain", "line")

    def __init__(self, text: str, plain: bool, line: int) -> None:
        self.text, self.plain, self.line = text, plain, line


def parse_run_info(text: str, path: str) -> RunInfo:
    """Decode run-info text like Go's yaml.v3 into ``RunInfo`` and hydrate it (spec 2.4).

    ``path`` names the file in errors and is where an empty run/project/task id is taken from.
    """
    values = _fast_values(text)
    if values is None:
        values = _generic_values(text, path)
    version = values["version"]
    if not isinstance(version, int) or not 0 <= version <= SUPPORTED_VERSION:
        raise RunInfoError(path, f"version: unsupported version {values['version']} "
                                 f"(this tool reads version {SUPPORTED_VERSION})")
    return _hydrate(RunInfo(**values), path)


def _generic_values(text: str, path: str) -> dict[str, object]:
    """The reference decoder: YAML nodes, converted field by field with Go's rules."""
    values: dict[str, object] = dict(_GO_ZERO)
    for name, scalar in _yaml_entries(text, path).items():
        values[name] = _convert(path, name, scalar)
    return values


# A line of the plain form we and upstream write: `key: value` with a value YAML reads back
# unchanged (printable ASCII, no indicator first, no ": " or " #"), or a simple quoted string.
_FAST_LINES = re.compile(
    r"^([a-z_]+):(?:"
    r" ((?:[A-Za-z0-9/._(<=+~^$)]|-(?=[0-9]))[ -~]*)"
    r"| (\"[ !#-\[\]-~]*\")"
    r"| ('[ -&(-~]*')"
    r")?$", re.ASCII | re.MULTILINE)
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,18})", re.ASCII)
_FLOAT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,17})?(?:e[-+]?[0-9]{1,3})?", re.ASCII)


def format_float(value: float) -> str:
    """A float as yaml.v3 writes a Go float64 (shortest round-trip form, ``e`` exponents)."""
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}[text]
    return text[:-2] if text.endswith(".0") else text
_RFC3339_UTC = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                          r"(?:\.([0-9]{1,9}))?Z", re.ASCII)
_NOT_FAST = object()


def _fast_values(text: str) -> dict[str, object] | None:
    """Field values of a file made only of simple ``key: value`` lines with canonical values
    (what upstream and we write), else None, and :func:`_generic_values` decides."""
    rows = _FAST_LINES.findall(text)
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    if not rows or len(rows) != line_count or "\r" in text:
        return None
    if len({row[0] for row in rows}) != len(rows):
        return None  # a duplicate key: the generic decoder reports it
    values: dict[str, object] = dict(_GO_ZERO)
    for key, plain, double, single in rows:
        kind = _KIND.get(key)
        if kind is None:
            continue
        if plain:
            if plain[-1] in " :" or ": " in plain or " #" in plain:
                return None
            if kind is _STR:
                values[key] = "" if plain in _NULLS else plain
            elif kind is _FLOAT:
                if not _FLOAT_TEXT.fullmatch(plain):
                    return None
                values[key] = float(plain)
            elif kind is _INT:
                if not _DECIMAL.fullmatch(plain):
                    return None
                number = int(plain)
                if not -INT64 <= number < INT64 or (key in _PIDS and abs(number) >= PID_LIMIT):
                    return None  # the generic decoder explains
                values[key] = number
            else:
                stamp = _fast_timestamp(plain)
                if stamp is _NOT_FAST:
                    return None
                values[key] = stamp
        elif double or single:
            if kind is not _STR:
                return None
            values[key] = (double or single)[1:-1]
        # else `key:` with nothing: null, the Go zero value already in place
    return values


_ZERO_TIME_NS = -62135596800 * NS


def _fast_timestamp(text: str) -> object:
    """ns for a canonical ``YYYY-MM-DDTHH:MM:SS[.f]Z``; None for the zero time; else
    ``_NOT_FAST`` (let the generic decoder parse it or explain what is wrong)."""
    m = _RFC3339_UTC.fullmatch(text)
    if m is None:
        return _NOT_FAST
    year, month, day, hour, minute, second = map(int, m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= month_days(year, month)
            and hour < 24 and minute < 60 and second < 60):
        return _NOT_FAST
    days = days_from_civil(year, month, day)
    frac = int(m[7].ljust(9, "0")) if m[7] else 0
    ns = (days * 86400 + hour * 3600 + minute * 60 + second) * NS + frac
    return None if ns == _ZERO_TIME_NS else ns


_NODE_LOADER: type | None = None


def NodeLoader(text: str):  # noqa: N802 (it was the class; callers still just call it)
    """A PyYAML loader over ``text`` that composes nodes only; no implicit resolvers, since we
    convert scalars ourselves. PyYAML is imported on the first call: the line-based fast path
    reads the plain files upstream and we write without it (it costs `list` ~15 ms)."""
    global _NODE_LOADER
    if _NODE_LOADER is None:
        import yaml
        base = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
        _NODE_LOADER = type("NodeLoader", (base,), {"yaml_implicit_resolvers": {}})
    return _NODE_LOADER(text)


def _yaml_entries(text: str, path: str) -> dict[str, _Scalar]:
    if too_nested(text):  # libyaml's composer would crash the interpreter (segfault)
        raise RunInfoError(path, "invalid YAML: too deeply nested")
    import yaml
    loader = NodeLoader(text)
    try:
        root = loader.get_node() if loader.check_node() else None
    except yaml.YAMLError as exc:
        raise RunInfoError(path, f"invalid YAML: {_yaml_problem(exc)}") from None
    finally:
        loader.dispose()
    if root is None:
        raise RunInfoError(path, "empty file")
    if "*" in text:  # neither upstream nor we write aliases; a bomb of them must not be walked
        try:
            check_aliases(root)
        except AliasLimitError as exc:
            raise RunInfoError(path, str(exc)) from None
    if not isinstance(root, yaml.MappingNode):
        raise RunInfoError(path, f"line {root.start_mark.line + 1}: expected a mapping of "
                                 "run-info fields")
    entries: dict[str, _Scalar] = {}
    seen: dict[str, int] = {}
    for key_node, value_node in root.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key, line = key_node.value, key_node.start_mark.line + 1
        if key in seen:
            raise RunInfoError(path, f'line {line}: mapping key "{key}" already defined at '
                                     f"line {seen[key]}")
        seen[key] = line
        if key not in _KIND:
            continue
        if not isinstance(value_node, yaml.ScalarNode):
            shape = "sequence" if isinstance(value_node, yaml.SequenceNode) else "mapping"
            raise RunInfoError(path, f"{key}: line {line}: expected {_describe(_KIND[key])}, "
                                     f"got a {shape}")
        entries[key] = _Scalar(value_node.value, not value_node.style,
                               value_node.start_mark.line + 1)
    return entries


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())


_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_PIDS = frozenset({"pid", "pgid", "host_pid"})
_PATHS = frozenset({"cwd", "prompt_path", "output_path", "stdout_path", "stderr_path"})


def _describe(kind: str) -> str:
    return {"int": "an integer", "str": "a string", "time": "a timestamp",
            "float": "a number"}[kind]


def _convert(path: str, name: str, scalar: _Scalar) -> object:
    kind = _KIND[name]
    text = scalar.text
    null = scalar.plain and text in _NULLS

    def fail(why: str) -> RunInfoError:
        return RunInfoError(path, f"{name}: line {scalar.line}: {why}")

    if kind == _STR:
        if "\0" in text and name in _PATHS:  # every os call on it would raise ValueError
            raise fail("contains a NUL byte")
        return "" if null else text
    if null:
        return _GO_ZERO[name]

    if kind == _FLOAT:
        if not scalar.plain:
            raise fail(f"expected a number, got the quoted string {_quote(text)}")
        value = _parse_float(text)
        if value is None:
            raise fail(f"expected a number, got {_quote(text)}")
        return value
    if kind == _INT:
        if not scalar.plain:
            raise fail(f"expected an integer, got the quoted string {_quote(text)}")
        value = _parse_go_int(text)
        if value is None:
            raise fail(f"expected an integer, got {_quote(text)}")
        if name in _PIDS and abs(value) >= PID_LIMIT:
            raise fail(f"out of range: {value}")
        return value
    if text.strip() == "":
        raise fail("expected a timestamp, got an empty string")
    if scalar.plain and GO_INT_TEXT.fullmatch(text.replace("_", "")):
        raise fail(f"expected an RFC 3339 timestamp, got the number {text}")
    try:
        return parse_timestamp(text)
    except ValueError:
        raise fail(f"expected an RFC 3339 timestamp, got {_quote(text)}") from None


def _parse_float(text: str) -> float | None:
    """A YAML 1.1 float or integer as Go's decoder takes it into a float64; NaN and the
    infinities are refused (no cost or count is one)."""
    body = text.replace("_", "")
    if GO_INT_TEXT.fullmatch(body):
        value = _parse_go_int(body)
        return None if value is None else float(value)
    if not re.fullmatch(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", body):
        return None
    try:
        number = float(body)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _parse_go_int(text: str) -> int | None:
    """An int64 in yaml.v3's integer forms; underscores are dropped first (yaml.v3 does)."""
    value = go_int_value(text.replace("_", ""))
    return value if value is not None and -INT64 <= value < INT64 else None


def _quote(text: str, limit: int = 60) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)


# ---- hydration (spec 2.4) --------------------------------------------------------------------

_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
            "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace`` (Python's ``str.strip`` also strips \\x1c-\\x1f)."""
    return text.strip(_GO_SPACE)


def _hydrate(info: RunInfo, path: str) -> RunInfo:
    info.run_id = go_trim_space(info.run_id)
    info.project_id = go_trim_space(info.project_id)
    info.task_id = go_trim_space(info.task_id)
    run_dir = os.path.dirname(os.path.abspath(path))
    if not info.run_id:
        info.run_id = os.path.basename(run_dir)
    if not info.project_id or not info.task_id:
        project, task = infer_project_task(run_dir)
        info.project_id = info.project_id or project
        info.task_id = info.task_id or task
    if not info.status:
        info.status = "unknown"
    return info


def infer_project_task(run_dir: str) -> tuple[str, str]:
    """``(project, task)`` from ``<root>/<p>/<t>/runs/<r>``, or empty strings if not canonical."""
    runs = os.path.dirname(run_dir)
    if os.path.basename(runs) != "runs":
        return "", ""
    task_dir = os.path.dirname(runs)
    return os.path.basename(os.path.dirname(task_dir)), os.path.basename(task_dir)


def placeholder_run_info(run_dir: str) -> RunInfo:
    """What a run dir without a readable run-info shows as (spec 2.4): status ``unknown``."""
    project, task = infer_project_task(os.path.abspath(run_dir))
    return RunInfo(version=0, run_id=os.path.basename(os.path.abspath(run_dir)),
                   project_id=project, task_id=task, exit_code=-1, status="unknown")


def iter_fields(info: RunInfo) -> Iterator[tuple[str, object]]:
    """``(name, value)`` in file order, for display."""
    for name, _, _ in _FIELDS:
        yield name, getattr(info, name)
