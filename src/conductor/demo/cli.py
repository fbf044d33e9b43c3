"""``conductor demo``: make the demo project, start it, and open the console on it."""

from __future__ import annotations

import os
import sys

from ..errors import UsageError
from .project import DEMO_PROJECT, create_demo

CONFIG_NAME = "demo-config.yaml"
WHAT_IT_DOES = {
    "happy": "finishes in about 10 s; starts a sub-agent (a child run)",
    "flaky": "fails its first attempt, succeeds when the loop restarts it",
    "long": "runs about 10 minutes: stop it",
    "question": "asks a QUESTION and waits for your answer",
}


def register(sub) -> None:
    p = sub.add_parser("demo", help="start a demo project of simulated agents and open the console")
    p.add_argument("--root", default="./runs", help="runs root to create the demo in (default ./runs)")
    p.add_argument("--no-console", action="store_true", help="start the tasks, print them, exit")
    p.add_argument("--speed", type=float, default=1.0,
                   help="time scale of the simulated agents: 0.5 runs twice as fast (default 1.0)")
    p.set_defaults(func=cmd_demo)


def _scenario(task: str) -> str:
    """``task-YYYYMMDD-HHMMSS-happy`` (or ``…-happy-2``) -> ``happy``."""
    slug = task[len("task-YYYYMMDD-HHMMSS-"):]
    return slug.split("-", 1)[0]


def cmd_demo(args, out=None) -> int:
    out = out or sys.stdout
    if not args.speed > 0:
        raise UsageError("--speed must be greater than 0")
    root = os.path.abspath(args.root)
    config_path = os.path.join(root, CONFIG_NAME)
    tasks = create_demo(root, config_path=config_path, speed=args.speed)
    width = max(len(t) for t in tasks)
    out.write(f"demo: started {len(tasks)} tasks in project {DEMO_PROJECT} under {root}\n")
    for task in tasks:
        out.write(f"  {task:<{width}}  {WHAT_IT_DOES.get(_scenario(task), '')}\n")
    out.write(f"config: {config_path}\n")
    long_task = next((t for t in tasks if _scenario(t) == "long"), None)
    question_task = next((t for t in tasks if _scenario(t) == "question"), None)
    if not args.no_console:
        try:
            from ..console.app import run_console
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("conductor.console"):
                raise
            out.write("the console is not available in this build\n")
        else:
            out.flush()
            run_console(root=root, config_path=config_path)
            from ..words import program
            out.write("the demo tasks keep running; reopen with: "
                      f"{program()} --root {root} --config {config_path}\n")
            return 0
    out.write(f"watch with: run-agent bus read --root {root} --project {DEMO_PROJECT} --follow\n")
    if question_task:
        out.write(f"answer the question: run-agent bus post --root {root} --project "
                  f"{DEMO_PROJECT} --task {question_task} --type USER --body postgres\n")
    if long_task:
        out.write(f"stop the long task: run-agent task stop --root {root} --project "
                  f"{DEMO_PROJECT} --task {long_task}\n")
    return 0
