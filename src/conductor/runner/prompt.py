"""The prompt an agent receives: upstream's preamble (spec 4.2), byte for byte, then the task."""

from __future__ import annotations

import os
from dataclasses import dataclass

RESTART_PREFIX = "Continue working on the following:\n\n"


@dataclass
class PreambleInfo:
    """Where a run is and what it belongs to, for the preamble's ``JRUN_*`` lines."""

    task_dir: str
    run_dir: str
    project: str
    task: str
    run_id: str
    parent_run_id: str = ""
    bus_path: str = ""
    conductor_url: str = ""
    runs_root: str = ""


def build_prompt(info: PreambleInfo, prompt: str) -> str:
    lines = [
        f"JRUN_TASK_FOLDER={info.task_dir}",
        f"JRUN_RUN_FOLDER={info.run_dir}",
        f"JRUN_PROJECT_ID={info.project}",
        f"JRUN_TASK_ID={info.task}",
        f"JRUN_ID={info.run_id}",
    ]
    if info.parent_run_id.strip():
        lines.append(f"JRUN_PARENT_ID={info.parent_run_id}")
    if info.bus_path:
        lines.append(f"JRUN_MESSAGE_BUS={info.bus_path}")
    if info.conductor_url:
        lines.append(f"JRUN_CONDUCTOR_URL={info.conductor_url}")
    lines += [
        f"Write output.md to {info.run_dir}/output.md",
        "",
        "## Message Bus",
        "Report progress using:",
        '  run-agent bus post --type PROGRESS --body "your message"',
        '  run-agent bus post --type FACT --body "key result"',
        '  run-agent bus post --type ERROR --body "what failed"',
        '  run-agent bus post --type DECISION --body "what was decided"',
        "Types: FACT, PROGRESS, DECISION, ERROR, QUESTION, INFO",
        "The JRUN_MESSAGE_BUS env var is set; run-agent bus post uses it automatically.",
        "",
        "## Sub-Agent Spawning (RLM Pattern)",
        "For complex tasks, decompose using run-agent:",
        "  run-agent job --project $JRUN_PROJECT_ID --task $JRUN_TASK_ID \\",
        '    --parent-run-id $JRUN_ID --agent claude --prompt "sub-task description"',
        "Run multiple sub-agents in PARALLEL for independent sub-tasks.",
        "Use RLM (Recursive Language Model) decomposition:",
        "  1. ASSESS context size and task complexity",
        "  2. DECOMPOSE into independent sub-tasks at natural boundaries",
        "  3. EXECUTE sub-agents in parallel",
        "  4. SYNTHESIZE results",
    ]
    repo_root = os.path.dirname(info.runs_root.rstrip("/")) if info.runs_root else ""
    if repo_root:
        methodology = os.path.join(repo_root, "docs", "workflow", "THE_PROMPT_v5_conductor.md")
        if os.path.isfile(methodology):
            lines += ["", "## Methodology",
                      f"Read {methodology} for the full orchestration methodology."]
        agents_md = os.path.join(repo_root, "AGENTS.md")
        if os.path.isfile(agents_md):
            lines.append(f"Read {agents_md} for project conventions.")
    lines += [
        "",
        "## Completion",
        f"When done, create: {info.task_dir}/DONE",
        "This signals the conductor loop to stop restarting this task.",
        "",
        "---",
        "",
    ]
    text = "\n".join(lines) + "\n"
    prompt = prompt.strip()
    return text + (prompt + "\n" if prompt else "")


def task_prompt(prompt: str, *, attempt: int, resume: bool) -> str:
    """The restart prefix goes before later attempts, and before the first one when resuming."""
    return RESTART_PREFIX + prompt if attempt > 0 or resume else prompt
