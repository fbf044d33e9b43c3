"""The supervisor's side: a watcher thread that turns the task's state into events.

:class:`TaskAlerts` is started by the Ralph loop once it holds the task's lock and finished
after the loop released it, so events fire with no console open. Every ``poll`` seconds (and
at once when the loop wakes it, :meth:`TaskAlerts.nudge`) it reads the task through the task-status model
(:func:`conductor.store.taskview.view_task`) and the bus's last messages, and an event whose
transition has not fired before is recorded (:mod:`.outbox`) and handed to a detached helper
(:mod:`.deliver`). The loop never waits for a hook or the webhook.

``loop-lost`` is fired by the next supervisor that takes the lock: ``alerts/supervisor.json``
says a supervisor is running, and is marked ended when it ends cleanly; a supervisor that finds
it still running (the previous one was killed, or its machine went down) fires loop-lost.
"""

from __future__ import annotations

import os
import threading

from ..errors import ConductorError
from ..timefmt import now_ns
from . import deliver, events, outbox
from .targets import Targets

POLL = 0.5
SUPERVISOR = "supervisor.json"


def fire(task_dir: str, project: str, task: str, event: events.Event, targets: Targets,
         *, body: bytes | None = None, on_error=None) -> bool:
    """Record the event (once per transition) and start a helper to deliver it.
    ``on_error(text)`` hears why an event could not be recorded (a link planted at alerts/)."""
    wanted = targets.for_event(event.name)
    if not wanted:
        return False
    facts = {"event": event.name, "env": event.env(),
             "body": (body if body is not None else event.body()).decode("utf-8")}
    try:
        name = outbox.enqueue(task_dir, event.key, facts, wanted)
    except (ConductorError, OSError) as exc:
        if on_error is not None:
            on_error(f"alerts: cannot record the {event.name} event: {exc}")
        return False
    if name is None:
        return False
    deliver.spawn(task_dir, project, task, targets)
    return True


def fire_run_stop(task_dir: str, info, targets: Targets | None) -> bool:
    """Upstream's run_stop webhook for a finished run (``run-agent job``, or a loop's attempt)."""
    if targets is None or not targets.for_event(events.RUN_STOP):
        return False
    event = events.Event(events.RUN_STOP, f"{events.RUN_STOP}:{info.run_id}", info.project_id,
                         info.task_id, run_id=info.run_id, status=info.status)
    return fire(task_dir, info.project_id, info.task_id, event, targets,
                body=events.run_stop_body(info))


class TaskAlerts:
    def __init__(self, root: str, project: str, task: str, task_dir: str, targets: Targets,
                 poll: float = POLL) -> None:
        self.root, self.project, self.task, self.task_dir = root, project, task, task_dir
        self.targets, self.poll = targets, poll
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = now_ns()
        self._reported: set[str] = set()
        state = outbox.read_json(task_dir, SUPERVISOR)
        self.last_state = str(state.get("last_state", "")) if state else ""

    # ---- the supervisor's life ----------------------------------------------------------

    def start(self) -> None:
        """Called with the task's lock held: loop-lost, leftovers, then the watcher."""
        previous = outbox.read_json(self.task_dir, SUPERVISOR)
        if previous.get("running"):
            pid, since = previous.get("pid", 0), previous.get("since", 0)
            event = events.Event(events.LOOP_LOST, f"{events.LOOP_LOST}:{pid}:{since}",
                                 self.project, self.task, status="",
                                 old_state=str(previous.get("last_state", "")),
                                 new_state="loop-dead")
            fire(self.task_dir, self.project, self.task, event, self.targets,
                 on_error=self._report_once)
        self._write(running=True)
        self.check()  # before the loop posts anything: what the task is in as we take over
        if outbox.pending(self.task_dir):  # left by a helper that was killed
            deliver.spawn(self.task_dir, self.project, self.task, self.targets)
        self._thread = threading.Thread(target=self._run, name="conductor-alerts", daemon=True)
        self._thread.start()

    def finish(self, *, failed: bool = False) -> None:
        """After the loop ended and released the lock: one last look, then a clean end.
        ``failed``: the loop ended on a failure (max restarts, say) that the view may not show
        as one (its newest run completed): fired as ``failed`` unless stuck or failed was."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        event = self.check()
        if failed and (event is None or event.name not in (events.STUCK_EVENT,
                                                           events.FAILED_EVENT)):
            with self._lock:
                try:
                    self._fire_failed()
                except Exception:  # noqa: BLE001 - as check()
                    pass
        self._write(running=False)

    def _fire_failed(self) -> None:
        from ..store import Layout
        from ..store.taskview import view_task
        view = view_task(Layout(self.root), self.project, self.task, now_ns=now_ns(),
                         newest=True)
        latest = view.latest
        run_id = latest.run_id if latest is not None else ""
        event = events.Event(events.FAILED_EVENT, f"{events.FAILED_EVENT}:{run_id or 'no-run'}",
                             self.project, self.task, run_id=run_id,
                             status=latest.status if latest is not None else "",
                             old_state=self.last_state, new_state="failed",
                             cost_usd=view.usage.cost_usd)
        if not outbox.fired(self.task_dir, event.key):
            fire(self.task_dir, self.project, self.task, event, self.targets,
                 on_error=self._report_once)

    def _write(self, *, running: bool) -> None:
        if not running:  # after the lock is released: never over the next supervisor's mark
            current = outbox.read_json(self.task_dir, SUPERVISOR)
            if current and (current.get("pid"), current.get("since")) != (os.getpid(),
                                                                          self._started):
                return
        outbox.write_json(self.task_dir, SUPERVISOR, {
            "running": running, "pid": os.getpid(), "since": self._started,
            "last_state": self.last_state})

    def nudge(self) -> None:
        """Look now, in the watcher's thread (the loop wrote a state): the loop never waits."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.check()

    def _report_once(self, text: str) -> None:
        """One WARN on the task's bus per distinct problem (not one per poll)."""
        if text in self._reported:
            return
        self._reported.add(text)
        deliver.post_bus(self.task_dir, self.project, self.task, "WARN", text)

    # ---- one look -----------------------------------------------------------------------

    def check(self) -> events.Event | None:
        """Read the task; fire the event it is in (if its transition has not fired)."""
        with self._lock:
            try:
                return self._check()
            except Exception:  # noqa: BLE001 - a watcher must never take the loop down
                return None

    def _check(self) -> events.Event | None:
        from ..bus import MessageBus
        from ..store import Layout
        from ..store.layout import TASK_BUS
        from ..store.taskview import view_task
        view = view_task(Layout(self.root), self.project, self.task, now_ns=now_ns(),
                         newest=True)
        try:
            messages = MessageBus(os.path.join(self.task_dir, TASK_BUS)).tail(20)
        except (ConductorError, OSError):
            messages = []
        event = events.detect(view, old_state=self.last_state, messages=messages)
        changed = view.status != self.last_state
        if event is not None and not outbox.fired(self.task_dir, event.key):
            fire(self.task_dir, self.project, self.task, event, self.targets,
                 on_error=self._report_once)
        if changed:
            self.last_state = view.status
            self._write(running=not self._stop.is_set())
        return event
