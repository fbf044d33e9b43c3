"""Server-sent events from a byte-line iterator: just the `data:` payloads the REST agents need
(``event:``, ``id:`` and comment lines are ignored; the JSON payload carries its own type)."""

from __future__ import annotations

from typing import Iterable, Iterator


def _data_value(raw: bytes) -> str | None:
    line = raw.decode("utf-8", "replace").rstrip("\r\n")
    if not line.startswith("data:"):
        return None
    value = line[5:]
    return value[1:] if value.startswith(" ") else value


def iter_sse_events(lines: Iterable[bytes]) -> Iterator[str]:
    """One payload per event: `data:` lines are collected until a blank line and joined with `\\n`."""
    data: list[str] = []
    for raw in lines:
        if not raw.strip(b"\r\n"):
            if data:
                yield "\n".join(data)
                data = []
            continue
        value = _data_value(raw)
        if value is not None:
            data.append(value)
    if data:
        yield "\n".join(data)
