"""Small words the CLI and the console print: counts with the right plural, the program's name.

No imports at module level beyond the standard library's cheapest: the fast CLI verbs may use it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["count", "plural", "program"]


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``singular`` when ``n`` is 1, else ``plural_form`` (default: ``singular`` + "s")."""
    if n == 1:
        return singular
    return plural_form if plural_form is not None else singular + "s"


def count(n: int, singular: str, plural_form: str | None = None) -> str:
    """``1 message``, ``0 messages``, ``2 tasks``."""
    return f"{n} {plural(n, singular, plural_form)}"


def program(name: str = "conductor", argv0: str | None = None) -> str:
    """How the operator can run this program again: ``name`` when that is on PATH and is this
    program, else the absolute path this process was started as (``.venv/bin/conductor`` after
    the README's install is not on PATH), else ``python -m conductor``. Call it off the hot
    path: it searches PATH."""
    import shutil  # only here: shutil costs the fast verbs ~2 ms to import

    argv0 = sys.argv[0] if argv0 is None else argv0
    # The program beside the one running (``run-agent demo`` sits next to ``conductor``).
    here = os.path.abspath(os.path.join(os.path.dirname(argv0), name)) if argv0 else ""
    here_exists = bool(here) and os.path.isfile(here)
    found = shutil.which(name)
    if found is not None and (not here_exists
                              or os.path.realpath(found) == os.path.realpath(here)):
        return name
    if here_exists:
        return here
    return "python -m conductor" if name == "conductor" else name  # started as `python -m`
