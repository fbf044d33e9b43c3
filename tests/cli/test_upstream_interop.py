"""Working beside the upstream Go tool: its starter HCL file in $HOME, its CANCELLED marker."""

from __future__ import annotations

import os

PROJECT = "proj"
TASK = "task-20260220-153045-interop"

# What upstream's FindDefaultConfig writes on first use (spec 6.2/6.6): every line a comment.
UPSTREAM_STARTER = """\
# conductor-loop configuration
# Created automatically by run-agent. Uncomment and edit what you need.
#
# claude {
#   type = "claude"
#   token_file = "~/.config/claude/token"
# }
#
# codex {
#   type = "codex"
# }
#
// defaults {
//   agent = "claude"
//   timeout = 3600
// }
#
# storage {
#   runs_dir = "~/.run-agent/runs"
# }
"""


def _starter(env) -> str:
    path = os.path.join(env["HOME"], ".run-agent", "conductor-loop.hcl")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path, "w") as f:
        f.write(UPSTREAM_STARTER)
    os.chmod(path, 0o600)
    return path


def test_agent_flag_without_config_ignores_the_upstream_starter_file(stubs):
    _starter(stubs.env)
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "STUB: say hello")
    assert (res.returncode, res.stderr) == (0, "")
    res = stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "codex", "--prompt", "STUB: done")
    assert (res.returncode, res.stderr) == (0, "")
    # without --agent the starter is the config, and it has no agents (as upstream says)
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--prompt", "STUB: say hello")
    assert res.returncode == 1
    assert res.stderr == "Error: home/.run-agent/conductor-loop.hcl: no agents configured\n"


def test_agent_flag_without_config_ignores_a_local_config_yaml_too(stubs):
    (stubs.base / "config.yaml").write_text("agents:\n  mine:\n    type: codex\n")
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "STUB: say hello")
    assert (res.returncode, res.stderr) == (0, "")
    # a configured name (not a type) is still looked up in the default places
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "mine", "--prompt", "STUB: say hello")
    assert (res.returncode, res.stderr) == (0, "")
