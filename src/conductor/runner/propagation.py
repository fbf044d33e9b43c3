"""Task-completion FACT propagation to the project bus (spec 4.9), idempotent by key.

The key is computed exactly as upstream computes it (runs in name order), so either tool sees
the other's propagation as already done. "Latest run" is the newest by start time, not the
greatest name (9 #20). Buses are streamed, not loaded whole (9 #5).
"""

from __future__ import annotations

import collections
import hashlib
import os
import stat
from dataclasses import dataclass

import yaml

from .. import locking
from ..bus import Link, Message, MessageBus, Parent
from ..errors import ConductorError, LayoutError
from ..ids import run_sort_key
from ..store import DONE, OUTPUT, RUN_INFO, Layout, RunInfo, read_run_info, safefs
from ..store.layout import PROPAGATION_LOCK, PROPAGATION_STATE
from ..timefmt import format_rfc3339nano, now_ns, parse_timestamp
from ..formats.yamlguard import check_aliases, too_nested
from ..yamlv3 import Raw, emit_mapping

STATE_NAME = PROPAGATION_STATE
LOCK_NAME = PROPAGATION_LOCK
KIND = "task_completion_propagation"
MAX_PARENT_FACTS = 20
MAX_SAMPLES = 5
MAX_STATE_BYTES = 1 << 20
# The loop's own "propagated" notice is a FACT on the task bus. Upstream counts it, so its key
# changes after every propagation and a second loop posts again; we leave it out of the count.
NOTICE_PREFIX = "task completion facts propagated to project bus"


@dataclass
class Outcome:
    posted: bool
    key: str
    msg_id: str


def _time(ns: int | None) -> str:
    return "" if ns is None else format_rfc3339nano(ns)


def _runs(runs_dir: str) -> tuple[list[str], list[str], list[RunInfo]]:
    # through descriptors from the root (<root>/<p>/<t>/runs): a symlinked runs dir is skipped
    names = sorted(safefs.subdirs(safefs.above(runs_dir, 3), runs_dir))
    missing, infos = [], []
    for name in names:
        try:
            infos.append(read_run_info(os.path.join(runs_dir, name, RUN_INFO)))
        except ConductorError:
            missing.append(name)
    return names, missing, infos


def propagation_key(done_mtime_ns: int, fact_count: int, names: list[str], missing: list[str],
                    infos: list[RunInfo]) -> str:
    text = f"{format_rfc3339nano(done_mtime_ns)}|fact_count={fact_count}"
    text += "".join(f"|run_id={n}" for n in names)
    text += "".join(f"|missing_run_info={n}" for n in missing)
    text += "".join(f"|run={i.run_id},status={i.status},exit={i.exit_code},"
                    f"start={_time(i.start_time)},end={_time(i.end_time)}" for i in infos)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_state(path: str) -> dict:
    try:
        data = safefs.read_bytes(safefs.above(path, 3), path, MAX_STATE_BYTES)
        text = (data or b"").decode("utf-8")
        if too_nested(text):  # libyaml's composer would crash the interpreter (segfault)
            return {}
        loader = yaml.CSafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None and "*" in text:
                check_aliases(node)  # an alias bomb: AliasLimitError, a ValueError
            data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except (OSError, ConductorError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return {}  # absent, a link, a FIFO, too big, broken or an alias bomb: propagate again
    return data if isinstance(data, dict) else {}


def _write_state(path: str, key: str, msg_id: str) -> None:
    text = emit_mapping([("version", 1), ("last_propagation_key", key),
                         ("last_project_message_id", msg_id),
                         ("last_propagated_at", Raw(format_rfc3339nano(now_ns())))])
    # atomic, through the task dir's descriptor: a link planted at the name is replaced
    safefs.write_atomic(safefs.above(path, 3), path, text.encode("utf-8"), 0o644)


def _find_existing(project_bus: MessageBus, key: str, task: str) -> str | None:
    if not _mentions(project_bus.path, key.encode("ascii")):
        return None  # the usual case, a first propagation: no message needs decoding
    found = None
    for msg in project_bus.iter_messages():
        if msg.type.upper() == "FACT" and msg.meta.get("kind") == KIND \
                and msg.meta.get("propagation_key") == key \
                and msg.meta.get("source_task_id", "") in ("", task):
            found = msg.msg_id
    return found


def _mentions(path: str, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Does the file hold ``needle`` anywhere (raw bytes, nothing decoded)? A file that cannot
    be read this way counts as holding it: the full scan then does what it always did."""
    try:
        fd = safefs.open_leaf(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        tail = b""
        while True:
            data = os.read(fd, chunk)
            if not data:
                return False
            data = tail + data
            if needle in data:
                return True
            tail = data[max(0, len(data) - len(needle) + 1):]
    except OSError:
        return True
    finally:
        os.close(fd)


def _collapse(text: str, limit: int = 160) -> str:
    line = " ".join(text.split("\n", 1)[0].split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def propagate_completion(layout: Layout, project: str, task: str) -> Outcome:
    task_dir = layout.task_dir(project, task)
    done_path = os.path.join(task_dir, DONE)
    done_st = safefs.lstat(layout.root, done_path)
    if done_st is None or not stat.S_ISREG(done_st.st_mode):
        raise LayoutError(f"{done_path}: is not a regular file")
    done_mtime = done_st.st_mtime_ns
    names, missing, infos = _runs(os.path.join(task_dir, "runs"))
    latest = max(infos, key=lambda i: run_sort_key(i.start_time, i.run_id)) if infos else None
    task_bus = MessageBus(layout.task_bus(project, task))
    facts: collections.deque[Message] = collections.deque(maxlen=MAX_PARENT_FACTS)
    fact_count = 0
    latest_event: Message | None = None
    for msg in task_bus.iter_messages():
        kind = msg.type.upper()
        if kind == "FACT" and not msg.body.startswith(NOTICE_PREFIX):
            fact_count += 1
            facts.append(msg)
        elif kind in ("RUN_STOP", "RUN_CRASH") and latest and msg.run_id == latest.run_id:
            latest_event = msg
    key = propagation_key(done_mtime, fact_count, names, missing, infos)
    state_path = os.path.join(task_dir, STATE_NAME)
    project_bus = MessageBus(layout.project_bus(project))
    with locking.locked_file(os.path.join(task_dir, LOCK_NAME), 5.0):
        state = _read_state(state_path)
        if state.get("last_propagation_key") == key:
            return Outcome(False, key, str(state.get("last_project_message_id", "")))
        existing = _find_existing(project_bus, key, task)
        if existing:
            _write_state(state_path, key, existing)
            return Outcome(False, key, existing)
        msg = _fact(layout, project, task, task_dir, done_path, done_mtime, key, names, missing,
                    infos, latest, latest_event, list(facts), fact_count, task_bus.path)
        written = project_bus.append(msg)
        _write_state(state_path, key, written.msg_id)
        return Outcome(True, key, written.msg_id)


def _fact(layout, project, task, task_dir, done_path, done_mtime, key, names, missing, infos,
          latest: RunInfo | None, event: Message | None, facts: list[Message], fact_count: int,
          task_bus_path: str) -> Message:
    run_dir = os.path.join(task_dir, "runs", latest.run_id) if latest else ""
    info_path = os.path.join(run_dir, RUN_INFO) if latest else ""
    output_path = (latest.output_path or os.path.join(run_dir, OUTPUT)) if latest else ""
    counts = collections.Counter(i.status for i in infos)
    now = format_rfc3339nano(now_ns())
    meta = {
        "kind": KIND, "propagation_key": key, "source_project_id": project,
        "source_task_id": task, "source_task_dir": task_dir, "source_task_bus_path": task_bus_path,
        "source_done_path": done_path, "source_done_mtime": format_rfc3339nano(done_mtime),
        "propagated_at": now, "run_count": str(len(names)),
        "completed_run_count": str(counts["completed"]), "failed_run_count": str(counts["failed"]),
        "running_run_count": str(counts["running"]), "task_fact_count": str(fact_count),
        "source_run_ids": ",".join(names), "missing_run_info_ids": ",".join(missing),
        "source_latest_run_id": latest.run_id if latest else "",
        "source_latest_status": latest.status if latest else "",
        "source_output_path": output_path, "source_run_info_path": info_path,
        "latest_run_event_id": event.msg_id if event else "",
        "latest_run_event_type": event.type if event else "",
    }
    if latest:
        meta["source_latest_exit_code"] = str(latest.exit_code)
        if latest.start_time is not None:
            meta["source_latest_start_time"] = format_rfc3339nano(latest.start_time)
        if latest.end_time is not None:
            meta["source_latest_end_time"] = format_rfc3339nano(latest.end_time)
    if event and event.ts is not None:
        meta["latest_run_event_ts"] = format_rfc3339nano(event.ts)
    parents = [Parent(event.msg_id, "source_run_event")] if event else []
    seen = {p.msg_id for p in parents}
    for fact in facts:
        if fact.msg_id and fact.msg_id not in seen:
            parents.append(Parent(fact.msg_id, "source_fact"))
            seen.add(fact.msg_id)
    links = [Link(task_bus_path, "task message bus", "task_bus"),
             Link(done_path, "task DONE marker", "task_done")]
    if latest:
        links += [Link(info_path, "latest run-info.yaml", "run_info"),
                  Link(output_path, "latest output.md", "output")]
    lines = ["task completion propagated to project scope", ""]
    for name in ("source_project_id", "source_task_id", "source_task_dir", "source_done_path",
                 "source_done_mtime", "source_latest_run_id", "source_latest_status",
                 "propagated_at", "propagation_key"):
        lines.append(f"{name}: {meta[name]}")
    lines += ["run_outcome_summary:", f"  - runs: {len(names)}",
              f"  - completed: {counts['completed']}", f"  - failed: {counts['failed']}",
              f"  - running: {counts['running']}", "task_fact_signals:", f"  - count: {fact_count}"]
    if facts:
        last = facts[-1]
        lines.append(f"  - latest: {last.msg_id} {_time(last.ts)}")
        for fact in list(facts)[-MAX_SAMPLES:]:
            lines.append(f"  - [{_time(fact.ts)}] {fact.msg_id} {_collapse(fact.body)}")
    else:
        lines.append("  - sample: (none)")
    return Message(type="FACT", project_id=project, task_id=task,
                   run_id=latest.run_id if latest else "", parents=parents, links=links,
                   meta=meta, body="\n".join(lines))


__all__ = ["Outcome", "propagate_completion", "propagation_key", "parse_timestamp"]
