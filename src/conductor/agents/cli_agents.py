"""Helpers every CLI backend shares: the run-info `commandline`, binary lookup, the version probe.

The prompt always reaches the agent on stdin from prompt.md (spec 7.1); the runner does the
spawning. What each type runs is its backend's (:mod:`conductor.agents.registry`).
"""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only; shutil and subprocess are loaded by the calls that use them
    import subprocess
    from typing import Sequence

from conductor.agents.base import AgentError

VERSION_TIMEOUT = 30.0
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def commandline(argv: Sequence[str], prompt_path: str | os.PathLike[str]) -> str:
    """The `commandline` field of run-info.yaml: `<argv joined by space> < <abs prompt.md>`."""
    return " ".join(argv) + " < " + os.path.abspath(os.fspath(prompt_path))


def resolve_binary(agent_name: str, binary: str, path: str | None = None) -> str:
    """The absolute path of an agent's executable, or one clear line saying it is missing."""
    import shutil
    found = shutil.which(binary, path=path)
    if not found:
        raise AgentError(f'agent "{agent_name}": binary "{binary}" not found in PATH')
    return os.path.abspath(found)


VERSION_READ_LIMIT = 4096   # bytes read from each of the probe's stdout and stderr
VERSION_TEXT_LIMIT = 200    # characters kept: run-info's agent_version is one short line


def detect_version(binary: str, timeout: float = VERSION_TIMEOUT,
                   env: dict[str, str] | None = None) -> str:
    """`<binary> --version`: the first line of stdout, else of stderr, at most 200 characters;
    "" when it cannot be run, fails or takes longer than ``timeout`` (a slow probe is not a
    missing program: gemini's takes 5-16 s on a loaded machine). ``env``: the backend's
    variables for the program (gemini's GEMINI_CLI_NO_RELAUNCH saves one node start here too).

    At most 4 KiB of each stream is read: a program that prints megabytes (or a hostile one)
    cannot bloat run-info or the runner's memory; it is killed once that much has arrived."""
    import subprocess
    try:
        proc = subprocess.Popen([binary, "--version"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
    except (OSError, subprocess.SubprocessError, ValueError):
        return ""
    out, err, finished = _bounded_output(proc, timeout)
    if not finished or proc.returncode != 0:
        return ""
    return _first_line(out) or _first_line(err)


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:VERSION_TEXT_LIMIT]
    return ""


def _bounded_output(proc: subprocess.Popen, timeout: float) -> tuple[bytes, bytes, bool]:
    """(stdout, stderr, exited by itself in time) of ``proc``, each read up to
    VERSION_READ_LIMIT; the process group is killed when it overstays or prints more (a
    version is one short line, so that is not a version)."""
    import selectors
    import signal
    import subprocess
    import time
    deadline = time.monotonic() + timeout
    streams = [s for s in (proc.stdout, proc.stderr) if s is not None]
    chunks = {s.fileno(): b"" for s in streams}  # by descriptor
    sel = selectors.DefaultSelector()
    for fd in chunks:
        sel.register(fd, selectors.EVENT_READ)
    overflow = False
    try:
        while sel.get_map() and not overflow:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(left):
                data = os.read(key.fd, VERSION_READ_LIMIT)
                if not data:
                    sel.unregister(key.fd)
                    continue
                chunks[key.fd] += data
                overflow = overflow or len(chunks[key.fd]) >= VERSION_READ_LIMIT
        finished = False
        if not overflow:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
                finished = True
            except subprocess.TimeoutExpired:
                pass
        if not finished:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: only its processes
            except OSError:
                pass
            proc.wait()
        out = chunks.get(proc.stdout.fileno(), b"") if proc.stdout is not None else b""
        err = chunks.get(proc.stderr.fileno(), b"") if proc.stderr is not None else b""
        return out, err, finished
    finally:
        sel.close()
        for stream in streams:
            stream.close()


def parse_version(text: str) -> tuple[int, int, int] | None:
    """The first `v?X.Y.Z` in a version string, or None when there is none."""
    match = _VERSION_RE.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def version_is_compatible(version: str, minimum: str | None) -> bool:
    """Below-minimum versions only warn upstream; unparsable versions count as compatible."""
    have, need = parse_version(version), parse_version(minimum or "")
    return have is None or need is None or have >= need
