"""One root rule: JRUN_* variables and `stop --run-dir` never take a command outside the
resolved runs root, and ids from the environment are checked like the flags."""

from __future__ import annotations

import os

import pytest

PROJECT = "proj"
TASK = "task-20260220-153045-rooted"
RUN = "20260220-1530450000-100-0001"


@pytest.fixture
def world(stubs, tmp_path):
    """The runs root (as $CONDUCTOR_ROOT) and a sentinel tree outside it that must stay empty."""
    outside = tmp_path / "outside"
    outside.mkdir()
    env = dict(stubs.env, CONDUCTOR_ROOT=stubs.root)
    os.makedirs(stubs.root, exist_ok=True)
    return stubs, env, str(outside)


def _tree(path: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), path)
                  for d, dirs, files in os.walk(path) for n in dirs + files)


def test_jrun_task_folder_outside_the_root_is_refused(world):
    stubs, env, outside = world
    folder = os.path.join(outside, PROJECT, TASK)
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_TASK_FOLDER=folder))
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr == (f'Error: JRUN_TASK_FOLDER "{folder}" is outside the runs root '
                          f"{stubs.root}\n")
    deeper = os.path.join(stubs.root, "a", PROJECT, TASK)  # in the root, but not <root>/<p>/<t>
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_TASK_FOLDER=deeper))
    assert res.stderr == f'Error: JRUN_TASK_FOLDER "{deeper}" is outside the runs root {stubs.root}\n'
    dotdot = os.path.join(stubs.root, PROJECT, "..", "..", "outside", TASK)
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_TASK_FOLDER=dotdot))
    assert res.stderr == f'Error: JRUN_TASK_FOLDER "{dotdot}" is outside the runs root {stubs.root}\n'
    assert _tree(outside) == [] and _tree(stubs.root) == []


def test_jrun_run_folder_outside_or_through_a_symlink_is_refused(world):
    stubs, env, outside = world
    folder = os.path.join(outside, PROJECT, TASK, "runs", RUN)
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_RUN_FOLDER=folder))
    assert (res.returncode, res.stderr) == (
        1, f'Error: JRUN_RUN_FOLDER "{folder}" is outside the runs root {stubs.root}\n')
    os.symlink(outside, os.path.join(stubs.root, PROJECT))  # <root>/proj -> outside
    linked = os.path.join(stubs.root, PROJECT, TASK, "runs", RUN)
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_RUN_FOLDER=linked))
    assert (res.returncode, res.stderr) == (
        1, f'Error: JRUN_RUN_FOLDER "{linked}" goes through a symlink: '
           f"{os.path.join(stubs.root, PROJECT)}\n")
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_TASK_FOLDER=os.path.join(stubs.root, PROJECT, TASK)))
    assert res.returncode == 1 and "goes through a symlink" in res.stderr
    assert _tree(outside) == []


def test_jrun_folder_inside_the_root_still_works_and_child_runs_find_the_root(world):
    stubs, env, _outside = world
    res = stubs.run("job", "--agent", "codex", "--prompt", "STUB: say x",
                    env=dict(env, JRUN_TASK_FOLDER=os.path.join(stubs.root, PROJECT, TASK)))
    assert (res.returncode, res.stderr) == (0, "")
    # a child started by an agent of a job run with --root (no $CONDUCTOR_ROOT in our env)
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                    "--agent", "claude", "--prompt", "STUB: child codex say from child",
                    env=stubs.env)
    assert (res.returncode, res.stderr) == (0, "")
    assert len(os.listdir(os.path.join(stubs.root, PROJECT, TASK, "runs"))) == 3


@pytest.mark.parametrize("var, value, message", [
    ("JRUN_ID", "../../x", 'invalid run ID "../../x": must not contain path separators'),
    ("JRUN_ID", "bad\nid", "invalid run ID \"bad\\nid\": must be a plain name made of letters, "
                           "digits, '.', '_' and '-'"),
    ("JRUN_PARENT_ID", "a b", None),
    ("JRUN_PROJECT_ID", "Bad_Project", 'invalid project ID "Bad_Project": must contain only '
                                       "lowercase letters, digits, and hyphens (e.g. my-project)"),
    ("JRUN_TASK_ID", "..", 'invalid task ID "..": must not be a relative path reference'),
])
def test_ids_from_the_environment_are_checked_like_flags(world, var, value, message):
    stubs, env, outside = world
    bus_env = dict(env, JRUN_PROJECT_ID=PROJECT)
    bus_env[var] = value
    for args in (("job", "--project", PROJECT, "--task", TASK, "--agent", "codex", "--prompt", "x"),
                 ("bus", "post", "--project", PROJECT, "--type", "INFO", "--body", "hi")):
        res = stubs.run(*args, env=bus_env)
        assert (res.returncode, res.stdout) == (1, ""), (args, res.stderr)
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("Error: invalid ")
        if message:
            assert res.stderr == f"Error: {message}\n"
    assert _tree(stubs.root) == [] and _tree(outside) == []


def test_stop_run_dir_outside_the_root_or_through_a_symlink_is_refused(world):
    stubs, env, outside = world
    foreign = os.path.join(outside, PROJECT, TASK, "runs", RUN)
    os.makedirs(foreign)
    res = stubs.run("stop", "--run-dir", foreign, env=env)
    assert (res.returncode, res.stdout, res.stderr) == (
        1, "", f'Error: --run-dir "{foreign}" is outside the runs root {stubs.root}\n')
    os.symlink(os.path.join(outside, PROJECT), os.path.join(stubs.root, PROJECT))
    linked = os.path.join(stubs.root, PROJECT, TASK, "runs", RUN)
    res = stubs.run("stop", "--run-dir", linked, env=env)
    assert (res.returncode, res.stdout, res.stderr) == (
        1, "", f'Error: --run-dir "{linked}" goes through a symlink: '
               f"{os.path.join(stubs.root, PROJECT)}\n")
    assert _tree(outside) == [f"{PROJECT}", f"{PROJECT}/{TASK}", f"{PROJECT}/{TASK}/runs",
                              f"{PROJECT}/{TASK}/runs/{RUN}"]  # no STOP-REQUESTED written
