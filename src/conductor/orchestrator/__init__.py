"""The operator's verbs, shared by the console and the CLI: start, stop, restart, resume, post.

Each is a thin function over runner, store and bus. Tasks are started as *detached supervisors*:
``run-agent task`` in a new session, with no terminal and its own log file, so closing the
console or losing an SSH link stops nothing.
"""

from .verbs import (LOOP_LOG, StartResult, cancel_task, loop_alive, new_task, post_message, restart_task,
                    resume_task, start_task, stop_run, stop_task)

__all__ = ["LOOP_LOG", "StartResult", "cancel_task", "loop_alive", "new_task", "post_message", "restart_task",
           "resume_task", "start_task", "stop_run", "stop_task"]
