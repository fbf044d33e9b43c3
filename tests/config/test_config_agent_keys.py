"""The agent and loop keys added for real agents (issue 10): every agent type takes model,
base_url, args, env and token/token_file; `defaults:` takes budgets and the loop's policy.
Errors name file:line: field, as every config error does."""

from __future__ import annotations

import pytest

from conductor.config import load_config
from conductor.errors import ConfigError


def test_every_agent_type_takes_the_common_keys(write, workdir):
    path = write("""
        agents:
          c:
            type: claude
            model: claude-opus-5-5
            base_url: http://127.0.0.1:9/
            args: [--fallback-model, claude-haiku-5]
            env: {CLAUDE_CODE_MAX_RETRIES: "0"}
            max_retries: 1
            root_sandbox: false
          g:
            type: gemini
            args: --sandbox-image x
            trust_folder: no
          x:
            type: xai
            model: grok-4.3
        defaults:
          max_cost_usd: $2.50
          max_tokens: 200000
          max_restarts: 7
          failure_limit: 3
          limit_wait_max: 2h
          resume: always
        """)
    config = load_config(path, env={})
    c, g, x = config.agents["c"], config.agents["g"], config.agents["x"]
    assert (c.model, c.base_url, c.args, c.env, c.max_retries, c.root_sandbox) == (
        "claude-opus-5-5", "http://127.0.0.1:9/", ["--fallback-model", "claude-haiku-5"],
        {"CLAUDE_CODE_MAX_RETRIES": "0"}, 1, False)
    assert (g.args, g.trust_folder, g.root_sandbox) == (["--sandbox-image", "x"], False, True)
    assert (x.model, x.args, x.max_retries) == ("grok-4.3", [], None)
    d = config.defaults
    assert (d.max_cost_usd, d.max_tokens, d.max_restarts, d.failure_limit, d.limit_wait_max,
            d.resume) == (2.5, 200000, 7, 3, "2h", "always")


@pytest.mark.parametrize(("text", "message"), [
    ("agents:\n  c:\n    type: claude\n    args: {a: 1}\n",
     "config.yaml:4: agents.c.args: must be a list of strings, got a mapping"),
    ("agents:\n  c:\n    type: claude\n    max_retries: many\n",
     'config.yaml:4: agents.c.max_retries: must be an integer, got "many"'),
    ("agents:\n  c:\n    type: claude\n    max_retries: 500\n",
     "config.yaml:4: agents.c.max_retries: must be between 0 and 100, got 500"),
    ("agents:\n  g:\n    type: gemini\n    trust_folder: maybe\n",
     'config.yaml:4: agents.g.trust_folder: must be true or false, got "maybe"'),
    ("defaults:\n  max_cost_usd: lots\n",
     'config.yaml:2: defaults.max_cost_usd: must be a number, got "lots"'),
    ("defaults:\n  max_cost_usd: 0\n",
     "config.yaml:2: defaults.max_cost_usd must be positive"),
    ("defaults:\n  max_tokens: 0\n",
     "config.yaml:2: defaults.max_tokens must be at least 1"),
    ("defaults:\n  limit_wait_max: soon\n",
     'config.yaml:2: defaults.limit_wait_max: must be a positive duration such as "6h", got "soon"'),
    ("defaults:\n  resume: sometimes\n",
     'config.yaml:2: defaults.resume: must be one of answers, always, never, got "sometimes"'),
])
def test_bad_values_name_file_line_and_field(write, workdir, text, message):
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == message
