"""Working beside the upstream Go tool: its starter HCL file in $HOME, its CANCELLED marker."""

from __future__ import annotations

import os

from waiting import wait_for

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


# ----------------------------------------------------------------------------- task cancel

CANCELLED_RE = r"cancelled_at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\nreason: superseded by task-b\n"

# A root agent that finishes only once the task is cancelled (no sleeps: it polls the marker).
WAIT_FOR_CANCEL = """\
import os, sys, time
marker = os.path.join(os.environ["JRUN_TASK_FOLDER"], "CANCELLED")
deadline = time.monotonic() + 60
while not os.path.exists(marker) and time.monotonic() < deadline:
    time.sleep(0.02)
print("saw CANCELLED" if os.path.exists(marker) else "gave up")
"""


def _wait(predicate, what, timeout=30.0):
    wait_for(predicate, timeout, 0.02, what)


def test_task_cancel_marks_the_task_and_every_view_shows_it(stubs):
    import json
    import re
    from conductor.console.status import read_task
    from conductor.timefmt import now_ns

    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "STUB: say hello")
    assert res.returncode == 0, res.stderr
    res = stubs.run("task", "cancel", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--reason", "superseded by task-b")
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == f"task {PROJECT}/{TASK} marked as cancelled\nreason: superseded by task-b\n"
    task_dir = os.path.join(stubs.root, PROJECT, TASK)
    with open(os.path.join(task_dir, "CANCELLED")) as f:
        assert re.fullmatch(CANCELLED_RE, f.read())

    res = stubs.run("list", "--root", stubs.root, "--project", PROJECT, "--json")
    (row,) = json.loads(res.stdout)["tasks"]
    assert (row["latest_status"], row["cancelled"]) == ("cancelled", True)
    res = stubs.run("list", "--root", stubs.root, "--project", PROJECT)
    assert res.stdout.splitlines()[1].split()[2] == "cancelled"
    res = stubs.run("list", "--root", stubs.root, "--project", PROJECT, "--status", "cancelled",
                    "--json")
    assert [t["task_id"] for t in json.loads(res.stdout)["tasks"]] == [TASK]
    res = stubs.run("status", "--root", stubs.root, "--project", PROJECT, "--json")
    status_rows = json.loads(res.stdout)
    status_rows = status_rows.get("tasks", status_rows) if isinstance(status_rows, dict) else status_rows
    assert [(r["status"], r["cancelled"]) for r in status_rows] == [("cancelled", True)]
    assert read_task(stubs.root, PROJECT, TASK, now_ns=now_ns()).status == "cancelled"

    # the loop does not start a cancelled task; resume clears the marker and runs it again
    res = stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "STUB: done")
    assert (res.returncode, res.stderr) == (1, "Error: task cancelled: superseded by task-b\n")
    assert len(os.listdir(os.path.join(task_dir, "runs"))) == 1
    with open(os.path.join(task_dir, "TASK-MESSAGE-BUS.md")) as f:
        assert "task cancelled (CANCELLED present: superseded by task-b); not restarting" in f.read()
    res = stubs.run("resume", "--root", stubs.root, "--project", PROJECT, "--task", TASK)
    assert res.returncode == 0 and not os.path.exists(os.path.join(task_dir, "CANCELLED"))


def test_task_cancel_errors(stubs):
    base = ("task", "cancel", "--root", stubs.root, "--project", PROJECT)
    res = stubs.run(*base, "--task", TASK, "--reason", "x")
    assert (res.returncode, res.stdout, res.stderr) == (1, "", f"Error: task not found: {PROJECT}/{TASK}\n")
    res = stubs.run(*base, "--task", TASK)
    assert (res.returncode, res.stderr) == (1, 'Error: required flag(s) "reason" not set\n')
    os.makedirs(os.path.join(stubs.root, PROJECT, TASK))
    res = stubs.run(*base, "--task", TASK, "--reason", "two\nlines")
    assert (res.returncode, res.stderr) == (1, "Error: --reason must be one line of printable text\n")
    res = stubs.run(*base, "--task", TASK, "--reason", "  ")
    assert (res.returncode, res.stderr) == (1, "Error: --reason is empty\n")
    assert os.listdir(os.path.join(stubs.root, PROJECT, TASK)) == []


def test_a_running_loop_finishes_its_attempt_and_does_not_restart_after_cancel(stubs):
    import subprocess
    import sys
    script = stubs.base / "wait_cancel.py"
    script.write_text(WAIT_FOR_CANCEL)
    config = stubs.base / "cfg.yaml"
    config.write_text(f"agents:\n  waiter:\n    type: command\n    command: [{sys.executable!r}, "
                      f"{str(script)!r}]\n".replace("'", '"'))
    loop = subprocess.Popen([sys.executable, "-m", "conductor", "task", "--root", stubs.root,
                             "--project", PROJECT, "--task", TASK, "--config", str(config),
                             "--agent", "waiter", "--prompt", "wait", "--restart-delay", "0"],
                            env=stubs.env, cwd=str(stubs.base), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    runs = os.path.join(stubs.root, PROJECT, TASK, "runs")
    _wait(lambda: os.path.isdir(runs) and os.listdir(runs), "the first run")
    res = stubs.run("task", "cancel", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--reason", "superseded by task-b")
    assert res.returncode == 0, res.stderr
    out, err = loop.communicate(timeout=60)
    assert (loop.returncode, err) == (1, "Error: task cancelled: superseded by task-b\n")
    (run_id,) = os.listdir(runs)
    with open(os.path.join(runs, run_id, "agent-stdout.txt")) as f:
        assert f.read() == "saw CANCELLED\n"
