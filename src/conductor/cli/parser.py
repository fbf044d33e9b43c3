"""argparse, shaped like upstream's cobra CLI: ``Error: <message>`` and exit 1 for every usage error."""

from __future__ import annotations

import argparse
import os
import re
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs every `run-agent` call ~2 ms
    from typing import NoReturn

from ..errors import UsageError
from ..timefmt import parse_duration

# argparse passes its own words ("usage: ", "show this help message and exit", ...) through
# gettext, which searches the locale directories for a catalog on every call: 15 searches and
# about 1 ms for one `run-agent bus post`, a command agents run many times. Our CLI prints
# upstream's English whatever the locale (its messages are pinned byte for byte), so argparse's
# words are taken as they are. These are argparse's module-level names for gettext's functions
# (CPython 3.11-3.13); tests/cli/test_fast_imports.py pins that no catalog is searched.
argparse._ = lambda text: text  # type: ignore[attr-defined]
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural  # type: ignore[attr-defined]


class CliParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _get_formatter(self):
        # argparse builds a formatter for every add_argument, and without a width the formatter
        # imports shutil (with bz2 and lzma: ~2 ms on every command) to ask the terminal. This
        # is shutil.get_terminal_size's answer, got without it.
        try:
            columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
        return self.formatter_class(prog=self.prog, width=(columns or 80) - 2)

    def parse_known_args(self, args=None, namespace=None):
        # Kept for error(): a bad subcommand after an unknown flag is reported as the flag
        # (`task --agnet claude` is a typo of --agent, not a command "claude").
        self._args_seen = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        m = re.match(r"unrecognized arguments: (\S+)", message)
        if m:
            arg = m.group(1)
            leaf = self._leaf()
            if arg.startswith("-"):
                raise UsageError(leaf._unknown_flag(arg))
            raise UsageError(leaf._unknown_command(arg))
        m = re.match(r"the following arguments are required: (.+)", message)
        if m:
            flag = self._unknown_flag_before(None)  # cobra parses flags first
            if flag:
                raise UsageError(self._unknown_flag(flag))
            names = ", ".join(f'"{n.strip().lstrip("-")}"' for n in m.group(1).split(","))
            raise UsageError(f"required flag(s) {names} not set")
        m = re.match(r"argument (\S+): invalid choice: '([^']*)'", message)
        if m:
            flag = self._unknown_flag_before(m.group(2))
            raise UsageError(self._unknown_flag(flag) if flag else
                             self._unknown_command(m.group(2)))
        m = re.match(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        if m:
            raise UsageError(f"flag needs an argument: {m.group(1)}")
        m = re.match(r"argument (\S+?)(?:/\S+)?: (.*)", message)
        if m:
            raise UsageError(f'invalid argument for "{m.group(1)}" flag: {m.group(2)}')
        raise UsageError(message)

    # The error path only: difflib is imported here, never by a command that parses fine.

    def _leaf(self) -> CliParser:
        """The deepest subcommand's parser the arguments reached (extras reach the root)."""
        parser = self
        while True:
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            args = getattr(parser, "_args_seen", [])
            nxt = next((sub.choices[arg] for sub in subs for arg in args
                        if not arg.startswith("-") and arg in sub.choices), None)
            if not isinstance(nxt, CliParser):
                return parser
            parser = nxt

    def _unknown_flag_before(self, word: str | None) -> str | None:
        """The first flag this parser does not know among the arguments (before ``word``)."""
        args = getattr(self, "_args_seen", [])
        for arg in args[:args.index(word)] if word in args else args:
            if arg == "--":
                break
            if arg.startswith("-") and arg.split("=", 1)[0] not in self._option_string_actions:
                return arg
        return None

    def _unknown_flag(self, arg: str) -> str:
        """cobra's ``unknown flag: --x``, and the flags it may be a typo of."""
        flag = arg.split("=", 1)[0] if arg.startswith("--") else arg
        known = [o for o in self._option_string_actions if o.startswith("--") and o != "--help"]
        return f"unknown flag: {flag}" + _suggest(flag, known)

    def _unknown_command(self, word: str) -> str:
        """cobra's ``unknown command "x" for "prog"`` and its ``Did you mean this?`` block."""
        commands: list[str] = []
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                commands.extend(action.choices)
        return f'unknown command "{word}" for "{self.prog}"' + _suggest(word, commands)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def _suggest(word: str, candidates: list[str]) -> str:
    """cobra's suggestion block (``\\n\\nDid you mean this?\\n\\t<candidate>\\n``), or ""."""
    import difflib  # the error path only: a command that parses never pays for it

    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.75)
    if not close:
        return ""
    return "\n\nDid you mean this?\n" + "".join(f"\t{c}\n" for c in close)


def duration(text: str) -> float:
    """argparse type for Go durations (``500ms``, ``30m``, ``1h30m``)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_common_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, help="runs root (default: $CONDUCTOR_ROOT, config storage.runs_dir, ~/.run-agent/runs)")
    p.add_argument("--config", default=None, help="config file (default: ./config.yaml, ./config.yml, ~/.config/conductor/config.yaml)")


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_arg(flag: str, value: str | None) -> str | None:
    """``value`` unchanged, or a UsageError when it held bytes that are not UTF-8.

    Python hands such argv bytes over as surrogate escapes; text we write into a file (a prompt,
    a message) must be real text, so they are refused before anything is written.
    """
    if value:
        bad = _SURROGATE.search(value)
        if bad is not None:
            byte = len(value[:bad.start()].encode("utf-8"))
            raise UsageError(f"{flag}: not valid UTF-8 text (byte {byte})")
    return value


def utf8_file_text(data: bytes, name: str) -> str:
    """The text of a file given on the command line, or a UsageError naming the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not valid UTF-8 text (byte {exc.start})") from None
