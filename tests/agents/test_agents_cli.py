"""Command lines, binary lookup, version detection and the gemini capability check."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conductor.agents import (
    GEMINI_NO_STREAM_JSON,
    AgentError,
    agent_spec,
    check_gemini_help,
    commandline,
    detect_version,
    is_rest,
    resolve_binary,
    token_env_var,
    version_is_compatible,
)
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
    assert agent_spec("claude").argv() == [
        "claude", "-p", "--input-format", "text", "--output-format", "stream-json", "--verbose",
        "--tools", "default", "--permission-mode", "bypassPermissions"]


def test_codex_command_line_is_exact() -> None:
    assert agent_spec("codex").argv() == [
        "codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--json", "-"]


def test_gemini_command_line_is_exact() -> None:
    assert agent_spec(" Gemini ").argv() == [
        "gemini", "--screen-reader", "true", "--approval-mode", "yolo", "--output-format", "stream-json"]


def test_command_agent_uses_the_configured_argv() -> None:
    config = FakeAgentConfig(command=["python3", "-u", "agent.py", "--fast"])
    assert agent_spec("command").argv(config) == ["python3", "-u", "agent.py", "--fast"]


def test_command_agent_without_command_names_the_agent() -> None:
    with pytest.raises(AgentError, match=r'^agent "worker": command is empty$'):
        agent_spec("command").argv(FakeAgentConfig())


def test_rest_agents_have_no_command_line() -> None:
    with pytest.raises(AgentError, match='agent type "xai" has no command line'):
        agent_spec("xai").argv()


def test_unknown_type_uses_upstream_text() -> None:
    with pytest.raises(AgentError) as info:
        agent_spec("copilot")
    assert str(info.value) == 'unsupported agent type "copilot"'
    assert isinstance(info.value, ConductorError)


def test_commandline_records_the_absolute_prompt_path(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = agent_spec("claude").argv()
    assert commandline(argv, "run/prompt.md") == (
        "claude -p --input-format text --output-format stream-json --verbose --tools default "
        f"--permission-mode bypassPermissions < {tmp_path}/run/prompt.md")
    assert commandline(["codex", "exec"], "/r/prompt.md") == "codex exec < /r/prompt.md"


def test_token_env_vars_and_rest_types() -> None:
    assert [token_env_var(t) for t in ("claude", "codex", "gemini", "perplexity", "xai", "command")] == [
        "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "PERPLEXITY_API_KEY", "XAI_API_KEY", None]
    assert [is_rest(t) for t in ("perplexity", "XAI", "claude", "command")] == [True, True, False, False]


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
        agent_spec("command").resolve(config)


def test_gemini_help_accepts_a_cli_with_output_format(bin_dir: Path) -> None:
    write_script(bin_dir, "gemini", 'echo "Options:"\necho "  -o, --output-format  [string]" >&2\n')
    check_gemini_help()


def test_gemini_help_rejects_an_old_cli(bin_dir: Path) -> None:
    write_script(bin_dir, "gemini", 'echo "Options:\n  --yolo"\n')
    with pytest.raises(AgentError) as info:
        check_gemini_help()
    assert str(info.value) == GEMINI_NO_STREAM_JSON
    assert str(info.value).startswith("installed Gemini CLI does not support --output-format stream-json;")


def test_gemini_help_reports_a_missing_or_broken_cli(bin_dir: Path) -> None:
    prefix = ("gemini CLI not found or failed to run "
              "(install from https://github.com/google-gemini/gemini-cli): ")
    with pytest.raises(AgentError) as missing:
        check_gemini_help()
    assert str(missing.value).startswith(prefix)
    write_script(bin_dir, "gemini", 'echo "node: bad option" >&2\nexit 9\n')
    with pytest.raises(AgentError) as broken:
        check_gemini_help()
    assert str(broken.value) == prefix + "exit status 9: node: bad option"


@pytest.mark.parametrize(("version", "minimum", "ok"), [
    ("2.1.3 (Claude Code)", "1.0.0", True),
    ("0.9.9 (Claude Code)", "1.0.0", False),
    ("codex-cli v0.1.0", "0.1.0", True),
    ("dev build", "1.0.0", True),
])
def test_version_compatibility(version: str, minimum: str, ok: bool) -> None:
    assert version_is_compatible(version, minimum) is ok
