"""What changed in a working dir since a base commit: the stat list and the diff, paged.

The target is a task's worktree (its ``WORKTREE.json``: base = the recorded base commit, merge
and discard allowed) or, without one, the run's working dir read-only against ``HEAD`` (the
uncommitted changes). Diffs are streamed from git a page at a time and each line is cut at
:data:`MAX_LINE_CHARS`: a 100 MB diff is never held whole.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..errors import ConductorError
from .git import GitError, GitStream, run_git
from ..worktree.record import WorktreeRecord, read_record

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MAX_LINE_CHARS = 2000
STAT_LIMIT = 8 * 1024 * 1024
UNTRACKED_COUNT_LIMIT = 4 * 1024 * 1024
DIFF_OPTIONS = ("--no-ext-diff", "--no-textconv", "--no-color", "--no-renames")
_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class ChangeTarget:
    """Where to look. ``kind``: ``worktree`` (a task's own branch: merge/discard allowed),
    ``workdir`` (any git working dir, read-only, base HEAD), ``none`` (``note`` says why)."""
    kind: str
    top: str = ""
    base: str = ""
    base_label: str = ""
    branch: str = ""
    record: WorktreeRecord | None = None
    note: str = ""

    @property
    def read_only(self) -> bool:
        return self.kind != "worktree"

    def describe(self) -> str:
        """One line for the tab's title (no paths: they differ between machines)."""
        if self.kind == "none":
            return self.note
        short = self.base[:10]
        if self.kind == "worktree":
            onto = f" ({self.base_label})" if self.base_label else ""
            return f"branch {self.branch} since {short}{onto}"
        return f"working dir (read-only) against {self.base_label or 'HEAD'} {short}"


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # M, A, D, T (type), ? (untracked)
    added: int | None  # None: binary or too big to count
    deleted: int | None

    @property
    def untracked(self) -> bool:
        return self.status == "?"


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff. ``old``/``new``: its line numbers on each side (None where it has
    none); ``at``: the new side's line where it stands (a removed line's place)."""
    text: str
    kind: str  # header, hunk, context, add, del, note
    path: str = ""
    old: int | None = None
    new: int | None = None
    at: int | None = None


@dataclass
class DiffPage:
    start: int
    lines: list[DiffLine] = field(default_factory=list)
    more: bool = False


# ---- the target ----------------------------------------------------------------------------

def _toplevel(path: str) -> str:
    _, out = run_git(path, ["rev-parse", "--show-toplevel"])
    return out.decode("utf-8", "replace").strip()


def _head(top: str) -> str:
    code, out = run_git(top, ["rev-parse", "--verify", "-q", "HEAD^{commit}"], ok=(0, 1))
    return out.decode().strip() if code == 0 else EMPTY_TREE


def resolve_target(task_dir: str | None, cwd: str | None) -> ChangeTarget:
    """The task's worktree when it has a record, else ``cwd`` read-only. A bad record raises
    (one line naming the file and field); a dir that is no git dir is a ``none`` target."""
    record = read_record(task_dir) if task_dir else None
    if record is not None:
        if not os.path.isdir(record.path):
            return ChangeTarget("none", note=f"the task's worktree is gone: {record.path}",
                                record=record, branch=record.branch)
        top = _toplevel(record.path)
        if os.path.realpath(top) != os.path.realpath(record.path):
            raise ConductorError(f"{record.file}: path: {record.path} is not the top of a git "
                                 f"worktree (git says {top})")
        return ChangeTarget("worktree", top=top, base=record.base_commit,
                            base_label=record.base_ref, branch=record.branch, record=record)
    if not cwd:
        return ChangeTarget("none", note="no working dir recorded for this run")
    if not os.path.isdir(cwd):
        return ChangeTarget("none", note=f"the working dir is gone: {cwd}")
    try:
        top = _toplevel(cwd)
    except GitError as exc:
        if "not a git repository" in exc.detail:
            return ChangeTarget("none", note=f"not a git working dir: {cwd}")
        raise
    if not top:
        return ChangeTarget("none", note=f"not a git working dir (a bare repository?): {cwd}")
    return ChangeTarget("workdir", top=top, base=_head(top), base_label="HEAD")


# ---- the stat list -------------------------------------------------------------------------

def _count(n: bytes) -> int | None:
    return None if n == b"-" else int(n)


def _tracked(target: ChangeTarget) -> dict[str, FileChange]:
    _, out = run_git(target.top, ["diff", "--raw", "--numstat", "-z", *DIFF_OPTIONS,
                                  target.base, "--"], limit=STAT_LIMIT)
    tokens = out.split(b"\0")
    status: dict[str, str] = {}
    found: dict[str, FileChange] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith(b":") and i + 1 < len(tokens):
            path = tokens[i + 1].decode("utf-8", "surrogateescape")
            status[path] = token.split()[-1][:1].decode("ascii", "replace")
            i += 2
        elif token.count(b"\t") >= 2:
            added, deleted, raw = token.split(b"\t", 2)
            path = raw.decode("utf-8", "surrogateescape")
            found[path] = FileChange(path, status.get(path, "M"), _count(added),
                                     _count(deleted))
            i += 1
        else:
            i += 1
    return found


def _count_lines(path: str) -> int | None:
    """Lines of an untracked file as git would count them; None for binary or big ones, and
    for anything but a regular file (a FIFO or a device is never opened)."""
    import stat
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > UNTRACKED_COUNT_LIMIT:
            return None
        data = os.read(fd, UNTRACKED_COUNT_LIMIT + 1)
    finally:
        os.close(fd)
    if b"\0" in data[:8000]:
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _untracked(target: ChangeTarget) -> list[FileChange]:
    _, out = run_git(target.top, ["ls-files", "--others", "--exclude-standard", "-z"],
                     limit=STAT_LIMIT)
    found = []
    for raw in out.split(b"\0"):
        if not raw:
            continue
        path = raw.decode("utf-8", "surrogateescape")
        full = os.path.join(target.top, path)
        if os.path.islink(full):
            lines: int | None = 1
        else:
            lines = _count_lines(full)
        found.append(FileChange(path, "?", lines, 0 if lines is not None else None))
    return found


def changed_files(target: ChangeTarget) -> list[FileChange]:
    """Every file that differs from the base (committed or not), then the untracked ones."""
    if target.kind == "none":
        return []
    tracked = _tracked(target)
    untracked = [c for c in _untracked(target) if c.path not in tracked]
    return sorted(tracked.values(), key=lambda c: c.path) + untracked


def fingerprint(target: ChangeTarget, files: list[FileChange]) -> tuple:
    """What a refresh compares: the stat list and each file's size and mtime (a change that
    keeps the line counts still shows)."""
    marks = []
    for change in files:
        try:
            st = os.lstat(os.path.join(target.top, change.path))
            marks.append((change, st.st_size, st.st_mtime_ns))
        except OSError:
            marks.append((change, -1, -1))
    return (target.kind, target.top, target.base, tuple(marks))


# ---- the diff, a page at a time -------------------------------------------------------------

class _Parser:
    """Gives each diff line its kind, file and line numbers (hunk sizes end a hunk, so a
    removed ``--- x`` line is never taken for a header)."""

    def __init__(self) -> None:
        self.path = ""
        self.old = self.new = 0
        self.old_left = self.new_left = 0

    def line(self, text: str) -> DiffLine:
        if self.old_left > 0 or self.new_left > 0:
            mark = text[:1]
            if mark == "+":
                self.new_left -= 1
                self.new += 1
                return DiffLine(text, "add", self.path, None, self.new - 1, self.new - 1)
            if mark == "-":
                self.old_left -= 1
                self.old += 1
                return DiffLine(text, "del", self.path, self.old - 1, None, self.new)
            if mark == "\\":
                return DiffLine(text, "note", self.path)
            self.old_left -= 1
            self.new_left -= 1
            self.old += 1
            self.new += 1
            return DiffLine(text, "context", self.path, self.old - 1, self.new - 1, self.new - 1)
        if text.startswith("\\"):
            return DiffLine(text, "note", self.path)
        hunk = _HUNK.match(text)
        if hunk:
            self.old, self.new = int(hunk.group(1)), int(hunk.group(3))
            self.old_left = int(hunk.group(2)) if hunk.group(2) is not None else 1
            self.new_left = int(hunk.group(4)) if hunk.group(4) is not None else 1
            return DiffLine(text, "hunk", self.path, None, None, self.new)
        if text.startswith("diff --git "):
            self.path = _path_of(text.split(" b/", 1)[-1]) if " b/" in text else ""
        elif text.startswith("+++ ") and text[4:] != "/dev/null":
            self.path = _path_of(text[4:], "b/")
        elif text.startswith("--- ") and text[4:] != "/dev/null" and not self.path:
            self.path = _path_of(text[4:], "a/")
        return DiffLine(text, "header", self.path)


def _path_of(text: str, prefix: str = "") -> str:
    text = text.rstrip("\t")
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def _commands(target: ChangeTarget, path: str | None,
              untracked: list[str]) -> list[tuple[list[str], tuple[int, ...]]]:
    commands: list[tuple[list[str], tuple[int, ...]]] = []
    if path is None or path not in untracked:
        commands.append((["diff", *DIFF_OPTIONS, target.base, "--",
                          *([":(literal)" + path] if path is not None else [])], (0,)))
    for name in untracked if path is None else [p for p in untracked if p == path]:
        commands.append((["diff", "--no-index", *DIFF_OPTIONS, "--", "/dev/null", name],
                         (0, 1)))
    return commands


def _decode(raw: bytes) -> str:
    text = raw.rstrip(b"\n").decode("utf-8", "replace")
    return text[:MAX_LINE_CHARS] + (" …" if len(text) > MAX_LINE_CHARS else "")


class DiffReader:
    """The diff of one file (every file when ``path`` is None) read on from where the last
    page ended. git's process is kept between pages (its clock stopped), so page n costs one
    page, not n; each line over MAX_LINE_CHARS is cut and the rest skipped unread into memory.
    One thread at a time; :meth:`close` when done (:meth:`kill` from anywhere)."""

    def __init__(self, target: ChangeTarget, path: str | None,
                 untracked: list[str] | None = None) -> None:
        self.target = target
        self.path = path
        self.index = 0  # lines given so far
        self.done = target.kind == "none"
        self._commands = [] if self.done else _commands(target, path, untracked or [])
        self._stream: GitStream | None = None
        self._ok: tuple[int, ...] = (0,)
        self._args: list[str] = []
        self._parser = _Parser()
        self._ahead: DiffLine | None = None

    def _raw_line(self) -> bytes:
        assert self._stream is not None
        raw = self._stream.readline(MAX_LINE_CHARS * 4)
        while raw and not raw.endswith(b"\n"):  # a long line: drop the rest of it
            rest = self._stream.readline(65536)
            if not rest:
                break
            if rest.endswith(b"\n"):
                raw += b"\n"
                break
        return raw

    def _next(self) -> DiffLine | None:
        if self._ahead is not None:
            line, self._ahead = self._ahead, None
            return line
        while True:
            if self._stream is None:
                if not self._commands:
                    return None
                args, self._ok = self._commands.pop(0)
                self._args = args
                self._stream = GitStream(self.target.top, args)
            raw = self._raw_line()
            if raw:
                return self._parser.line(_decode(raw))
            stream, self._stream = self._stream, None
            stream.close()
            if stream.returncode not in self._ok:
                raise GitError(self.target.top, self._args,
                               stream.error or f"exit code {stream.returncode}",
                               stream.returncode)

    def read(self, count: int, *, keep: bool = True) -> DiffPage:
        """The next ``count`` lines (``keep`` False: skipped, none returned)."""
        page = DiffPage(self.index)
        if self._stream is not None:
            self._stream.resume()
        try:
            for _ in range(count):
                line = self._next()
                if line is None:
                    self.done = True
                    break
                self.index += 1
                if keep:
                    page.lines.append(line)
            if not self.done:
                self._ahead = self._next()
                self.done = self._ahead is None
        except BaseException:
            self.close()
            raise
        finally:
            if self._stream is not None:
                self._stream.pause()
        page.more = not self.done
        return page

    def kill(self) -> None:
        if self._stream is not None:
            self._stream.kill()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._commands = []
        self.done = True
        if stream is not None:
            try:
                stream.close(early=True)
            except GitError:
                pass


def diff_page(target: ChangeTarget, path: str | None, start: int = 0, count: int = 2000, *,
              untracked: list[str] | None = None) -> DiffPage:
    """Lines ``start`` to ``start + count`` of the diff of ``path`` (every file when None)
    since the base; ``untracked`` names the files git does not track (diffed against
    /dev/null). git is stopped as soon as the page is full."""
    reader = DiffReader(target, path, untracked)
    try:
        if start:
            reader.read(start, keep=False)
        return reader.read(count)
    finally:
        reader.close()


# ---- review comments -----------------------------------------------------------------------

def snippet(lines: list[DiffLine], index: int, context: int = 2) -> list[DiffLine]:
    """The line at ``index`` with up to ``context`` lines of the same hunk either side."""
    body = ("context", "add", "del", "note")
    if not 0 <= index < len(lines):
        return []
    lo = index
    while lo > 0 and index - lo < context and lines[lo - 1].kind in body:
        lo -= 1
    hi = index
    while hi + 1 < len(lines) and hi - index < context and lines[hi + 1].kind in body:
        hi += 1
    return lines[lo:hi + 1]


def anchor(line: DiffLine) -> str:
    """``file:line`` of a diff line (a removed line: where it stood)."""
    number = line.new if line.new is not None else line.at
    return f"{line.path}:{number}" if number is not None else line.path


def review_message(line: DiffLine, around: list[DiffLine], comment: str) -> str:
    """The bus body of a review comment: the anchor, the comment, and the diff lines it was
    made on (so it still reads right after the agent edits the file)."""
    where = anchor(line)
    removed = " (a removed line)" if line.kind == "del" else ""
    marked = [("> " if other is line else "  ") + other.text for other in around]
    return (f"Review comment on {where}{removed}:\n{comment.strip()}\n\n"
            f"At {where}:\n```diff\n" + "\n".join(marked) + "\n```\n")
