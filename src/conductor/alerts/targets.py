"""What a config asks to be told: its hooks and its webhook, in a form the helper process
receives on its stdin (never written under the runs root: a webhook's secret stays out of
the task dir)."""

from __future__ import annotations

from typing import Any

from ..timefmt import parse_duration

DEFAULT_WEBHOOK_TIMEOUT = 10.0
RUN_STOP = "run_stop"


class Targets:
    """The hooks (argv, events, timeout in seconds) and the webhook (url, events, secret,
    timeout) of a config."""

    def __init__(self, hooks: list[dict[str, Any]] | None = None,
                 webhook: dict[str, Any] | None = None) -> None:
        self.hooks = hooks or []
        self.webhook = webhook

    def __bool__(self) -> bool:
        return bool(self.hooks or self.webhook)

    def __repr__(self) -> str:  # never the secret
        return f"Targets(hooks={len(self.hooks)}, webhook={bool(self.webhook)})"

    def for_event(self, event: str) -> list[str]:
        """The ids of the targets an event goes to: ``hook-<i>`` and ``webhook``."""
        found = [f"hook-{i}" for i, hook in enumerate(self.hooks)
                 if event != RUN_STOP and (not hook["on"] or event in hook["on"])]
        if self.webhook is not None and webhook_wants(self.webhook["events"], event):
            found.append("webhook")
        return found

    def spec(self) -> dict[str, Any]:
        return {"hooks": self.hooks, "webhook": self.webhook}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Targets":
        return cls(spec.get("hooks") or [], spec.get("webhook"))


def webhook_wants(events: list[str], event: str) -> bool:
    """Upstream sends run_stop when ``events`` is empty or names it; an empty list keeps that
    (an upstream config gets the same POSTs), and our events go only where they are named."""
    if not events:
        return event == RUN_STOP
    return event in events


def _seconds(text: str, fallback: float) -> float:
    try:
        value = parse_duration(text)
    except ValueError:
        return fallback
    return value if value > 0 else fallback


def from_config(config: Any) -> Targets | None:
    """The targets of a loaded config; None when it configures neither hooks nor a webhook."""
    if config is None:
        return None
    hooks = [{"argv": list(hook.command), "on": list(hook.on),
              "timeout": _seconds(hook.timeout, 30.0)}
             for hook in getattr(config, "hooks", None) or [] if hook.command]
    webhook = None
    hook = getattr(config, "webhook", None)
    if hook is not None and hook.url:
        webhook = {"url": hook.url, "events": list(hook.events), "secret": hook.secret,
                   "timeout": _seconds(hook.timeout, DEFAULT_WEBHOOK_TIMEOUT)}
    targets = Targets(hooks, webhook)
    return targets if targets else None
