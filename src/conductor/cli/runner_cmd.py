"""``run-agent job | job batch | task | task resume | task stop | task delete | task archive |
task restore | stop | resume``."""

from __future__ import annotations

import argparse
import os
import sys
import threading

from .. import defaults as df
from ..errors import ConductorError, UsageError
from ..ids import new_task_id, validate_component, validate_task_id
from .parser import CliParser, duration, utf8_arg, utf8_file_text
from . import scope as sc


def register(sub, verb: str | None = None) -> None:
    """Add the runner's verbs; only ``verb``'s parser when it is one of them (a fresh
    `run-agent job` builds one parser, not the ~110 arguments of all four)."""
    verbs = {"job": _register_job, "task": _register_task, "stop": _register_stop,
             "resume": _register_resume}
    for name, add in verbs.items():
        if verb is None or verb not in verbs or verb == name:
            add(sub)


def _register_job(sub) -> None:
    job = sub.add_parser("job", help="run one agent once (a run) in a task")
    _job_flags(job)
    job.set_defaults(func=cmd_job)
    job_verbs = job.add_subparsers(dest="job_verb", metavar="VERB", parser_class=CliParser)
    batch = job_verbs.add_parser("batch", help="run several prompts one after another")
    batch.add_argument("--task", action="append", default=[])
    for flag in ("--root", "--config", "--agent", "--cwd", "--conductor-url", "--parent-run-id", "--project"):
        batch.add_argument(flag, default=None)
    batch.add_argument("--prompt", action="append", default=[])
    batch.add_argument("--prompt-file", action="append", default=[])
    batch.add_argument("--timeout", type=duration, default=0.0)
    batch.add_argument("-f", "--follow", action="store_true")
    batch.add_argument("--continue-on-fail", action="store_true")
    batch.set_defaults(func=cmd_job_batch)


def _register_task(sub) -> None:
    task = sub.add_parser("task", help="run a task's root agent in the Ralph loop until DONE")
    _task_flags(task)
    task.set_defaults(func=cmd_task)
    verbs = task.add_subparsers(dest="task_verb", metavar="VERB", parser_class=CliParser)
    resume = verbs.add_parser("resume", help="clear DONE/STOP-REQUESTED and run the loop again")
    resume.add_argument("--task", required=True)
    for flag in ("--project", "--root", "--config", "--agent", "--cwd"):
        resume.add_argument(flag, default=None)
    resume.add_argument("--max-restarts", type=int, default=df.RESUME_MAX_ATTEMPTS,
                        help=f"attempts in all (default {df.RESUME_MAX_ATTEMPTS})")
    resume.add_argument("--child-wait-timeout", type=duration, default=0.0)
    resume.add_argument("--child-poll-interval", type=duration, default=0.0)
    resume.add_argument("--restart-delay", type=duration, default=df.RESTART_DELAY,
                        help=f"default {_d(df.RESTART_DELAY)}; 0 means none")
    resume.add_argument("--timeout", type=duration, default=0.0)
    _budget_flags(resume)
    _executor_flag(resume, again=True)
    resume.set_defaults(func=cmd_task_resume)
    tstop = verbs.add_parser("stop", help="stop a task: its loop and every live run")
    tstop.add_argument("--project", required=True)
    tstop.add_argument("--task", required=True)
    tstop.add_argument("--root", default=None)
    tstop.add_argument("--config", default=None)
    tstop.add_argument("--force", action="store_true", help="SIGKILL what does not stop in time")
    tstop.add_argument("--grace", type=duration, default=df.STOP_GRACE,
                       help=f"wait after SIGTERM (default {_d(df.STOP_GRACE)})")
    tstop.add_argument("--no-restart", action="store_true", help="write STOP-REQUESTED as permanent")
    tstop.set_defaults(func=cmd_task_stop)
    cancel = verbs.add_parser("cancel", help="mark a task cancelled (CANCELLED): its loop starts "
                                             "no further attempt")
    for flag in ("--project", "--task", "--reason"):
        cancel.add_argument(flag, required=True)
    cancel.add_argument("--root", default=None)
    cancel.add_argument("--config", default=None)
    cancel.set_defaults(func=cmd_task_cancel)
    delete = verbs.add_parser("delete", help="delete a task directory")
    delete.add_argument("--project", required=True)
    delete.add_argument("--task", required=True)
    delete.add_argument("--root", default=None)
    delete.add_argument("--config", default=None)
    delete.add_argument("--force", action="store_true",
                        help="stop a running task (loop and runs, SIGKILL after --grace) first; "
                             "delete its worktree branch even with unmerged work")
    delete.add_argument("--grace", type=duration, default=df.DELETE_GRACE,
                        help=f"with --force: wait after SIGTERM (default {_d(df.DELETE_GRACE)})")
    delete.set_defaults(func=cmd_task_delete)
    for verb, func, what in (
            ("archive", cmd_task_archive, "move a stopped task to <root>/.archive/<project>/"),
            ("restore", cmd_task_restore, "move an archived task back to its project")):
        moved = verbs.add_parser(verb, help=what)
        moved.add_argument("--project", required=True)
        moved.add_argument("--task", required=True)
        moved.add_argument("--root", default=None)
        moved.add_argument("--config", default=None)
        if verb == "archive":
            moved.add_argument("--force", action="store_true",
                               help="remove its worktree branch even with unmerged work")
        moved.set_defaults(func=func)


def _register_stop(sub) -> None:
    stop = sub.add_parser("stop", help="stop a run (SIGTERM to its process group, then SIGKILL with --force)")
    for flag in ("--run-dir", "--root", "--config", "--project", "--task", "--run"):
        stop.add_argument(flag, default=None)
    stop.add_argument("--force", action="store_true")
    stop.add_argument("--no-restart", action="store_true")
    stop.add_argument("--grace", type=duration, default=df.STOP_GRACE,
                      help=f"wait after SIGTERM (default {_d(df.STOP_GRACE)})")
    stop.set_defaults(func=cmd_stop)


def _register_resume(sub) -> None:
    resume_top = sub.add_parser("resume", help="clear DONE and STOP-REQUESTED; with --agent, run the loop")
    resume_top.add_argument("--task", required=True)
    for flag in ("--project", "--root", "--config", "--agent", "--prompt", "--prompt-file"):
        resume_top.add_argument(flag, default=None)
    _executor_flag(resume_top, again=True)
    resume_top.set_defaults(func=cmd_resume)


_d = df.short_duration


def _job_flags(p) -> None:
    for flag in ("--root", "--config", "--agent", "--prompt", "--prompt-file", "--cwd", "--conductor-url",
                 "--parent-run-id", "--previous-run-id", "--project", "--task"):
        p.add_argument(flag, default=None)
    p.add_argument("--timeout", type=duration, default=0.0, help="idle-output timeout (e.g. 30m)")
    p.add_argument("-f", "--follow", action="store_true", help="print the agent's stdout as it runs")
    _executor_flag(p)


def _task_flags(p) -> None:
    for flag in ("--task", "--project", "--root", "--config", "--agent", "--prompt", "--prompt-file",
                 "--cwd", "--conductor-url"):
        p.add_argument(flag, default=None)
    p.add_argument("--depends-on", action="append", default=None)
    p.add_argument("--dependency-poll-interval", type=duration, default=0.0)
    p.add_argument("--dependency-timeout", type=duration, default=0.0)
    p.add_argument("--max-restarts", type=int, default=None, help=f"attempts in all (default {df.MAX_ATTEMPTS})")
    p.add_argument("--child-wait-timeout", type=duration, default=0.0)
    p.add_argument("--child-poll-interval", type=duration, default=0.0)
    p.add_argument("--restart-delay", type=duration, default=None, help=f"default {_d(df.RESTART_DELAY)}; 0 means none")
    p.add_argument("--timeout", type=duration, default=0.0, help="idle-output timeout per attempt")
    p.add_argument("--resume", action="store_true", help="prefix the first attempt as a restart")
    _budget_flags(p)
    # issue 13 (docs/worktrees.md): a git worktree per task
    p.add_argument("--worktree", action="store_true", default=None,
                   help="run the task on branch conductor/<task> in its own git worktree of the "
                        "working dir's repository (default: the config's worktree.enabled)")
    p.add_argument("--no-worktree", dest="worktree", action="store_false",
                   help="no worktree, whatever the config says")
    p.add_argument("--base", default=None,
                   help="with --worktree: the commit the branch starts from (default HEAD)")
    _executor_flag(p)


def _executor_flag(p, again: bool = False) -> None:
    """``--executor`` (issue 14): where the runs execute; default: $CONDUCTOR_EXECUTOR (set in
    a placed run, so its child runs go the same way), the agent's ``executor:``, the config's
    ``defaults.executor``, else local. ``again``: a resume or restart of an existing task,
    whose TASK-EXECUTOR comes before the rest (and the flag replaces it)."""
    p.add_argument("--executor", default=None, metavar="NAME",
                   help="where the task's runs execute from now on: local or slurm (default: "
                        "as the task was started, TASK-EXECUTOR)" if again else
                        "where the runs execute: local (default) or slurm")


def pick_executor(args, agent, config, environ, task_record: tuple[str, str] | None = None
                  ) -> tuple[str, dict]:
    """(executor name, its options from the config) for a task or a job; an unknown name is
    a one-line error. Precedence: --executor, the task's TASK-EXECUTOR (``task_record``: the
    runs root and the task dir; what a task started with --executor keeps across restarts),
    $CONDUCTOR_EXECUTOR, the agent's ``executor:``, ``defaults.executor``, local."""
    from ..executor.registry import executor
    from ..store.task_executor import configured_executor, recorded_executor
    recorded = ""
    if not getattr(args, "executor", None) and task_record is not None:
        recorded = recorded_executor(*task_record)  # hostile or unknown: one line, the file
    name = (getattr(args, "executor", None) or recorded or
            configured_executor(agent, config, environ)[0]).strip().lower()
    executor(name)  # UnknownExecutor (a ConductorError): unknown executor "x" (known: ...)
    section = getattr(config, name, None) if config is not None and name != "local" else None
    options = section.options() if section is not None and hasattr(section, "options") else {}
    return name, options


def _positive_number(text: str) -> float:
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _budget_flags(p) -> None:
    """Budgets, the circuit breaker, limit waits and sessions (docs/agents.md); each defaults
    to the config's `defaults:` key of the same name."""
    p.add_argument("--max-cost-usd", type=_positive_number, default=None,
                   help="ask the operator when the task has spent this much (USD)")
    p.add_argument("--max-tokens", type=_positive_int, default=None,
                   help="ask the operator when the task has used this many tokens")
    p.add_argument("--failure-limit", type=_positive_int, default=None,
                   help=f"identical failures in a row before the task is stuck (default {df.FAILURE_LIMIT})")
    p.add_argument("--limit-wait-max", type=duration, default=None,
                   help=f"the longest wait for a usage limit to reset (default {_d(df.LIMIT_WAIT_MAX)})")
    p.add_argument("--resume-mode", choices=df.RESUME_MODES, default=None,
                   help=f"when an attempt continues the agent's session (default {df.RESUME_MODE})")


def loop_options(args, config) -> dict:
    """TaskRequest fields from the flags, else the config's `defaults:`, else ours."""
    defaults = config.defaults if config is not None else None

    def pick(flag, key, fallback):
        value = getattr(args, flag, None)
        if value is None and defaults is not None:
            value = getattr(defaults, key, None) or None
        return fallback if value is None else value

    limit_wait = getattr(args, "limit_wait_max", None)
    if limit_wait is None and defaults is not None and defaults.limit_wait_max:
        limit_wait = duration(defaults.limit_wait_max)
    return {
        "max_cost_usd": pick("max_cost_usd", "max_cost_usd", None),
        "max_tokens": pick("max_tokens", "max_tokens", None),
        "failure_limit": pick("failure_limit", "failure_limit", df.FAILURE_LIMIT),
        "limit_wait_max": limit_wait if limit_wait else df.LIMIT_WAIT_MAX,
        "resume_mode": pick("resume_mode", "resume", df.RESUME_MODE),
        "alerts": alert_targets(config),  # hooks and the webhook (issue 13)
    }


def alert_targets(config):
    """The config's hooks and webhook (conductor.alerts), None when it has neither."""
    if config is None or not (getattr(config, "hooks", None) or config.webhook):
        return None
    from ..alerts.targets import from_config
    return from_config(config)


# ----------------------------------------------------------------------------- helpers

def _read_prompt_file(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"read file: {path}: {exc.strerror}") from None
    # universal newlines, as reading the file in text mode gave
    return utf8_file_text(data, path).replace("\r\n", "\n").replace("\r", "\n")


def read_prompt(prompt: str | None, prompt_file: str | None) -> str | None:
    if prompt_file:
        text = _read_prompt_file(prompt_file).strip()
        if not text:
            raise UsageError(f"read file: {prompt_file}: file is empty")
        return text
    utf8_arg("--prompt", prompt)
    if prompt is not None and prompt.strip():
        return prompt.strip()
    return None


def check_written_text(args, root: str | None = None) -> None:
    """Paths and ids that a run writes into run-info.yaml and the prompt must be text: a
    non-UTF-8 byte there (argv and the environment carry them as surrogate escapes) would make
    a file no reader can read, or fail half-way through writing the run. The flags are checked
    first (before a scope is resolved and reported), then the resolved ``root``."""
    for flag in ("--root", "--cwd", "--parent-run-id", "--previous-run-id", "--conductor-url"):
        utf8_arg(flag, getattr(args, flag[2:].replace("-", "_"), None))
    utf8_arg("runs root", root)


_WARNED: set[str] = set()  # permission warnings already printed by this process


def load_agent(config_path: str | None, agent: str | None):
    """The agent to run and its config; warns (once) about secret files others can read."""
    from ..config import find_run_config, load_config, permission_warnings, select_agent
    path = find_run_config(config_path, agent)
    config = load_config(path) if path else None
    if config is not None:
        for warning in permission_warnings(config):
            if warning not in _WARNED:
                _WARNED.add(warning)
                sys.stderr.write(warning + "\n")
    return select_agent(config, agent), config


def collect_secrets(config, environ) -> tuple[str, ...]:
    from ..secrets import collect
    return collect(config, environ)


def resolve_job_scope(args, environ, cwd) -> sc.Scope:
    """Spec 4.1 step 1, by the one resolver (cli/scope.py): ``--project/--task`` accepted (9 #24)."""
    return sc.resolve(args, environ, cwd, task="infer")


class _Follower:
    """``-f``: copy the agent's stdout to ours while the job runs."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        from ..secrets import StreamRedactor
        self.redactor = StreamRedactor(secrets)
        self.path: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def started(self, info) -> None:
        self.path = info.stdout_path
        self.thread.start()

    def _run(self) -> None:
        offset = 0
        while True:
            finished = self.done.is_set()
            try:  # a link or FIFO the agent put at its stdout is not followed, never blocks
                from ..agents.streams import open_stream
                with open_stream(self.path) as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                data = b""
            if data:
                offset += len(data)
                sys.stdout.buffer.write(self.redactor.feed(data))
                sys.stdout.flush()
            if finished:
                sys.stdout.buffer.write(self.redactor.flush())
                sys.stdout.flush()
                return
            self.done.wait(0.2)

    def finish(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()


# ----------------------------------------------------------------------------- verbs

def cmd_job(args, environ=None, cwd=None) -> int:
    from ..runner.job import JobRequest, run_job
    environ = dict(os.environ if environ is None else environ)
    cwd = cwd or os.getcwd()
    prompt = read_prompt(args.prompt, args.prompt_file)
    if prompt is None:
        raise UsageError("prompt is empty")
    check_written_text(args)
    s = resolve_job_scope(args, environ, cwd)
    utf8_arg("runs root", s.root)
    agent, config = load_agent(args.config, args.agent)
    parent = args.parent_run_id if args.parent_run_id is not None else (
        environ.get("JRUN_ID", "") or s.run)
    if parent:
        validate_component("run", parent)  # it goes into run-info and message headers
    follower = _Follower(collect_secrets(config, environ)) if args.follow else None
    where, options = pick_executor(args, agent, config, environ)
    runner = run_job
    if where != "local":  # a child run of a placed run, or --executor: placed the same way
        from ..runner.placed import place_run

        def runner(req):
            return place_run(where, req, options=options)
    result = runner(JobRequest(
        root=s.root, project=s.project, task=s.task, prompt=prompt, agent=agent, cwd=args.cwd,
        parent_run_id=parent or "", previous_run_id=args.previous_run_id or "",
        idle_timeout=args.timeout, conductor_url=args.conductor_url or "", environ=environ,
        secrets=collect_secrets(config, environ), on_started=follower.started if follower else None,
        alerts=alert_targets(config)))
    if follower:
        follower.finish()
    if not result.ok:
        raise ConductorError(result.error)
    return 0


def cmd_job_batch(args, environ=None, cwd=None) -> int:
    prompts = []
    for prompt in args.prompt:
        utf8_arg("--prompt", prompt)
    for pf in args.prompt_file:
        text = _read_prompt_file(pf)
        if not text.strip():
            raise UsageError(f"read file: {pf}: file is empty")
        prompts.append(text)
    prompts = list(args.prompt) + prompts
    if not prompts:
        raise UsageError("at least one --prompt or --prompt-file is required")
    if args.task and len(args.task) != len(prompts):
        raise UsageError(f"--task count ({len(args.task)}) must match prompt count ({len(prompts)})")
    for task in args.task:
        validate_task_id(task)  # before any item runs, and never echoed raw in an item's error
    first_error = None
    for i, prompt in enumerate(prompts, 1):
        task = args.task[i - 1] if args.task else new_task_id()
        job_args = _Namespace(root=args.root, config=args.config, agent=args.agent, prompt=prompt,
                              prompt_file=None, cwd=args.cwd, conductor_url=args.conductor_url,
                              parent_run_id=args.parent_run_id, previous_run_id=None,
                              project=args.project, task=task, timeout=args.timeout,
                              follow=args.follow)
        try:
            cmd_job(job_args, environ, cwd)
            sys.stdout.write(f"batch item {i}/{len(prompts)} completed: {task}\n")
        except ConductorError as exc:
            message = f"batch item {i} (task {task}): {exc}"
            if not args.continue_on_fail:
                raise ConductorError(message) from None
            sys.stderr.write(message + "\n")
            first_error = first_error or message
    if first_error:
        raise ConductorError(f"one or more batch items failed: {first_error}")
    return 0


class _Namespace:
    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def cmd_task(args, environ=None, cwd=None) -> int:
    from ..runner.ralph import TaskRequest, run_task
    environ = dict(os.environ if environ is None else environ)
    # set by the orchestrator's resume/restart (never inherited by the agents)
    clear_markers = environ.pop("CONDUCTOR_CLEAR_MARKERS", "") == "1"
    check_written_text(args)
    prompt = read_prompt(args.prompt, args.prompt_file)  # before a new task id is announced
    wanted_worktree = args.worktree
    if args.worktree and not args.task:
        _check_worktree_source(args, cwd)  # one line, before a new task id is announced
    s = sc.resolve(args, environ, cwd or os.getcwd(), task="new")
    utf8_arg("runs root", s.root)
    agent, config = load_agent(args.config, args.agent)
    worktree = worktree_settings(args, config, s, cwd)
    if args.base is not None and worktree is None and not wanted_worktree:
        raise UsageError("--base needs --worktree (or worktree.enabled in the config)")
    depends = None
    if args.depends_on is not None:
        depends = [d for item in args.depends_on for d in item.split(",")]
    max_restarts = args.max_restarts
    if max_restarts is None and config is not None and config.defaults.max_restarts:
        max_restarts = config.defaults.max_restarts
    run_task(TaskRequest(
        root=s.root, project=s.project, task=s.task, agent=agent, prompt=prompt, cwd=args.cwd,
        depends_on=depends, dependency_poll=args.dependency_poll_interval or df.DEP_POLL,
        dependency_timeout=args.dependency_timeout or None, conductor_url=args.conductor_url or "",
        max_attempts=df.MAX_ATTEMPTS if max_restarts is None else max_restarts,
        **loop_options(args, config),
        restart_delay=df.RESTART_DELAY if args.restart_delay is None else args.restart_delay,
        child_wait_timeout=args.child_wait_timeout or df.CHILD_WAIT,
        child_poll_interval=args.child_poll_interval or df.CHILD_POLL, idle_timeout=args.timeout,
        resume=args.resume, environ=environ, secrets=collect_secrets(config, environ),
        clear_markers=clear_markers, worktree=worktree,
        **_placement(args, agent, config, environ, s)))
    return 0


def _placement(args, agent, config, environ, s: sc.Scope | None = None) -> dict:
    """The TaskRequest's executor fields. For a task (``s``): without --executor the task's
    TASK-EXECUTOR comes before the config; with it, the loop records the flag's executor there
    once it holds the task's lock (``record_executor``), so a start refused because a loop runs
    leaves the record as it was."""
    record = None
    if s is not None:
        from ..store import Layout
        root = s.root or ""
        record = (root, Layout(root).task_dir(s.project, s.task))
    where, options = pick_executor(args, agent, config, environ, record)
    fields: dict = {"executor": where, "executor_options": options} if where != "local" else {}
    if record is not None and getattr(args, "executor", None):
        fields.update(executor=where, record_executor=True)
    return fields


def _check_worktree_source(args, cwd) -> str:
    from ..worktree.manage import check_base, repo_top
    if args.base:
        check_base(args.base)
    return repo_top(args.cwd or cwd or os.getcwd())


def worktree_settings(args, config, s: sc.Scope, cwd):
    """What creating the task's worktree needs (``--worktree`` or the config's
    ``worktree.enabled``), or None. A task that has a worktree already reuses it whatever
    is asked (a restart, a resume); otherwise a working dir outside git is one error line."""
    from ..store import Layout, safefs
    from ..worktree.manage import DEFAULT_SETUP_TIMEOUT, WorktreeSettings
    from ..worktree.record import read_record
    wt = config.worktree if config is not None else None
    task_dir = Layout(s.root).task_dir(s.project, s.task)
    wanted = args.worktree
    if wanted is None:  # the config's default is for new tasks: one that has run keeps its way
        wanted = bool(wt and wt.enabled) and not safefs.subdirs(s.root, os.path.join(task_dir,
                                                                                     "runs"))
    if not wanted:
        return None
    if read_record(task_dir) is not None:
        return None  # the loop reuses the recorded one
    source = os.path.abspath(args.cwd or cwd or os.getcwd())
    root = os.path.abspath(s.root)
    if source == root or source.startswith(root.rstrip(os.sep) + os.sep):
        # a supervisor started without a working dir runs in the task dir: that is never
        # the repository meant (even when the runs root lies in one)
        if args.worktree:
            raise UsageError(f"--worktree: the working dir {source} is inside the runs root; "
                             "give --cwd")
        return None
    _check_worktree_source(args, cwd)
    timeout = DEFAULT_SETUP_TIMEOUT
    if wt is not None and wt.setup_timeout:
        timeout = duration(wt.setup_timeout)
    return WorktreeSettings(
        source=os.path.abspath(args.cwd or cwd or os.getcwd()),
        base=args.base or (wt.base if wt is not None else ""),
        dir=wt.dir if wt is not None else "", setup=list(wt.setup) if wt is not None else [],
        setup_timeout=timeout, copy=list(wt.copy) if wt is not None else [])



def _partial(exc: ConductorError) -> None:
    """Print what a verb did before it failed (``exc.partial``), as it would have on success."""
    done = getattr(exc, "partial", None)
    if done is None:
        return
    for outcome in getattr(done, "stopped", ()):
        _print_outcome(outcome)
    if getattr(done, "marker_notice", ""):
        sys.stderr.write(done.marker_notice + "\n")


def _print_outcome(outcome) -> None:
    if outcome.notice:
        sys.stderr.write(outcome.notice + "\n")
    if outcome.message:
        sys.stdout.write(outcome.message + "\n")


def _existing(args, environ, cwd) -> sc.Scope:
    return sc.resolve(args, environ, cwd or os.getcwd(), task="given")


def _known_executor(name: str | None) -> None:
    """An unknown ``--executor``: one line naming it and the known ones, before anything is
    printed or touched."""
    if name:
        from ..executor.registry import executor
        executor(name)


def cmd_task_resume(args, environ=None, cwd=None) -> int:
    from ..orchestrator import clear_stop_markers, resumable_task_dir
    from ..runner.ralph import TaskRequest, run_task
    environ = dict(os.environ if environ is None else environ)
    s = _existing(args, environ, cwd)
    task_dir = resumable_task_dir(s.root, s.project, s.task)
    check_written_text(args, s.root)
    _known_executor(args.executor)
    sys.stderr.write(f"Resuming task: {s.task}\n")
    agent, config = load_agent(args.config, args.agent)
    # an unknown --executor or a bad TASK-EXECUTOR: one line, before any marker is cleared
    placement = _placement(args, agent, config, environ, s)
    clear_stop_markers(task_dir)
    run_task(TaskRequest(root=s.root, project=s.project, task=s.task, agent=agent, cwd=args.cwd,
                         secrets=collect_secrets(config, environ),
                         max_attempts=args.max_restarts, restart_delay=args.restart_delay,
                         child_wait_timeout=args.child_wait_timeout or df.CHILD_WAIT,
                         child_poll_interval=args.child_poll_interval or df.CHILD_POLL,
                         idle_timeout=args.timeout, resume=True, environ=environ,
                         **loop_options(args, config), **placement))
    return 0


def cmd_resume(args, environ=None, cwd=None) -> int:
    from ..orchestrator import clear_stop_markers, resumable_task_dir
    environ = dict(os.environ if environ is None else environ)
    s = _existing(args, environ, cwd)
    task_dir = resumable_task_dir(s.root, s.project, s.task, need_task_md=False)
    if args.executor and not args.agent:
        raise UsageError("--executor needs --agent (resume runs the loop only with --agent)")
    _known_executor(args.executor)
    if args.agent:
        check_written_text(args, s.root)
        read_prompt(args.prompt, args.prompt_file)  # refused before the task is touched
    clear_stop_markers(task_dir)
    sys.stdout.write(f"Resumed task {s.task} (restart counter reset)\n")
    sys.stdout.flush()
    if not args.agent:
        return 0
    from ..runner.ralph import TaskRequest, run_task
    agent, config = load_agent(args.config, args.agent)
    run_task(TaskRequest(root=s.root, project=s.project, task=s.task, agent=agent,
                         secrets=collect_secrets(config, environ),
                         prompt=read_prompt(args.prompt, args.prompt_file),
                         max_attempts=df.RESUME_MAX_ATTEMPTS,
                         restart_delay=df.RESTART_DELAY, resume=True, environ=environ,
                         **_placement(args, agent, config, environ, s)))
    return 0


def cmd_task_stop(args, environ=None, cwd=None) -> int:
    from ..orchestrator import stop_task
    environ = dict(os.environ if environ is None else environ)
    s = _existing(args, environ, cwd)
    result = stop_task(s.root, s.project, s.task, grace=args.grace, force=args.force,
                       permanent=args.no_restart)
    for outcome in result.outcomes:
        _print_outcome(outcome)
    sys.stdout.write(result.summary + "\n")
    return 1 if result.refused else 0


def cmd_stop(args, environ=None, cwd=None) -> int:
    from ..orchestrator import stop_run, stop_run_dir
    environ = dict(os.environ if environ is None else environ)
    try:
        if args.run_dir:
            root = sc.runs_root(args.root, args.config, environ)
            sc.check_in_root("--run-dir", args.run_dir, root, 4, runs=True)
            result = stop_run_dir(os.path.abspath(args.run_dir), grace=args.grace,
                                  task_named=bool(args.project and args.task),
                                  force=args.force, permanent=args.no_restart)
        else:
            if not (args.project and args.task):
                raise UsageError("--run-dir, or --project and --task, are required")
            s = _existing(args, environ, cwd)
            result = stop_run(s.root, s.project, s.task, args.run or "", grace=args.grace,
                              force=args.force, only=False, must_be_running=True,
                              permanent=args.no_restart)
    except ConductorError as exc:
        _partial(exc)
        raise
    if result.marker_notice:
        sys.stderr.write(result.marker_notice + "\n")
    _print_outcome(result.outcome)
    return 0


def cmd_task_cancel(args, environ=None, cwd=None) -> int:
    from ..orchestrator import cancel_task
    environ = dict(os.environ if environ is None else environ)
    s = _existing(args, environ, cwd)
    marker = cancel_task(s.root, s.project, s.task, args.reason)
    sys.stdout.write(f"task {s.project}/{s.task} marked as cancelled\nreason: {marker.reason}\n")
    return 0


def cmd_task_delete(args, environ=None, cwd=None) -> int:
    from ..orchestrator import delete_task
    environ = dict(os.environ if environ is None else environ)
    s = _existing(args, environ, cwd)
    try:
        result = delete_task(s.root, s.project, s.task, force=args.force, grace=args.grace)
    except ConductorError as exc:
        _partial(exc)
        raise
    for outcome in result.stopped:
        _print_outcome(outcome)
    if result.worktree:
        sys.stdout.write(result.worktree + "\n")
    sys.stdout.write(f"Deleted task: {s.task}\n")
    return 0


def cmd_task_archive(args, environ=None, cwd=None) -> int:
    from ..orchestrator import archive_task
    s = _existing(args, dict(os.environ if environ is None else environ), cwd)
    result = archive_task(s.root, s.project, s.task, force=args.force)
    if result.worktree:
        sys.stdout.write(result.worktree + "\n")
    sys.stdout.write(f"Archived task: {s.task} -> {result.target}\n")
    return 0


def cmd_task_restore(args, environ=None, cwd=None) -> int:
    from ..orchestrator import restore_task
    s = _existing(args, dict(os.environ if environ is None else environ), cwd)
    result = restore_task(s.root, s.project, s.task)
    sys.stdout.write(f"Restored task: {s.task} -> {result.target}\n")
    return 0
