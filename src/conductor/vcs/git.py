"""The one way conductor runs ``git``: argv only (never a shell), a timeout, and a config that
runs nothing the repository names.

A working dir an agent writes to is untrusted: its repository's config could name an external
diff driver, a textconv filter, an fsmonitor program or hooks, each of which git would run for
us. Every call switches those off (``-c core.fsmonitor=false -c core.hooksPath=/dev/null``, and
``--no-ext-diff --no-textconv`` on diffs), quotes no paths (``core.quotePath=false``), takes no
optional locks (reading never rewrites the index) and never prompts.
"""

from __future__ import annotations

import os
import subprocess
import threading

from ..errors import ConductorError

GIT_TIMEOUT = 30.0
"""Seconds any one git command may take."""

_SAFE_CONFIG = ("-c", "core.quotePath=false", "-c", "core.fsmonitor=false",
                "-c", "core.hooksPath=/dev/null", "-c", "color.ui=false")
_DROPPED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
                "GIT_CEILING_DIRECTORIES", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR")


class GitError(ConductorError):
    """A git command failed: one line naming the repository and the command."""

    def __init__(self, repo: str, args: list[str] | tuple[str, ...], detail: str,
                 returncode: int | None = None) -> None:
        self.repo = repo
        self.args_ = tuple(args)
        self.detail = detail
        self.returncode = returncode
        super().__init__(f"{repo}: git {' '.join(args)}: {detail}")


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C", LANGUAGE="C")
    return env


def git_argv(repo: str, args: list[str] | tuple[str, ...]) -> list[str]:
    return ["git", *_SAFE_CONFIG, "-C", repo, *args]


def _first_line(data: bytes) -> str:
    for line in data.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


def run_git(repo: str, args: list[str] | tuple[str, ...], *, ok: tuple[int, ...] = (0,),
            timeout: float = GIT_TIMEOUT, limit: int | None = None) -> tuple[int, bytes]:
    """Run ``git -C repo args``; (exit code, stdout). An exit code outside ``ok``, a timeout or
    a missing git raises :class:`GitError`. ``limit`` bounds the stdout kept (bytes): git is
    stopped once it has written more, and the answer is cut there."""
    if limit is None:
        try:
            done = subprocess.run(git_argv(repo, args), capture_output=True, timeout=timeout,
                                  env=git_env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise GitError(repo, args, f"timed out after {timeout:g} s") from None
        except OSError as exc:
            raise GitError(repo, args, f"cannot run git: {exc.strerror or exc}") from None
        if done.returncode not in ok:
            raise GitError(repo, args, _first_line(done.stderr) or f"exit code {done.returncode}",
                           done.returncode)
        return done.returncode, done.stdout
    chunks: list[bytes] = []
    stream = GitStream(repo, args, timeout=timeout)
    size, cut = 0, True
    try:
        while size <= limit:
            chunk = stream.read(65536)
            if not chunk:
                cut = False
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        stream.close(early=cut)
    data = b"".join(chunks)[:limit]
    if not cut and stream.returncode not in ok:
        raise GitError(repo, args, stream.error or f"exit code {stream.returncode}",
                       stream.returncode)
    code = stream.returncode
    return (code if code is not None and not cut else 0), data


class GitStream:
    """A git command's stdout read as it comes (a diff of any size, a page at a time): the
    process is killed at the timeout, or when the reader leaves early (``close``)."""

    def __init__(self, repo: str, args: list[str] | tuple[str, ...], *,
                 timeout: float = GIT_TIMEOUT) -> None:
        self.repo = repo
        self.args = tuple(args)
        self.returncode: int | None = None
        self.error = ""
        self.timed_out = False
        try:
            self.proc = subprocess.Popen(git_argv(repo, args), stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                         env=git_env())
        except OSError as exc:
            raise GitError(repo, args, f"cannot run git: {exc.strerror or exc}") from None
        self.timeout = timeout
        self._timer: threading.Timer | None = None
        self.resume()

    def pause(self) -> None:
        """The reader stops reading for a while (between pages): the clock stops too."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def resume(self) -> None:
        """Reading again: git has ``timeout`` seconds to give what is read next."""
        self.pause()
        self._timer = threading.Timer(self.timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def kill(self) -> None:
        """Stop git now without waiting for it (a signal: safe on the event loop)."""
        if self.proc.poll() is None:
            self.proc.kill()

    def _expire(self) -> None:
        self.timed_out = True
        self.proc.kill()

    def read(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.read(n)

    def readline(self, n: int) -> bytes:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline(n)

    def close(self, *, early: bool = False) -> None:
        """Stop git (when the reader left ``early``) and collect its exit code and error."""
        if early and self.proc.poll() is None:
            self.proc.kill()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        err = self.proc.stderr.read(4096)
        self.proc.stderr.close()
        self.returncode = self.proc.wait()
        self.pause()
        self.error = _first_line(err)
        if self.timed_out:
            raise GitError(self.repo, self.args, f"timed out after {self.timeout:g} s")

    def __enter__(self) -> GitStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(early=True)
