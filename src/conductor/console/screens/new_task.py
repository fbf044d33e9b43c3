"""The new-task dialog. Input is checked here, in the dialog: a wrong id, a missing prompt or an
unknown working dir is shown under the fields and nothing is written. Creating and starting
runs in a thread (it touches disk and spawns a supervisor); a refusal from the orchestrator
(task exists, dependency cycle) comes back into the same dialog."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea
from textual.worker import get_current_worker

from ... import ids
from ...errors import ConductorError
from ..keymap import widget_bindings


@dataclass
class NewTaskRequest:
    project: str
    task: str
    agent: str
    prompt: str = ""
    prompt_file: str = ""
    cwd: str = ""
    depends_on: list[str] = field(default_factory=list)
    max_cost_usd: str = ""   # as typed; see budget_args
    max_tokens: str = ""
    max_restarts: str = ""
    unknown_deps_ok: bool = False  # the operator confirmed dependencies not created yet
    path_prompt_ok: bool = False  # the operator confirmed a prompt that names a file
    worktree: bool = False  # run the task in its own git worktree (docs/worktrees.md)
    executor: str = ""  # where its runs execute (issue 14): local, slurm, ...; "" as the config says


UNKNOWN_DEPENDENCY = "depends on: no task "  # orchestrator.verbs.UNKNOWN_DEPENDENCY
CONFIRM_DEPS = " - ctrl+s again creates it anyway (it waits until that task exists)"
PATH_PROMPT = "prompt: "
PATH_PROMPT_END = (" is a file: put it under 'or file' to use what it holds"
                   " - ctrl+s again uses the path itself as the prompt")

_SUFFIX = {"k": 1_000, "m": 1_000_000}


def _positive(label: str, text: str, *, whole: bool) -> str:
    """``text`` as the value of a flag, or ValueError with the line the dialog shows."""
    raw = text.strip().replace("_", "").replace(",", "")
    if not whole:
        raw = raw.removeprefix("$").strip()
    scale = 1
    if whole and raw[-1:].lower() in _SUFFIX:
        scale, raw = _SUFFIX[raw[-1].lower()], raw[:-1]
    try:
        value = float(raw) * scale
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf") or (whole and value != int(value)):
        kind = "a whole number above 0" if whole else "a number of dollars above 0"
        example = {"max cost": "5 or 2.50", "max tokens": "200000 or 200k",
                   "max restarts": "10"}[label]
        raise ValueError(f"{label}: {text.strip()!r} is not {kind} (e.g. {example})")
    return str(int(value)) if whole else repr(value)


def budget_args(req: NewTaskRequest) -> list[str]:
    """The budget fields as ``run-agent task`` flags; ValueError names the wrong field."""
    args: list[str] = []
    for label, flag, text, whole in (("max cost", "--max-cost-usd", req.max_cost_usd, False),
                                     ("max tokens", "--max-tokens", req.max_tokens, True),
                                     ("max restarts", "--max-restarts", req.max_restarts, True)):
        if text.strip():
            args += [flag, _positive(label, text, whole=whole)]
    return args


def check_request(req: NewTaskRequest, agents: list[str]) -> str | None:
    """The first problem with the form, as one line, or None."""
    if not req.project:
        return "project: required"
    try:
        ids.validate_project_id(req.project)
    except ConductorError as exc:
        return f"project: {exc}"
    try:
        ids.validate_task_id(req.task)
    except ConductorError as exc:
        return f"task id: {exc}"
    if not agents:
        return "agent: no agents configured (start the console with --config)"
    if req.agent not in agents:
        return "agent: choose one of " + ", ".join(agents)
    if req.prompt.strip() and req.prompt_file:
        return "prompt: type a prompt or give a file, not both"
    if not req.prompt.strip() and not req.prompt_file:
        return "prompt: type a prompt or give a prompt file"
    for dep in req.depends_on:
        if dep == req.task:
            return "depends on: a task cannot depend on itself"
        try:
            ids.validate_task_id(dep)
        except ConductorError as exc:
            return f"depends on: {exc}"
    try:
        budget_args(req)
    except ValueError as exc:
        return str(exc)
    return None


def load_prompt_file(req: NewTaskRequest) -> NewTaskRequest:
    """Read the prompt file and check the working dir (thread side; raises ConductorError)."""
    if req.cwd and not os.path.isdir(os.path.expanduser(req.cwd)):
        raise ConductorError(f"working dir: {req.cwd}: not a directory")
    if req.worktree:  # a dir outside git is said here, before the task is written
        from ...worktree.manage import repo_top
        try:
            repo_top(os.path.expanduser(req.cwd) if req.cwd else os.getcwd(),
                     hint="give a git working dir as work dir, or untick worktree")
        except ConductorError as exc:
            raise ConductorError(f"worktree: {str(exc).removeprefix('--worktree: ')}") from None
    text = req.prompt.strip()
    if (not req.prompt_file and not req.path_prompt_ok and "\n" not in text
            and len(text) < 4096 and os.path.isfile(os.path.expanduser(text))):
        # a file dropped (pasted) into the prompt box instead of the file field
        raise ConductorError(f"{PATH_PROMPT}{text}{PATH_PROMPT_END}")
    if req.prompt_file:
        path = os.path.expanduser(req.prompt_file)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(1024 * 1024)
        except OSError as exc:
            raise ConductorError(f"prompt file: {req.prompt_file}: {exc.strerror or exc}") from None
        if not text.strip():
            raise ConductorError(f"prompt file: {req.prompt_file}: file is empty")
        req.prompt = text
    return req


class NewTaskScreen(ModalScreen[str | None]):
    """Returns the success text (the dialog closes) or None when cancelled."""

    BINDINGS = widget_bindings("new")
    DEFAULT_CSS = """
    #new-worktree { width: auto; height: 1; margin-left: 1; }
    #new-executor-label { width: auto; margin: 0 1 0 2; }
    #new-executor { width: 16; }
    """

    def __init__(self, *, projects: list[str], project: str, agents: list[str],
                 agent: str, create: Callable[[NewTaskRequest], str],
                 task_id: str | None = None, prompt: str = "",
                 depends_on: list[str] | None = None, worktree: bool | None = None) -> None:
        """``prompt`` and ``depends_on`` pre-fill the form (the duplicate key). ``worktree``:
        the checkbox's first value (None: the app's config, ``worktree.enabled``)."""
        super().__init__()
        self.worktree = worktree
        self.prompt = prompt
        self.depends_on = list(depends_on or [])
        self.projects = projects
        self.project = project
        self.agents = agents
        self.agent = agent if agent in agents else (agents[0] if agents else "")
        self.create = create
        self.task_id = task_id or ids.new_task_id()
        self.busy = False
        self._executor_names_shown: list[str] = []
        self.confirm_deps: list[str] | None = None  # refused as unknown; a 2nd submit confirms
        self.confirm_path: str | None = None  # a prompt refused as a file's path; likewise

    def compose(self) -> ComposeResult:
        with Vertical(id="new-box", classes="dialog"):
            yield Static("New task", classes="dialog-title", markup=False)
            with Horizontal(classes="field"):
                yield Label("project", classes="field-label")
                yield Input(self.project, placeholder="existing or new project id", id="new-project",
                            compact=True, suggester=SuggestFromList(self.projects))
            with Horizontal(classes="field"):
                yield Label("task id", classes="field-label")
                yield Input(self.task_id, id="new-task", compact=True)
            with Horizontal(classes="field"):
                yield Label("agent", classes="field-label")
                chosen = {"value": self.agent} if self.agent else {}
                yield Select([(a, a) for a in self.agents], allow_blank=not self.agents,
                             id="new-agent", compact=True, **chosen)
                yield Label("executor", id="new-executor-label")
                yield Select([(n, n) for n in self._executor_names()], allow_blank=False,
                             value=self._executor_default(), id="new-executor", compact=True,
                             tooltip="where the task's runs execute (docs/scale-out.md)")
            yield Label("prompt", classes="field-label")
            yield TextArea(self.prompt, id="new-prompt", compact=True, soft_wrap=True)
            with Horizontal(classes="field"):
                yield Label("or file", classes="field-label")
                yield Input("", placeholder="path of a prompt file", id="new-prompt-file",
                            compact=True)
            with Horizontal(classes="field"):
                yield Label("work dir", classes="field-label")
                yield Input("", placeholder="agent's working dir (optional)", id="new-cwd",
                            compact=True)
                yield Checkbox("worktree", self._worktree_default(), id="new-worktree",
                               compact=True, tooltip="run the task on branch conductor/<task> "
                               "in its own git worktree of the work dir's repository")
            with Horizontal(classes="field"):
                yield Label("depends on", classes="field-label")
                yield Input(",".join(self.depends_on),
                            placeholder="task ids, comma-separated (optional)",
                            id="new-deps", compact=True)
            with Horizontal(classes="field", id="new-budget"):
                yield Label("budget", classes="field-label")
                yield Input("", placeholder="max cost USD", id="new-max-cost",
                            compact=True)
                yield Input("", placeholder="max tokens", id="new-max-tokens",
                            compact=True)
                yield Input("", placeholder="max restarts", id="new-max-restarts",
                            compact=True)
            yield Static("", id="new-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Create and start (ctrl+s)", id="new-create",
                             compact=True)
                yield Button("Cancel (esc)", id="new-cancel", compact=True)

    def _worktree_default(self) -> bool:
        if self.worktree is not None:
            return self.worktree
        config = getattr(self.app, "config", None)
        return bool(config is not None and config.worktree.enabled)

    def _executor_names(self) -> list[str]:
        from ...executor.registry import names
        self._executor_names_shown = list(dict.fromkeys([*names(), self._executor_default()]))
        return self._executor_names_shown

    def _executor_default(self) -> str:
        """Where the chosen agent's runs go when nobody chooses: $CONDUCTOR_EXECUTOR, its
        ``executor:``, the defaults', local (runner_cmd.pick_executor without the flag)."""
        import os
        from ...store.task_executor import configured_executor
        config = getattr(self.app, "config", None)
        agent = config.agents.get(self.agent) if config is not None else None
        return configured_executor(agent, config, os.environ)[0]

    def on_select_changed(self, event: Select.Changed) -> None:
        """Another agent: the executor follows the config's pick for it."""
        if event.select.id == "new-agent" and isinstance(event.value, str):
            self.agent = event.value
            name = self._executor_default()
            if name in self._executor_names_shown:
                self.query_one("#new-executor", Select).value = name

    def on_mount(self) -> None:
        # set now, not later from the app's queue (what .focus() does): keys typed while the
        # dialog opened are handled after this, by the field, instead of by no one
        self.set_focus(self.query_one("#new-project" if not self.project else "#new-prompt"))

    def request(self) -> NewTaskRequest:
        value = self.query_one("#new-agent", Select).value
        deps = self.query_one("#new-deps", Input).value
        return NewTaskRequest(
            project=self.query_one("#new-project", Input).value.strip(),
            task=self.query_one("#new-task", Input).value.strip(),
            agent=value if isinstance(value, str) else "",
            prompt=self.query_one("#new-prompt", TextArea).text,
            prompt_file=self.query_one("#new-prompt-file", Input).value.strip(),
            cwd=self.query_one("#new-cwd", Input).value.strip(),
            depends_on=[d.strip() for d in deps.split(",") if d.strip()],
            max_cost_usd=self.query_one("#new-max-cost", Input).value.strip(),
            max_tokens=self.query_one("#new-max-tokens", Input).value.strip(),
            max_restarts=self.query_one("#new-max-restarts", Input).value.strip(),
            worktree=self.query_one("#new-worktree", Checkbox).value,
            executor=self._chosen_executor())

    def _chosen_executor(self) -> str:
        """The operator's choice; "" when it is what the config picks anyway, so that, as with
        `run-agent task` without --executor, nothing is recorded in TASK-EXECUTOR and the task
        follows the config."""
        value = self.query_one("#new-executor", Select).value
        if not isinstance(value, str) or value == self._executor_default():
            return ""
        return value

    @property
    def error_text(self) -> str:
        return str(self.query_one("#new-error", Static).render())

    def show_error(self, text: str) -> None:
        error = self.query_one("#new-error", Static)
        error.update(text)
        error.set_class(bool(text), "-shown")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "new-create":
            self.action_submit()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        # The form is read from the focused field's queue, after the keys already in it: keys
        # typed as the dialog opened reach the field through the app (ConductorApp.on_key), so
        # a ctrl+s typed after them can be handled before they are; read now, the prompt
        # would miss its end.
        if not self.busy:
            (self.focused or self).call_later(self._submit_now)

    def _submit_now(self) -> None:
        if self.busy or not self.is_attached:
            return
        req = self.request()
        problem = check_request(req, self.agents)
        if problem:
            self.show_error(problem)
            return
        if req.depends_on and req.depends_on == self.confirm_deps:
            req.unknown_deps_ok = True
        req.path_prompt_ok = req.prompt == self.confirm_path
        self.confirm_deps = self.confirm_path = None
        self.busy = True
        self.show_error("")
        self.query_one("#new-create", Button).disabled = True
        self._create(req)

    @work(thread=True, group="new-task", exit_on_error=False)
    def _create(self, req: NewTaskRequest) -> None:
        try:
            text = self.create(load_prompt_file(req))
        except (ConductorError, OSError) as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._failed, str(exc), req)
            return
        self.app.call_from_thread(self.dismiss, text)

    def _failed(self, error: str, req: NewTaskRequest) -> None:
        self.busy = False
        self.query_one("#new-create", Button).disabled = False
        if error.startswith(UNKNOWN_DEPENDENCY):
            self.confirm_deps = req.depends_on
            error += CONFIRM_DEPS
        elif error.startswith(PATH_PROMPT) and error.endswith(PATH_PROMPT_END):
            self.confirm_path = req.prompt
        self.show_error(error)

    def action_cancel(self) -> None:
        self.dismiss(None)
