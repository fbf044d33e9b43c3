"""Turn a finished agent-stdout.txt into the text of output.md (spec 7.2).

The file is read one line at a time with no line-length limit: a single multi-megabyte JSON
event is parsed like any other (upstream's 1 MiB scanner silently stopped there, spec 9 #22).
"""

from __future__ import annotations

import json
import os
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


def iter_json_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """JSON objects of a stream file, one per line; blank, non-JSON and non-object lines are skipped."""
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

