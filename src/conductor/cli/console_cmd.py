"""``conductor console`` (and ``conductor`` with no arguments): open the operator console.

Textual is imported only when the console starts, so ``run-agent`` stays quick for agents.
Also registers ``conductor demo`` when the demo package is there.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from .scope import runs_root

VIEWS = ("tree", "logs", "bus")
FOLLOW = ("root", "project", "task")
TOASTS = ("all", "none")


def add_console_flags(parser, *, follow_default: str | None, read_only: bool) -> None:
    """The console's scope and view flags, for ``console`` and for ``serve`` (which passes
    them on to each console it serves; ``--read-only`` is the console's own)."""
    parser.add_argument("--root", default=None,
                        help="runs root (default: $CONDUCTOR_ROOT, config storage.runs_dir, "
                             "~/.run-agent/runs)")
    parser.add_argument("--config", default=None, help="config file (agents, keymap, theme)")
    parser.add_argument("--project", default=None, help="start focused on one project")
    if read_only:
        parser.add_argument("--read-only", action="store_true",
                            help="no control keys (for shared dashboards)")
    parser.add_argument("--view", default=None, help="a single pane: tree, logs or bus")
    parser.add_argument("--follow", default=follow_default,
                        help="--view logs|bus follow the newest running run of: root (default), "
                             "project (the --project) or task (the --task)")
    parser.add_argument("--task", default=None,
                        help="with --follow task: the task whose newest running run to follow")
    parser.add_argument("--toasts", default=None,
                        help="all or none (default: all, but only the tree raises toasts "
                             "in --view mode)")
    parser.add_argument("--poll", action="store_true",
                        help="force polling instead of file notifications")


def register(sub) -> None:
    console = sub.add_parser("console", help="open the operator console (the default of `conductor`)")
    add_console_flags(console, follow_default="root", read_only=True)
    console.set_defaults(func=cmd_console)
    try:
        from ..demo import cli as demo_cli
    except ImportError:
        return
    demo_cli.register(sub)


def check_console_flags(args) -> None:
    """The console's checks of its flags (shared with ``serve``, which checks them before it
    serves, so a mistake is one line in the terminal, not a console that dies in the browser)."""
    if args.view is not None and args.view not in VIEWS:
        raise UsageError(f'invalid argument for "--view" flag: must be one of {", ".join(VIEWS)}')
    if args.follow is not None and args.follow not in FOLLOW:
        raise UsageError(f'invalid argument for "--follow" flag: must be one of {", ".join(FOLLOW)}')
    if args.toasts is not None and args.toasts not in TOASTS:
        raise UsageError(f'invalid argument for "--toasts" flag: must be one of {", ".join(TOASTS)}')
    if args.follow == "project" and args.project is None:
        raise UsageError('"--follow project" needs --project')
    if args.follow == "task" and args.task is None:
        raise UsageError('"--follow task" needs --task')
    if args.task is not None:
        from ..ids import validate_component
        validate_component("task", args.task)
    if args.project is not None:
        from ..ids import validate_project_id
        validate_project_id(args.project)
    if args.config is not None and not os.path.exists(args.config):
        raise UsageError(f"{args.config}: config file not found")


def cmd_console(args) -> int:
    check_console_flags(args)
    config_path = args.config
    root = runs_root(args.root, config_path)
    from ..console.app import run_console
    run_console(root=root, config_path=config_path, project=args.project,
                read_only=args.read_only, view=args.view, poll=args.poll,
                follow=args.follow, follow_task=args.task, toasts=args.toasts)
    return 0
