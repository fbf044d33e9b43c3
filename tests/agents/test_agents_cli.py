"""Command lines from the backends, binary lookup and version detection."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conductor.agents import (
    AgentError,
    Launch,
    backend,
    commandline,
    detect_version,
    resolve_binary,
    token_env_var,
    version_is_compatible,
)
from conductor.runner.job import agent_argv
from conductor.errors import ConductorError


@dataclass
class FakeAgentConfig:
    name: str = "worker"
    type: str = "command"
    token: str = ""
    token_file: str = ""
    base_url: str = ""
    model: str = ""
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


def argv_of(agent_type: str, config: FakeAgentConfig | None = None) -> list[str]:
    config = config or FakeAgentConfig(type=agent_type)
    return backend(agent_type).argv(Launch(agent=config, environ={}))


def write_script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return directory


def test_claude_command_line_is_exact() -> None:
    assert argv_of("claude") == [
        "claude", "-p", "--input-format", "text", "--output-format", "stream-json", "--verbose",
        "--tools", "default", "--permission-mode", "bypassPermissions"]


def test_codex_command_line_is_exact() -> None:
    assert argv_of("codex") == [
        "codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--json", "-"]


def test_gemini_command_line_is_exact() -> None:
    assert argv_of(" Gemini ") == [
        "gemini", "--screen-reader", "true", "--approval-mode", "yolo", "--output-format", "stream-json",
        "--skip-trust"]


def test_command_agent_uses_the_configured_argv() -> None:
    config = FakeAgentConfig(command=["python3", "-u", "agent.py", "--fast"])
    assert argv_of("command", config) == ["python3", "-u", "agent.py", "--fast"]


def test_command_agent_without_command_names_the_agent() -> None:
    with pytest.raises(AgentError, match=r'^agent "worker": command is empty$'):
        argv_of("command", FakeAgentConfig())


def test_unknown_type_uses_upstream_text() -> None:
    with pytest.raises(AgentError) as info:
        backend("copilot")
    assert str(info.value) == 'unsupported agent type "copilot"'
    assert isinstance(info.value, ConductorError)


def test_commandline_records_the_absolute_prompt_path(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = argv_of("claude")
    assert commandline(argv, "run/prompt.md") == (
        "claude -p --input-format text --output-format stream-json --verbose --tools default "
        f"--permission-mode bypassPermissions < {tmp_path}/run/prompt.md")
    assert commandline(["codex", "exec"], "/r/prompt.md") == "codex exec < /r/prompt.md"


def test_token_env_vars_and_rest_types() -> None:
    assert [token_env_var(t) for t in ("claude", "codex", "gemini", "perplexity", "xai", "command")] == [
        "ANTHROPIC_API_KEY", "CODEX_API_KEY", "GEMINI_API_KEY", "PERPLEXITY_API_KEY", "XAI_API_KEY", None]


def test_the_registry_knows_every_backends_secret_variables_without_loading_it() -> None:
    """An agent's environment loses every other backend's token variables; the registry lists
    them so a run does not import every backend, and the list must be the backends' own."""
    from conductor.agents import registry
    for kind in registry.types():
        found = backend(kind)
        assert set(registry._SECRET_VARS[kind]) == {*found.token_vars, *found.other_vars}, kind
    assert set(registry._SECRET_VARS) == set(registry.types())


def test_version_from_stub_binary_on_path(bin_dir: Path) -> None:
    write_script(bin_dir, "claude", 'echo "  2.1.3 (Claude Code)"\n')
    assert detect_version("claude") == "2.1.3 (Claude Code)"


def test_version_falls_back_to_stderr(bin_dir: Path) -> None:
    write_script(bin_dir, "codex", 'echo "codex-cli 0.46.0" >&2\n')
    assert detect_version("codex") == "codex-cli 0.46.0"


def test_version_is_empty_when_the_command_fails_or_is_missing(bin_dir: Path) -> None:
    write_script(bin_dir, "gemini", 'echo "0.9.0"\nexit 3\n')
    assert detect_version("gemini") == ""
    assert detect_version("no-such-agent-binary") == ""


def test_version_is_empty_when_the_command_hangs(bin_dir: Path) -> None:
    write_script(bin_dir, "claude", "exec sleep 5\n")
    assert detect_version("claude", timeout=0.2) == ""


def test_missing_binary_names_agent_and_binary(bin_dir: Path) -> None:
    with pytest.raises(AgentError) as info:
        resolve_binary("claude", "claude")
    assert str(info.value) == 'agent "claude": binary "claude" not found in PATH'


def test_resolve_finds_the_stub_and_names_configured_agent(bin_dir: Path) -> None:
    stub = write_script(bin_dir, "claude", "exit 0\n")
    assert resolve_binary("claude", "claude") == str(stub)
    config = FakeAgentConfig(name="my-bot", command=["my-agent-cli", "--go"])
    with pytest.raises(AgentError, match=r'^agent "my-bot": binary "my-agent-cli" not found in PATH$'):
        agent_argv(config)


@pytest.mark.parametrize(("version", "minimum", "ok"), [
    ("2.1.3 (Claude Code)", "1.0.0", True),
    ("0.9.9 (Claude Code)", "1.0.0", False),
    ("codex-cli v0.1.0", "0.1.0", True),
    ("dev build", "1.0.0", True),
])
def test_version_compatibility(version: str, minimum: str, ok: bool) -> None:
    assert version_is_compatible(version, minimum) is ok


def test_version_is_one_short_line(bin_dir: Path) -> None:
    write_script(bin_dir, "claude", 'printf "\\n  2.1.332 (Claude Code)\\nbuilt by x\\n"\n')
    assert detect_version("claude") == "2.1.332 (Claude Code)"
    write_script(bin_dir, "codex", "printf 'v%.0s' $(seq 1 500)\n")
    assert detect_version("codex") == "v" * 200


def test_a_version_probe_that_floods_is_not_a_version(bin_dir: Path) -> None:
    # a hostile or broken binary printing without end must not bloat run-info or memory
    write_script(bin_dir, "gemini", "exec yes 0.61.0\n")
    assert detect_version("gemini", timeout=20) == ""
