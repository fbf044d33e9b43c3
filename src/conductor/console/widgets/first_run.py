"""What the console shows in place of the tree while the root holds no task: a first run.

The facts (does the root exist, is there a ``./runs`` with projects that is not the root,
which agent CLIs are on PATH) are read in the root-reading worker (:func:`first_run_facts`),
never on the event loop; :func:`first_run_text` only words them.
"""

from __future__ import annotations

import os
import shutil

from rich.text import Text
from textual.widgets import Static

from ...store.scan import project_names
from ...words import program

AGENT_PROGRAMS = ("claude", "codex", "gemini")


class FirstRunFacts:
    __slots__ = ("root", "exists", "local_runs", "local_projects", "on_path", "command")

    def __init__(self, root: str, exists: bool, local_runs: str = "", local_projects: int = 0,
                 on_path: tuple[str, ...] = (), command: str = "conductor") -> None:
        self.root = root
        self.exists = exists
        self.local_runs = local_runs          # ./runs when it holds projects and is not the root
        self.local_projects = local_projects
        self.on_path = on_path                # agent CLIs found on PATH
        self.command = command                # how to run this program again


def first_run_facts(root: str, cwd: str | None = None) -> FirstRunFacts:
    """Read what the first-run screen says (disk and PATH: call it off the event loop)."""
    cwd = os.getcwd() if cwd is None else cwd
    exists = os.path.isdir(root) and not os.path.islink(root)
    local = os.path.join(cwd, "runs")
    local_runs, count = "", 0
    if os.path.realpath(local) != os.path.realpath(root):
        try:
            count = len(project_names(local))
        except OSError:
            count = 0
        local_runs = local if count else ""
    on_path = tuple(name for name in AGENT_PROGRAMS if shutil.which(name))
    return FirstRunFacts(root, exists, local_runs, count, on_path, program())


def first_run_text(facts: FirstRunFacts, *, agents: list[str]) -> Text:
    """The screen's words. ``agents``: the agents the config names (none without a config)."""
    text = Text()
    text.append("No tasks yet under\n", style="bold")
    text.append(f"  {facts.root}\n")
    if not facts.exists:
        text.append("  (it does not exist yet: it is made when the first task starts)\n", style="dim")
    text.append("\nNext:\n", style="bold")
    text.append(f"  {facts.command} demo", style="bold")
    text.append("   a demo project that needs no API keys (in ./runs)\n")
    text.append("  n", style="bold")
    if agents:
        text.append(f"   a new task (agents: {', '.join(agents)})\n")
    else:
        text.append("   a new task: agents come from a config (--config FILE, docs/configuration.md)\n")
    text.append("  ?", style="bold")
    text.append("   every key\n")
    if facts.local_runs:
        plural = "project" if facts.local_projects == 1 else "projects"
        text.append(f"\nFound {facts.local_runs} with {facts.local_projects} {plural}: open it with\n")
        text.append(f"  {facts.command} --root {facts.local_runs}\n", style="bold")
    if facts.on_path:
        text.append(f"\nAgent CLIs on PATH: {', '.join(facts.on_path)}\n")
    return text


class FirstRun(Static):
    """Shown in place of the run tree while the root has no task."""

    def show(self, facts: FirstRunFacts, *, agents: list[str]) -> None:
        self.update(first_run_text(facts, agents=agents))
