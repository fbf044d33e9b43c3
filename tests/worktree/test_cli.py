"""`run-agent task --worktree`: real git, real worktrees, a command agent."""

from __future__ import annotations

import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

from .conftest import PROJECT, TASK_A, TASK_B


def record(wt, task):
    with open(os.path.join(wt.task_dir(task), "WORKTREE.json")) as f:
        return json.load(f)


def test_two_tasks_run_in_separate_worktrees_without_touching_each_other(wt):
    head = wt.git("rev-parse", "HEAD")
    with ThreadPoolExecutor(2) as pool:  # side by side, as two starts from the console
        a, b = pool.map(lambda task: wt.task(task, "--worktree"), (TASK_A, TASK_B))
    assert (a.returncode, b.returncode) == (0, 0), a.stderr + b.stderr
    for task, other in ((TASK_A, TASK_B), (TASK_B, TASK_A)):
        path = wt.worktree(task)
        assert sorted(os.listdir(path)) == [".git", "README", f"file-{task}.txt"]
        with open(os.path.join(wt.task_dir(task), "agent-cwd.txt")) as f:
            assert f.read().strip() == path
        rec = record(wt, task)
        assert list(rec) == ["repo", "path", "branch", "base_ref", "base_commit", "created_at"]
        assert rec["repo"] == wt.repo and rec["path"] == path
        assert rec["branch"] == f"conductor/{task}"
        assert (rec["base_ref"], rec["base_commit"]) == ("HEAD", head)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["created_at"])
        assert wt.git("rev-parse", "--abbrev-ref", "HEAD", cwd=path) == f"conductor/{task}"
    # the source checkout is as it was: no agent file, still on main
    assert sorted(os.listdir(wt.repo)) == [".git", "README"]
    assert wt.git("status", "--porcelain") == ""
    assert wt.git("rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_a_non_git_working_dir_is_one_error_line(wt, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    out = wt.task(TASK_A, "--worktree", cwd=str(plain))
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == (f"Error: --worktree: {plain} is not in a git repository (start the "
                          "task from a git working dir, or give --cwd)\n")
    assert not os.path.exists(wt.task_dir(TASK_A))
    # without --task: still the one line, before a new task id is announced
    out = wt.run("task", "--root", wt.root, "--config", wt.config, "--agent", "sh",
                 "--project", PROJECT, "--prompt", "x", "--worktree", cwd=str(plain))
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("Error: --worktree: ")


def test_a_base_ref_is_recorded_as_given(wt):
    first = wt.git("rev-parse", "HEAD")
    with open(os.path.join(wt.repo, "README"), "a") as f:
        f.write("more\n")
    wt.git("commit", "-qam", "second")
    wt.git("branch", "stable", first)
    out = wt.task(TASK_A, "--worktree", "--base", "stable")
    assert out.returncode == 0, out.stderr
    rec = record(wt, TASK_A)
    assert (rec["base_ref"], rec["base_commit"]) == ("stable", first)
    with open(os.path.join(wt.worktree(TASK_A), "README")) as f:
        assert f.read() == "hello\n"
    bad = wt.task(TASK_B, "--worktree", "--base", "--upload-pack=x")
    assert bad.returncode != 0 and not os.path.exists(wt.worktree(TASK_B))


def test_config_setup_and_copy_run_in_the_new_worktree(wt):
    with open(os.path.join(wt.repo, ".env"), "w") as f:
        f.write("SECRET=1\n")  # not in git: copied
    os.makedirs(os.path.join(wt.repo, "conf"))
    with open(os.path.join(wt.repo, "conf", "local.ini"), "w") as f:
        f.write("x=1\n")
    wt.write_config(f"worktree:\n  enabled: true\n  dir: {wt.worktrees}\n"
                    "  setup: [sh, -c, 'pwd > setup-ran.txt; cat .env >> setup-ran.txt']\n"
                    "  copy: [.env, conf/local.ini, missing.txt]\n")
    out = wt.task(TASK_A)  # enabled by the config: no flag needed
    assert out.returncode == 0, out.stderr
    path = wt.worktree(TASK_A)
    with open(os.path.join(path, "setup-ran.txt")) as f:
        assert f.read() == f"{path}\nSECRET=1\n"
    with open(os.path.join(path, "conf", "local.ini")) as f:
        assert f.read() == "x=1\n"
    bus = open(os.path.join(wt.task_dir(TASK_A), "TASK-MESSAGE-BUS.md")).read()
    assert "worktree.copy: missing.txt: not found in" in bus
    # --no-worktree overrides the config
    out = wt.task(TASK_B, "--no-worktree")
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(wt.worktree(TASK_B))
    assert not os.path.exists(os.path.join(wt.task_dir(TASK_B), "WORKTREE.json"))


def test_a_failing_setup_leaves_no_worktree_and_no_branch(wt):
    wt.write_config("worktree:\n  setup: [sh, -c, 'echo broken; exit 3']\n")
    out = wt.task(TASK_A, "--worktree")
    assert out.returncode == 1
    log = os.path.join(wt.task_dir(TASK_A), "WORKTREE-SETUP.log")
    assert out.stderr.endswith(f"Error: worktree.setup: sh: exit status 3 (output in {log})\n")
    assert open(log).read() == "broken\n"
    assert not os.path.exists(wt.worktree(TASK_A))
    assert wt.git("branch", "--list", "conductor/*") == ""


def test_a_setup_that_hangs_is_killed_at_its_timeout(wt):
    wt.write_config("worktree:\n  setup: [sleep, '600']\n  setup_timeout: 300ms\n")
    out = wt.task(TASK_A, "--worktree")
    assert out.returncode == 1
    assert "Error: worktree.setup: sleep: killed after the timeout of 0.3s" in out.stderr


def test_copy_refuses_a_path_that_leaves_the_repository(wt, tmp_path):
    (tmp_path / "outside.txt").write_text("no\n")
    os.symlink(str(tmp_path / "outside.txt"), os.path.join(wt.repo, "link.txt"))
    wt.write_config("worktree:\n  copy: [link.txt]\n")
    out = wt.task(TASK_A, "--worktree")
    assert out.returncode == 1
    assert out.stderr.endswith(f"Error: worktree.copy: link.txt: leaves the repository "
                               f"{wt.repo}; not copying it\n")
    wt.write_config("worktree:\n  copy: [../outside.txt]\n")
    out = wt.task(TASK_A, "--worktree")
    assert out.returncode == 1
    assert out.stderr.startswith(f"Error: {wt.config}:")
    assert "worktree.copy[0]" in out.stderr and "leaves the repository" in out.stderr


def test_a_restart_reuses_the_worktree(wt):
    out = wt.task(TASK_A, "--worktree")
    assert out.returncode == 0, out.stderr
    first = record(wt, TASK_A)
    wt.git("commit", "-q", "--allow-empty", "-m", "agent work", cwd=wt.worktree(TASK_A))
    out = wt.run("task", "resume", "--root", wt.root, "--config", wt.config, "--agent", "sh",
                 "--project", PROJECT, "--task", TASK_A, "--restart-delay", "0")
    assert out.returncode == 0, out.stderr
    assert record(wt, TASK_A) == first
    runs = sorted(os.listdir(os.path.join(wt.task_dir(TASK_A), "runs")))
    assert len(runs) == 2
    with open(os.path.join(wt.task_dir(TASK_A), "runs", runs[-1], "run-info.yaml")) as f:
        assert f"cwd: {wt.worktree(TASK_A)}\n" in f.read()
    assert wt.git("log", "-1", "--format=%s", "conductor/" + TASK_A) == "agent work"
    # `task --worktree` again (the console's restart) reuses it as well
    out = wt.task(TASK_A, "--worktree", "--resume")
    assert out.returncode == 0, out.stderr
    assert record(wt, TASK_A) == first


def test_a_child_job_shares_the_worktree(wt):
    """`run-agent job` from inside the task (JRUN_* set) runs in the task's worktree."""
    child = wt.tmp / "child.sh"
    child.write_text("#!/bin/sh\ncat >/dev/null\npwd > \"$JRUN_TASK_FOLDER/child-cwd.txt\"\n"
                     "echo child > child.txt\n")
    parent = wt.tmp / "parent.sh"
    parent.write_text(f"#!/bin/sh\ncat >/dev/null\n{sys.executable} -m conductor job "
                      f"--config {wt.config} --agent child --prompt 'child work' || exit 9\n"
                      "touch \"$JRUN_TASK_FOLDER/DONE\"\n")
    for script in (child, parent):
        script.chmod(0o755)
    wt.write_config("", agents=f"  parent:\n    type: command\n    command: [{parent}]\n"
                               f"  child:\n    type: command\n    command: [{child}]\n")
    out = wt.run("task", "--root", wt.root, "--config", wt.config, "--agent", "parent",
                 "--project", PROJECT, "--task", TASK_A, "--prompt", "p", "--worktree")
    assert out.returncode == 0, out.stderr
    path = wt.worktree(TASK_A)
    with open(os.path.join(wt.task_dir(TASK_A), "child-cwd.txt")) as f:
        assert f.read().strip() == path
    assert open(os.path.join(path, "child.txt")).read() == "child\n"
    assert not os.path.exists(os.path.join(wt.repo, "child.txt"))
    runs = os.listdir(os.path.join(wt.task_dir(TASK_A), "runs"))
    assert len(runs) == 2  # the root run and its child


def test_a_supervisor_started_in_its_task_dir_never_takes_that_repository(wt):
    """The runs root inside a git repository: a start without a working dir (the console's
    start runs the supervisor in the task dir) creates no worktree of that repository."""
    wt.write_config("worktree:\n  enabled: true\n")
    root_in_repo = os.path.join(wt.repo, "runs")
    task_dir = os.path.join(root_in_repo, PROJECT, TASK_A)
    os.makedirs(task_dir)
    out = wt.run("task", "--root", root_in_repo, "--config", wt.config, "--agent", "sh",
                 "--project", PROJECT, "--task", TASK_A, "--prompt", "p", cwd=task_dir)
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(os.path.join(task_dir, "WORKTREE.json"))
    assert wt.git("branch", "--list", "conductor/*") == ""
    out = wt.run("task", "--root", root_in_repo, "--config", wt.config, "--agent", "sh",
                 "--project", PROJECT, "--task", TASK_B, "--prompt", "p", "--worktree",
                 cwd=root_in_repo)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == (f"Error: --worktree: the working dir {root_in_repo} is inside the "
                          "runs root; give --cwd\n")


def test_the_consoles_restart_reuses_the_worktree(wt, monkeypatch):
    """orchestrator.restart_task (the console's `r`): a detached supervisor started in the
    task dir, with no worktree flag, runs in the recorded worktree."""
    from conductor import orchestrator
    from waiting import wait_for
    for key in [k for k in os.environ if k.startswith("JRUN_")]:
        monkeypatch.delenv(key)
    wt.write_config("worktree:\n  enabled: true\n")
    assert wt.task(TASK_A).returncode == 0
    first = record(wt, TASK_A)
    orchestrator.restart_task(wt.root, PROJECT, TASK_A, agent="sh", config_path=wt.config)
    runs_dir = os.path.join(wt.task_dir(TASK_A), "runs")
    wait_for(lambda: len(os.listdir(runs_dir)) == 2
             and os.path.exists(os.path.join(wt.task_dir(TASK_A), "DONE"))
             and not orchestrator.loop_alive(wt.root, PROJECT, TASK_A), 60, what="the restart")
    assert record(wt, TASK_A) == first
    newest = sorted(os.listdir(runs_dir))[-1]
    with open(os.path.join(runs_dir, newest, "run-info.yaml")) as f:
        assert f"cwd: {wt.worktree(TASK_A)}\n" in f.read()
