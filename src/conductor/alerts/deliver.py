"""Delivering what fired: run the hooks, post the webhook (``python -m conductor.alerts.deliver``).

The process that fires an event (a supervisor, a ``run-agent job``) starts this helper in a
session of its own and hands it the targets on stdin (so the webhook's secret and URL never
touch the runs root); the helper delivers every pending event of the task and exits. It
outlives its starter: a job process that exits, or a supervisor killed with SIGKILL, loses
nothing. Each event file is locked (``flock``) while a helper delivers it, so two helpers
never deliver one event twice.

* A hook is run with its argv (no shell), the supervisor's environment plus the
  ``CONDUCTOR_*`` facts, in a new process group; after its timeout the group is killed.
  A hook that cannot start, exits non-zero or times out is one WARN line on the task bus.
* The webhook is upstream's (spec 6.5): POST, ``Content-Type: application/json``,
  ``User-Agent: conductor-loop/1.0``, ``X-Conductor-Signature: sha256=<hmac>`` when a secret
  is set, 3 attempts with sleeps of 1 s and 2 s, the configured timeout (10 s), and
  ``WARN webhook delivery failed: …`` on the bus when the last attempt fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from . import outbox
from .targets import Targets

WEBHOOK_SLEEPS = (1.0, 2.0)
USER_AGENT = "conductor-loop/1.0"


def post_bus(task_dir: str, project: str, task: str, kind: str, body: str) -> None:
    from ..bus import Message, MessageBus
    from ..errors import ConductorError
    from ..store.layout import TASK_BUS
    try:
        MessageBus(os.path.join(task_dir, TASK_BUS)).append(
            Message(type=kind, project_id=project, task_id=task, body=body))
    except (ConductorError, OSError):
        pass


def _shown(argv: list[str]) -> str:
    import shlex
    text = " ".join(shlex.quote(a) for a in argv)
    return text if len(text) <= 120 else text[:117] + "..."


def _duration(seconds: float) -> str:
    from ..timefmt import format_duration
    return format_duration(seconds)


def run_hook(argv: list[str], env: dict[str, str], timeout: float) -> str | None:
    """Run one hook; None when it exited 0, else what went wrong (one phrase)."""
    try:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        return f"cannot start: {exc.strerror or exc}"
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:  # the group is the hook's own (a new session, its leader not yet reaped)
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        return f"timed out after {_duration(timeout)}; its process group was killed"
    if code == 0:
        return None
    if code < 0:
        return f"killed by signal {-code}"
    return f"exited with code {code}"


def _opener(url: str):
    import urllib.request
    from urllib.parse import urlsplit
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # as Go: never proxied
    return urllib.request.build_opener()


def post_once(url: str, body: bytes, secret: str, timeout: float) -> str | None:
    """One POST; None on a 2xx answer, else the error."""
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if secret:
        import hashlib
        import hmac
        headers["X-Conductor-Signature"] = "sha256=" + hmac.new(
            secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"post: {reason}"
    if 200 <= status < 300:
        return None
    return f"webhook returned status {status}"


def post_webhook(url: str, body: bytes, secret: str, timeout: float,
                 sleeps: tuple[float, ...] = WEBHOOK_SLEEPS) -> str | None:
    """Upstream's three attempts; None when one succeeded, else the last error."""
    last = None
    for attempt in range(len(sleeps) + 1):
        if attempt:
            time.sleep(sleeps[attempt - 1])
        last = post_once(url, body, secret, timeout)
        if last is None:
            return None
    return f"webhook delivery failed after {len(sleeps) + 1} attempts: {last}"


def _deliver_target(task_dir: str, name: str, entry: dict, target: str, targets: Targets,
                    project: str, task: str) -> None:
    event = str(entry.get("event", ""))
    problem = None
    if target == "webhook":
        hook = targets.webhook
        if hook is not None:
            body = str(entry.get("body", "")).encode("utf-8")
            problem = post_webhook(hook["url"], body, hook.get("secret") or "",
                                   float(hook.get("timeout") or 10.0))
            if problem:
                post_bus(task_dir, project, task, "WARN",
                          f"webhook delivery failed: {problem} (event {event})")
    elif target.startswith("hook-"):
        index = int(target[5:]) if target[5:].isdigit() else -1
        if 0 <= index < len(targets.hooks):
            hook = targets.hooks[index]
            env = {str(k): str(v) for k, v in (entry.get("env") or {}).items()}
            problem = run_hook([str(a) for a in hook["argv"]], env, float(hook["timeout"]))
            if problem:
                post_bus(task_dir, project, task, "WARN",
                          f"hook hooks[{index}] ({_shown(hook['argv'])}) on {event}: {problem}")
    outbox.mark_done(task_dir, name, target)


def _lock(task_dir: str, name: str) -> int | None:
    """The entry's descriptor, locked; None when another helper holds it."""
    import fcntl
    from ..errors import ConductorError
    from ..store import safefs
    try:
        fd = safefs.open_file(outbox.root_of(task_dir),
                              os.path.join(outbox.folder(task_dir), name))
    except (ConductorError, OSError):
        return None
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def deliver_pending(task_dir: str, project: str, task: str, targets: Targets) -> int:
    """Deliver every pending event of a task (each target in a thread); how many events."""
    count = 0
    for name, _entry, _left in outbox.pending(task_dir):
        fd = _lock(task_dir, name)
        if fd is None:
            continue
        try:
            again = [p for p in outbox.pending(task_dir) if p[0] == name]  # under the lock
            if not again:
                continue
            _name, entry, left = again[0]
            threads = [threading.Thread(target=_deliver_target, daemon=True,
                                        args=(task_dir, name, entry, t, targets, project, task))
                       for t in left]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            count += 1
        finally:
            os.close(fd)
    return count


def spawn(task_dir: str, project: str, task: str, targets: Targets) -> subprocess.Popen | None:
    """Start the helper, detached (its own session), with the targets on its stdin."""
    spec = json.dumps({"task_dir": task_dir, "project": project, "task": task,
                       "targets": targets.spec()}).encode("utf-8")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "conductor.alerts.deliver"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                close_fds=True)
    except OSError:
        return None
    try:
        assert proc.stdin is not None
        proc.stdin.write(spec)
        proc.stdin.close()
    except OSError:
        pass
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped while we live
    return proc


def main() -> int:
    try:
        spec = json.loads(sys.stdin.buffer.read(1024 * 1024).decode("utf-8"))
    except (ValueError, OSError):
        return 2
    # never the starter's terminal's signals: this process finishes its deliveries
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    deliver_pending(spec["task_dir"], spec["project"], spec["task"],
                    Targets.from_spec(spec.get("targets") or {}))
    outbox.prune(spec["task_dir"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
