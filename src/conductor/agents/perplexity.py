"""perplexity over REST: its Agent API (``POST /v1/agent``, Responses-style events), run as
``python -m conductor.agents perplexity`` (its own process; see :mod:`.responses`)."""

from __future__ import annotations

from .responses import ResponsesBackend

PERPLEXITY_URL = "https://api.perplexity.ai/v1/agent"
PERPLEXITY_MODEL = "perplexity/sonar"


class PerplexityBackend(ResponsesBackend):
    type = "perplexity"
    token_vars = ("PERPLEXITY_API_KEY",)
    default_model = PERPLEXITY_MODEL
    versions_verified = "Agent API (POST /v1/agent), event and usage shapes of 2026-11"


BACKEND = PerplexityBackend()
