"""What an agent backend is: one object per agent type that knows everything type-specific.

The runner, the loop, the config checks, the console and the CLI ask a backend (through
:func:`conductor.agents.registry.backend`); none of them tests a type name. A backend knows:

- how to start one attempt: :meth:`Backend.argv`, :meth:`Backend.environment`, and what to
  check before the first attempt of a task (:meth:`Backend.preflight`);
- how to read what the agent printed, live (:meth:`Backend.watch`: progress, usage so far, a
  failure that should end the attempt now) and afterwards (:meth:`Backend.outcome`: the answer
  for output.md, the agent's own words for a failure, usage, session id);
- how to show a stream line to a person (:meth:`Backend.display`);
- which failures are worth another attempt (:data:`RETRYABLE`).

The base class is a complete backend for an agent that prints plain text (the ``command`` type):
subclasses override only what their program does differently. Nothing here imports Textual,
http.client or the config layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `run-agent job` does not import typing or the renderer
    from typing import Any, Iterator, Mapping

    from .configlike import AgentConfigLike
    from .display import DisplayLine

from ..store.usage import Usage
from .base import AgentError
from .streams import parse_event, read_text_tail  # noqa: F401 - re-exported for the backends

# ---- failure kinds -----------------------------------------------------------------------------
# The word a failed run records in run-info's `failure` key; the loop acts on it.
AUTH = "auth"            # no token, a bad token, not logged in: the operator must act
CONFIG = "config"        # a bad flag, bad input, a config the program refuses: same
UNTRUSTED = "untrusted"  # gemini's untrusted folder, claude's root refusal: same
SPAWN = "spawn"          # the program could not be started (not on PATH, not executable)
LIMIT = "limit"          # a rate or usage limit: wait until it resets, then resume
BUDGET = "budget"        # the task's budget ran out: ask the operator
NETWORK = "network"      # the API could not be reached: retry with backoff
NO_ANSWER = "no-answer"  # the stream ended without an answer
TIMEOUT = "timeout"      # no progress for the idle timeout
AGENT = "agent"          # anything else the agent reported as failed

# Kinds after which another identical attempt cannot succeed: the loop stops at once.
FATAL: frozenset[str] = frozenset({AUTH, CONFIG, UNTRUSTED, SPAWN})
RETRYABLE: frozenset[str] = frozenset({NETWORK, NO_ANSWER, TIMEOUT, AGENT})


@dataclass
class Failure:
    """Why an attempt failed, in the agent's own words where it gave any."""

    kind: str
    message: str
    reset_at: float | None = None  # LIMIT: when the limit resets (epoch seconds), if known

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL


@dataclass
class Outcome:
    """What a finished attempt's output says. ``answer`` is the text of output.md (None: the
    stream held no answer); ``failure`` is set when the agent reported one, whatever its exit
    code (claude's not-logged-in run ends with a "success" result marked ``is_error``)."""

    answer: str | None = None
    failure: Failure | None = None
    usage: Usage = field(default_factory=Usage)
    session_id: str = ""
    model: str = ""
    # the session can be continued: False when the agent named a session it never saved
    # (gemini saves none when its first model request fails, and then refuses to resume it)
    resumable: bool = True


@dataclass
class Launch:
    """One attempt as the runner asks for it."""

    agent: AgentConfigLike
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    resume: str = ""                  # a session id to continue ("" = a fresh session)
    budget_usd: float | None = None   # what is left of the task's cost budget for this attempt
    euid: int = field(default_factory=os.geteuid)
    # the directory the agent runs in (gemini's trust is per folder)
    cwd: str = ""


@dataclass
class Verdict:
    """What one live event says: it shows progress (resets the idle clock), and/or the attempt
    must end now (``failure``)."""

    progress: bool = True
    failure: Failure | None = None


class StreamWatch:
    """The live reader of one attempt's stdout: fed each JSON event as it is written.

    The base version counts every event as progress and never ends an attempt."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.session_id = ""
        self.model = ""

    def feed(self, event: dict[str, Any]) -> Verdict:
        return Verdict()


class Backend:
    """A backend for a program that prints plain text (the ``command`` type's behaviour)."""

    type: str = "command"
    binary: str | None = None              # the program it runs (None: see needs_command)
    needs_command: bool = False            # argv is the config's `command:` (the command type)
    # Where the configured token goes; the first is the one the program reads. All of them
    # are this backend's own: the runner strips them from every other agent's environment.
    token_vars: tuple[str, ...] = ()
    other_vars: tuple[str, ...] = ()       # more of its own (OPENAI_ORG_ID), also stripped
    base_url_var: str | None = None        # the variable a `base_url` is passed in, if any
    default_model: str = ""
    json_stream: bool = False              # its stdout is a JSON event stream
    # a resumed session reports the whole session's usage, earlier runs included (codex): the
    # runner subtracts what the session had reported before, so sums do not count it twice
    cumulative_session_usage: bool = False
    # with a live reader, stderr growth still counts as progress for the idle timeout (gemini
    # retries for minutes logging only to stderr); codex logs its endless reconnects there too,
    # so it says False and only its stream events count
    stderr_is_progress: bool = True
    version_probe: bool = False            # `<binary> --version` is asked, for run-info
    version_timeout: float = 30.0          # gemini takes 5-16 s on a loaded machine
    install_hint: str = ""
    versions_verified: str = ""            # the version docs/agents.md and the tests verified

    # ---- starting ------------------------------------------------------------------------

    def base_argv(self, launch: Launch) -> list[str]:
        """The program's own arguments for this attempt, before the config's ``args``."""
        command = list(getattr(launch.agent, "command", None) or [])
        if not command or not str(command[0]).strip():
            name = getattr(launch.agent, "name", "") or self.type
            raise AgentError(f'agent "{name}": command is empty')
        return [str(part) for part in command]

    def argv(self, launch: Launch) -> list[str]:
        """The exact command line: the backend's arguments, then the config's ``args``."""
        extra = [str(a) for a in (getattr(launch.agent, "args", None) or ())]
        return self.base_argv(launch) + extra

    def environment(self, launch: Launch) -> dict[str, str]:
        """Variables this backend sets for an attempt (the token is set by the runner, the
        config's ``env`` is applied after these and wins)."""
        base_url = (getattr(launch.agent, "base_url", "") or "").strip()
        if base_url and self.base_url_var:
            return {self.base_url_var: base_url}
        return {}

    def model(self, launch: Launch) -> str:
        return (getattr(launch.agent, "model", "") or "").strip() or self.default_model

    def preflight(self, launch: Launch) -> list[Failure]:
        """What makes every attempt fail, each a one-line :class:`Failure`; checked before the
        first attempt of a task and before a job spawns. The base checks the program exists.
        Subclasses add their own (claude as root without IS_SANDBOX, a missing token)."""
        try:
            argv = self.argv(launch)
        except AgentError as exc:
            return [Failure(CONFIG, str(exc))]
        name = getattr(launch.agent, "name", "") or self.type
        if os.sep in argv[0]:
            if not (os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)):
                return [Failure(SPAWN, f'agent "{name}": "{argv[0]}" is not an executable file')]
            return []
        import shutil  # only for a bare program name: shutil costs every start 2 ms
        if shutil.which(argv[0], path=launch.environ.get("PATH")) is None:
            hint = f" (install: {self.install_hint})" if self.install_hint else ""
            return [Failure(SPAWN, f'agent "{name}": binary "{argv[0]}" not found in PATH{hint}')]
        return []

    def has_token(self, launch: Launch) -> bool:
        """A token is configured or in the environment for this backend."""
        if (getattr(launch.agent, "token", "") or "").strip():
            return True
        return any((launch.environ.get(var) or "").strip() for var in self.token_vars)

    # ---- reading -------------------------------------------------------------------------

    def watch(self) -> StreamWatch | None:
        """A live reader of the attempt's stdout, or None (no live reading: the runner's idle
        clock then counts any growth of stdout or stderr as progress)."""
        return None

    def outcome(self, stdout_path: str, stderr_path: str, exit_code: int) -> Outcome:
        """What the finished attempt's output says. The base has no answer of its own (the
        runner copies stdout to output.md) and reports no failure beyond the exit code."""
        return Outcome()

    def describe_exit(self, exit_code: int) -> Failure | None:
        """A failure named by the program's exit code alone (gemini's 41 = auth), or None."""
        return None

    def display(self, event: dict[str, Any]) -> list[DisplayLine]:
        """Readable lines for one JSON event of this backend's stream."""
        return []

    def retryable(self, failure: Failure) -> bool:
        return failure.kind in RETRYABLE


# ---- shared helpers ------------------------------------------------------------------------------

def iter_events(path: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a stream file, one per line, never following a link or blocking on
    a FIFO at the name (see :func:`conductor.agents.streams.iter_json_events`)."""
    from .streams import iter_json_events
    try:
        yield from iter_json_events(path)
    except OSError:
        return


def number(value: Any) -> int:
    """An int from a JSON number (bools and garbage are 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if value == value and abs(value) < 2 ** 63 else 0


def money(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and 0 <= value < 1e9 else None


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) as single spaces, trimmed: an error for one line."""
    return " ".join(text.split())


def last_lines(text: str, count: int = 1) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][-count:]


__all__ = [
    "AUTH", "CONFIG", "UNTRUSTED", "SPAWN", "LIMIT", "BUDGET", "NETWORK", "NO_ANSWER", "TIMEOUT",
    "AGENT", "FATAL", "RETRYABLE", "Usage", "Failure", "Outcome", "Launch", "Verdict",
    "StreamWatch", "Backend", "iter_events", "parse_event", "number", "money", "text_of",
    "read_text_tail", "last_lines", "one_line",
]
