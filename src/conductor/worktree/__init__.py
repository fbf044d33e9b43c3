"""Opt-in git worktree per task (issue 13): creation, the WORKTREE.json record, removal.

Data layer: no Textual. ``record`` reads and writes the task's WORKTREE.json (the keys the
Changes tab reads too); ``git`` runs real git with one-line errors; ``manage`` creates a task's
worktree (setup command, copied files) and removes it on an explicit delete or archive.
"""
