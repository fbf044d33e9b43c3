"""The restart dialog (`R`): restart a task and choose the executor its runs go to from now on.

The executor list is the registry's names and starts at where the task runs now (its
TASK-EXECUTOR, else what the config picks), read by the app in a thread before the dialog
opens. The dialog only answers; the restart itself is the orchestrator's verb, run by the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static

from ..keymap import widget_bindings


@dataclass(frozen=True)
class RestartChoice:
    """``executor``: the one chosen when it differs from where the task runs now (or the
    task's record was unreadable), else None: the record or the config decides, and nothing
    new is recorded."""
    executor: str | None


class RestartScreen(ModalScreen[RestartChoice | None]):
    """Returns the choice, or None when cancelled."""

    BINDINGS = widget_bindings("restart")
    DEFAULT_CSS = """
    #restart-what { margin-bottom: 1; }
    #restart-field { height: 1; }
    #restart-executor { width: 20; }
    #restart-source { width: 1fr; margin-left: 2; color: $text-muted; }
    #restart-error { color: $error; text-style: bold; margin-top: 1; }
    """

    def __init__(self, task: str, *, running: bool, grace: float, agent: str | None,
                 names: list[str], current: str, source: str, error: str = "") -> None:
        """``names``: the registry's executors; ``current``/``source``: where the task runs
        now and why (controller.ExecutorNow); ``error``: its record could not be read."""
        super().__init__()
        self.task_id = task
        self.running = running
        self.grace = grace
        self.agent = agent
        self.current = current
        self.source = source
        self.error = error
        self.names = list(dict.fromkeys([*names, current]))

    def compose(self) -> ComposeResult:
        with Vertical(id="restart-box", classes="dialog"):
            yield Static(f"Restart task {self.task_id}", classes="dialog-title", markup=False)
            what = (f"It is running: it is stopped first (SIGKILL after {self.grace:g} s), then "
                    "started again with the restart prefix." if self.running else
                    "It is started again with the restart prefix.")
            agent = f"Agent: {self.agent}." if self.agent else "Agent: the config's default."
            yield Static(f"{what}\n{agent}", id="restart-what", markup=False)
            with Horizontal(id="restart-field"):
                yield Label("executor", classes="field-label")
                yield Select([(n, n) for n in self.names], allow_blank=False,
                             value=self.current, id="restart-executor", compact=True,
                             tooltip="where the task's runs execute from now on "
                                     "(recorded in TASK-EXECUTOR; docs/scale-out.md)")
                yield Static(f"now: {self.current} ({self.source})", id="restart-source",
                             markup=False)
            if self.error:
                yield Static(f"{self.error}; a restart records the executor chosen here",
                             id="restart-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Restart (ctrl+s)", id="restart-go", compact=True)
                yield Button("Cancel (esc)", id="restart-cancel", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#restart-executor", Select))

    def choice(self) -> RestartChoice:
        value = self.query_one("#restart-executor", Select).value
        chosen = value if isinstance(value, str) else self.current
        if chosen == self.current and not self.error:
            return RestartChoice(None)
        return RestartChoice(chosen)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "restart-go":
            self.action_submit()
        else:
            self.action_cancel()

    def action_submit(self) -> None:
        self.dismiss(self.choice())

    def action_cancel(self) -> None:
        self.dismiss(None)
