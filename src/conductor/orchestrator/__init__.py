"""The operator's verbs, shared by the console and the CLI: start, stop (a task, a run),
resume, restart, cancel, delete, archive, restore, post.

Each is a thin function over runner, store and bus that returns a small typed result (or
raises a one-line ConductorError) for its front end to print or show. Tasks are started as
*detached supervisors*: ``run-agent task`` in a new session, with no terminal and its own log
file, so closing the console or losing an SSH link stops nothing.

Names load on first use (PEP 562): ``post`` is on ``run-agent bus post``'s path and must not
bring ``verbs``' imports (dataclasses, subprocess) with it.
"""

from conductor.lazymod import lazy_names

_VERBS = ("ARCHIVE_DIR", "ArchiveResult", "CLEAR_MARKERS_ENV", "LOOP_LOG", "DeleteResult",
          "StartFailed", "StartResult", "StopRunResult", "StopTaskResult",
          "archive_dir", "archive_task", "cancel_task", "clear_stop_markers", "delete_task", "loop_alive", "new_task",
          "restart_task", "restore_task", "resumable_task_dir", "resume_task", "start_task", "stop_marks_task",
          "stop_run", "stop_run_dir", "stop_task", "task_liveness", "wait_loop_gone")
_WHERE = dict.fromkeys(_VERBS, "verbs")
_WHERE.update(post_message="post", post_to_bus="post")

__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
__all__ = sorted(_WHERE)
