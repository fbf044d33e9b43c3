"""Console rendering of agent streams: exact lines for real-shaped events, and no crash on anything."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.agents import DisplayLine, display_lines
from conductor.agents.display import _display as render_unguarded

from .fixtures import CLAUDE_STREAM, CODEX_STREAM, GEMINI_STREAM, ndjson


def render(agent: str, text: str) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for raw in text.splitlines(keepends=True)
            for line in display_lines(agent, raw)]


def test_claude_stream_renders_readably() -> None:
    assert render("claude", ndjson(CLAUDE_STREAM)) == [
        ("system", "● session init: model claude-sonnet-4-5-20250929, cwd /home/u/proj, 7 tools"),
        ("raw", ""),
        ("raw", "warning: not json at all"),
        ("thinking", "… thinking (30 chars)"),
        ("text", "Let me look at the project."),
        ("text", "Starting with the tree."),
        ("tool", "⚙ Bash: ls -la"),
        ("tool", "  ↳ ok: total 8 (+2 lines)"),
        ("text", "The project has one README."),
        ("result", "✔ result: The project has one README. ($0.0123, 3 turns)"),
    ]


def test_claude_failed_result_and_other_tools() -> None:
    failed = {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 1}
    assert display_lines("claude", json.dumps(failed)) == [
        DisplayLine("result", "✘ result: error_max_turns (1 turn)")]
    edit = {"type": "assistant", "message": {"content": [
        {"type": "tool_use", "name": "Edit", "input": {"file_path": "/src/a.py", "old_string": "x"}},
        {"type": "tool_use", "name": "TodoWrite", "input": {"todos": [{"content": "a"}]}}]}}
    assert display_lines("claude", json.dumps(edit)) == [
        DisplayLine("tool", "⚙ Edit: /src/a.py"),
        DisplayLine("tool", '⚙ TodoWrite: {"todos":[{"content":"a"}]}')]


def test_tool_line_is_one_line_cut_at_200_chars() -> None:
    command = "echo start\n" + "x" * 500
    event = {"type": "assistant", "message": {"content": [
        {"type": "tool_use", "name": "Bash", "input": {"command": command}}]}}
    [line] = display_lines("claude", json.dumps(event))
    assert line.kind == "tool"
    assert len(line.text) == 200
    assert line.text.startswith("⚙ Bash: echo start xxx")
    assert line.text.endswith("x…")


def test_codex_stream_renders_readably() -> None:
    assert render("codex", ndjson(CODEX_STREAM, noise=False)) == [
        ("system", "● thread started: 0199a213-81c0-7800-8aa1-bbab2a035a53"),
        ("system", "● turn started"),
        ("thinking", "… thinking (33 chars)"),
        ("tool", "⚙ exec: bash -lc 'ls -la'"),
        ("tool", "  ↳ exit 0: total 8 (+1 line)"),
        ("text", "The repository contains a README."),
        ("text", "The repository contains a README. Nothing else."),
        ("text", "Done."),
        ("result", "✔ turn completed (in 24763, cached 24448, out 122 tokens)"),
    ]


def test_codex_failures_and_file_changes() -> None:
    lines = [
        {"type": "turn.failed", "error": {"message": "stream disconnected"}},
        {"type": "item.completed", "item": {"type": "file_change", "status": "completed",
                                            "changes": [{"path": "src/a.py", "kind": "update"},
                                                        {"path": "b.md", "kind": "add"}]}},
        {"type": "error", "message": "reconnecting 1/5"},
    ]
    assert [display_lines("codex", json.dumps(event)) for event in lines] == [
        [DisplayLine("result", "✘ turn failed: stream disconnected")],
        [DisplayLine("tool", "⚙ patch: update src/a.py, add b.md")],
        [DisplayLine("system", "⚠ reconnecting 1/5")],
    ]


def test_gemini_stream_renders_readably() -> None:
    assert render("gemini", ndjson(GEMINI_STREAM, noise=False)) == [
        ("system", "● session init: model gemini-2.5-pro"),
        ("tool", "⚙ run_shell_command: ls -la"),
        ("tool", "  ↳ success: README.md (+1 line)"),
        ("text", "There are"),  # delta chunks: join=True, the view appends them to one row
        ("text", " two entries: README.md and src."),
        ("result", "✔ result: success (1234 tokens, 1 tool call, 3.0s)"),
    ]


def test_plain_agents_and_odd_json_pass_through_raw() -> None:
    assert display_lines("command", '{"type": "result"}\n') == [DisplayLine("raw", '{"type": "result"}')]
    assert display_lines("claude", "[1, 2, 3]") == [DisplayLine("raw", "[1, 2, 3]")]
    assert display_lines("codex", "{not json") == [DisplayLine("raw", "{not json")]
    assert display_lines("claude", "   ") == [DisplayLine("raw", "   ")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "subtype", "message", "content", "text", "item", "name", "input",
                         "result", "role", "usage", "stats", "msg", "tool_name", "parameters",
                         "output", "error", "is_error", "num_turns", "total_cost_usd", "changes",
                         "command", "exit_code", "status", "items", "tools"]) | st.text(max_size=8),
        children, max_size=6),
    max_leaves=25)
event_types = st.sampled_from(["system", "assistant", "user", "result", "thread.started", "turn.started",
                               "turn.completed", "turn.failed", "item.started", "item.completed",
                               "error", "init", "message", "tool_use", "tool_result", "tool_use"])
agents = st.sampled_from(["claude", "codex", "gemini", "command", "perplexity", "", "CLAUDE"])


@settings(max_examples=300, deadline=None)
@given(agents, st.text())
def test_display_never_raises_on_text(agent: str, raw: str) -> None:
    # The renderers themselves must not fail; display_lines' safety net is for the unforeseen.
    assert all(isinstance(line, DisplayLine) for line in render_unguarded(agent, raw))


@settings(max_examples=400, deadline=None)
@given(agents, event_types, st.dictionaries(st.text(max_size=10), json_values, max_size=5), json_values)
def test_display_never_raises_on_event_shapes(agent: str, kind: str, extra: dict, payload: object) -> None:
    event = {**extra, "type": kind, "message": payload, "item": payload, "msg": payload,
             "content": payload, "stats": payload, "usage": payload}
    lines = render_unguarded(agent, json.dumps(event))
    assert all(line.kind in {"text", "tool", "thinking", "result", "system", "raw"} for line in lines)
    assert all("\n" not in line.text for line in lines if line.kind != "text")


def test_sniff_stream_type(tmp_path):
    from conductor.agents.display import sniff_stream_type
    cases = {
        "claude": '{"type":"system","subtype":"init"}\n{"type":"assistant","message":{"content":[]}}\n',
        "codex": 'not json\n{"type":"thread.started","thread_id":"t"}\n',
        "gemini": '{"type":"init","session_id":"g"}\n',
        None: "plain text output\nmore\n",
    }
    for expected, text in cases.items():
        path = tmp_path / f"{expected}.txt"
        path.write_text(text)
        assert sniff_stream_type(str(path)) == expected
    assert sniff_stream_type(str(tmp_path / "missing.txt")) is None
