"""Real `run-agent task`/`job` processes with a command agent and hooks that record their
environment (one JSON line per call)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = "proj"
TASK = "task-20261130-120000-alerts"
PY = sys.executable

RECORDER = """import json, os, sys
names = ("EVENT", "PROJECT_ID", "TASK_ID", "RUN_ID", "STATUS", "OLD_STATE", "NEW_STATE",
         "QUESTION", "COST_USD")
facts = {"CONDUCTOR_" + n: os.environ.get("CONDUCTOR_" + n) for n in names}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(facts, sort_keys=True) + "\\n")
"""


class Bench:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = str(base / "runs")
        os.makedirs(self.root, exist_ok=True)
        self.log = str(base / "hooks.log")
        (base / "record.py").write_text(RECORDER)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("JRUN_", "CONDUCTOR_"))}
        self.env["CONDUCTOR_FORKSERVER"] = "0"

    @property
    def task_dir(self) -> str:
        return os.path.join(self.root, PROJECT, TASK)

    def config(self, agent_body: str, hooks: str = "", webhook: str = "") -> str:
        script = self.base / "agent.sh"
        script.write_text("cat >/dev/null\n" + agent_body)
        cfg = self.base / "config.yaml"
        cfg.write_text(f"agents:\n  sim:\n    type: command\n    command: [/bin/sh, {script}]\n"
                       + hooks + webhook)
        return str(cfg)

    def recorder_hook(self, on: str = "", timeout: str = "") -> str:
        text = f"  - command: [{PY}, {self.base / 'record.py'}, {self.log}]\n"
        if on:
            text += f"    on: [{on}]\n"
        if timeout:
            text += f"    timeout: {timeout}\n"
        return text

    def task_argv(self, cfg: str, *extra: str) -> list[str]:
        return [PY, "-m", "conductor", "task", "--root", self.root, "--project", PROJECT,
                "--task", TASK, "--config", cfg, "--agent", "sim", "--prompt", "x",
                "--restart-delay", "10ms", *extra]

    def run_task(self, cfg: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.task_argv(cfg, *extra), env=self.env, capture_output=True,
                              text=True, timeout=120)

    def start_task(self, cfg: str) -> subprocess.Popen:
        return subprocess.Popen(self.task_argv(cfg), env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def calls(self) -> list[dict]:
        if not os.path.exists(self.log):
            return []
        return [json.loads(line) for line in Path(self.log).read_text().splitlines() if line]

    def events(self) -> list[str]:
        return [c["CONDUCTOR_EVENT"] for c in self.calls()]

    def delivered(self) -> bool:
        """Every event fired so far has every delivery done (the helpers are finished)."""
        from conductor.alerts import outbox
        folder = os.path.join(self.task_dir, "alerts")
        return os.path.isdir(folder) and not outbox.pending(self.task_dir) and \
            not any(name.endswith(".json") and len(name) == 29 and not _has_done(folder, name)
                    for name in os.listdir(folder))

    def bus(self):
        from conductor.bus import MessageBus
        return MessageBus(os.path.join(self.task_dir, "TASK-MESSAGE-BUS.md")).read_all()


def _has_done(folder: str, name: str) -> bool:
    return any(other.startswith(name[:-5] + ".") and other.endswith(".done")
               for other in os.listdir(folder))
