"""The message model of a bus entry (spec 3.2)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Parent:
    msg_id: str
    kind: str = ""
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Link:
    url: str
    label: str = ""
    kind: str = ""


@dataclass
class Message:
    """One bus entry. ``ts`` is nanoseconds since the epoch (UTC); ``None`` is Go's zero time.

    ``offset`` is where the entry starts in its file (``-1`` when unknown); it is not part of
    the message and is ignored by equality.
    """

    msg_id: str = ""
    ts: int | None = None
    type: str = ""
    project_id: str = ""
    task_id: str = ""
    run_id: str = ""
    issue_id: str = ""
    parents: list[Parent] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    body: str = ""
    offset: int = field(default=-1, compare=False, repr=False)

    @property
    def first_line(self) -> str:
        return self.body.split("\n", 1)[0].rstrip("\r")


AGENT_TYPES = ("FACT", "PROGRESS", "DECISION", "ERROR", "QUESTION", "INFO")
OPERATOR_TYPES = ("USER",) + AGENT_TYPES
RUNNER_TYPES = ("RUN_START", "RUN_STOP", "RUN_CRASH", "WARN", "WARNING")
