"""The demo project: four tasks run by the simulated agent, started as detached supervisors.

Each task's TASK.md carries a ``scenario: <name>`` line that :mod:`conductor.demo.sim_agent`
reads, so what a task does is visible in its prompt. The config written next to them defines
one ``command`` agent, ``sim``, running this interpreter's copy of the simulator.
"""

from __future__ import annotations

import json
import os
import sys

from ..errors import UsageError
from ..ids import new_task_id, validate_project_id
from ..orchestrator import new_task, start_task
from ..store import Layout
from .sim_agent import AGENT_ENV, CONFIG_ENV, SPEED_ENV

DEMO_PROJECT = "demo"
AGENT_NAME = "sim"
RESTART_DELAY = "1s"

SCENARIO_PROMPTS = {
    "happy": ("Make slugify() turn any run of punctuation or spaces into a single '-', and "
              "check the tests with a sub-agent."),
    "flaky": "Build the project. (The first attempt fails; the restart succeeds.)",
    "long": "Process all 600 batches, one per second. (Long enough to be stopped.)",
    "question": "Plan the database migration. Ask the operator which database to target.",
}
SCENARIOS = tuple(SCENARIO_PROMPTS)


def task_prompt(scenario: str) -> str:
    return f"scenario: {scenario}\n\n{SCENARIO_PROMPTS.get(scenario, 'Simulated work.')}\n"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def demo_config_text(config_path: str, *, root: str | None = None, speed: float | None = 1.0,
                     agent: str = AGENT_NAME, python: str | None = None) -> str:
    """The config YAML: one ``command`` agent running the simulator, the default agent.

    The agent's env tells the simulator its own name and this config's path, which its
    ``run-agent job`` sub-agent needs. ``speed=None`` leaves CONDUCTOR_SIM_SPEED to the caller's
    environment (tests set it there).
    """
    python = python or sys.executable
    env = {CONFIG_ENV: os.path.abspath(config_path), AGENT_ENV: agent}
    if speed is not None:
        env[SPEED_ENV] = f"{speed:g}"
    lines = [
        "# Written by `conductor demo`: the simulated agent, no tokens spent.",
        "agents:",
        f"  {agent}:",
        "    type: command",
        f"    command: [{_q(python)}, \"-m\", \"conductor.demo.sim_agent\"]",
        "    env:",
        *(f"      {key}: {_q(value)}" for key, value in env.items()),
        "defaults:",
        f"  agent: {agent}",
    ]
    if root:
        lines += ["storage:", f"  runs_dir: {_q(os.path.abspath(root))}"]
    return "\n".join(lines) + "\n"


def write_demo_config(config_path: str, *, root: str | None = None, speed: float | None = 1.0,
                      agent: str = AGENT_NAME) -> str:
    parent = os.path.dirname(os.path.abspath(config_path))
    os.makedirs(parent, exist_ok=True)
    with open(config_path, "w", encoding="utf-8") as f:
        f.write(demo_config_text(config_path, root=root, speed=speed, agent=agent))
    return config_path


def _fresh_task_id(layout: Layout, project: str, scenario: str) -> str:
    """``task-<now>-<scenario>``; ``-2``, ``-3``… when a demo was made in the same second."""
    for n in range(1, 100):
        slug = scenario if n == 1 else f"{scenario}-{n}"
        task = new_task_id(slug)
        if not os.path.exists(layout.task_dir(project, task)):
            return task
    raise UsageError(f"cannot find a free task id for {scenario}")


def create_demo(root: str, *, config_path: str, speed: float = 1.0,
                project: str = DEMO_PROJECT, scenarios: tuple[str, ...] = SCENARIOS,
                restart_delay: str = RESTART_DELAY, environ: dict | None = None) -> list[str]:
    """Write the config, create one task per scenario and start each as a detached supervisor.

    Returns the new task ids, in scenario order. Calling it again makes new tasks next to the
    old ones; it never touches existing tasks.
    """
    if speed <= 0:
        raise UsageError("--speed must be greater than 0")
    validate_project_id(project)
    unknown = [s for s in scenarios if s not in SCENARIO_PROMPTS]
    if unknown:
        raise UsageError(f"unknown demo scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    layout = Layout(root)
    os.makedirs(layout.root, exist_ok=True)
    write_demo_config(config_path, root=layout.root, speed=speed)
    tasks = []
    for scenario in scenarios:
        task = _fresh_task_id(layout, project, scenario)
        new_task(layout.root, project, task, task_prompt(scenario))
        tasks.append(task)
    for task in tasks:
        start_task(layout.root, project, task, agent=AGENT_NAME, config_path=config_path,
                   extra_args=["--restart-delay", restart_delay], environ=environ)
    return tasks
