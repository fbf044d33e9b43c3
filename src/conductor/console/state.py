"""What the console remembers between sessions (the theme, the run tree's columns and width),
kept out of the runs root.

``~/.config/conductor/console-state.json`` (``$XDG_CONFIG_HOME`` honoured), or the path in
``$CONDUCTOR_CONSOLE_STATE``. A broken or unwritable file is ignored: remembering a theme is
never worth an error.
"""

from __future__ import annotations

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
    """Merge ``updates`` into the file, atomically."""
    data = load_state(path)
    data.update(updates)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".console-state.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
        return True
    except OSError:
        return False
