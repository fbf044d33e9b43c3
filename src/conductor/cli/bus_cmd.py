"""``run-agent bus post | read | discover`` (spec 5.4-5.6)."""

from __future__ import annotations

import os
import select
import stat
import sys
import time

from ..errors import BusError
from .parser import CliParser, utf8_arg
from . import scope as sc

STDIN_WAIT = 5.0
FOLLOW_INTERVAL = 0.5


def register(sub) -> None:
    bus = sub.add_parser("bus", help="post to and read message buses")
    verbs = bus.add_subparsers(dest="bus_verb", metavar="VERB", parser_class=CliParser)
    verbs.required = True

    post = verbs.add_parser("post", help="append a message; prints its msg_id")
    post.add_argument("--root")
    post.add_argument("--config")
    post.add_argument("--type", default="INFO", help="message type (default INFO)")
    post.add_argument("--project", default="")
    post.add_argument("--task", default="")
    post.add_argument("--run", default="")
    post.add_argument("--body", default="", help="message body (default: read from a pipe on stdin)")
    post.set_defaults(func=cmd_post)

    read = verbs.add_parser("read", help="print messages ([YYYY-MM-DD HH:MM:SS] (TYPE) body)")
    read.add_argument("--root")
    read.add_argument("--config")
    read.add_argument("--project", default="")
    read.add_argument("--task", default="")
    read.add_argument("--tail", type=int, default=20, help="last N messages; 0 or less: all (default 20)")
    read.add_argument("--follow", action="store_true", help="keep printing new messages")
    read.set_defaults(func=cmd_read)

    disc = verbs.add_parser("discover", help="print the bus found walking up from a directory")
    disc.add_argument("--from", dest="start", default=None)
    disc.set_defaults(func=cmd_discover)


def read_stdin_body(stream=None, wait: float = STDIN_WAIT) -> str:
    """The whole of a piped stdin, but never hang on a pipe nobody writes to or closes (9 #9)."""
    stream = stream or sys.stdin
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return ""
    if stat.S_ISCHR(mode):
        return ""
    if stat.S_ISREG(mode):
        return os.read(fd, 1 << 30).decode("utf-8", "replace") if True else ""
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise BusError(f"no --body given and stdin sent nothing for {wait:g}s without closing; "
                           "pass --body or close stdin")
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def cmd_post(args, environ=None, cwd=None) -> int:
    from ..orchestrator.post import post_to_bus
    environ = os.environ if environ is None else environ
    cwd = cwd or os.getcwd()
    utf8_arg("--type", args.type)
    utf8_arg("--body", args.body)
    if args.run:
        from ..ids import validate_component
        validate_component("run", args.run)  # readers build paths from it: same rule as on disk
    sc.check_env_ids(environ)  # JRUN_* ids end up in the message header: same rule as flags
    path, _ = sc.resolve_bus(args, environ, cwd)
    head = sc.post_header(args, environ, cwd, path)
    body = args.body if args.body else read_stdin_body()
    from ..secrets import collect
    msg = post_to_bus(path, args.type, body, project=head.project, task=head.task, run=head.run,
                      secrets=collect(None, environ))
    sys.stdout.write(f"msg_id: {msg.msg_id}\n")
    return 0


def format_message(msg) -> str:
    from ..timefmt import format_display
    return f"[{format_display(msg.ts)}] ({msg.type}) {msg.body}\n"


def cmd_read(args, environ=None, cwd=None) -> int:
    from ..bus import BusReader, MessageBus
    environ = os.environ if environ is None else environ
    path, _ = sc.resolve_bus(args, environ, cwd or os.getcwd(), read=True)
    bus = MessageBus(path)
    reader = BusReader(path)
    if args.tail > 0:
        first, offset = bus.tail_with_offset(args.tail)
        reader.offset = offset
    else:
        first = reader.poll()
    out = sys.stdout
    _warn(bus.warnings, reader.warnings)
    out.write("".join(format_message(m) for m in first))
    out.flush()
    if not args.follow:
        return 0
    try:
        while True:
            time.sleep(FOLLOW_INTERVAL)
            new = reader.poll()
            _warn(reader.warnings)
            if new:
                out.write("".join(format_message(m) for m in new))
                out.flush()
    except KeyboardInterrupt:
        return 0


def _warn(*lists: list[str]) -> None:
    """Print and clear the bus's warnings (entries skipped by a limit of ours)."""
    for warnings in lists:
        for text in warnings:
            sys.stderr.write(f"warning: {text}\n")
        warnings.clear()
    sys.stderr.flush()


def cmd_discover(args, environ=None, cwd=None) -> int:
    sys.stdout.write(sc.discover_bus(args.start or cwd or os.getcwd()) + "\n")
    return 0
