"""What the console remembers between sessions (the theme, the run tree's columns and width),
kept out of the runs root.

``~/.config/conductor/console-state.json`` (``$XDG_CONFIG_HOME`` honoured), or the path in
``$CONDUCTOR_CONSOLE_STATE``. A broken or unwritable file is ignored: remembering a theme is
never worth an error.

Saving is a read-modify-write of one JSON object, so two writers (the theme and the layout
workers of one console, or two consoles in a tmux dashboard) take an exclusive ``flock`` on a
lock file beside it for the whole cycle; without it the later writer drops the other's key.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile

STATE_ENV = "CONDUCTOR_CONSOLE_STATE"


def state_path(environ=os.environ) -> str:
    if environ.get(STATE_ENV):
        return environ[STATE_ENV]
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "conductor", "console-state.json")


def load_state(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(path: str, updates: dict) -> bool:
    """Merge ``updates`` into the file, atomically, under the lock file ``<path>.lock``."""
    directory = os.path.dirname(path) or "."
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        lock = os.open(path + ".lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_state(path)
        data.update(updates)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".console-state.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        os.close(lock)  # releases the lock
