"""The agent's environment (spec 4.4): JRUN_* variables, its own token, no one else's keys."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `run-agent job` does not import typing
    from typing import Mapping

from ..secrets import agent_env_filter


def run_agent_dir() -> str | None:
    """The directory holding the ``run-agent`` we are, so agents can call it back."""
    candidates = [os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else "",
                  os.path.dirname(sys.executable)]
    for d in candidates:
        if d and os.path.isfile(os.path.join(d, "run-agent")):
            return d
    import shutil  # rarely reached: the run-agent we are was found above
    found = shutil.which("run-agent")
    return os.path.dirname(found) if found else None


def agent_environment(base: Mapping[str, str], *, project: str, task: str, run_id: str,
                      parent_run_id: str, task_dir: str, run_dir: str, bus_path: str,
                      agent_type: str, token: str = "", conductor_url: str = "",
                      extra: Mapping[str, str] | None = None, agent_name: str = "",
                      secrets: tuple[str, ...] = (),
                      backend_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``secrets`` are every configured token (conductor.secrets.collect): the agent keeps its
    own token variables and loses every other conductor secret (docs/configuration.md).

    The token goes into every variable the agent's backend reads it from (codex: CODEX_API_KEY
    and OPENAI_API_KEY); every other backend's token variables are removed. ``backend_env``
    is what the backend sets for this attempt; ``extra`` (the config's ``env``) comes last."""
    from ..agents.registry import backend as backend_of, token_vars
    from ..config.tokens import agent_token_env_name
    own = backend_of(agent_type)
    env = dict(base)
    env.update({
        "JRUN_PROJECT_ID": project,
        "JRUN_TASK_ID": task,
        "JRUN_ID": run_id,
        "JRUN_PARENT_ID": parent_run_id,
        "JRUN_RUNS_DIR": os.path.join(task_dir, "runs"),
        "JRUN_MESSAGE_BUS": bus_path,
        "JRUN_TASK_FOLDER": task_dir,
        "JRUN_RUN_FOLDER": run_dir,
        # the runs root, so `run-agent` called by the agent resolves the same root (JRUN_*
        # folders are only accepted inside the resolved root)
        "CONDUCTOR_ROOT": os.path.dirname(os.path.dirname(os.path.abspath(task_dir))),
    })
    if conductor_url:
        env["JRUN_CONDUCTOR_URL"] = conductor_url
    else:
        env.pop("JRUN_CONDUCTOR_URL", None)
    if token:
        for var in own.token_vars:
            env[var] = token
    ours = run_agent_dir()
    path = env.get("PATH", "")
    if ours and ours not in path.split(os.pathsep):
        env["PATH"] = ours + (os.pathsep + path if path else "")
    own_vars = list(own.token_vars)
    if agent_name:
        own_vars.append(agent_token_env_name(agent_name))
    own_token = token or next((env[v] for v in own.token_vars if env.get(v, "").strip()), "")
    env = agent_env_filter(env, keep=own_vars, own_token=own_token, secrets=secrets)
    if backend_env:
        env.update(backend_env)
    if extra:
        env.update(extra)
    env.pop("CLAUDECODE", None)
    keep = {k.upper() for k in (*own.token_vars, *own.other_vars)}
    foreign = {k.upper() for k in token_vars()}
    for key in list(env):
        if key.upper() in foreign and key.upper() not in keep:
            del env[key]
    return dict(sorted(env.items()))
