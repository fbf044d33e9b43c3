"""The single entry point behind ``run-agent`` and ``conductor``.

Kept light: agents call ``run-agent`` many times, so nothing heavy (Textual, YAML) is imported
until a verb needs it. Every :class:`ConductorError` becomes ``Error: <message>`` and exit 1 here.
"""

from __future__ import annotations

import os
import signal
import sys

from .. import __version__
from ..errors import ConductorError
from .parser import CliParser

VERSION_TEXT = f"run-agent {__version__}\nconductor (Python) · compatible with conductor-loop\n"


def build_parser(prog: str) -> CliParser:
    parser = CliParser(prog=prog, description="Run AI coding agents as tasks on plain files.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=CliParser)
    from . import bus_cmd
    bus_cmd.register(sub)
    for name in ("runner_cmd", "info_cmd", "console_cmd"):
        try:
            module = __import__(f"conductor.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"conductor.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) or "run-agent"
    if prog not in ("run-agent", "conductor"):
        prog = "run-agent"
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        parser = build_parser(prog)
        if not argv and prog == "conductor":
            argv = ["console"]
        args = parser.parse_args(argv)
        if args.version:
            sys.stdout.write(VERSION_TEXT)
            return 0
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 0
        return int(func(args) or 0)
    except ConductorError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
