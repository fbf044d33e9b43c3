"""Tokens from the config reach the agent's environment and nothing else we write or print; config
and token files that other users can read produce a warning on stderr."""

from __future__ import annotations

import os

import pytest

from conductor import orchestrator
from conductor.store.supervision import loop_alive

from .conftest import PROJECT, TASK, wait_for

INLINE = "sk-ant-INLINE-7f3a9c1e55d04b2a"
FROM_FILE = "sk-ant-FILE-0b8d2e6f41a97c3d"
TASK2 = "task-20260220-153046-second"


def _write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)


def _everything_under(root) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[path] = f.read()
    return out


def _assert_nowhere(token: str, texts: dict[str, str | bytes]) -> None:
    needle = token.encode()
    leaks = [name for name, data in texts.items()
             if needle in (data if isinstance(data, bytes) else data.encode())]
    assert not leaks, f"token found in: {leaks}"


@pytest.mark.parametrize("source", ["inline", "token_file"])
def test_token_reaches_the_agent_environment_only(rig, source):
    config = rig.base / "config.yaml"
    if source == "inline":
        token = INLINE
        _write(config, f"agents:\n  claude:\n    token: {token}\n")
    else:
        token = FROM_FILE
        _write(rig.base / "anthropic.token", token + "\n")
        _write(config, "agents:\n  claude:\n    token_file: anthropic.token\n")
    printed: dict[str, str] = {}

    def cli(label, *args):
        proc = rig.run(*args)
        printed[label + " stdout"], printed[label + " stderr"] = proc.stdout, proc.stderr
        return proc

    ok = cli("job", "job", "--config", "config.yaml", "--root", rig.root, "--project", PROJECT,
             "--task", TASK, "--agent", "claude",
             "--prompt", "STUB: say hello\nSTUB: post FACT agent fact\nSTUB: stderr a line")
    assert ok.returncode == 0, ok.stderr
    failed = cli("failing job", "job", "--config", "config.yaml", "--root", rig.root,
                 "--project", PROJECT, "--task", TASK, "--agent", "claude",
                 "--prompt", "STUB: stderr about to fail\nSTUB: exit 3")
    assert failed.returncode == 1

    # a detached supervisor, as the console starts it: its output goes to TASK-LOOP.log
    orchestrator.new_task(rig.root, PROJECT, TASK2, "STUB: say from the loop\nSTUB: done")
    orchestrator.start_task(rig.root, PROJECT, TASK2, agent="claude",
                            config_path=str(config), environ=rig.env)
    wait_for(lambda: os.path.exists(os.path.join(rig.task_dir(TASK2), "DONE"))
             and not loop_alive(rig.task_dir(TASK2)), timeout=60, what="loop finished")

    for args in (("list",), ("list", "--project", PROJECT), ("list", "--project", PROJECT, "--json"),
                 ("list", "--project", PROJECT, "--task", TASK, "--json"),
                 ("status", "--project", PROJECT, "--json", "--activity"),
                 ("status", "--project", PROJECT, "--concise"),
                 ("bus", "read", "--project", PROJECT, "--task", TASK, "--tail", "0"),
                 ("bus", "read", "--project", PROJECT, "--tail", "0"),
                 ("output", "--project", PROJECT, "--task", TASK),
                 ("output", "--project", PROJECT, "--task", TASK, "--file", "prompt"),
                 ("output", "--project", PROJECT, "--task", TASK, "--file", "stderr")):
        proc = cli(" ".join(args), *args, "--root", rig.root, "--config", "config.yaml")
        assert proc.returncode == 0, (args, proc.stderr)

    records = rig.stubs.records()
    assert len(records) == 3
    for record in records:  # what each agent process really had
        assert record["env"]["ANTHROPIC_API_KEY"] == token
    files = _everything_under(rig.root)
    assert any(p.endswith("TASK-LOOP.log") for p in files)
    assert any(p.endswith("run-info.yaml") for p in files)
    _assert_nowhere(token, files)
    _assert_nowhere(token, printed)


SECRET_ERRORS = [
    ("yaml", "agents:\n  claude:\n    token: sk-ant-LEAK-1: more\n"),
    ("yaml", 'agents:\n  claude:\n    token: "sk-ant-LEAK-1\n'),
    ("yaml", "agents:\n  claude:\n    token: [sk-ant-LEAK-1]\n"),
    ("yaml", "agents:\n  claude:\n    token: {sk-ant-LEAK-1: x}\n"),
    ("yaml", "agents:\n  claude:\n    token: sk-ant-LEAK-1\n    type: nope\n"),
    ("yaml", "agents:\n  claude:\n    token: sk-ant-LEAK-1\n    token_file: sk-ant-LEAK-1\n"),
    ("yaml", "agents:\n  claude:\n    token: sk-ant-LEAK-1\n\tx: 1\n"),
    ("yaml", "agents:\n  claude:\n    token: sk-ant-LEAK-\x011\n"),
    ("yaml", "api:\n  api_key: [sk-ant-LEAK-1]\nagents:\n  claude: {}\n"),
    ("yaml", "webhook:\n  url: https://h/x\n  secret: [sk-ant-LEAK-1]\nagents:\n  claude: {}\n"),
    ("hcl", 'claude {\n  token "sk-ant-LEAK-1"\n}\n'),
    ("hcl", "claude {\n  token: sk-ant-LEAK-1\n}\n"),
    ("hcl", 'claude {\n  token = "sk-ant-LEAK-1\n}\n'),
    ("hcl", 'token = "sk-ant-LEAK-1"\n'),
]


@pytest.mark.parametrize("kind,text", SECRET_ERRORS)
def test_config_errors_next_to_a_token_never_print_it(rig, kind, text):
    name = "conductor-loop.hcl" if kind == "hcl" else "config.yaml"
    (rig.base / name).write_text(text)
    proc = rig.run("job", "--config", name, "--root", rig.root, "--project", PROJECT,
                   "--task", TASK, "--agent", "claude", "--prompt", "x")
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: {name}:") and proc.stderr.count("\n") == 1
    assert "LEAK" not in proc.stderr + proc.stdout


# ----------------------------------------------------------------------------- permissions

def _job(rig, *extra):
    return rig.run("job", "--config", "config.yaml", "--root", rig.root, "--project", PROJECT,
                   "--task", TASK, "--agent", "claude", "--prompt", "STUB: say hi", *extra)


def test_world_readable_config_with_a_token_warns_once(rig):
    _write(rig.base / "config.yaml", f"agents:\n  claude:\n    token: {INLINE}\n", 0o644)
    proc = _job(rig)
    assert proc.returncode == 0
    assert proc.stderr == ("warning: config.yaml is readable by other users (mode 0644); "
                           "chmod 600 it\n")
    batch = rig.run("job", "batch", "--config", "config.yaml", "--root", rig.root,
                    "--project", PROJECT, "--agent", "claude", "--prompt", "STUB: say a",
                    "--prompt", "STUB: say b")
    assert batch.returncode == 0, batch.stderr
    assert batch.stderr.count("warning: config.yaml is readable by other users") == 1


def test_group_readable_token_file_warns_and_config_without_secret_does_not(rig):
    _write(rig.base / "anthropic.token", FROM_FILE, 0o640)
    _write(rig.base / "config.yaml", "agents:\n  claude:\n    token_file: anthropic.token\n", 0o644)
    proc = _job(rig)
    assert proc.returncode == 0
    assert proc.stderr == ("warning: anthropic.token is readable by other users (mode 0640); "
                           "chmod 600 it\n")


def test_private_files_give_no_warning_and_task_warns_too(rig):
    _write(rig.base / "anthropic.token", FROM_FILE, 0o600)
    _write(rig.base / "config.yaml", "agents:\n  claude:\n    token_file: anthropic.token\n", 0o600)
    proc = _job(rig)
    assert (proc.returncode, proc.stderr) == (0, "")
    os.chmod(rig.base / "anthropic.token", 0o604)
    proc = rig.run("task", "--config", "config.yaml", "--root", rig.root, "--project", PROJECT,
                   "--task", TASK2, "--agent", "claude", "--prompt", "STUB: done")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("warning: anthropic.token is readable by other users (mode 0604); "
                           "chmod 600 it\n")
