"""Agent-written text made safe to draw: escape sequences and control characters become
visible symbols, lines are kept. Everything an agent (or anyone with a shell) wrote goes
through here before it reaches a widget."""

from __future__ import annotations

import os

from ..secrets import redact_known

_PLACEHOLDERS: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c != 0x09}
_PLACEHOLDERS[0x7F] = "\u2421"
_PLACEHOLDERS.update({c: "\ufffd" for c in range(0x80, 0xA0)})
PLACEHOLDER_CHARS = frozenset(_PLACEHOLDERS.values()) | {"\ufffd"}
"""Characters that stand for a neutralised control character or an undecodable byte."""


def neutralise(text: str, tab_size: int = 8) -> str:
    """Make untrusted text safe to draw: every C0/C1 control character (ESC, BEL, CR, NUL, and
    the 8-bit CSI U+009B among them) and DEL becomes a visible symbol, tabs become spaces.
    Every secret the console knows (conductor.secrets.remember) shows as ``***``.
    Escape sequences therefore show as text (``\u241b[2J``) and can never reach the terminal."""
    return redact_known(text).translate(_PLACEHOLDERS).expandtabs(tab_size)


READ_LIMIT = 512 * 1024


def safe_text(text: str) -> str:
    """Neutralise each line; newlines stay newlines."""
    return "\n".join(neutralise(line.rstrip("\r")) for line in text.split("\n"))


def read_text_head(path: str, limit: int = READ_LIMIT) -> tuple[str | None, str]:
    """At most ``limit`` bytes of a small file (output.md, TASK.md), and a note when cut.

    Returns ``(None, note)`` when the file is missing or unreadable."""
    from ..errors import ConductorError
    from ..store import safefs
    try:  # through safefs: a link, FIFO or device at the name is one line, not content
        fd = safefs.open_view(path)
        if fd is None:
            return None, "not written yet"
        try:
            data = os.pread(fd, limit + 1, 0)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None, "not written yet"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    except ConductorError as exc:
        return None, f"cannot read: {exc}"
    note = ""
    if len(data) > limit:
        data = data[:limit]
        note = f"showing the first {limit // 1024} KiB"
    return data.decode("utf-8", errors="replace"), note
