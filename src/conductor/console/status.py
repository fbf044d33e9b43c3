"""What the console shows for a task or a run: a glyph, a colour, a heartbeat.

The status itself is the store's one task model (:mod:`conductor.store.taskview`: its words
are the keys of :data:`LOOKS`); this module draws it and reads the root for the tree (every
run of every task, children nested under their parents). The reads run in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store import Layout, scan_root, scan_task
from ..store.taskview import STATES, RunView, TaskView, batched_alive, view_task
from ..store.usage import Usage
from ..timefmt import NS

__all__ = ["HEARTBEAT_LOOKS", "LOOKS", "Archived", "PeekReader", "ProjectView", "RunView", "StatusLook",
           "TaskView", "counts", "heartbeat", "list_archived", "look", "read_root", "read_task",
           "total_spend", "is_placed"]

LIVE_NS = 60 * NS
STALE_NS = 5 * 60 * NS
# NFS's default attribute cache (acregmax, acdirmax): another host's write can show that late
NFS_ATTR_CACHE_NS = 60 * NS


@dataclass(frozen=True)
class StatusLook:
    """How a status is drawn: a glyph that reads without colour, and a colour that reads fast."""
    glyph: str
    style: str
    label: str


LOOKS: dict[str, StatusLook] = {
    "running": StatusLook("●", "bold green", "running"),
    "completed": StatusLook("✔", "green", "completed"),
    "failed": StatusLook("✘", "bold red", "failed"),
    "stopped": StatusLook("■", "yellow", "stopped"),
    "cancelled": StatusLook("⊘", "yellow", "cancelled (task cancel)"),
    "waiting": StatusLook("◷", "cyan", "waiting on dependencies"),
    "queued": StatusLook("○", "bright_black", "queued"),
    "needs-you": StatusLook("?", "bold magenta", "needs you (QUESTION)"),
    "loop-dead": StatusLook("⚠", "bold red", "loop dead (a run claims to run, no supervisor)"),
    "stuck": StatusLook("⊗", "bold red", "stuck: identical failures tripped the circuit breaker"),
    "unknown": StatusLook("·", "bright_black", "unknown"),
}
HEARTBEAT_LOOKS: dict[str, StatusLook] = {
    "live": StatusLook("♥", "green", "live: output in the last minute"),
    "stale": StatusLook("♡", "yellow", "stale: no output for 1-5 minutes"),
    "silent": StatusLook("∅", "red", "silent: no output for over 5 minutes"),
}


def look(status: str) -> StatusLook:
    return LOOKS.get(status, LOOKS["unknown"])


@dataclass
class ProjectView:
    id: str
    path: str
    tasks: list[TaskView] = field(default_factory=list)


def heartbeat(last_output_ns: int | None, now_ns: int, *, placed: bool = False) -> str:
    """live < 60 s since the last output, stale up to 5 min, silent after. ``placed``: a run
    on another host (issue 14), whose output's mtime this host may see up to
    :data:`NFS_ATTR_CACHE_NS` late (NFS ``acregmax``): both thresholds are that much longer."""
    if last_output_ns is None:
        return "silent"
    age = now_ns - last_output_ns - (NFS_ATTR_CACHE_NS if placed else 0)
    if age < LIVE_NS:
        return "live"
    if age < STALE_NS:
        return "stale"
    return "silent"


def is_placed(info) -> bool:
    """A run another executor placed (on another host, maybe): not local."""
    return getattr(info, "executor", "") not in ("", "local")


def read_root(root: str, *, project: str | None, now_ns: int) -> list[ProjectView]:
    """The whole root as views (call from a thread: it reads every task dir)."""
    layout = Layout(root)
    projects = scan_root(root, project=project)
    alive = batched_alive(t for snap in projects for t in snap.tasks)
    return [ProjectView(snap.id, snap.path,
                        [view_task(layout, snap.id, t.id, now_ns=now_ns, snap=t, outputs=True,
                                   alive=alive)
                         for t in snap.tasks])
            for snap in projects]


def read_task(root: str, project: str, task: str, *, now_ns: int) -> TaskView:
    """One task again (call from a thread)."""
    layout = Layout(root)
    return view_task(layout, project, task, now_ns=now_ns, snap=scan_task(layout, project, task),
                     outputs=True)


def counts(projects: list[ProjectView]) -> dict[str, int]:
    """Header figures: how many tasks are in each state of the store's vocabulary, in its order
    (:data:`~conductor.store.taskview.STATES`); a state no task is in is left out."""
    tally: dict[str, int] = {}
    for project in projects:
        for task in project.tasks:
            tally[task.status] = tally.get(task.status, 0) + 1
    return {state: tally[state] for state in STATES if state in tally}


def total_spend(projects: list[ProjectView]) -> Usage:
    """Header figure: the usage of every task shown."""
    total = Usage()
    for project in projects:
        for task in project.tasks:
            total = total + task.usage
    return total


PEEK_TAIL = 64 * 1024
"""How much of a run's stdout the peek reads: its last 64 KiB (some dozens of stream events; one longer line gives no peek)."""
PEEK_WIDTH = 160
PEEK_REMEMBERED = 4096


def stdout_path(run: RunView) -> str:
    """A run's stdout: the path its run-info records when that lies inside the run dir, else
    ``agent-stdout.txt`` there (an agent can write run-info; a path elsewhere is never read)."""
    import os

    from ..store.layout import STDOUT
    fixed = os.path.join(run.path, STDOUT)
    given = run.info.stdout_path
    if not given:
        return fixed
    full = os.path.normpath(os.path.join(run.path, given))
    return full if full.startswith(os.path.abspath(run.path).rstrip(os.sep) + os.sep) else fixed


def last_assistant_line(agent: str, data: bytes) -> str:
    """The last line the agent said in ``data`` (whole stdout lines), as the readable view
    renders it: for a JSON stream the last non-empty ``text`` row (streamed pieces joined),
    for anything else the last non-empty line. "" when there is none."""
    from ..agents.display import display_lines
    rows: list[list[str]] = []  # [kind, text]
    for raw in data.decode("utf-8", errors="replace").split("\n"):
        if not raw.strip():
            continue
        for line in display_lines(agent, raw):
            parts = line.text.split("\n")
            if line.join and rows and rows[-1][0] == line.kind:
                rows[-1][1] += parts[0]
                parts = parts[1:]
            rows.extend([line.kind, part] for part in parts)
    for kind, text in reversed(rows):
        if kind in ("text", "raw") and text.strip():
            return text
    return ""


class PeekReader:
    """The tree's peek column: the last assistant line of runs' stdout, by a bounded tail read
    (:data:`PEEK_TAIL`), remembered by the file's identity, size and mtime so an unchanged
    file costs one ``fstat``. Call :meth:`peek` from a thread. A link, FIFO or garbage at the
    name gives no peek, never an error."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[tuple[int, int, int, int], str]] = {}
        self._sniffed: dict[str, str] = {}

    def peek(self, run: RunView) -> str:
        import os

        from ..agents.display import cut, sniff_stream_type
        from ..errors import ConductorError
        from ..store import safefs
        from .text import neutralise
        path = stdout_path(run)
        try:
            fd = safefs.open_view(path)
        except (OSError, ConductorError):
            return ""
        if fd is None:
            return ""
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            seen = self._seen.get(path)
            if seen is not None and seen[0] == ident:
                return seen[1]
            start = max(0, st.st_size - PEEK_TAIL)
            data = os.pread(fd, st.st_size - start, start)
        except OSError:
            return ""
        finally:
            os.close(fd)
        if start > 0:  # the first line is cut: not a whole event
            data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
        data = data[:data.rfind(b"\n") + 1]  # whole lines only: the last may be half written
        agent = self._agent(run, path, sniff_stream_type)
        text = neutralise(cut(last_assistant_line(agent, data), PEEK_WIDTH))
        if len(self._seen) >= PEEK_REMEMBERED:
            self._seen.clear()
        self._seen[path] = (ident, text)
        return text

    def _agent(self, run: RunView, path: str, sniff) -> str:
        """The recorded agent type when its stream is readable, else the stream format found
        at the start of stdout (a ``command`` agent wrapping claude), else the type."""
        from ..agents.registry import backend, known
        agent = (run.info.agent or "").strip().lower()
        if known(agent) and backend(agent).json_stream:
            return agent
        if path not in self._sniffed:
            found = sniff(path)
            if found is None:
                return agent
            if len(self._sniffed) >= PEEK_REMEMBERED:
                self._sniffed.clear()
            self._sniffed[path] = found
        return self._sniffed[path]


@dataclass(frozen=True)
class Archived:
    """An archived task: ``<root>/.archive/<project>/<task>``; ``when_ns`` is the directory's
    mtime (when it was archived, as near as the file system tells)."""
    project: str
    task: str
    when_ns: int


def list_archived(root: str, *, project: str | None = None) -> list[Archived]:
    """The archived tasks under ``root`` (of one project, or all), newest first (call from a
    thread). Only real directories with valid names count: a link, a file or a bad name at
    any level is passed by, never followed. A missing archive is an empty list."""
    import os
    import stat as st_mod

    from ..errors import ConductorError
    from ..ids import validate_component, validate_project_id
    from ..orchestrator import ARCHIVE_DIR

    def real_dirs(path: str):
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if st_mod.S_ISDIR(info.st_mode):
                        yield entry.name, info
        except OSError:
            return

    base = os.path.join(Layout(root).root, ARCHIVE_DIR)
    try:
        if not st_mod.S_ISDIR(os.lstat(base).st_mode):
            return []
    except OSError:
        return []
    found: list[Archived] = []
    for pid, _info in real_dirs(base):
        if project is not None and pid != project:
            continue
        try:
            validate_project_id(pid)
        except ConductorError:
            continue
        for tid, info in real_dirs(os.path.join(base, pid)):
            try:
                validate_component("task", tid)
            except ConductorError:
                continue
            found.append(Archived(pid, tid, info.st_mtime_ns))
    found.sort(key=lambda a: (-a.when_ns, a.project, a.task))
    return found
