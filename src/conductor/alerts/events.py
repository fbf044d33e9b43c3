"""The events, read off the task-status model, and what a hook and the webhook are told.

An event is a transition of a task into a state an operator wants to hear about. Its ``key``
names that transition (the QUESTION's message id, the run that completed, the moment the loop
got stuck...), so the same transition seen twice — by a watcher's next poll, or by the next
supervisor after a crash — is the same key, and :mod:`.outbox` fires it once.
"""

from __future__ import annotations

import json

from ..store import taskview as tv
from ..store.loopstate import BUDGET, FAILED, LIMIT, QUESTION
from ..timefmt import format_rfc3339nano, now_ns

NEEDS_YOU, DONE, FAILED_EVENT, STUCK_EVENT, BUDGET_EVENT, LIMIT_EVENT, LOOP_LOST = (
    "needs-you", "done", "failed", "stuck", "budget", "limit", "loop-lost")
EVENTS = (NEEDS_YOU, DONE, FAILED_EVENT, STUCK_EVENT, BUDGET_EVENT, LIMIT_EVENT, LOOP_LOST)
RUN_STOP = "run_stop"


class Event:
    __slots__ = ("name", "key", "project", "task", "run_id", "status", "old_state",
                 "new_state", "question", "cost_usd", "time_ns")

    def __init__(self, name: str, key: str, project: str, task: str, *, run_id: str = "",
                 status: str = "", old_state: str = "", new_state: str = "",
                 question: str = "", cost_usd: float | None = None,
                 time_ns: int | None = None) -> None:
        self.name, self.key, self.project, self.task = name, key, project, task
        self.run_id, self.status = run_id, status
        self.old_state, self.new_state = old_state, new_state
        self.question = question
        self.cost_usd = cost_usd
        self.time_ns = time_ns if time_ns is not None else now_ns()

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {self.key!r})"

    def env(self) -> dict[str, str]:
        """The hook's environment variables (added to the supervisor's own)."""
        return {
            "CONDUCTOR_EVENT": self.name, "CONDUCTOR_PROJECT_ID": self.project,
            "CONDUCTOR_TASK_ID": self.task, "CONDUCTOR_RUN_ID": self.run_id,
            "CONDUCTOR_STATUS": self.status, "CONDUCTOR_OLD_STATE": self.old_state,
            "CONDUCTOR_NEW_STATE": self.new_state, "CONDUCTOR_QUESTION": self.question,
            "CONDUCTOR_COST_USD": "" if self.cost_usd is None else f"{self.cost_usd:.4f}",
        }

    def body(self) -> bytes:
        """The webhook's JSON body for our events (run_stop's is :func:`run_stop_body`)."""
        fields: list[tuple[str, object]] = [
            ("event", self.name), ("project_id", self.project), ("task_id", self.task),
            ("run_id", self.run_id), ("status", self.status), ("old_state", self.old_state),
            ("new_state", self.new_state)]
        if self.question:
            fields.append(("question", self.question))
        if self.cost_usd is not None:
            fields.append(("cost_usd", self.cost_usd))
        fields.append(("time", format_rfc3339nano(self.time_ns)))
        return go_json(fields)


def first_line(text: str, limit: int = 500) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


# ---- Go's encoding/json, for bodies byte-compatible with upstream's ---------------------

def go_float(value: float) -> str:
    """``strconv.AppendFloat(f, 'f' or 'e', -1, 64)`` as encoding/json picks it: the shortest
    digits, plain below 1e21 and from 1e-6, exponent form (two exponent digits) outside."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"unsupported value: {value}")
    if value == 0:
        return "0"
    text = repr(value)
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        mantissa, _, exp = text.partition("e")
        if mantissa.endswith(".0"):
            mantissa = mantissa[:-2]
        return f"{mantissa}e{exp[0]}{exp[1:].zfill(2)}"
    if "e" in text:
        from decimal import Decimal
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _go_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def go_json(fields: list[tuple[str, object]]) -> bytes:
    """A JSON object in the given key order, as Go's json.Marshal writes a struct."""
    parts = []
    for key, value in fields:
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, int):
            shown = str(value)
        elif isinstance(value, float):
            shown = go_float(value)
        else:
            shown = _go_string(str(value))
        parts.append(f"{_go_string(key)}:{shown}")
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def run_stop_body(info) -> bytes:
    """Upstream's ``RunStopPayload`` for a finished run (spec 6.5), field for field."""
    start, end = info.start_time or 0, info.end_time or now_ns()
    fields: list[tuple[str, object]] = [
        ("event", RUN_STOP), ("project_id", info.project_id), ("task_id", info.task_id),
        ("run_id", info.run_id), ("agent_type", info.agent), ("status", info.status),
        ("exit_code", int(info.exit_code)), ("started_at", format_rfc3339nano(start)),
        ("stopped_at", format_rfc3339nano(end)),
        ("duration_seconds", max(0, end - start) / 1e9)]
    if info.error_summary:
        fields.append(("error_summary", info.error_summary))
    return go_json(fields)


# ---- what a view says ------------------------------------------------------------------

def detect(view: tv.TaskView, *, old_state: str = "", messages=()) -> Event | None:
    """The event a task's view is in, or None. ``messages``: the bus's last messages (the
    QUESTION's text and id)."""
    state, loop = view.status, view.loop_state
    latest = view.latest
    run_id = latest.run_id if latest is not None else ""
    status = latest.status if latest is not None else ""
    try:
        cost = view.usage.cost_usd
    except Exception:  # a view that cannot be summed still alerts
        cost = None

    def event(name: str, key: str, question: str = "") -> Event:
        return Event(name, f"{name}:{key}", view.project, view.task, run_id=run_id,
                     status=status, old_state=old_state, new_state=state,
                     question=question, cost_usd=cost)

    def asked(msg_id: str = "") -> tuple[str, str]:
        questions = [m for m in messages if m.type == "QUESTION"]
        chosen = next((m for m in questions if msg_id and m.msg_id == msg_id),
                      questions[-1] if questions else None)
        if chosen is None:
            return msg_id, ""
        return chosen.msg_id, first_line(chosen.body)

    if state == tv.NEEDS_YOU and loop is not None and loop.state == BUDGET:
        msg_id, text = asked(loop.question)
        return event(BUDGET_EVENT, msg_id or str(loop.since), text or first_line(loop.reason))
    if state == tv.NEEDS_YOU or (loop is not None and loop.state == QUESTION and not view.done):
        msg_id, text = asked(loop.question if loop is not None and loop.state == QUESTION else "")
        if msg_id:
            return Event(NEEDS_YOU, f"{NEEDS_YOU}:{msg_id}", view.project, view.task,
                         run_id=run_id, status=status, old_state=old_state,
                         new_state=tv.NEEDS_YOU, question=text, cost_usd=cost)
        return None
    if loop is not None and loop.state == LIMIT and state == tv.WAITING:
        return event(LIMIT_EVENT, str(loop.since))
    if state == tv.STUCK:
        return event(STUCK_EVENT, str(loop.since) if loop is not None else run_id)
    if state == tv.FAILED:
        return event(FAILED_EVENT, f"loop-{loop.since}" if loop is not None and loop.state == FAILED
                     else run_id or "no-run")
    if state == tv.COMPLETED and view.done:  # a completed run without DONE is no task done
        return event(DONE, run_id or "no-run")
    return None
