"""Where a command acts: runs root, project, task, run and bus, from flags, JRUN_* and the CWD.

The one scope resolver of the CLI (:func:`resolve` for a task, :func:`resolve_bus` for a bus,
:func:`runs_root` for the root alone), by one precedence: the flags, then the JRUN_*
environment (an agent's run), then the CWD (a run-info above it, a project dir), then the
config. The runs root without a flag or a run: ``$CONDUCTOR_ROOT``, then ``storage.runs_dir``
of the config, then ``~/.run-agent/runs`` (fixes upstream's per-command differences, 9 #25).
"""

from __future__ import annotations

import os
import re

from .. import lazyre
from ..record import Record
from ..errors import BusError, ConductorError, IdError, UsageError
from ..store.layout import PROJECT_BUS, RUN_INFO, TASK_BUS

GENERIC_BUS = "MESSAGE-BUS.md"  # upstream's bus of any directory, found by walking up
BUS_NAMES = (TASK_BUS, PROJECT_BUS, GENERIC_BUS)
_TASK_DIR_RE = lazyre.Pattern(r"^task-[0-9]{8}-[0-9]{6}-[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$",
                              re.ASCII)


def runs_root(explicit: str | None, config_path: str | None = None,
              environ: dict | None = None) -> str:
    from ..store import resolve_runs_root
    env = os.environ if environ is None else environ
    if explicit or env.get("CONDUCTOR_ROOT"):
        return resolve_runs_root(explicit, environ=env)
    runs_dir = None
    try:
        from ..config import find_config
        path = find_config(config_path)
        if path:  # the loader (YAML, dataclasses) only when there is a file to load
            from ..config import load_config_lenient
            runs_dir = load_config_lenient(path).storage.runs_dir or None
    except ConductorError:
        if config_path:
            raise
    return resolve_runs_root(None, config_runs_dir=runs_dir, environ=env)


class Scope(Record):
    """Where a command acts. Not a dataclass: this module is on `run-agent bus post`'s path."""

    __slots__ = _compared = ("root", "project", "task", "run")

    def __init__(self, root: str | None = None, project: str = "", task: str = "",
                 run: str = "") -> None:
        self.root, self.project, self.task, self.run = root, project, task, run


def split_run_folder(path: str) -> Scope | None:
    """``<root>/<p>/<t>/runs/<r>`` into its parts, or None when the shape does not fit."""
    path = os.path.abspath(path)
    run = os.path.basename(path)
    runs = os.path.dirname(path)
    if os.path.basename(runs) != "runs":
        return None
    task_dir = os.path.dirname(runs)
    project_dir = os.path.dirname(task_dir)
    return Scope(os.path.dirname(project_dir), os.path.basename(project_dir),
                 os.path.basename(task_dir), run)


def split_task_folder(path: str) -> Scope:
    path = os.path.abspath(path)
    project_dir = os.path.dirname(path)
    return Scope(os.path.dirname(project_dir), os.path.basename(project_dir), os.path.basename(path))


def cwd_run_info(cwd: str) -> tuple[Scope, str] | None:
    """The first run-info.yaml up from ``cwd`` that names a project and a task."""
    d = os.path.abspath(cwd)
    while True:
        candidate = os.path.join(d, RUN_INFO)
        if os.path.isfile(candidate):
            # imported only when there is one to read: the reader brings YAML, dataclasses and
            # logging, which `bus post --project` from an ordinary directory does not need
            from ..store import read_run_info
            try:
                info = read_run_info(candidate)
            except ConductorError:
                info = None
            if info is not None and info.project_id and info.task_id:
                shape = split_run_folder(d)
                root = shape.root if shape and shape.project == info.project_id \
                    and shape.task == info.task_id else None
                return Scope(root, info.project_id, info.task_id, info.run_id), d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def cwd_project_dir(cwd: str) -> Scope | None:
    """CWD is a project dir when it holds a directory named like a task id."""
    try:
        with os.scandir(cwd) as it:
            for entry in it:
                if _TASK_DIR_RE.match(entry.name) and entry.is_dir(follow_symlinks=False):
                    d = os.path.abspath(cwd)
                    return Scope(os.path.dirname(d), os.path.basename(d))
    except OSError:
        return None
    return None


def discover_bus(start: str) -> str:
    """Walk up from ``start`` for the first regular bus file (task, project, generic per dir)."""
    d = os.path.abspath(start)
    while True:
        for name in BUS_NAMES:
            candidate = os.path.join(d, name)
            if os.path.isfile(candidate) and not os.path.islink(candidate):
                return candidate
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    raise BusError("cannot find message bus: run from inside a task or project directory: "
                   f'no message bus file found from "{os.path.abspath(start)}" '
                   f"(searched for {', '.join(BUS_NAMES)})")


def checked_env_bus(path: str) -> str:
    """``JRUN_MESSAGE_BUS`` may only name a bus file, never any other file."""
    if os.path.basename(path) not in BUS_NAMES:
        raise BusError(f'JRUN_MESSAGE_BUS "{path}" does not name a message bus file '
                       f"({', '.join(BUS_NAMES)})")
    return os.path.abspath(path)


def canonical_bus(root: str, project: str, task: str | None) -> str:
    from ..store import Layout
    layout = Layout(root)
    if task:
        return layout.task_bus(project, task)
    return layout.project_bus(project)


def scope_from_bus_path(path: str) -> Scope:
    name = os.path.basename(path)
    d = os.path.dirname(os.path.abspath(path))
    if name == TASK_BUS:
        return Scope(None, os.path.basename(os.path.dirname(d)), os.path.basename(d))
    if name == PROJECT_BUS:
        return Scope(None, os.path.basename(d))
    return Scope()


def _shown(value: str) -> str:
    from ..ids import _printable
    return _printable(value)


def _symlink_below(root: str, path: str) -> str | None:
    """The first component of ``path`` below ``root`` that is a symlink, or None."""
    rel = os.path.relpath(path, root)
    current = root
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        try:
            if os.path.islink(current):
                return current
        except OSError:
            return None
    return None


def check_in_root(what: str, value: str, root: str, depth: int, *, runs: bool = False) -> None:
    """``value`` must be exactly ``depth`` levels below ``root`` (``<root>/<p>/<t>`` or, with
    ``runs``, ``<root>/<p>/<t>/runs/<r>``) and reach there through no symlink below the root;
    otherwise a one-line UsageError naming ``what``."""
    path, top = os.path.abspath(value), os.path.abspath(root)
    up = path
    for _ in range(depth):
        up = os.path.dirname(up)
    if up != top or (runs and os.path.basename(os.path.dirname(path)) != "runs"):
        raise UsageError(f'{what} "{_shown(value)}" is outside the runs root {_shown(root)}')
    link = _symlink_below(top, path)
    if link is not None:
        raise UsageError(f'{what} "{_shown(value)}" goes through a symlink: {_shown(link)}')


def check_env_folders(environ: dict, root: str) -> None:
    """``JRUN_TASK_FOLDER`` must be ``<root>/<p>/<t>`` and ``JRUN_RUN_FOLDER``
    ``<root>/<p>/<t>/runs/<r>`` of the resolved runs root (no symlink on the way); the ids in
    them are checked like the flags."""
    from ..ids import validate_component, validate_project_id
    for var, depth in (("JRUN_TASK_FOLDER", 2), ("JRUN_RUN_FOLDER", 4)):
        value = environ.get(var, "")
        if not value:
            continue
        check_in_root(var, value, root, depth, runs=depth == 4)
        parts = os.path.relpath(os.path.abspath(value), os.path.abspath(root)).split(os.sep)
        validate_project_id(parts[0])
        validate_component("task", parts[1])
        if depth == 4:
            validate_component("run", parts[3])


def check_env_ids(environ: dict) -> None:
    """``JRUN_PROJECT_ID``, ``JRUN_TASK_ID``, ``JRUN_ID`` and ``JRUN_PARENT_ID``, when set, are
    checked like ``--project``, ``--task`` and ``--run`` (they name paths and message headers)."""
    from ..ids import validate_component, validate_project_id
    if environ.get("JRUN_PROJECT_ID"):
        validate_project_id(environ["JRUN_PROJECT_ID"])
    if environ.get("JRUN_TASK_ID"):
        validate_component("task", environ["JRUN_TASK_ID"])
    for var in ("JRUN_ID", "JRUN_PARENT_ID"):
        if environ.get(var):
            validate_component("run", environ[var])


def validate_scope_ids(project: str | None, task: str | None) -> None:
    from ..ids import validate_component, validate_project_id
    if project:
        validate_project_id(project)
    if task:
        validate_component("task", task)


__all__ = ["BUS_NAMES", "Scope", "runs_root", "resolve", "resolve_bus", "post_header", "discover_bus",
           "canonical_bus", "checked_env_bus", "scope_from_bus_path", "cwd_run_info", "cwd_project_dir",
           "split_run_folder", "split_task_folder", "IdError", "UsageError"]


# ---------------------------------------------------------------- the resolver

def _env_layer(environ: dict) -> Scope:
    """What the JRUN_* environment says: its run folder, task folder, then its ids."""
    s = Scope()
    run_folder = environ.get("JRUN_RUN_FOLDER", "")
    rf = split_run_folder(run_folder) if run_folder else None
    if rf:
        s.root, s.project, s.task, s.run = rf.root, rf.project, rf.task, rf.run
    task_folder = environ.get("JRUN_TASK_FOLDER", "")
    if task_folder:
        tf = split_task_folder(task_folder)
        s.root = s.root or tf.root
        s.project = s.project or tf.project
        s.task = s.task or tf.task
    s.project = s.project or environ.get("JRUN_PROJECT_ID", "")
    s.task = s.task or environ.get("JRUN_TASK_ID", "")
    s.run = s.run or environ.get("JRUN_ID", "")
    return s


def resolve(args, environ: dict, cwd: str, *, task: str = "infer") -> Scope:
    """Where ``job``, ``task``, ``resume``, ``stop``, ``cancel`` and ``delete`` act.

    Each part comes from the first of: the flags (``--root``, ``--project``, ``--task``), the
    JRUN_* environment, the CWD (a run-info above it; a project dir: one holding task dirs),
    the config (the root only). A later layer adds a task or run only when it names the same
    project. JRUN_* ids are checked like the flags, and JRUN_TASK_FOLDER/JRUN_RUN_FOLDER must
    lie in the resolved runs root: they never choose the root themselves.

    ``task``: ``"infer"`` (``job``): the flag, JRUN_*, the CWD, else a new id announced on
    stderr; ``"new"`` (``task``): the flag, else a new id (an agent's ``run-agent task``
    starts a task, never reruns its own); ``"given"``: the flag only (any existing task id).
    """
    from ..ids import new_task_id, validate_component, validate_project_id, validate_task_id
    check_env_ids(environ)
    s = Scope(None, getattr(args, "project", None) or "",
              getattr(args, "task", None) or "", "")
    cwd_root = None
    layers = [_env_layer(environ)]
    env = layers[0]
    env_folders = bool(environ.get("JRUN_TASK_FOLDER") or environ.get("JRUN_RUN_FOLDER"))
    if not (s.project or env.project) or (task == "infer" and not (s.task or env.task and env.run)) \
            or not (getattr(args, "root", None) or env_folders):
        found = cwd_run_info(cwd)  # reads a run-info file: only when something is missing
        if found:
            layers.append(found[0])
            cwd_root = found[0].root
    for layer in layers:
        if not s.project:
            s.project = layer.project
        if task == "infer" and not s.task and layer.project == s.project:
            s.task = layer.task  # a task only with its own project
        s.run = s.run or layer.run  # the run we are called from, whatever its task
    if not s.project:
        pdir = cwd_project_dir(cwd)
        if pdir:
            s.project, cwd_root = pdir.project, pdir.root
    if not s.project:
        raise UsageError("cannot infer project: run from inside a task or project directory")
    validate_project_id(s.project)
    if s.task:
        (validate_component if task == "given" else
         lambda _what, value: validate_task_id(value))("task", s.task)
    elif task == "given":
        raise UsageError('required flag(s) "task" not set')
    else:
        s.task = new_task_id()
        import sys
        sys.stderr.write(f"task: {s.task}\n")
    config = getattr(args, "config", None)
    if getattr(args, "root", None):
        s.root = runs_root(args.root, config, environ)
    elif env_folders:
        s.root = runs_root(None, config, environ)
        check_env_folders(environ, s.root)
    else:
        s.root = cwd_root or runs_root(None, config, environ)
    return s


def resolve_bus(args, environ: dict, cwd: str, *, read: bool = False) -> tuple[str, Scope]:
    """The bus file ``bus post`` (``bus read`` with ``read``) acts on, and the scope it gave:
    ``--project`` (and ``--task``) under the runs root, then ``JRUN_MESSAGE_BUS``, then the CWD
    (a run-info above it: its task's bus; a project dir: its project's bus; else the first bus
    file walking up)."""
    if args.project:
        validate_scope_ids(args.project, args.task)
        root = runs_root(args.root, args.config, environ)
        return canonical_bus(root, args.project, args.task or None), \
            Scope(root, args.project, args.task)
    if read and args.task:
        raise UsageError("--task requires --project")
    env_bus = environ.get("JRUN_MESSAGE_BUS", "")
    if env_bus:
        return checked_env_bus(env_bus), Scope()
    found = cwd_run_info(cwd)
    if found:
        s = found[0]
        root = runs_root(args.root, args.config, environ) if args.root else s.root
        if root:
            return canonical_bus(root, s.project, s.task), s
    pdir = cwd_project_dir(cwd)
    if pdir:
        return canonical_bus(pdir.root, pdir.project, None), pdir
    return discover_bus(cwd), Scope()


def post_header(args, environ: dict, cwd: str, path: str) -> Scope:
    """The project, task and run a message posted to ``path`` names, by the same layers as
    :func:`resolve`: the flags, then the bus file's place, then the JRUN_* environment, then
    the run-info above the CWD. A message to a project's bus names no task; a task comes from a
    later layer only with that layer's project."""
    from ..errors import BusError
    from ..ids import validate_component
    from_path = scope_from_bus_path(path)
    s = Scope(None, args.project or from_path.project, args.task or from_path.task, args.run)
    env = _env_layer(environ)
    layers = [env]
    if not (s.project or env.project) or not (s.run or env.run):
        found = cwd_run_info(cwd)  # reads a run-info file: only when something is missing
        if found:
            layers.append(found[0])
    for layer in layers:
        s.project = s.project or layer.project
        if not s.task and not from_path.project and layer.project == s.project:
            s.task = layer.task
        s.run = s.run or layer.run
    if s.run and not args.run:
        validate_component("run", s.run)
    if not s.project:
        raise BusError("cannot infer project: run from inside a task or project directory")
    return s
