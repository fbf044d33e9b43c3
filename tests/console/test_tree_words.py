"""Words the operator reads in the tree and the readable stdout (issue 12 item 7): plurals
right ("1 tool", not "1 tools") and one word for a state: the store's, which the header
counts and the filter finds."""

from __future__ import annotations

import json

from conductor.agents.display import display_lines
from conductor.console.widgets.header import LABELS
from conductor.console.widgets.run_tree import TASK_WORDS
from conductor.store.taskview import STATES


def texts(agent: str, event: dict) -> list[str]:
    return [line.text for line in display_lines(agent, json.dumps(event))]


def test_one_is_singular_in_the_readable_stdout():
    init = {"type": "system", "subtype": "init", "model": "m", "tools": ["Bash"]}
    assert texts("claude", init) == ["● session init: model m, 1 tool"]
    init["tools"] = ["Bash", "Read"]
    assert texts("claude", init) == ["● session init: model m, 2 tools"]
    thinking = {"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "x"}]}}
    assert texts("claude", thinking) == ["… thinking (1 char)"]
    result = {"type": "result", "status": "success",
              "stats": {"total_tokens": 1, "tool_calls": 1}}
    assert any("(1 token, 1 tool call" in t for t in texts("gemini", result))


def test_the_tree_says_the_store_s_word_for_every_state():
    for state in STATES:
        if state in TASK_WORDS:
            assert TASK_WORDS[state] == LABELS.get(state, state), state
    assert TASK_WORDS["completed"] == "completed"  # was "done" while the header said completed
