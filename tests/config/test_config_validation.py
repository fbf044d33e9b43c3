"""Every validation message, exactly as a user sees it: ``file:line: field: message``."""

from __future__ import annotations

import os
from textwrap import dedent

import pytest

from conductor.config import load_config
from conductor.errors import ConfigError
from yaml_words import yaml_problem


def load_error(write, text: str, name: str = "config.yaml") -> ConfigError:
    path = write(text, name)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return info.value


# YAML syntax errors: our prefix and line, then the installed PyYAML's own reason
BAD_INDENT = """
        agents:
          claude: {}
         bad indent: 1
        """
OPEN_FLOW = """
        agents:
          claude: {type: claude
        """

CASES = [
    pytest.param("""
        agents:
          x:
            type: foo
        """, 'config.yaml:3: agents.x.type: agent "x" has invalid type "foo"', id="invalid-type"),
    pytest.param("""
        agents:
          Foo Bar: {}
        """, 'config.yaml:2: agents.Foo Bar.type: agent "Foo Bar" has invalid type "foo bar"',
        id="type-from-name"),
    pytest.param("""
        agents:
          " ": {}
        """, 'config.yaml:2: agents. .type: agent " " has empty type', id="empty-type"),
    pytest.param("""
        agents:
          claude:
            token: secret-value
            token_file: tok
        """, 'config.yaml:4: agents.claude.token_file: agent "claude" cannot set both token and token_file',
        id="token-and-file"),
    pytest.param("""
        agents:
          sim:
            type: command
        """, 'config.yaml:2: agents.sim.command: agent "sim" has type command but no command to run',
        id="command-missing"),
    pytest.param("""
        agents:
          sim:
            type: command
            command: []
        """, 'config.yaml:4: agents.sim.command: agent "sim" has type command but no command to run',
        id="command-empty-list"),
    pytest.param("""
        agents:
          claude:
            command: [my-claude]
        """, 'config.yaml:3: agents.claude.command: agent "claude" sets command, which only agents of type '
             'command use', id="command-on-other-type"),
    pytest.param("""
        agents:
          sim:
            type: command
            command: {a: b}
        """, "config.yaml:4: agents.sim.command: must be a list of strings, got a mapping",
        id="command-mapping"),
    pytest.param("""
        agents:
          sim:
            type: command
            command:
              - python
              - [nested]
        """, "config.yaml:6: agents.sim.command[1]: must be a string, got a list", id="command-item"),
    pytest.param("""
        agents:
          sim:
            type: command
            command: "python 'unclosed"
        """, "config.yaml:4: agents.sim.command: cannot split the command: no closing quotation",
        id="command-shell-syntax"),
    pytest.param("""
        agents:
          sim:
            type: command
            command: ['', x]
        """, 'config.yaml:4: agents.sim.command: agent "sim" has an empty program name in command',
        id="command-empty-program"),
    pytest.param("""
        defaults:
          timeout: 0
        """, "config.yaml:2: defaults.timeout must be positive", id="timeout-zero"),
    pytest.param("""
        defaults:
          timeout: -5
        """, "config.yaml:2: defaults.timeout must be positive", id="timeout-negative"),
    pytest.param("""
        defaults:
          timeout: soon
        """, 'config.yaml:2: defaults.timeout: must be an integer, got "soon"', id="timeout-text"),
    pytest.param("""
        defaults:
          max_concurrent_root_tasks: -1
        """, "config.yaml:2: defaults.max_concurrent_root_tasks must be non-negative", id="root-tasks"),
    pytest.param("""
        defaults:
          max_concurrent_runs: -1
        """, "config.yaml:2: defaults.max_concurrent_runs must be non-negative", id="max-runs"),
    pytest.param("""
        api:
          sse:
            poll_interval_ms: -1
        """, "config.yaml:3: api.sse.poll_interval_ms must be non-negative", id="sse-poll"),
    pytest.param("""
        api:
          sse:
            discovery_interval_ms: -1
        """, "config.yaml:3: api.sse.discovery_interval_ms must be non-negative", id="sse-discovery"),
    pytest.param("""
        api:
          sse:
            heartbeat_interval_s: -1
        """, "config.yaml:3: api.sse.heartbeat_interval_s must be non-negative", id="sse-heartbeat"),
    pytest.param("""
        api:
          sse:
            max_clients_per_run: -1
        """, "config.yaml:3: api.sse.max_clients_per_run must be non-negative", id="sse-clients"),
    pytest.param("""
        api:
          port: 65536
        """, "config.yaml:2: api.port must be between 0 and 65535", id="port-high"),
    pytest.param("""
        api:
          port: -1
        """, "config.yaml:2: api.port must be between 0 and 65535", id="port-negative"),
    pytest.param("""
        api:
          auth_enabled: maybe
        """, 'config.yaml:2: api.auth_enabled: must be true or false, got "maybe"', id="bool"),
    pytest.param("""
        api:
          cors_origins: https://example.com
        """, "config.yaml:2: api.cors_origins: must be a list of strings, got a single value",
        id="list-scalar"),
    pytest.param("""
        webhook:
          url: not a url
        """, 'config.yaml:2: webhook.url is invalid: parse "not a url": invalid URI for request',
        id="webhook-url"),
    pytest.param("""
        webhook:
          url: ftp://example.com/hook
        """, 'config.yaml:2: webhook.url is invalid: unsupported scheme "ftp" (use http or https)',
        id="webhook-scheme"),
    pytest.param("""
        webhook:
          url: https://example.com/hook
          timeout: 10
        """, 'config.yaml:3: webhook.timeout is invalid: time: missing unit in duration "10"',
        id="webhook-timeout"),
    pytest.param("""
        agents:
          claude: {}
        defaults:
          diversification:
            strategy: random
        """, 'config.yaml:5: defaults.diversification.strategy "random" is invalid; '
             "valid values: round-robin, weighted", id="div-strategy"),
    pytest.param("""
        agents:
          claude: {}
        defaults:
          diversification:
            agents: [claude, ""]
        """, "config.yaml:5: defaults.diversification.agents[1] is empty", id="div-agent-empty"),
    pytest.param("""
        agents:
          claude: {}
        defaults:
          diversification:
            agents:
              - claude
              - codex
        """, 'config.yaml:7: defaults.diversification.agents[1] "codex" not found in agents map',
        id="div-agent-unknown"),
    pytest.param("""
        agents:
          claude: {}
          codex: {}
        defaults:
          diversification:
            agents: [claude, codex]
            weights: [1]
        """, "config.yaml:7: defaults.diversification.weights length (1) must match agents length (2)",
        id="div-weights-length"),
    pytest.param("""
        agents:
          claude: {}
          codex: {}
        defaults:
          diversification:
            agents: [claude, codex]
            weights:
              - 3
              - 0
        """, "config.yaml:9: defaults.diversification.weights[1] must be positive, got 0",
        id="div-weight-zero"),
    pytest.param("""
        agents: [1, 2]
        """, "config.yaml:1: agents: must be a mapping of agent name to settings", id="agents-list"),
    pytest.param("""
        # comment first
        agents:
          - claude
        """, "config.yaml:3: agents: must be a mapping of agent name to settings", id="agents-list-block"),
    pytest.param("""
        agents:
          claude: yes
        """, "config.yaml:2: agents.claude: must be a mapping of agent settings (type, token, model, ...)",
        id="agent-scalar"),
    pytest.param("""
        agents:
          claude:
            token: [a, b]
        """, "config.yaml:3: agents.claude.token: must be a string, got a list", id="token-list"),
    pytest.param("""
        agents:
          sim:
            type: command
            command: [x]
            env: [A]
        """, "config.yaml:5: agents.sim.env: must be a mapping", id="env-list"),
    pytest.param("""
        keymap:
          quit: {key: q}
        """, 'config.yaml:2: keymap.quit: must be a key such as "ctrl+q" or comma-separated keys, got a mapping',
        id="keymap-mapping"),
    pytest.param("""
        keymap:
          quit:
        """, 'config.yaml:2: keymap.quit: must be a key such as "ctrl+q" or comma-separated keys, got null',
        id="keymap-null"),
    pytest.param("""
        keymap:
          quit: " , "
        """, "config.yaml:2: keymap.quit: must name at least one key", id="keymap-blank"),
    pytest.param("""
        keymap: q
        """, "config.yaml:1: keymap: must be a mapping of action id to key", id="keymap-scalar"),
    pytest.param("""
        theme: [dark]
        """, "config.yaml:1: theme: must be a string, got a list", id="theme"),
    pytest.param("""
        storage:
          runs_dir: ~bob/runs
        """, "config.yaml:2: storage.runs_dir: only ~ and ~/ are expanded, not ~user: ~bob/runs",
        id="tilde-user"),
    pytest.param("""
        agents:
          claude: {}
          claude: {}
        """, "config.yaml:3: agents.claude: duplicate key (first defined at line 2)", id="duplicate"),
    pytest.param("""
        - just
        - a list
        """, "config.yaml:1: the top level must be a mapping (agents:, defaults:, storage:, ...)",
        id="top-list"),
    pytest.param(BAD_INDENT, "config.yaml:3: invalid YAML: " + yaml_problem(dedent(BAD_INDENT)),
                 id="yaml-syntax"),
    pytest.param(OPEN_FLOW, "config.yaml:3: invalid YAML: " + yaml_problem(dedent(OPEN_FLOW)),
                 id="yaml-flow"),
    pytest.param("""
        a: 1
        ---
        b: 2
        """, "config.yaml:2: invalid YAML: expected a single document, found another", id="two-docs"),
    pytest.param("""
        agents: *nothing
        """, 'config.yaml:1: invalid YAML: unknown alias "nothing"', id="alias"),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_validation_message(write, text, expected):
    assert str(load_error(write, text)) == expected


def test_first_problem_in_file_order_is_reported(write):
    err = load_error(write, """
        api:
          port: 99999
        defaults:
          timeout: 0
        """)
    assert str(err) == "config.yaml:2: api.port must be between 0 and 65535"


def test_error_carries_structured_location(write):
    err = load_error(write, """
        agents:
          x:
            type: foo
        """)
    assert (err.path, err.line, err.field) == ("config.yaml", 3, "agents.x.type")
    assert err.detail == 'agent "x" has invalid type "foo"'


def test_token_file_not_found_names_absolute_path(write, workdir):
    err = load_error(write, """
        agents:
          claude:
            token_file: secrets/claude.tok
        """)
    missing = os.path.join(str(workdir), "secrets", "claude.tok")
    assert str(err) == f"config.yaml:3: agents.claude.token_file: file not found: {missing}"


def test_token_file_directory(write, workdir):
    (workdir / "tokdir").mkdir()
    err = load_error(write, """
        agents:
          claude:
            token_file: tokdir
        """)
    assert str(err) == f"config.yaml:3: agents.claude.token_file: not a regular file: {workdir / 'tokdir'}"


def test_token_file_empty(write, workdir):
    (workdir / "tok").write_text("  \n\t\n")
    err = load_error(write, """
        agents:
          claude:
            token_file: tok
        """)
    assert str(err) == f"config.yaml:3: agents.claude.token_file: token file is empty: {workdir / 'tok'}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_token_file_unreadable(write, workdir):
    token = workdir / "tok"
    token.write_text("x")
    token.chmod(0)
    err = load_error(write, """
        agents:
          claude:
            token_file: tok
        """)
    assert str(err) == f"config.yaml:3: agents.claude.token_file: permission denied: {token}"


def test_config_in_subdirectory_is_named_as_given(write):
    write("agents:\n  x: {type: foo}\n", "conf/my.yaml")
    with pytest.raises(ConfigError) as info:
        load_config("conf/my.yaml", env={})
    assert str(info.value) == 'conf/my.yaml:2: agents.x.type: agent "x" has invalid type "foo"'


def test_absolute_path_under_cwd_is_shown_relative(write, workdir):
    write("api:\n  port: 70000\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(workdir / "config.yaml"), env={})
    assert str(info.value) == "config.yaml:2: api.port must be between 0 and 65535"


def test_absolute_path_under_home_is_shown_with_tilde(workdir, home):
    conf = home / ".config" / "conductor" / "config.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text("api:\n  port: 70000\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(conf), env={})
    assert str(info.value) == "~/.config/conductor/config.yaml:2: api.port must be between 0 and 65535"


def test_missing_file(workdir):
    with pytest.raises(ConfigError) as info:
        load_config("nope.yaml", env={})
    assert str(info.value) == "nope.yaml: cannot read config: no such file or directory"


def test_invalid_utf8_names_line(workdir):
    (workdir / "config.yaml").write_bytes(b"agents:\n  claude:\n    model: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml", env={})
    assert str(info.value).startswith("config.yaml:3: invalid YAML: ")


def test_control_character_names_line(workdir):
    (workdir / "config.yaml").write_bytes(b"agents:\n  claude: {}\ntheme: a\x01b\n")
    with pytest.raises(ConfigError) as info:
        load_config("config.yaml", env={})
    assert str(info.value) == "config.yaml:3: invalid YAML: control characters are not allowed"


# ---- hostile values: alias bombs, NUL bytes, environment names the OS refuses ----------------

def _alias_levels(levels: int, indent: str = "  ") -> str:
    lines = [f"{indent}a0: &a0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"{indent}a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_anchors_people_write_still_work(write):
    config = load_config(write("""
        base: &base
          type: claude
          env: {LANG: C}
        agents:
          one: *base
          two: *base
        """), env={})
    assert [(a.type, a.env) for a in config.agents.values()] == [("claude", {"LANG": "C"})] * 2


def test_aliases_adding_up_to_the_limit_are_fine_and_beyond_it_are_refused(write):
    # a0 is 10 nodes, a1 91, a2 820, a3 7,381: four levels' aliases add 90 + 819 + 7,380 = 8,289
    # nodes (fine); the fifth level's (line 6) would add 66,429
    load_config(write("extras:\n" + _alias_levels(4), raw=True), env={})
    err = load_error(write, "extras:\n" + _alias_levels(5))
    assert str(err) == "config.yaml:6: YAML aliases expand beyond 10000 nodes"
    assert err.line == 6


def test_an_alias_inside_its_own_anchor_is_refused(write):
    err = load_error(write, """
        agents: &a
          claude:
            env: *a
        """)
    assert str(err) == "config.yaml:3: YAML aliases expand beyond 10000 nodes"


@pytest.mark.parametrize("text, expected", [
    ('agents:\n  claude:\n    env:\n      "A\\0B": x\n',
     'config.yaml:3: agents.claude.env: variable name "A\\x00B" contains a NUL byte'),
    ('agents:\n  claude:\n    env:\n      A: "x\\0y"\n', "config.yaml:4: agents.claude.env.A: contains a NUL byte"),
    ("agents:\n  claude:\n    env:\n      A=B: x\n", 'config.yaml:3: agents.claude.env: variable name "A=B" contains "="'),
    ('agents:\n  claude:\n    env:\n      "": x\n', "config.yaml:3: agents.claude.env: empty variable name"),
    ('agents:\n  c:\n    type: command\n    command: [ls, "a\\0"]\n',
     "config.yaml:4: agents.c.command[1]: contains a NUL byte"),
    ('agents:\n  claude:\n    token: "t\\0"\n', "config.yaml:3: agents.claude.token: contains a NUL byte"),
    ('agents:\n  claude:\n    token_file: "t\\0"\n', "config.yaml:3: agents.claude.token_file: contains a NUL byte"),
    ('storage:\n  runs_dir: "/tmp/a\\0b"\n', "config.yaml:2: storage.runs_dir: contains a NUL byte"),
    ('storage:\n  extra_roots: ["/tmp/a\\0b"]\n', "config.yaml:2: storage.extra_roots[0]: contains a NUL byte"),
], ids=["NUL in env name", "NUL in env value", "= in env name", "empty env name", "NUL in command",
        "NUL in token", "NUL in token_file", "NUL in runs_dir", "NUL in extra_roots"])
def test_values_the_os_would_refuse_are_config_errors(write, text, expected):
    assert str(load_error(write, text)) == expected


def test_a_config_over_1_mib_is_refused_unread(write):
    err = load_error(write, "agents: {}\n" + "#" * (1 << 20) + "\n")
    assert str(err) == "config.yaml: larger than 1 MiB; refusing to read it"
