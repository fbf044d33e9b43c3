"""`run-agent job/task` scope inference from JRUN_* (spec 8.2 #21) and `job batch`."""

import os
import re

PROJECT = "proj"


def test_job_with_only_project_env_generates_a_task_id(stubs):
    env = dict(stubs.env, JRUN_PROJECT_ID=PROJECT)
    res = stubs.run("job", "--root", stubs.root, "--agent", "codex", "--prompt", "STUB: say x", env=env)
    assert res.returncode == 0, res.stderr
    m = re.fullmatch(r"task: (task-\d{8}-\d{6}-[a-z0-9]{6})\n", res.stderr)
    assert m and os.path.isdir(os.path.join(stubs.root, PROJECT, m.group(1), "runs"))


def test_invalid_env_task_id_and_missing_project(stubs, tmp_path):
    env = dict(stubs.env, JRUN_PROJECT_ID=PROJECT, JRUN_TASK_ID="bad-task")
    res = stubs.run("job", "--root", stubs.root, "--agent", "codex", "--prompt", "x", env=env)
    assert res.returncode == 1 and 'invalid task ID "bad-task"' in res.stderr
    res = stubs.run("job", "--root", stubs.root, "--agent", "codex", "--prompt", "x", cwd=str(tmp_path))
    assert res.returncode == 1
    assert res.stderr == "Error: cannot infer project: run from inside a task or project directory\n"
    res = stubs.run("task", "--root", stubs.root, "--agent", "codex", "--prompt", "x", cwd=str(tmp_path))
    assert res.stderr == "Error: cannot infer project: run from inside a task or project directory\n"


def test_task_prints_task_id_only_when_generated(stubs):
    res = stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--agent", "codex", "--prompt", "STUB: done")
    assert res.returncode == 0 and re.fullmatch(r"task: task-\d{8}-\d{6}-[a-z0-9]{6}\n", res.stderr)
    res = stubs.run("task", "--root", stubs.root, "--project", PROJECT, "--task", "task-20260220-153045-named",
                    "--agent", "codex", "--prompt", "STUB: done")
    assert res.returncode == 0 and res.stderr == ""


def test_job_batch(stubs, tmp_path):
    pf = tmp_path / "p.txt"
    pf.write_text("STUB: say from file\n")
    res = stubs.run("job", "batch", "--root", stubs.root, "--project", PROJECT, "--agent", "codex",
                    "--task", "task-20260220-153045-one", "--task", "task-20260220-153045-two",
                    "--prompt", "STUB: say a", "--prompt-file", str(pf))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ("batch item 1/2 completed: task-20260220-153045-one\n"
                          "batch item 2/2 completed: task-20260220-153045-two\n")
    res = stubs.run("job", "batch", "--root", stubs.root, "--project", PROJECT, "--agent", "codex",
                    "--task", "task-20260220-153045-one", "--prompt", "a", "--prompt", "b")
    assert res.stderr == "Error: --task count (1) must match prompt count (2)\n"
    res = stubs.run("job", "batch", "--root", stubs.root, "--project", PROJECT, "--agent", "codex",
                    "--prompt", "STUB: exit 1", "--prompt", "STUB: say ok", "--continue-on-fail")
    assert res.returncode == 1
    assert "batch item 2/2 completed" in res.stdout
    assert res.stderr.strip().splitlines()[-1].startswith("Error: one or more batch items failed: batch item 1 (task ")
