"""gemini (Google Gemini CLI): stream-json output, the prompt on stdin."""

from __future__ import annotations

from typing import Any

from . import display as _display
from .backend import Backend, Failure, Launch, Outcome, CONFIG
from .streams import GEMINI_REJECTION_SUMMARY, extract_gemini, gemini_rejected_stream_json


class GeminiBackend(Backend):
    type = "gemini"
    binary = "gemini"
    token_vars = ("GEMINI_API_KEY",)
    base_url_var = "GOOGLE_GEMINI_BASE_URL"
    json_stream = True
    version_probe = True
    install_hint = "npm install -g @google/gemini-cli"

    def base_argv(self, launch: Launch) -> list[str]:
        return [self.binary, "--screen-reader", "true", "--approval-mode", "yolo",
                "--output-format", "stream-json"]

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        answer = extract_gemini(stdout_path)
        if answer is None and exit_code != 0 and gemini_rejected_stream_json(stderr_path):
            return Outcome(failure=Failure(CONFIG, GEMINI_REJECTION_SUMMARY))
        return Outcome(answer=answer)

    def display(self, event: dict[str, Any]) -> list[_display.DisplayLine]:
        return _display._gemini(event)


BACKEND = GeminiBackend()
