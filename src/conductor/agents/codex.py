"""codex (OpenAI Codex CLI): ``codex exec --json -``, the prompt on stdin."""

from __future__ import annotations

from typing import Any

from . import display as _display
from .backend import Backend, Launch, Outcome
from .streams import extract_codex


class CodexBackend(Backend):
    type = "codex"
    binary = "codex"
    token_vars = ("OPENAI_API_KEY",)
    other_vars = ("OPENAI_ORG_ID",)
    json_stream = True
    version_probe = True
    install_hint = "npm install -g @openai/codex"

    def base_argv(self, launch: Launch) -> list[str]:
        return [self.binary, "exec", "--dangerously-bypass-approvals-and-sandbox", "--json", "-"]

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        return Outcome(answer=extract_codex(stdout_path))

    def display(self, event: dict[str, Any]) -> list[_display.DisplayLine]:
        return _display._codex(event)


BACKEND = CodexBackend()
