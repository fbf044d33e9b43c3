"""The single entry point behind ``run-agent`` and ``conductor``.

Kept light: agents call ``run-agent`` many times, so nothing heavy (Textual, YAML) is imported
until a verb needs it. Every :class:`ConductorError` becomes ``Error: <message>`` and exit 1 here.
"""

from __future__ import annotations

import os
import sys

from .. import __version__
from ..errors import ConductorError

VERSION_TEXT = f"run-agent {__version__}\nconductor (Python) · compatible with conductor-loop\n"


# Which module defines each verb, so a command imports only what it needs (agents call
# `run-agent bus post` often; building every verb's parser would import the whole package).
VERB_MODULES = {
    "bus": "bus_cmd",
    "job": "runner_cmd", "task": "runner_cmd", "stop": "runner_cmd", "resume": "runner_cmd",
    "list": "info_cmd", "status": "info_cmd", "output": "info_cmd", "watch": "info_cmd",
    "gc": "info_cmd",
    "console": "console_cmd", "demo": "console_cmd",
    "serve": "serve_cmd",
}
ALL_MODULES = ("bus_cmd", "runner_cmd", "info_cmd", "console_cmd", "serve_cmd")


def build_parser(prog: str, verb: str | None = None):
    from .parser import CliParser
    parser = CliParser(prog=prog, description="Run AI coding agents as tasks on plain files.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=CliParser)
    wanted = VERB_MODULES.get(verb) if verb else None
    for name in ((wanted,) if wanted else ALL_MODULES):
        try:
            module = __import__(f"conductor.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"conductor.cli.{name}":
                raise
            continue
        if name in ("runner_cmd", "info_cmd"):
            module.register(sub, verb)  # only the named verb's parser
        else:
            module.register(sub)
    return parser


# verbs that run long and write to pipes and sockets of their own: SIGPIPE stays ignored
LONG_LIVED = frozenset({"console", "serve", "demo", "task", "job", "resume"})


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] in (["task"], ["job"]):  # forked by the fork server
        from ..supervise.client import handoff
        code = handoff(sys.argv[1:])
        if code is not None:
            return code
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) or "run-agent"
    if prog not in ("run-agent", "conductor"):
        prog = "run-agent"
    # A path we print (a bus found by walking up, a run dir) may hold bytes that are not UTF-8:
    # Python carries them as surrogate escapes, and a strict stdout (a UTF-8 locale other than
    # C.UTF-8) would raise on them. Write them back as the bytes they were, as ls does.
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        if prog == "conductor" and (not argv or (argv[0].startswith("-")
                                                 and argv[0] not in ("--version", "-h", "--help"))):
            argv = ["console", *argv]  # `conductor --root X` opens the console on X
        if argv == ["--version"]:
            sys.stdout.write(VERSION_TEXT)
            return 0
        verb = next((a for a in argv if not a.startswith("-")), None)
        if verb not in LONG_LIVED:
            # a printing verb piped into `head` ends quietly when the reader goes; a long-lived
            # one (a supervisor, the console) must never die of a write to a closed pipe or
            # socket (a helper that exited, an event loop's self-pipe): it keeps SIG_IGN
            import _signal  # the C module: `signal` builds enums, which `bus post` does not need
            if hasattr(_signal, "SIGPIPE"):
                _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
        parser = build_parser(prog, verb)
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
    except OSError as exc:
        # a safety net: an I/O failure we did not foresee (a full disk, a vanished directory)
        # is still one line and exit 1, never a traceback
        sys.stderr.write(f"Error: {describe_os_error(exc)}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def describe_os_error(exc: OSError) -> str:
    reason = (exc.strerror or str(exc)).lower()
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason


if __name__ == "__main__":
    sys.exit(main())
