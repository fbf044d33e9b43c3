"""How each CLI agent type is started: its command line, binary lookup, version and capability checks.

The prompt always reaches the agent on stdin from prompt.md (spec 7.1); the runner does the
spawning. This module only knows what to run and how to describe it in run-info.yaml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Sequence

from conductor.agents.base import AgentConfigLike, AgentError, check_type, token_env_var

GEMINI_INSTALL_HINT = "https://github.com/google-gemini/gemini-cli"
GEMINI_NOT_RUNNABLE = f"gemini CLI not found or failed to run (install from {GEMINI_INSTALL_HINT})"
GEMINI_NO_STREAM_JSON = (
    "installed Gemini CLI does not support --output-format stream-json; please update to the latest "
    "version (npm install -g @google/gemini-cli or brew upgrade gemini-cli)"
)
VERSION_TIMEOUT = 10.0
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class AgentSpec:
    """How to run one agent type. REST types have a spec too, with no binary and no arguments."""

    type: str
    binary: str | None = None
    args: tuple[str, ...] = ()
    min_version: str | None = None
    rest: bool = False

    @property
    def token_env(self) -> str | None:
        return token_env_var(self.type)

    def argv(self, agent_config: AgentConfigLike | None = None) -> list[str]:
        """The exact command line (spec 7.1); `command` agents take theirs from the config."""
        if self.rest:
            raise AgentError(f'agent type "{self.type}" has no command line')
        if self.type == "command":
            command = list(getattr(agent_config, "command", None) or [])
            if not command or not str(command[0]).strip():
                name = getattr(agent_config, "name", "") or "command"
                raise AgentError(f'agent "{name}": command is empty')
            return [str(part) for part in command]
        assert self.binary is not None
        return [self.binary, *self.args]

    def resolve(self, agent_config: AgentConfigLike | None = None,
                path: str | None = None) -> list[str]:
        """argv with argv[0] checked against PATH; the error names the agent and the binary."""
        argv = self.argv(agent_config)
        name = getattr(agent_config, "name", "") or self.type
        resolve_binary(name, argv[0], path=path)
        return argv


_SPECS: dict[str, AgentSpec] = {
    "claude": AgentSpec("claude", "claude", (
        "-p", "--input-format", "text", "--output-format", "stream-json", "--verbose",
        "--tools", "default", "--permission-mode", "bypassPermissions"), min_version="1.0.0"),
    "codex": AgentSpec("codex", "codex", (
        "exec", "--dangerously-bypass-approvals-and-sandbox", "--json", "-"), min_version="0.1.0"),
    "gemini": AgentSpec("gemini", "gemini", (
        "--screen-reader", "true", "--approval-mode", "yolo", "--output-format", "stream-json"),
        min_version="0.1.0"),
    "command": AgentSpec("command"),
    "perplexity": AgentSpec("perplexity", rest=True),
    "xai": AgentSpec("xai", rest=True),
}


def agent_spec(agent_type: str) -> AgentSpec:
    """The spec of a type; unknown types fail with `unsupported agent type "<t>"`."""
    return _SPECS[check_type(agent_type)]


def commandline(argv: Sequence[str], prompt_path: str | os.PathLike[str]) -> str:
    """The `commandline` field of run-info.yaml: `<argv joined by space> < <abs prompt.md>`."""
    return " ".join(argv) + " < " + os.path.abspath(os.fspath(prompt_path))


def resolve_binary(agent_name: str, binary: str, path: str | None = None) -> str:
    """The absolute path of an agent's executable, or one clear line saying it is missing."""
    found = shutil.which(binary, path=path)
    if not found:
        raise AgentError(f'agent "{agent_name}": binary "{binary}" not found in PATH')
    return os.path.abspath(found)


def detect_version(binary: str, timeout: float = VERSION_TIMEOUT) -> str:
    """`<binary> --version`: trimmed stdout, else trimmed stderr; "" when it cannot be run or fails."""
    try:
        done = subprocess.run([binary, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return ""
    if done.returncode != 0:
        return ""
    out = done.stdout.decode("utf-8", "replace").strip()
    return out or done.stderr.decode("utf-8", "replace").strip()


def parse_version(text: str) -> tuple[int, int, int] | None:
    """The first `v?X.Y.Z` in a version string, or None when there is none."""
    match = _VERSION_RE.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def version_is_compatible(version: str, minimum: str | None) -> bool:
    """Below-minimum versions only warn upstream; unparsable versions count as compatible."""
    have, need = parse_version(version), parse_version(minimum or "")
    return have is None or need is None or have >= need


def check_gemini_help(binary: str = "gemini", timeout: float = VERSION_TIMEOUT) -> None:
    """Fail early when the installed gemini CLI cannot emit stream-json (spec 7.1).

    Callers run it once per process before the first gemini run and may cache the success.
    """
    try:
        done = subprocess.run([binary, "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AgentError(f"{GEMINI_NOT_RUNNABLE}: timed out after {timeout:g}s") from None
    except OSError as exc:
        raise AgentError(f"{GEMINI_NOT_RUNNABLE}: {exc.strerror or exc}") from None
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0:
        detail = f"exit status {done.returncode}"
        tail = output.strip().splitlines()[-1:] if output.strip() else []
        raise AgentError(f"{GEMINI_NOT_RUNNABLE}: {detail}" + (f": {tail[0]}" if tail else ""))
    if "output-format" not in output:
        raise AgentError(GEMINI_NO_STREAM_JSON)
