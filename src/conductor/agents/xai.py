"""xai (xAI Grok) over REST: its Responses API (``POST /v1/responses``), run as
``python -m conductor.agents xai`` (its own process; see :mod:`.responses`).

``XAI_API_ENDPOINT``, ``XAI_BASE_URL`` or ``XAI_API_BASE`` in the environment win over the
config's ``base_url``, and ``XAI_MODEL`` over its ``model`` (as upstream did)."""

from __future__ import annotations

from .responses import ResponsesBackend

XAI_BASE_URL = "https://api.x.ai"
XAI_MODEL = "grok-4.3"
XAI_BASE_URL_VARS = ("XAI_API_ENDPOINT", "XAI_BASE_URL", "XAI_API_BASE")
XAI_MODEL_VAR = "XAI_MODEL"


class XaiBackend(ResponsesBackend):
    type = "xai"
    token_vars = ("XAI_API_KEY",)
    default_model = XAI_MODEL
    versions_verified = "Responses API (POST /v1/responses), event and usage shapes of 2026-11"


BACKEND = XaiBackend()
