"""output.md extraction from finished agent streams (spec 7.2), including lines far above 1 MiB."""

from __future__ import annotations

from pathlib import Path

import pytest

from conductor.agents import CLAUDE_PLACEHOLDER, extract_output
from conductor.agents.streams import gemini_rejected_stream_json

from .fixtures import (
    CLAUDE_FINAL_TEXT,
    CLAUDE_INIT,
    CLAUDE_RESULT,
    CLAUDE_STREAM,
    CLAUDE_TEXT_AND_TOOL,
    CODEX_STREAM,
    GEMINI_STREAM,
    ndjson,
)


def stream_file(tmp_path: Path, events: list[object], noise: bool = True) -> Path:
    path = tmp_path / "agent-stdout.txt"
    path.write_text(ndjson(events, noise))
    return path


def test_claude_result_event_wins(tmp_path: Path) -> None:
    assert extract_output("claude", stream_file(tmp_path, CLAUDE_STREAM)) == "The project has one README."


def test_claude_first_successful_result_wins(tmp_path: Path) -> None:
    second = dict(CLAUDE_RESULT, result="a later answer")
    path = stream_file(tmp_path, [*CLAUDE_STREAM, second])
    assert extract_output("claude", path) == "The project has one README."


def test_claude_without_result_joins_assistant_text_blocks(tmp_path: Path) -> None:
    events = [CLAUDE_INIT, CLAUDE_TEXT_AND_TOOL, CLAUDE_FINAL_TEXT,
              dict(CLAUDE_RESULT, is_error=True, subtype="error_max_turns", result="boom")]
    assert extract_output("claude", stream_file(tmp_path, events)) == (
        "Let me look at the project.\nStarting with the tree.\nThe project has one README.")


def test_claude_without_any_text_is_a_failure(tmp_path: Path) -> None:
    assert extract_output("claude", stream_file(tmp_path, [CLAUDE_INIT])) is None
    assert CLAUDE_PLACEHOLDER == ("# Agent Output\n\n*The agent did not write output.md. "
                                  "Raw output is available in the stdout tab.*\n")


def test_claude_parses_past_a_5_mb_line(tmp_path: Path) -> None:
    huge = {"type": "assistant", "message": {"content": [{"type": "text", "text": "x" * (5 << 20)}]}}
    final = dict(CLAUDE_RESULT, result="after the big line")
    path = stream_file(tmp_path, [CLAUDE_INIT, huge, final])
    assert path.stat().st_size > 5 << 20
    assert extract_output("claude", path) == "after the big line"


def test_claude_5_mb_result_is_returned_whole(tmp_path: Path) -> None:
    answer = "line\n" * (1 << 20)
    path = stream_file(tmp_path, [CLAUDE_INIT, dict(CLAUDE_RESULT, result=answer)])
    assert extract_output("claude", path) == answer


def test_codex_answer_is_the_last_agent_message_only(tmp_path: Path) -> None:
    # codex 0.171 prints commentary as earlier agent_message items: only the last is the answer
    assert extract_output("codex", stream_file(tmp_path, CODEX_STREAM)) == "Done."
    repeat = {"type": "item.completed", "item": {"type": "agent_message", "text": "The repository"}}
    path = stream_file(tmp_path, [*CODEX_STREAM, repeat])
    assert extract_output("codex", path) == "The repository"


def test_codex_answer_comes_only_from_agent_message_items(tmp_path: Path) -> None:
    events = [
        {"type": "response.completed", "output_text": ["  first  ", {"content": {"text": "second"}}, ""]},
        {"type": "item.completed", "item": {"type": "message",
                                            "content": [{"type": "output_text", "text": "third\n"}]}},
        {"type": "item.completed", "item": {"type": "command_execution", "text": "ignored"}},
        {"type": "result", "result": {"message": {"output": "fourth"}}},
    ]
    assert extract_output("codex", stream_file(tmp_path, events)) is None
    final = {"type": "item.completed", "item": {"type": "agent_message", "text": "fifth\n"}}
    assert extract_output("codex", stream_file(tmp_path, [*events, final])) == "fifth\n"


def test_codex_without_messages_is_a_failure(tmp_path: Path) -> None:
    events = [e for e in CODEX_STREAM if e.get("item", {}).get("type") != "agent_message"]
    assert extract_output("codex", stream_file(tmp_path, events)) is None


def test_codex_parses_a_5_mb_message(tmp_path: Path) -> None:
    text = "y" * (5 << 20)
    events = [{"type": "item.completed", "item": {"type": "agent_message", "text": text}}]
    assert extract_output("codex", stream_file(tmp_path, events)) == text


def test_gemini_concatenates_assistant_deltas(tmp_path: Path) -> None:
    assert extract_output("gemini", stream_file(tmp_path, GEMINI_STREAM)) == (
        "There are two entries: README.md and src.")


def test_gemini_text_before_a_tool_call_is_not_the_answer(tmp_path: Path) -> None:
    # gemini 0.61's result carries no text: the answer is what follows the last tool call
    commentary = {"type": "message", "role": "assistant", "content": "Let me look.", "delta": True}
    events = [*GEMINI_STREAM[:2], commentary, *GEMINI_STREAM[2:]]
    assert extract_output("gemini", stream_file(tmp_path, events)) == (
        "There are two entries: README.md and src.")


def test_gemini_parses_a_5_mb_message(tmp_path: Path) -> None:
    text = "z" * (5 << 20)
    events = [{"type": "message", "role": "assistant", "content": text}]
    assert extract_output("gemini", stream_file(tmp_path, events)) == text


def test_unparsable_or_missing_streams_give_none(tmp_path: Path) -> None:
    path = tmp_path / "agent-stdout.txt"
    path.write_bytes(b"plain text\n\xff\xfe broken bytes\n[1, 2]\n")
    for agent in ("claude", "codex", "gemini", "command", "perplexity"):
        assert extract_output(agent, path) is None
    assert extract_output("claude", tmp_path / "missing.txt") is None


@pytest.mark.parametrize(("stderr", "rejected"), [
    ("Error: Unknown argument: output-format\n", True),
    ("error: UNRECOGNIZED OPTION '--screen-reader'\n", True),
    ("Invalid Flag --approval-mode\n", True),
    ("quota exceeded, retry later\n", False),
    ("", False),
])
def test_gemini_rejection_markers(tmp_path: Path, stderr: str, rejected: bool) -> None:
    path = tmp_path / "agent-stderr.txt"
    path.write_text(stderr)
    assert gemini_rejected_stream_json(path) is rejected


def test_gemini_rejection_found_across_read_chunks(tmp_path: Path) -> None:
    path = tmp_path / "agent-stderr.txt"
    path.write_text("." * ((1 << 16) - 5) + "unknown flag: --bogus\n")
    assert gemini_rejected_stream_json(path)
    assert not gemini_rejected_stream_json(tmp_path / "missing.txt")



def test_deeply_nested_json_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "agent-stdout.txt"
    deep = '{"type":"result","result":' + "[" * 100_000 + "]" * 100_000 + "}"
    final = '{"type":"item.completed","item":{"type":"agent_message","text":"still here"}}'
    path.write_text(deep + "\n" + final + "\n")
    assert extract_output("codex", path) == "still here"
