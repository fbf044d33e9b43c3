"""Checks on a decoded config (spec 6.4), with upstream wording for each message.

All problems are collected and the one nearest the top of the file is raised, so fixing a file
from top to bottom never jumps around.
"""

from __future__ import annotations

import os

from conductor import lazyre
from conductor.errors import ConfigError
from conductor.timefmt import parse_duration

from .model import AGENT_TYPES, DIVERSIFICATION_STRATEGIES, RESUME_MODES, AgentConfig, Config
from .source import Source

_SCHEME = lazyre.Pattern(  # only a config with a URL
    r"^[A-Za-z][A-Za-z0-9+.-]*:")


def validate_config(config: Config, source: Source) -> None:
    """Raise the first (by line) problem of a decoded config; no problem, no exception."""
    problems: list[ConfigError] = []
    for check in (_check_defaults, _check_api, _check_agents, _check_webhook,
                  _check_diversification, _check_keymap, _check_worktree, _check_hooks,
                  _check_executor):
        problems.extend(check(config, source))
    if problems:
        raise min(enumerate(problems), key=lambda p: (p[1].line is None, p[1].line or 0, p[0]))[1]


def _check_defaults(config: Config, source: Source) -> list[ConfigError]:
    defaults = config.defaults
    found = []
    if defaults.timeout is not None and defaults.timeout <= 0:
        found.append(source.error("defaults.timeout", "defaults.timeout must be positive"))
    for name in ("max_concurrent_runs", "max_concurrent_root_tasks"):
        if getattr(defaults, name) < 0:
            found.append(source.error(f"defaults.{name}", f"defaults.{name} must be non-negative"))
    for name in ("max_tokens", "max_restarts", "failure_limit"):
        value = getattr(defaults, name)
        if value is not None and value < 1:
            found.append(source.error(f"defaults.{name}", f"defaults.{name} must be at least 1"))
    if defaults.max_cost_usd is not None and defaults.max_cost_usd <= 0:
        found.append(source.error("defaults.max_cost_usd", "defaults.max_cost_usd must be positive"))
    if defaults.limit_wait_max:
        try:
            if parse_duration(defaults.limit_wait_max) <= 0:
                raise ValueError
        except ValueError:
            found.append(source.error("defaults.limit_wait_max",
                                      f'must be a positive duration such as "6h", got '
                                      f'"{defaults.limit_wait_max[:40]}"'))
    if defaults.resume and defaults.resume not in RESUME_MODES:
        found.append(source.error("defaults.resume", f'must be one of {", ".join(RESUME_MODES)}, '
                                                     f'got "{defaults.resume[:40]}"'))
    return found


def _check_api(config: Config, source: Source) -> list[ConfigError]:
    found = []
    for name in ("poll_interval_ms", "discovery_interval_ms", "heartbeat_interval_s", "max_clients_per_run"):
        if getattr(config.api.sse, name) < 0:
            found.append(source.error(f"api.sse.{name}", f"api.sse.{name} must be non-negative"))
    if not 0 <= config.api.port <= 65535:
        found.append(source.error("api.port", "api.port must be between 0 and 65535"))
    return found


def _check_agents(config: Config, source: Source) -> list[ConfigError]:
    found = []
    for name, agent in config.agents.items():
        problem = _agent_problem(name, agent)
        if problem:
            field, message = problem
            found.append(source.error(field, message))
    return found


def _agent_problem(name: str, agent: AgentConfig) -> tuple[str, str] | None:
    """(field, message) of the first problem of one agent."""
    field = f"agents.{name}"
    if not agent.type:
        return f"{field}.type", f'agent "{name}" has empty type'
    if agent.type not in AGENT_TYPES:
        return f"{field}.type", f'agent "{name}" has invalid type "{agent.type}"'
    problem = _text_problem(field, agent)
    if problem:
        return problem
    if agent.token and agent.token_file:
        return f"{field}.token_file", f'agent "{name}" cannot set both token and token_file'
    if agent.token_file:
        reason = _token_file_problem(agent.token_file)
        if reason:
            return f"{field}.token_file", f"{reason}: {agent.token_file}"
    from ..agents.registry import backend
    needs_command = backend(agent.type).needs_command
    if needs_command and not agent.command:
        return f"{field}.command", f'agent "{name}" has type command but no command to run'
    if not needs_command and agent.command:
        return f"{field}.command", f'agent "{name}" sets command, which only agents of type command use'
    if any(not part for part in agent.command[:1]):
        return f"{field}.command", f'agent "{name}" has an empty program name in command'
    if agent.max_retries is not None and not 0 <= agent.max_retries <= 100:
        return f"{field}.max_retries", f"must be between 0 and 100, got {agent.max_retries}"
    return None


def _text_problem(field: str, agent: AgentConfig) -> tuple[str, str] | None:
    """Values that reach argv, the environment or the file system cannot hold a NUL (the OS
    refuses them); an environment variable name cannot be empty or hold ``=`` either."""
    for name in ("token", "token_file", "base_url", "model"):
        if "\0" in getattr(agent, name):
            return f"{field}.{name}", "contains a NUL byte"
    for key in ("command", "args"):
        for index, part in enumerate(getattr(agent, key)):
            if "\0" in part:
                return f"{field}.{key}[{index}]", "contains a NUL byte"
    for key, value in agent.env.items():
        if not key:
            return f"{field}.env", "empty variable name"
        if "\0" in key:
            return f"{field}.env", f"variable name {_shown(key)} contains a NUL byte"
        if "=" in key:
            return f"{field}.env", f'variable name {_shown(key)} contains "="'
        if "\0" in value:
            return f"{field}.env.{key}", "contains a NUL byte"
    return None


def _shown(text: str, limit: int = 40) -> str:
    """A name as a one-line quoted string, control characters escaped."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _token_file_problem(path: str) -> str | None:
    try:
        if not os.path.exists(path):
            return "file not found"
        if not os.path.isfile(path):
            return "not a regular file"
        if not os.access(path, os.R_OK):
            return "permission denied"
    except OSError as exc:  # pragma: no cover - e.g. a path too long
        return (exc.strerror or str(exc)).lower()
    return None


def _check_webhook(config: Config, source: Source) -> list[ConfigError]:
    webhook = config.webhook
    if webhook is None:
        return []
    found = []
    url_problem = _url_problem(webhook.url) if webhook.url else None
    if url_problem:
        found.append(source.error("webhook.url", f"webhook.url is invalid: {url_problem}"))
    try:
        parse_duration(webhook.timeout)
    except ValueError as exc:
        found.append(source.error("webhook.timeout",
                                  f"webhook.timeout is invalid: {_escape_controls(str(exc))}"))
    return found


def _escaped(text: str, *, quote: bool) -> str:
    """Go's ``strconv.Quote`` escapes: control and other unprintable characters as ``\\n``,
    ``\\x1b``, ``\\u202e``...; with ``quote`` also ``"`` and ``\\``, inside double quotes (``%q``,
    as Go's url.Error prints a URL). A message never carries a control character."""
    out = []
    for ch in text:
        if quote and ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    body = "".join(out)
    return f'"{body}"' if quote else body


def _go_quote(text: str) -> str:
    return _escaped(text, quote=True)


def _escape_controls(text: str) -> str:
    return _escaped(text, quote=False)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                  "\t": "\\t", "\v": "\\v"}


def _url_problem(url: str) -> str | None:
    """Upstream accepts anything Go's ParseRequestURI takes; we also insist on http(s) and a
    host, because the POST can only go there. The URL is quoted like Go's url.Error (``%q``)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return f"parse {_go_quote(url)}: net/url: invalid control character in URL"
    if not _SCHEME.match(url):
        return f"parse {_go_quote(url)}: invalid URI for request"
    from urllib.parse import urlsplit  # only a config with a URL pays for urllib (3 ms)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"unsupported scheme {_go_quote(parts.scheme)} (use http or https)"
    if not parts.hostname:
        return f"parse {_go_quote(url)}: missing host"
    return None


def _check_diversification(config: Config, source: Source) -> list[ConfigError]:
    div = config.defaults.diversification
    if div is None:
        return []
    base = "defaults.diversification"
    found = []
    strategy = div.strategy.strip()
    if strategy and strategy not in DIVERSIFICATION_STRATEGIES:
        found.append(source.error(f"{base}.strategy",
                                  f'{base}.strategy "{strategy}" is invalid; valid values: round-robin, weighted'))
    for index, name in enumerate(div.agents):
        field = f"{base}.agents[{index}]"
        if not name.strip():
            found.append(source.error(field, f"{field} is empty"))
        elif name not in config.agents:
            found.append(source.error(field, f'{field} "{name}" not found in agents map'))
    if div.weights and len(div.weights) != len(div.agents):
        found.append(source.error(f"{base}.weights", f"{base}.weights length ({len(div.weights)}) "
                                                     f"must match agents length ({len(div.agents)})"))
    elif div.weights:
        for index, weight in enumerate(div.weights):
            if weight <= 0:
                field = f"{base}.weights[{index}]"
                found.append(source.error(field, f"{field} must be positive, got {weight}"))
    return found


def _check_keymap(config: Config, source: Source) -> list[ConfigError]:
    return [source.error(f"keymap.{action}", "must name at least one key")
            for action, keys in config.keymap.items() if not keys.strip(" ,")]


def _check_worktree(config: Config, source: Source) -> list[ConfigError]:
    """``worktree:`` (issue 13): one line per problem, naming the field."""
    wt = config.worktree
    found = []
    if wt.base and (wt.base.startswith("-") or any(not ch.isprintable() or ch.isspace()
                                                   for ch in wt.base)):
        found.append(source.error("worktree.base", f"must be a git ref such as main, got "
                                                   f"{_shown(wt.base)}"))
    if wt.setup and not wt.setup[0]:
        found.append(source.error("worktree.setup", "has an empty program name"))
    for index, part in enumerate(wt.setup):
        if "\0" in part:
            found.append(source.error(f"worktree.setup[{index}]", "contains a NUL byte"))
    if wt.setup_timeout:
        found.extend(_positive_duration(source, "worktree.setup_timeout", wt.setup_timeout, "5m"))
    for index, rel in enumerate(wt.copy):
        field = f"worktree.copy[{index}]"
        norm = os.path.normpath(rel) if rel and "\0" not in rel else ""
        if not rel:
            found.append(source.error(field, "is empty"))
        elif "\0" in rel:
            found.append(source.error(field, "contains a NUL byte"))
        elif os.path.isabs(rel) or rel.startswith("~") or norm == ".." \
                or norm.startswith(".." + os.sep) or norm == ".":
            found.append(source.error(field, f"{_shown(rel)} leaves the repository: give a path "
                                             "relative to the working dir, inside it"))
    return found


def _check_hooks(config: Config, source: Source) -> list[ConfigError]:
    """``hooks:`` (ours, issue 13): a program to run, known event names, a positive timeout."""
    from .model import HOOK_EVENTS
    found = []
    for index, hook in enumerate(config.hooks):
        field = f"hooks[{index}]"
        if not hook.command or not hook.command[0]:
            found.append(source.error(f"{field}.command", "must name a program to run "
                                                          "(a list such as [notify-send, conductor])"))
        for part_index, part in enumerate(hook.command):
            if "\0" in part:
                found.append(source.error(f"{field}.command[{part_index}]", "contains a NUL byte"))
        for event_index, event in enumerate(hook.on):
            if event not in HOOK_EVENTS:
                found.append(source.error(f"{field}.on[{event_index}]",
                                          f"unknown event {_shown(event)}; events: "
                                          f"{', '.join(HOOK_EVENTS)}"))
        found.extend(_positive_duration(source, f"{field}.timeout", hook.timeout, "10s"))
    return found


def _positive_duration(source: Source, field: str, value: str, example: str) -> list[ConfigError]:
    """No problem, or one: ``value`` is not a Go duration above zero."""
    try:
        if parse_duration(value) > 0:
            return []
    except ValueError:
        pass
    return [source.error(field, f'must be a positive duration such as "{example}", got '
                                f"{_shown(value)}")]


def _check_executor(config: Config, source: Source) -> list[ConfigError]:
    """Issue 14: ``executor:`` (defaults, each agent) names a known executor; ``slurm:``."""
    from .model import EXECUTORS
    found = []
    named = [("defaults.executor", config.defaults.executor)]
    named += [(f"agents.{name}.executor", agent.executor) for name, agent in config.agents.items()]
    for field, value in named:
        if value and value.strip().lower() not in EXECUTORS:
            found.append(source.error(field, f'must be one of {", ".join(EXECUTORS)}, '
                                             f"got {_shown(value)}"))
    slurm = config.slurm
    if slurm is not None:
        if slurm.cpus < 0:
            found.append(source.error("slurm.cpus", "slurm.cpus must be non-negative"))
        for key in ("partition", "time", "mem", "account", "qos"):
            value = getattr(slurm, key)
            if any(ch.isspace() or ord(ch) < 32 for ch in value):
                found.append(source.error(f"slurm.{key}",
                                          f"must be one word, got {_shown(value)}"))
        for i, arg in enumerate(slurm.args):
            flag = _reserved_sbatch_flag(str(arg))
            if flag:
                found.append(source.error(f"slurm.args[{i}]", (
                    f"{flag} is conductor's to set (the run's files, its name and comment, its "
                    "stop signal, the one cluster squeue and scancel ask); remove it")))
    return found


# sbatch flags the Slurm executor sets itself: a later one in slurm.args would win, and then
# the job's output would go elsewhere, its comment would no longer name its run (so conductor
# could never stop it), or it would land on a cluster squeue and scancel do not ask
_RESERVED_LONG = frozenset({
    "--job-name", "--comment", "--output", "--error", "--open-mode", "--chdir", "--signal",
    "--export", "--parsable", "--requeue", "--no-requeue", "--clusters", "--cluster", "--wrap"})
_RESERVED_SHORT = frozenset({"-J", "-o", "-e", "-D", "-M"})


def _reserved_sbatch_flag(arg: str) -> str:
    if arg.startswith("--"):
        name = arg.split("=", 1)[0]
        return name if name in _RESERVED_LONG else ""
    if arg.startswith("-") and arg[:2] in _RESERVED_SHORT:
        return arg[:2]
    return ""
