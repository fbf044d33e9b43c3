"""An agent sees its own token and no other conductor secret; nothing it prints about tokens
reaches the bus, run-info, `list`/`status`/`output` or the CLI's stderr (docs/configuration.md,
"Secrets")."""

from __future__ import annotations

import json
import os
import sys

import pytest

from conductor.secrets import MASK, StreamRedactor, agent_env_filter, collect, redact

from .conftest import PROJECT, TASK
from .test_secrets import _assert_nowhere, _everything_under

OWN = "stub-own-token-5c1d9e7a"           # the stub agent's token (CONDUCTOR_AGENT_STUB_TOKEN)
CODEX = "codex-config-token-8e2b44f1"     # the codex agent's token, in the config
API_KEY = "conductor-api-key-91ab03cc"    # CONDUCTOR_API_KEY
OTHER = "other-agent-token-3f70d2e6"      # CONDUCTOR_AGENT_OTHER_TOKEN (no such agent)
FOREIGN = (CODEX, API_KEY, OTHER)

DUMP_ENV = """\
import os, sys
for k, v in sorted(os.environ.items()):
    line = f"{k}={v}\\n"
    sys.stdout.write(line)
    sys.stderr.write(line)
sys.exit(1)
"""


def test_command_agent_sees_only_its_own_token_and_no_token_is_copied_anywhere(rig):
    script = rig.base / "dump_env.py"
    script.write_text(DUMP_ENV)
    config = rig.base / "config.yaml"
    config.write_text(f"agents:\n  stub:\n    type: command\n    command: [{json.dumps(sys.executable)}, "
                      f"{json.dumps(str(script))}]\n  codex:\n    type: codex\n    token: {CODEX}\n")
    os.chmod(config, 0o600)
    env = dict(rig.env, CONDUCTOR_API_KEY=API_KEY, CONDUCTOR_AGENT_OTHER_TOKEN=OTHER,
               CONDUCTOR_AGENT_STUB_TOKEN=OWN, OPENAI_API_KEY=CODEX, MY_COPY_OF_CODEX=CODEX)
    printed: dict[str, str] = {}

    def cli(label, *args):
        proc = rig.run(*args, env=env)
        printed[label + " stdout"], printed[label + " stderr"] = proc.stdout, proc.stderr
        return proc

    job = cli("job", "job", "--config", str(config), "--root", rig.root, "--project", PROJECT,
              "--task", TASK, "--agent", "stub", "--prompt", "dump your environment")
    assert job.returncode == 1
    assert job.stderr == "Error: agent execution failed: agent reported failure\n"

    run_dir = os.path.join(rig.root, PROJECT, TASK, "runs")
    (run_id,) = os.listdir(run_dir)
    with open(os.path.join(run_dir, run_id, "agent-stdout.txt"), encoding="utf-8") as f:
        seen = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    # its own token, under its own variable, and no other conductor secret under any name
    assert seen["CONDUCTOR_AGENT_STUB_TOKEN"] == OWN
    for name in ("CONDUCTOR_API_KEY", "CONDUCTOR_AGENT_OTHER_TOKEN", "OPENAI_API_KEY",
                 "MY_COPY_OF_CODEX"):
        assert name not in seen
    for token in FOREIGN:
        assert token not in seen.values()

    for args in (("list", "--project", PROJECT, "--json"),
                 ("list", "--project", PROJECT, "--task", TASK, "--json"),
                 ("status", "--project", PROJECT, "--json"),
                 ("output", "--project", PROJECT, "--task", TASK),
                 ("output", "--project", PROJECT, "--task", TASK, "--file", "stdout"),
                 ("output", "--project", PROJECT, "--task", TASK, "--file", "stderr", "--tail", "5"),
                 ("bus", "read", "--project", PROJECT, "--task", TASK, "--tail", "0")):
        proc = cli(" ".join(args), *args, "--root", rig.root)
        assert proc.returncode == 0, (args, proc.stderr)
    assert MASK in printed["output --project proj --task " + TASK + " stdout"]

    files = _everything_under(rig.root)
    stored = {name: data for name, data in files.items()
              if not name.endswith(("agent-stdout.txt", "agent-stderr.txt"))}
    with open(os.path.join(rig.root, PROJECT, TASK, "TASK-MESSAGE-BUS.md"), encoding="utf-8") as f:
        bus = f.read()
    assert "type: RUN_CRASH" in bus and f"CONDUCTOR_AGENT_STUB_TOKEN={MASK}" in bus
    for token in (OWN, *FOREIGN):
        _assert_nowhere(token, stored)
        _assert_nowhere(token, printed)


def test_redact_leaves_short_values_and_ordinary_words_alone():
    assert redact("key=abcdefgh-123 and abcdefgh", ["abcdefgh-123", "abc"]) == "key=*** and abcdefgh"
    assert redact("pw=secret7", ["secret7"]) == "pw=secret7"  # shorter than 8: not a secret
    assert redact("xx LONGTOKEN-1 LONGTOKEN-12", ["LONGTOKEN-1", "LONGTOKEN-12"]) == "xx *** ***"


def test_stream_redactor_catches_a_token_split_across_chunks():
    r = StreamRedactor(["split-token-0001"])
    out = r.feed(b"line one\nhead split-to") + r.feed(b"ken-0001 tail\nnext") + r.flush()
    assert out == b"line one\nhead *** tail\nnext"


def test_env_filter_rule():
    env = {"CONDUCTOR_AGENT_X_TOKEN": "whatever-long", "conductor_api_key": "k" * 9,
           "ANTHROPIC_API_KEY": "own-token-0000", "COPY": "foreign-token-01", "SHORT": "short",
           "PATH": "/bin"}
    out = agent_env_filter(env, keep=["ANTHROPIC_API_KEY"], own_token="own-token-0000",
                           secrets=["foreign-token-01", "own-token-0000", "short"])
    assert out == {"ANTHROPIC_API_KEY": "own-token-0000", "SHORT": "short", "PATH": "/bin"}
    assert collect(None, {"XAI_API_KEY": " xai-key-123456 ", "HOME": "/home/someone-long"}) == \
        ("xai-key-123456",)


def test_bus_post_redacts_the_tokens_of_its_environment(rig):
    env = dict(rig.env, ANTHROPIC_API_KEY="sk-ant-own-7d1e0c9b", CONDUCTOR_AGENT_X_TOKEN="x-token-5a5a5a5a")
    os.makedirs(os.path.join(rig.root, PROJECT), exist_ok=True)
    proc = rig.run("bus", "post", "--root", rig.root, "--project", PROJECT, "--type", "INFO",
                   "--body", "key sk-ant-own-7d1e0c9b and x-token-5a5a5a5a, short abc", env=env)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(rig.root, PROJECT, "PROJECT-MESSAGE-BUS.md"), encoding="utf-8") as f:
        assert f.read().endswith("---\nkey *** and ***, short abc\n")


def test_console_text_redacts_the_secrets_it_was_given(monkeypatch, tmp_path):
    from conductor import secrets
    from conductor.console.app import ConductorApp
    from conductor.console.text import safe_text
    from conductor.console.line_index import LineBytes, display_line

    monkeypatch.setattr(secrets, "_KNOWN", ())
    config = tmp_path / "c.yaml"
    config.write_text("agents:\n  claude:\n    token: console-token-0123456789\n")
    os.chmod(config, 0o600)
    ConductorApp(str(tmp_path / "runs"), config_path=str(config), watch=False,
                 state_path=str(tmp_path / "state.json"), environ={"HOME": str(tmp_path)})
    assert safe_text("key=console-token-0123456789\x1b[2J") == "key=***\u241b[2J"
    assert display_line(LineBytes(b"tok console-token-0123456789", 28, True), 200).text == "tok ***"


@pytest.mark.parametrize("agent_type, own_var", [
    ("claude", "ANTHROPIC_API_KEY"), ("codex", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY"),
    ("perplexity", "PERPLEXITY_API_KEY"), ("xai", "XAI_API_KEY"), ("command", None)])
def test_every_agent_type_keeps_only_its_own_token(agent_type, own_var, tmp_path):
    from conductor.runner.env import agent_environment
    own, codex, api, other = "own-token-aaaa1111", "codex-token-bbbb2222", "api-key-cccc3333", \
        "other-token-dddd4444"
    base = {"PATH": "/usr/bin", "HOME": "/home/u", "CONDUCTOR_API_KEY": api,
            "CONDUCTOR_AGENT_OTHER_TOKEN": other, "conductor_agent_lower_token": other,
            "CONDUCTOR_AGENT_MINE_TOKEN": own, "OPENAI_API_KEY": codex, "EXPORTED_CODEX": codex,
            "ANTHROPIC_API_KEY": "inherited-anthropic-eeee5555"}
    task_dir = str(tmp_path / "root" / "p" / "t")
    env = agent_environment(base, project="p", task="t", run_id="r", parent_run_id="",
                            task_dir=task_dir, run_dir=task_dir + "/runs/r", bus_path="b",
                            agent_type=agent_type, token=own, agent_name="mine",
                            secrets=(own, codex, api, other))
    conductor_vars = {k for k in env if k.upper().startswith("CONDUCTOR_")}
    assert conductor_vars == {"CONDUCTOR_AGENT_MINE_TOKEN", "CONDUCTOR_ROOT"}
    assert env["CONDUCTOR_AGENT_MINE_TOKEN"] == own
    for value in (codex, api, other, "inherited-anthropic-eeee5555"):
        assert value not in env.values()
    if own_var:
        assert env[own_var] == own
    assert env["CONDUCTOR_ROOT"] == str(tmp_path / "root") and env["HOME"] == "/home/u"
