"""xai (xAI Grok) over REST, run as ``python -m conductor.agents xai`` (its own process)."""

from __future__ import annotations

import sys

from .backend import Backend, Launch


class XaiBackend(Backend):
    type = "xai"
    token_vars = ("XAI_API_KEY",)

    def base_argv(self, launch: Launch) -> list[str]:
        argv = [sys.executable, "-m", "conductor.agents", self.type]
        if (getattr(launch.agent, "base_url", "") or "").strip():
            argv += ["--base-url", launch.agent.base_url]
        if (getattr(launch.agent, "model", "") or "").strip():
            argv += ["--model", launch.agent.model]
        return argv

    def environment(self, launch: Launch) -> dict[str, str]:
        return {}


BACKEND = XaiBackend()
