"""The one scope resolver (cli/scope.py): flags > JRUN_* environment > CWD > config."""

from __future__ import annotations

import os
import re

import pytest

from conductor.cli import scope as sc
from conductor.errors import ConductorError
from conductor.store import Layout, RunInfo, write_run_info

P, Q = "proj", "other"
T = "task-20260220-153045-alpha"
U = "task-20260220-153046-beta"
RUN = "20260220-1530450000-100-1"
CWD_RUN = "20260220-1530460000-100-2"


class Args:
    def __init__(self, **kw) -> None:
        self.root = self.config = self.project = self.task = None
        self.run = ""
        self.__dict__.update(kw)


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Three roots: the config's (CONDUCTOR_ROOT), an agent's (JRUN_*), and one the CWD is in."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    made = {}
    for name in ("config", "env", "cwd"):
        made[name] = str(tmp_path / name)
        os.makedirs(made[name])
    run_dir = os.path.join(Layout(made["cwd"]).ensure_task_dir(Q, U), "runs", CWD_RUN)
    os.makedirs(run_dir)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=CWD_RUN, project_id=Q, task_id=U, agent="claude", status="completed"))
    made["run_dir"] = run_dir
    made["plain"] = str(tmp_path)
    return made


def agent_env(roots) -> dict:
    task_dir = os.path.join(roots["env"], P, T)
    return {"CONDUCTOR_ROOT": roots["env"], "JRUN_PROJECT_ID": P, "JRUN_TASK_ID": T,
            "JRUN_ID": RUN, "JRUN_TASK_FOLDER": task_dir,
            "JRUN_RUN_FOLDER": os.path.join(task_dir, "runs", RUN)}


def where(s: sc.Scope, roots) -> tuple[str, str, str, str]:
    names = {v: k for k, v in roots.items()}
    return names.get(s.root, s.root), s.project, s.task, s.run


# (flags, environment, cwd) -> (root, project, task, run) for `job` (task="infer")
CASES = [
    ("flags beat everything", dict(root="flag", project="p2", task=T), "agent", "run_dir",
     ("flag", "p2", T, RUN)),
    ("the agent's JRUN_* beat the CWD", {}, "agent", "run_dir", ("env", P, T, RUN)),
    ("the CWD's run-info without JRUN_*", {}, "config", "run_dir", ("cwd", Q, U, CWD_RUN)),
    ("a flag project keeps the CWD's task only for the same project", dict(project=Q), "config",
     "run_dir", ("cwd", Q, U, CWD_RUN)),
    ("a project dir gives project and root", {}, "config", "project_dir", ("cwd", Q, "new", "")),
    ("the config's root when nothing else names one", dict(project=P), "config", "plain",
     ("config", P, "new", "")),
]


@pytest.mark.parametrize("flags, env, cwd, want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_job_scope_precedence(roots, capsys, flags, env, cwd, want):
    if flags.get("root") == "flag":
        roots["flag"] = flags["root"] = os.path.join(roots["plain"], "flag")
    environ = agent_env(roots) if env == "agent" else {"CONDUCTOR_ROOT": roots["config"]}
    cwd_dir = os.path.join(roots["cwd"], Q) if cwd == "project_dir" else roots[cwd]
    s = sc.resolve(Args(**flags), environ, cwd_dir, task="infer")
    got = where(s, roots)
    if want[2] == "new":
        assert re.fullmatch(r"task-\d{8}-\d{6}-[a-z0-9]{6}", s.task)
        assert capsys.readouterr().err == f"task: {s.task}\n"
        got = (got[0], got[1], "new", got[3])
    assert got == want


def test_task_starts_a_new_task_never_the_agents_own(roots, capsys):
    s = sc.resolve(Args(), agent_env(roots), roots["run_dir"], task="new")
    assert (s.project, s.root) == (P, roots["env"]) and s.task != T
    assert capsys.readouterr().err == f"task: {s.task}\n"


def test_given_task_resolves_root_and_project_the_same_way(roots):
    s = sc.resolve(Args(task=U), {"CONDUCTOR_ROOT": roots["config"]}, roots["run_dir"], task="given")
    assert where(s, roots)[:3] == ("cwd", Q, U)
    s = sc.resolve(Args(task="any-old-name", project=P, root=roots["config"]), agent_env(roots),
                   roots["run_dir"], task="given")
    assert where(s, roots)[:3] == ("config", P, "any-old-name")


def test_agent_folders_must_lie_in_the_resolved_root(roots):
    environ = dict(agent_env(roots), CONDUCTOR_ROOT=roots["config"])
    with pytest.raises(ConductorError, match="is outside the runs root"):
        sc.resolve(Args(), environ, roots["plain"], task="infer")


def test_no_project_anywhere(roots):
    with pytest.raises(ConductorError) as exc:
        sc.resolve(Args(), {"CONDUCTOR_ROOT": roots["config"]}, roots["plain"], task="given")
    assert str(exc.value) == "cannot infer project: run from inside a task or project directory"


def test_bus_precedence(roots):
    cwd_bus = Layout(roots["cwd"]).task_bus(Q, U)
    environ = agent_env(roots)
    env_bus = os.path.join(environ["JRUN_TASK_FOLDER"], "TASK-MESSAGE-BUS.md")
    environ["JRUN_MESSAGE_BUS"] = env_bus
    args = Args(project=P, root=roots["config"])
    assert sc.resolve_bus(args, environ, roots["run_dir"])[0] == Layout(roots["config"]).project_bus(P)
    assert sc.resolve_bus(Args(), environ, roots["run_dir"])[0] == env_bus
    assert sc.resolve_bus(Args(), {}, roots["run_dir"])[0] == cwd_bus
    assert sc.resolve_bus(Args(), {}, os.path.join(roots["cwd"], Q))[0] == \
        Layout(roots["cwd"]).project_bus(Q)
    with pytest.raises(ConductorError, match="cannot find message bus"):
        sc.resolve_bus(Args(), {}, roots["plain"])
