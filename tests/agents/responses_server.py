"""Streams as perplexity's Agent API and xAI's Responses API send them, for the loopback server.

Shapes follow the vendors' published types (perplexity-py ``ResponseStreamChunk``,
``ResponsesUsage``; xAI's Responses API, OpenAI's Responses event shapes): each event is an
SSE frame ``event: <type>`` + ``data: <json>``, every event carries ``sequence_number``, the
stream ends after ``response.completed`` / ``response.failed`` with no ``[DONE]``.
"""

from __future__ import annotations

import json
from typing import Any

from .sse_server import Reply, ScriptedHandler


def frames_reply(events: list[dict[str, Any]], *, stall_after: int | None = None) -> Reply:
    """Each event as its own ``event:``/``data:`` frame; optionally stop sending after N."""
    def reply(handler: ScriptedHandler) -> None:
        handler.start_chunked("text/event-stream; charset=utf-8")
        for index, event in enumerate(events):
            if stall_after is not None and index == stall_after:
                handler.server_state.release.wait(10)
                return
            frame = f"event: {event.get('type')}\ndata: {json.dumps(event)}\n\n"
            handler.chunk(frame.encode())
        handler.end_chunks()
    return reply


def _numbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _response(rid: str, model: str, status: str, output: list, usage: dict | None) -> dict:
    return {"id": rid, "object": "response", "created_at": 1796000000, "model": model,
            "status": status, "output": output, **({"usage": usage} if usage else {})}


def message_item(item_id: str, text: str, annotations: list | None = None) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": annotations or []}]}


PPLX_USAGE = {"input_tokens": 1200, "output_tokens": 85, "total_tokens": 1285,
              "input_tokens_details": {"cache_read_input_tokens": 200},
              "cost": {"currency": "USD", "input_cost": 0.0012, "output_cost": 0.000085,
                       "tool_calls_cost": 0.005, "total_cost": 0.006285}}
PPLX_RESULTS = [
    {"id": 1, "url": "https://a.example/1", "title": "A", "snippet": "a", "date": "2026-11-01"},
    {"id": 2, "url": "https://b.example/2", "title": "B", "snippet": "b"},
]


def perplexity_stream(chunks: list[str], *, rid: str = "resp_pplx_1",
                      model: str = "perplexity/sonar", results: list | None = None,
                      annotations: list | None = None, usage: dict | None = None,
                      complete: bool = True) -> list[dict[str, Any]]:
    """A search-first Agent API answer: search queries and results, text deltas, the
    message item, then ``response.completed`` with the output, usage and cost."""
    results = PPLX_RESULTS if results is None else results
    text = "".join(chunks)
    item = message_item("msg_1", text, annotations)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(rid, model, "in_progress", [], None)},
        {"type": "response.in_progress", "response": _response(rid, model, "in_progress", [], None)},
        {"type": "response.reasoning.started", "thought": "Searching the web"},
        {"type": "response.reasoning.search_queries", "queries": ["what is new"]},
        {"type": "response.reasoning.search_results", "results": results},
        {"type": "response.reasoning.stopped"},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {**item, "status": "in_progress", "content": []}},
    ]
    events += [{"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 1,
                "content_index": 0, "delta": chunk} for chunk in chunks]
    events += [
        {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 1,
         "content_index": 0, "text": text},
        {"type": "response.output_item.done", "output_index": 1, "item": item},
    ]
    if complete:
        output = [{"type": "search_results", "results": results, "queries": ["what is new"]}, item]
        events.append({"type": "response.completed",
                       "response": _response(rid, model, "completed", output,
                                             PPLX_USAGE if usage is None else usage)})
    return _numbered(events)


def perplexity_failed(message: str, code: str = "server_error") -> list[dict[str, Any]]:
    return _numbered([
        {"type": "response.created",
         "response": _response("resp_pplx_f", "perplexity/sonar", "in_progress", [], None)},
        {"type": "response.failed", "error": {"message": message, "code": code}},
    ])


XAI_USAGE = {"input_tokens": 900, "output_tokens": 40, "total_tokens": 940,
             "input_tokens_details": {"cached_tokens": 512},
             "output_tokens_details": {"reasoning_tokens": 12},
             "cost_in_usd_ticks": 37756000}


def xai_stream(chunks: list[str], *, rid: str = "resp_xai_1", model: str = "grok-4.3",
               usage: dict | None = None, complete: bool = True,
               annotations: list | None = None) -> list[dict[str, Any]]:
    """An xAI Responses stream in OpenAI's event shapes."""
    text = "".join(chunks)
    item = message_item("msg_x", text, annotations)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(rid, model, "in_progress", [], None)},
        {"type": "response.in_progress", "response": _response(rid, model, "in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "item_id": "msg_x", "output_index": 0,
         "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
    ]
    events += [{"type": "response.output_text.delta", "item_id": "msg_x", "output_index": 0,
                "content_index": 0, "delta": chunk} for chunk in chunks]
    events += [
        {"type": "response.output_text.done", "item_id": "msg_x", "output_index": 0,
         "content_index": 0, "text": text},
        {"type": "response.content_part.done", "item_id": "msg_x", "output_index": 0,
         "content_index": 0, "part": item["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
    ]
    if complete:
        events.append({"type": "response.completed",
                       "response": _response(rid, model, "completed", [item],
                                             XAI_USAGE if usage is None else usage)})
    return _numbered(events)


def xai_failed(message: str, code: str = "internal_error") -> list[dict[str, Any]]:
    failed = _response("resp_xai_f", "grok-4.3", "failed", [], None)
    failed["error"] = {"code": code, "message": message}
    return _numbered([
        {"type": "response.created",
         "response": _response("resp_xai_f", "grok-4.3", "in_progress", [], None)},
        {"type": "response.failed", "response": failed},
    ])
