"""The message model of a bus entry (spec 3.2).

Plain classes rather than dataclasses: ``run-agent bus post`` runs once per agent message
(see :mod:`conductor.record`).
"""

from __future__ import annotations

from ..record import Record


class Parent(Record):
    __slots__ = _compared = ("msg_id", "kind", "meta")

    def __init__(self, msg_id: str, kind: str = "", meta: dict[str, str] | None = None) -> None:
        self.msg_id = msg_id
        self.kind = kind
        self.meta = {} if meta is None else meta


class Link(Record):
    __slots__ = _compared = ("url", "label", "kind")

    def __init__(self, url: str, label: str = "", kind: str = "") -> None:
        self.url = url
        self.label = label
        self.kind = kind


class Message(Record):
    """One bus entry. ``ts`` is nanoseconds since the epoch (UTC); ``None`` is Go's zero time.

    ``offset`` is where the entry starts in its file (``-1`` when unknown); it is not part of
    the message and is ignored by equality.
    """

    _compared = ("msg_id", "ts", "type", "project_id", "task_id", "run_id", "issue_id",
                 "parents", "links", "meta", "body")
    __slots__ = _compared + ("offset",)

    def __init__(self, msg_id: str = "", ts: int | None = None, type: str = "",
                 project_id: str = "", task_id: str = "", run_id: str = "", issue_id: str = "",
                 parents: list[Parent] | None = None, links: list[Link] | None = None,
                 meta: dict[str, str] | None = None, body: str = "", offset: int = -1) -> None:
        self.msg_id = msg_id
        self.ts = ts
        self.type = type
        self.project_id = project_id
        self.task_id = task_id
        self.run_id = run_id
        self.issue_id = issue_id
        self.parents = [] if parents is None else parents
        self.links = [] if links is None else links
        self.meta = {} if meta is None else meta
        self.body = body
        self.offset = offset

    def copy(self) -> "Message":
        """A shallow copy (the lists and the dict are shared), as ``dataclasses.replace`` makes."""
        return Message(self.msg_id, self.ts, self.type, self.project_id, self.task_id,
                       self.run_id, self.issue_id, self.parents, self.links, self.meta, self.body,
                       self.offset)

    @property
    def first_line(self) -> str:
        return self.body.split("\n", 1)[0].rstrip("\r")


AGENT_TYPES = ("FACT", "PROGRESS", "DECISION", "ERROR", "QUESTION", "INFO")
OPERATOR_TYPES = ("USER",) + AGENT_TYPES
RUNNER_TYPES = ("RUN_START", "RUN_STOP", "RUN_CRASH", "WARN", "WARNING")
