"""The HCL subset of ~/.run-agent/conductor-loop.hcl: parsing, inline comments, errors."""

from __future__ import annotations

import pytest

from conductor.config import load_config, load_config_lenient
from conductor.errors import ConfigError

NAME = "conductor-loop.hcl"

STARTER = r'''
# conductor-loop configuration
// another comment style

claude {
  type = "claude"
  model = "opus"        # inline comment after a quoted value
  base_url = https://api.example.com/v1 // inline comment after a raw value
}

codex {
  token = "sk-\"quoted\"\\x\n" // comment
}

defaults {
  agent = claude
  timeout = 300 # seconds
  max_concurrent_runs = 2
  max_concurrent_root_tasks = 3
  unknown_key = ignored
}

api {
  host = 127.0.0.1
  port = 8080
}

storage {
  runs_dir = "~/runs"
}
'''


def test_starter_file(write, home):
    config = load_config(write(STARTER, NAME), env={})
    assert list(config.agents) == ["claude", "codex"]
    claude = config.agents["claude"]
    assert (claude.type, claude.model, claude.base_url) == ("claude", "opus", "https://api.example.com/v1")
    assert config.agents["codex"].type == "codex"
    assert config.agents["codex"].token == 'sk-"quoted"\\x\n'
    d = config.defaults
    assert (d.agent, d.timeout, d.max_concurrent_runs, d.max_concurrent_root_tasks) == ("claude", 300, 2, 3)
    assert (config.api.host, config.api.port) == ("127.0.0.1", 8080)
    assert config.storage.runs_dir == str(home / "runs")


def test_only_whole_word_comments_are_stripped_from_raw_values(write):
    text = 'x {\n  type = command\n  command = python -c "print(1)"#not-a-comment\n  model = a#b\n}\n'
    config = load_config(write(text, NAME, raw=True), env={})
    assert config.agents["x"].command == ["python", "-c", "print(1)#not-a-comment"]
    assert config.agents["x"].model == "a#b"


def test_other_escapes_are_kept_raw(write):
    config = load_config(write('x {\n type = command\n command = "a\\tb"\n}\n', NAME), env={})
    assert config.agents["x"].command == ["atb"]  # shlex then reads \t as an escaped t


def test_line_numbers_in_type_errors(write):
    with pytest.raises(ConfigError) as info:
        load_config(write("defaults {\n  timeout = soon\n}\n", NAME), env={})
    assert str(info.value) == 'conductor-loop.hcl:2: defaults.timeout: must be an integer, got "soon"'


def test_validation_errors_point_at_hcl_lines(write):
    with pytest.raises(ConfigError) as info:
        load_config(write("\nfoo {\n  model = x\n}\n", NAME, raw=True), env={})
    assert str(info.value) == 'conductor-loop.hcl:2: agents.foo.type: agent "foo" has invalid type "foo"'


@pytest.mark.parametrize("text, expected", [
    ("key = value\n", 'conductor-loop.hcl:1: expected block open (name {), got: "key = value"'),
    ("# c\n}\n", 'conductor-loop.hcl:2: expected block open (name {), got: "}"'),
    ("claude {\n  model\n}\n", 'conductor-loop.hcl:2: expected key = value, got: "model"'),
    ("claude {\n  api {\n}\n", 'conductor-loop.hcl:2: expected key = value, got: "api {"'),
    ("claude {\n  model = \"open\n}\n", 'conductor-loop.hcl:2: expected key = value, got: "model = \\"open"'),
    ("claude {\n  model = \"a\" b\n}\n", 'conductor-loop.hcl:2: expected key = value, got: "model = \\"a\\" b"'),
    ("\n\nclaude {\n  model = x\n", 'conductor-loop.hcl:3: unexpected end of file: block "claude" not closed'),
])
def test_syntax_errors(write, text, expected):
    with pytest.raises(ConfigError) as info:
        load_config(write(text, NAME, raw=True), env={})
    assert str(info.value) == expected


def test_syntax_error_hides_token_value(write):
    with pytest.raises(ConfigError) as info:
        load_config(write('claude {\n  token = "sk-SECRET\n}\n', NAME), env={})
    assert str(info.value) == 'conductor-loop.hcl:2: expected key = value, got: "token = ***"'


def test_repeated_block_merges_and_last_key_wins(write):
    text = "claude {\n model = a\n}\nclaude {\n model = b\n base_url = u\n}\n"
    agent = load_config(write(text, NAME, raw=True), env={}).agents["claude"]
    assert (agent.model, agent.base_url) == ("b", "u")


def test_keys_outside_the_subset_are_ignored(write):
    text = "api {\n  sse = whatever\n  port = 9000\n}\nclaude {\n  env = x\n}\n"
    config = load_config(write(text, NAME, raw=True), env={})
    assert config.api.port == 9000 and config.agents["claude"].env == {}


def test_empty_and_comment_only_files(write):
    assert load_config(write("", NAME), env={}).agents == {}
    assert load_config(write("# all\n// commented\n", NAME), env={}).agents == {}


def test_lenient_hcl(write, workdir):
    config = load_config_lenient(write("claude {\n  token_file = missing\n}\nstorage {\n  runs_dir = r\n}\n", NAME),
                                 env={})
    assert config.storage.runs_dir == str(workdir / "r")
