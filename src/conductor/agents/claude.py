"""claude (Claude Code): ``claude -p`` with stream-json output, the prompt on stdin."""

from __future__ import annotations

from typing import Any

from . import display as _display
from .backend import Backend, Launch, Outcome
from .streams import extract_claude


class ClaudeBackend(Backend):
    type = "claude"
    binary = "claude"
    token_vars = ("ANTHROPIC_API_KEY",)
    base_url_var = "ANTHROPIC_BASE_URL"
    json_stream = True
    version_probe = True
    install_hint = "npm install -g @anthropic-ai/claude-code"

    def base_argv(self, launch: Launch) -> list[str]:
        return [self.binary, "-p", "--input-format", "text", "--output-format", "stream-json",
                "--verbose", "--tools", "default", "--permission-mode", "bypassPermissions"]

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        return Outcome(answer=extract_claude(stdout_path))

    def display(self, event: dict[str, Any]) -> list[_display.DisplayLine]:
        return _display._claude(event)


BACKEND = ClaudeBackend()
