"""Realistic agent stdout streams (shapes taken from the real CLIs' stream-json / NDJSON output)."""

from __future__ import annotations

import json

CLAUDE_INIT = {
    "type": "system", "subtype": "init", "cwd": "/home/u/proj", "session_id": "9f1c2d3e",
    "tools": ["Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write"], "mcp_servers": [],
    "model": "claude-sonnet-4-5-20250929", "permissionMode": "bypassPermissions",
    "apiKeySource": "none", "claude_code_version": "2.1.3",
}
CLAUDE_THINKING = {
    "type": "assistant", "session_id": "9f1c2d3e",
    "message": {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "thinking", "thinking": "I should list the files first.",
                             "signature": "abc"}]},
}
CLAUDE_TEXT_AND_TOOL = {
    "type": "assistant", "session_id": "9f1c2d3e",
    "message": {"id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [
                    {"type": "text", "text": "Let me look at the project.\nStarting with the tree."},
                    {"type": "tool_use", "id": "toolu_01", "name": "Bash",
                     "input": {"command": "ls -la", "description": "List files"}}],
                "stop_reason": None, "usage": {"input_tokens": 10, "output_tokens": 20}},
}
CLAUDE_TOOL_RESULT = {
    "type": "user", "session_id": "9f1c2d3e",
    "message": {"role": "user", "content": [
        {"tool_use_id": "toolu_01", "type": "tool_result",
         "content": "total 8\ndrwxr-xr-x 2 u u 4096 .\n-rw-r--r-- 1 u u 12 README.md", "is_error": False}]},
}
CLAUDE_FINAL_TEXT = {
    "type": "assistant", "session_id": "9f1c2d3e",
    "message": {"id": "msg_03", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": "The project has one README."}]},
}
CLAUDE_RESULT = {
    "type": "result", "subtype": "success", "is_error": False, "duration_ms": 5321,
    "duration_api_ms": 4900, "num_turns": 3, "result": "The project has one README.",
    "session_id": "9f1c2d3e", "total_cost_usd": 0.0123456,
    "usage": {"input_tokens": 30, "output_tokens": 40},
}
CLAUDE_STREAM = [CLAUDE_INIT, CLAUDE_THINKING, CLAUDE_TEXT_AND_TOOL, CLAUDE_TOOL_RESULT,
                 CLAUDE_FINAL_TEXT, CLAUDE_RESULT]

CODEX_STREAM = [
    {"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning",
                                        "text": "**Listing files**\n\nI will run ls."}},
    {"type": "item.started", "item": {"id": "item_1", "type": "command_execution",
                                      "command": "bash -lc 'ls -la'", "aggregated_output": "",
                                      "exit_code": None, "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution",
                                        "command": "bash -lc 'ls -la'",
                                        "aggregated_output": "total 8\nREADME.md\n",
                                        "exit_code": 0, "status": "completed"}},
    {"type": "item.completed", "item": {"id": "item_2", "type": "agent_message",
                                        "text": "The repository contains a README."}},
    {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message",
                                        "text": "The repository contains a README. Nothing else."}},
    {"type": "item.completed", "item": {"id": "item_4", "type": "agent_message",
                                        "text": "Done."}},
    {"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448,
                                         "output_tokens": 122}},
]

GEMINI_STREAM = [
    {"type": "init", "timestamp": "2025-10-10T12:00:00.000Z", "session_id": "abc-123",
     "model": "gemini-2.5-pro"},
    {"type": "message", "timestamp": "2025-10-10T12:00:00.100Z", "role": "user",
     "content": "List the files"},
    {"type": "tool_use", "timestamp": "2025-10-10T12:00:01.000Z", "tool_name": "run_shell_command",
     "tool_id": "run_shell_command-1", "parameters": {"command": "ls -la"}},
    {"type": "tool_result", "timestamp": "2025-10-10T12:00:01.500Z", "tool_id": "run_shell_command-1",
     "status": "success", "output": "README.md\nsrc"},
    {"type": "message", "timestamp": "2025-10-10T12:00:02.000Z", "role": "assistant",
     "content": "There are", "delta": True},
    {"type": "message", "timestamp": "2025-10-10T12:00:02.100Z", "role": "assistant",
     "content": " two entries: README.md and src.", "delta": True},
    {"type": "result", "timestamp": "2025-10-10T12:00:03.000Z", "status": "success",
     "stats": {"total_tokens": 1234, "input_tokens": 1000, "output_tokens": 234,
               "duration_ms": 3000, "tool_calls": 1}},
]


def ndjson(events: list[object], noise: bool = True) -> str:
    """The events one per line, with the blank and non-JSON lines real streams contain."""
    lines = [json.dumps(event) for event in events]
    if noise:
        lines.insert(1, "")
        lines.insert(2, "warning: not json at all")
    return "\n".join(lines) + "\n"
