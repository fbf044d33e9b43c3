"""Alerts outside the console (issue 13): hooks and the webhook, fired by a task's supervisor.

* :mod:`.events` — the events (``needs-you``, ``done``, ``failed``, ``stuck``, ``budget``,
  ``limit``, ``loop-lost``, and the webhook's ``run_stop``), read off the task-status model,
  with their environment and JSON bodies.
* :mod:`.outbox` — the task dir's ``alerts/`` folder: one file per event fired (its name is a
  hash of the transition, so a transition fires once, across supervisor restarts) and one
  marker per delivery done.
* :mod:`.deliver` — the detached helper process that runs the hooks and posts the webhook
  (``python -m conductor.alerts.deliver``): it outlives the process that fired the event.
* :mod:`.watch` — the supervisor's watcher thread.
* :mod:`.summary` — the one-line summary for tmux and the console's terminal title.

Nothing here imports Textual.
"""
