"""``post``: one message appended to a bus, for the CLI's ``bus post`` and the console.

Light on purpose (no dataclasses, subprocess or YAML): an agent calls ``run-agent bus post``
often, and this is its path (tests/cli/test_fast_imports.py pins the list).
"""

from __future__ import annotations

import os

from ..bus import Message, MessageBus
from ..errors import UsageError


def post_to_bus(path: str, msg_type: str, body: str, *, project: str, task: str = "",
                run: str = "", secrets: tuple[str, ...] = ()) -> Message:
    """Append one message to the bus file at ``path``; every ``secrets`` value in the body is
    redacted first (an agent's own token never lands on the bus). The appended message."""
    if secrets:
        from ..secrets import redact
        body = redact(body, secrets)
    return MessageBus(path).append(Message(type=msg_type, project_id=project, task_id=task,
                                           run_id=run, body=body))


def post_message(root: str, project: str, task: str | None, msg_type: str, body: str, *,
                 run_id: str = "", secrets: tuple[str, ...] = ()) -> Message:
    """Post to a task's bus (the task must exist) or, with no task, to the project's bus."""
    from ..ids import validate_component, validate_project_id
    from ..store import Layout, safefs
    validate_project_id(project)
    layout = Layout(root)
    if task:
        validate_component("task", task)
        path = layout.task_bus(project, task)
        if not safefs.is_dir(layout.root, os.path.dirname(path)):
            raise UsageError(f"task not found: {project}/{task}")
    else:
        path = layout.project_bus(project)
        safefs.makedirs(layout.root, os.path.dirname(path))
    return post_to_bus(path, msg_type, body, project=project, task=task or "", run=run_id,
                       secrets=secrets)
