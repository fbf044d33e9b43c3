"""The typed configuration records.

Field names follow the upstream YAML keys so a conductor-loop ``config.yaml`` reads into the same
shape. Secrets (tokens, API keys, webhook secrets, agent env values) never appear in a repr: these
objects end up in logs, tracebacks and test failure output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .. import defaults as _defaults
from ..agents.registry import types as _agent_types

AGENT_TYPES: tuple[str, ...] = _agent_types()  # the backends' table (conductor.agents.registry)
DIVERSIFICATION_STRATEGIES: tuple[str, ...] = ("round-robin", "weighted")
# when the next attempt continues the agent's session: after an answered QUESTION or a limit
# wait (answers), on every restart (always), or never
RESUME_MODES: tuple[str, ...] = _defaults.RESUME_MODES

DEFAULT_API_HOST = "0.0.0.0"
DEFAULT_API_PORT = 14355
DEFAULT_SSE_POLL_INTERVAL_MS = 500
DEFAULT_SSE_DISCOVERY_INTERVAL_MS = 1000
DEFAULT_SSE_HEARTBEAT_INTERVAL_S = 30
DEFAULT_SSE_MAX_CLIENTS_PER_RUN = 10
DEFAULT_WEBHOOK_TIMEOUT = "10s"

MASK = "***"


def normalize_agent_type(agent_type: str) -> str:
    """Types compare lower-cased and trimmed, as upstream does (``Claude `` is ``claude``)."""
    return (agent_type or "").strip().lower()


def nearest_line(lines: dict[str, int], field_path: str) -> int | None:
    """The line of ``a.b[2].c``, else of ``a.b[2]``, ``a.b``, ``a``: the closest known place."""
    probe = field_path
    while probe:
        if probe in lines:
            return lines[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return None


def _masked_repr(obj: object, secrets: tuple[str, ...]) -> str:
    """A dataclass repr where secret fields show only whether they are set."""
    parts = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if f.name in secrets:
            if isinstance(value, dict):
                value = {key: MASK for key in value}
            elif value:
                value = MASK
        if f.repr:
            parts.append(f"{f.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass
class AgentConfig:
    """One entry of ``agents:``. ``command`` and ``env`` are ours (the ``command`` type)."""

    name: str
    type: str
    token: str = ""
    token_file: str = ""
    base_url: str = ""
    model: str = ""
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # extra arguments after the backend's own (every type)
    args: list[str] = field(default_factory=list)
    # claude: CLAUDE_CODE_MAX_RETRIES (None: the backend's low default, so a bad key or no
    # network fails in seconds, not minutes)
    max_retries: int | None = None
    # claude as root: run with IS_SANDBOX=1 (false: refuse before spawning, with one line)
    root_sandbox: bool = True
    # gemini: trust the task folder (--skip-trust); false: gemini refuses with exit 55
    trust_folder: bool = True
    # where this agent's runs execute (issue 14): "" (the defaults' executor), local or slurm
    executor: str = ""

    def __repr__(self) -> str:
        return _masked_repr(self, ("token", "env"))



@dataclass
class Diversification:
    """``defaults.diversification``: spread runs over several agents."""

    enabled: bool = False
    strategy: str = ""
    agents: list[str] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)
    fallback_on_failure: bool = False


@dataclass
class Defaults:
    """``defaults:``. ``timeout`` is optional here (upstream requires it but never uses it)."""

    agent: str = ""
    timeout: int | None = None
    max_concurrent_runs: int = 0
    max_concurrent_root_tasks: int = 0
    diversification: Diversification | None = None
    # ours (issue 10): what a task may spend, and how the loop treats failures and limits
    max_cost_usd: float | None = None       # None: no cost budget
    max_tokens: int | None = None           # None: no token budget
    max_restarts: int | None = None         # None: run-agent's default (defaults.MAX_ATTEMPTS)
    failure_limit: int | None = None        # identical failures in a row before `stuck`
    limit_wait_max: str = ""                # the longest wait for a usage limit ("6h")
    resume: str = ""                        # answers (default) | always | never
    executor: str = ""                      # issue 14: local (default) | slurm


@dataclass
class SseConfig:
    """``api.sse:``; a 0 means "use the default", as upstream does."""

    poll_interval_ms: int = DEFAULT_SSE_POLL_INTERVAL_MS
    discovery_interval_ms: int = DEFAULT_SSE_DISCOVERY_INTERVAL_MS
    heartbeat_interval_s: int = DEFAULT_SSE_HEARTBEAT_INTERVAL_S
    max_clients_per_run: int = DEFAULT_SSE_MAX_CLIENTS_PER_RUN


@dataclass
class ApiConfig:
    """``api:``, read for compatibility (the REST server is not part of conductor yet)."""

    host: str = DEFAULT_API_HOST
    port: int = DEFAULT_API_PORT
    cors_origins: list[str] = field(default_factory=list)
    auth_enabled: bool = False
    api_key: str = ""
    sse: SseConfig = field(default_factory=SseConfig)

    def __repr__(self) -> str:
        return _masked_repr(self, ("api_key",))



@dataclass
class StorageConfig:
    """``storage:``; paths are absolute after loading (relative ones are taken from the config dir)."""

    runs_dir: str = ""
    extra_roots: list[str] = field(default_factory=list)


@dataclass
class WebhookConfig:
    """``webhook:``: a POST after each run stops."""

    url: str = ""
    events: list[str] = field(default_factory=list)
    secret: str = ""
    timeout: str = DEFAULT_WEBHOOK_TIMEOUT

    def __repr__(self) -> str:
        return _masked_repr(self, ("secret",))


# ours (issue 13): `hooks:`, commands run by the supervisor on a task's transitions
HOOK_EVENTS: tuple[str, ...] = ("needs-you", "done", "failed", "stuck", "budget", "limit",
                                "loop-lost")
DEFAULT_HOOK_TIMEOUT = "30s"


@dataclass
class HookConfig:
    """One entry of ``hooks:``: an argv (no shell), the events it runs on (all when empty) and
    how long it may take before its process group is killed."""

    command: list[str] = field(default_factory=list)
    on: list[str] = field(default_factory=list)
    timeout: str = DEFAULT_HOOK_TIMEOUT


@dataclass
class WorktreeConfig:
    """``worktree:`` (issue 13): a git worktree per task. ``enabled`` is the default of a new
    task (``run-agent task --worktree/--no-worktree`` and the new-task dialog override it);
    ``dir`` defaults to a ``worktrees`` dir beside the runs root (absolute after loading)."""

    enabled: bool = False
    dir: str = ""
    base: str = ""                     # the default base ref ("": HEAD)
    setup: list[str] = field(default_factory=list)  # argv run in a new worktree
    setup_timeout: str = ""            # a duration ("": 10m)
    copy: list[str] = field(default_factory=list)   # relative paths copied into it (.env)


@dataclass
class SlurmConfig:
    """``slurm:`` (issue 14): how runs placed on Slurm are submitted (sbatch flags)."""

    partition: str = ""
    time: str = ""            # sbatch --time (e.g. "2:00:00")
    cpus: int = 0             # --cpus-per-task (0: Slurm's default)
    mem: str = ""             # --mem (e.g. "4G")
    account: str = ""
    qos: str = ""
    args: list[str] = field(default_factory=list)  # more sbatch arguments, as given

    def options(self) -> dict:
        """The executor's options (conductor.executor.base.StartSpec.options)."""
        return dataclasses.asdict(self)


EXECUTORS: tuple[str, ...] = ("local", "slurm")  # conductor.executor.registry's built-in names


@dataclass
class Config:
    """A loaded configuration. ``path`` is the absolute path of the file (None when built in code)."""

    path: str | None = None
    agents: dict[str, AgentConfig] = field(default_factory=dict)
    defaults: Defaults = field(default_factory=Defaults)
    api: ApiConfig = field(default_factory=ApiConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    webhook: WebhookConfig | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    theme: str = ""
    worktree: WorktreeConfig = field(default_factory=WorktreeConfig)
    hooks: list[HookConfig] = field(default_factory=list)  # ours (issue 13)
    # Line of each field as "agents.claude.token_file" -> 7; used for errors found after loading.
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    # issue 14: the Slurm executor's options (`slurm:`); None when the section is absent
    slurm: SlurmConfig | None = None

    def line_of(self, field_path: str) -> int | None:
        """The line of a field, else of its closest enclosing field that has one."""
        return nearest_line(self.lines, field_path)
