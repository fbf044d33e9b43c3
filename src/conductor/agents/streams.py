"""Turn a finished agent-stdout.txt into the text of output.md (spec 7.2).

The file is read one line at a time with no line-length limit: a single multi-megabyte JSON
event is parsed like any other (upstream's 1 MiB scanner silently stopped there, spec 9 #22).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from typing import Any, Iterator


CLAUDE_PLACEHOLDER = (
    "# Agent Output\n\n*The agent did not write output.md. Raw output is available in the stdout tab.*\n"
)
GEMINI_REJECTION_MARKERS: tuple[str, ...] = (
    "unknown flag", "unrecognized option", "output-format", "stream-json", "invalid flag",
)
GEMINI_REJECTION_SUMMARY = "gemini CLI rejected --output-format stream-json"



def open_stream(path: str | os.PathLike[str]):
    """A binary reader of the regular file ``path``. The agent owns its run dir and may have
    put a link or a FIFO at the name: a link is not followed and a FIFO does not block, both
    are an ``OSError`` (``ELOOP``, or ``EINVAL`` "not a regular file") like a missing file."""
    from ..store.safefs import open_leaf
    return os.fdopen(open_leaf(os.fspath(path)), "rb")


def parse_event(line: str | bytes) -> dict[str, Any] | None:
    """One stream line as a JSON object, or None (blank, not JSON, not an object, too deep)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text.startswith("{"):
        return None
    import json  # loaded by the first JSON line: a plain-text agent's run never needs it
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def read_text_tail(path: str | os.PathLike[str], limit: int = 64 * 1024) -> str:
    """The last ``limit`` bytes of a regular file as text ("" for a link, a FIFO, anything but
    a regular file, or a missing one): agents own their run dirs."""
    from ..store.safefs import open_leaf
    try:
        fd = open_leaf(os.fspath(path))
    except OSError:
        return ""
    try:
        size = os.fstat(fd).st_size
        data = os.pread(fd, limit, max(0, size - limit))
    except OSError:
        return ""
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def iter_json_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """JSON objects of a stream file, one per line; blank, non-JSON and non-object lines are skipped."""
    import json
    with open_stream(path) as stream:
        for raw in stream:
            line = raw.strip()
            if not line:
                continue
            try:
                event = json.loads(line.decode("utf-8", "replace"))
            except (ValueError, RecursionError):
                continue
            if isinstance(event, dict):
                yield event


def extract_output(agent_type: str, stdout_path: str | os.PathLike[str]) -> str | None:
    """output.md text from an agent's stdout (its backend's answer), or None when the stream
    holds no answer or the type prints no JSON stream."""
    from .registry import backend, known
    if not known(agent_type) or not backend(agent_type).json_stream:
        return None
    try:
        return backend(agent_type).outcome(os.fspath(stdout_path), "", 0).answer
    except (OSError, RecursionError):
        return None


def gemini_rejected_stream_json(stderr_path: str | os.PathLike[str]) -> bool:
    """True when gemini's stderr says it did not accept `--output-format stream-json` (spec 4.3 step 8)."""
    tail = ""
    keep = max(len(marker) for marker in GEMINI_REJECTION_MARKERS)
    try:
        with open_stream(stderr_path) as stream:
            while chunk := stream.read(1 << 16):
                window = (tail + chunk.decode("utf-8", "replace")).lower()
                if any(marker in window for marker in GEMINI_REJECTION_MARKERS):
                    return True
                tail = window[-keep:]
    except OSError:
        return False
    return False

