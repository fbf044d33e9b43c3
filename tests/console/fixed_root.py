"""A fixed runs root for snapshots and benchmarks: fixed ids, fixed times, no live processes.

Every run's pid is 0, so liveness is never probed and a ``running`` run stays running; a test
that wants a live supervisor holds the task's loop lock itself (:func:`hold_loop_lock`).
"""

from __future__ import annotations

import fcntl
import os

from conductor.bus import Message, MessageBus
from conductor.store import Layout, RunInfo, write_run_info
from conductor.store.layout import DONE, STOP_REQUESTED, TASK_CONFIG, TASK_MD, TASK_STATE
from conductor.timefmt import NS

BASE_NS = 1_782_000_000 * NS  # 2026-06-21T00:00:00Z: every time below is relative to it
FROZEN_NS = BASE_NS + 3600 * NS


def frozen_clock() -> int:
    return FROZEN_NS


def write_run(layout: Layout, project: str, task: str, run_id: str, *, status: str,
              start_s: int, end_s: int | None = None, agent: str = "claude", parent: str = "",
              previous: str = "", exit_code: int = -1, error: str = "", stdout: str = "",
              stderr: str = "", output: str | None = None, prompt: str = "do the work\n",
              stdout_mtime_s: int | None = None, **extra) -> str:
    """A run dir with its files; ``extra`` sets more run-info fields (usage, model, failure)."""
    run_dir = os.path.join(layout.runs_dir(project, task), run_id)
    os.makedirs(run_dir, exist_ok=True)
    paths = {name: os.path.join(run_dir, name) for name in
             ("prompt.md", "output.md", "agent-stdout.txt", "agent-stderr.txt")}
    info = RunInfo(run_id=run_id, parent_run_id=parent, previous_run_id=previous,
                   project_id=project, task_id=task, agent=agent, pid=0, pgid=0,
                   start_time=BASE_NS + start_s * NS,
                   end_time=None if end_s is None else BASE_NS + end_s * NS,
                   exit_code=exit_code, status=status, cwd="/work/project",
                   prompt_path=paths["prompt.md"], output_path=paths["output.md"],
                   stdout_path=paths["agent-stdout.txt"], stderr_path=paths["agent-stderr.txt"],
                   commandline=f"{agent} -p --output-format stream-json < {paths['prompt.md']}",
                   error_summary=error, **extra)
    write_run_info(os.path.join(run_dir, "run-info.yaml"), info)
    for name, text in (("prompt.md", prompt), ("agent-stdout.txt", stdout),
                       ("agent-stderr.txt", stderr)):
        with open(paths[name], "w") as fh:
            fh.write(text)
    if output is not None:
        with open(paths["output.md"], "w") as fh:
            fh.write(output)
    mtime = BASE_NS + (stdout_mtime_s if stdout_mtime_s is not None else (end_s or start_s)) * NS
    for name in ("agent-stdout.txt", "agent-stderr.txt"):
        os.utime(paths[name], ns=(mtime, mtime))
    return run_dir


def write_task(layout: Layout, project: str, task: str, prompt: str, *, done=False,
               stop=False, depends_on: list[str] | None = None, state: str = "") -> str:
    task_dir = layout.ensure_task_dir(project, task)
    with open(os.path.join(task_dir, TASK_MD), "w") as fh:
        fh.write(prompt + "\n")
    if done:
        open(os.path.join(task_dir, DONE), "w").close()
    if stop:
        with open(os.path.join(task_dir, STOP_REQUESTED), "w") as fh:
            fh.write("2026-06-21T00:30:00Z\n")
    if depends_on:
        with open(os.path.join(task_dir, TASK_CONFIG), "w") as fh:
            fh.write("depends_on:\n" + "".join(f"    - {d}\n" for d in depends_on))
    if state:
        with open(os.path.join(task_dir, TASK_STATE), "w") as fh:
            fh.write(state)
    return task_dir


def post(layout: Layout, project: str, task: str | None, kind: str, body: str, seq: int,
         run: str = "") -> None:
    path = layout.task_bus(project, task) if task else layout.project_bus(project)
    MessageBus(path).append(Message(
        msg_id=f"MSG-20260621-0{seq:05d}-000000000-PID00001-{seq:04d}", ts=BASE_NS + seq * 60 * NS,
        type=kind, project_id=project, task_id=task or "", run_id=run, body=body))


CLAUDE_STDOUT = "".join(line + "\n" for line in (
    '{"type":"system","subtype":"init","model":"claude-sonnet","session_id":"s1"}',
    '{"type":"assistant","message":{"content":[{"type":"text","text":"I will read the file first."}]}}',
    '{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Read","input":{"file_path":"src/app.py"}}]}}',
    '{"type":"assistant","message":{"content":[{"type":"thinking","thinking":"The bug is in the loop."}]}}',
    '{"type":"assistant","message":{"content":[{"type":"text","text":"Fixed the off-by-one in the loop."}]}}',
))

T1 = "task-20260621-000000-fix-login"
T2 = "task-20260621-000100-write-docs"
T3 = "task-20260621-000200-flaky-tests"
T4 = "task-20260621-000300-deploy"
T5 = "task-20260621-000400-refactor"
T6 = "task-20260621-000500-ask-human"


def pretend_runs_alive(monkeypatch) -> None:
    """The fixed root's ``running`` records (pid 0: no process behind them) stand for live runs.

    A real record with pid 0 and no live runner reads failed (store.liveness.run_alive); these
    frozen scenes keep them running, as their snapshots were drawn."""
    import conductor.store.taskview as taskview
    from conductor.store.liveness import runs_alive

    monkeypatch.setattr(taskview, "runs_alive", lambda infos: [
        info.pid <= 0 and info.pgid <= 0 or alive for info, alive in zip(infos, runs_alive(infos))])


def build_fixed_root(root: str) -> Layout:
    """Two projects, six tasks covering every status; ids and times are fixed."""
    layout = Layout(root)
    p = "webapp"
    write_task(layout, p, T1, "Fix the login bug.", state="Reading the auth module.\n")
    write_run(layout, p, T1, "20260621-0000000000-101-0001", status="failed", start_s=0,
              end_s=120, exit_code=1, error="agent exited with code 1",
              stdout="first attempt\n")
    write_run(layout, p, T1, "20260621-0002100000-102-0001", status="running", start_s=130,
              previous="20260621-0000000000-101-0001", stdout=CLAUDE_STDOUT,
              stderr="warning: slow network\n", stdout_mtime_s=3590)
    write_run(layout, p, T1, "20260621-0003000000-103-0001", status="completed", start_s=180,
              end_s=400, exit_code=0, agent="codex", parent="20260621-0002100000-102-0001",
              stdout="child output\n", output="# Child\n\nLooked at the tests.\n")
    write_task(layout, p, T2, "Write the user docs.", done=True)
    write_run(layout, p, T2, "20260621-0001000000-201-0001", status="completed", start_s=60,
              end_s=900, exit_code=0, output="# Docs written\n\n- install\n- usage\n",
              stdout="done\n")
    write_task(layout, p, T3, "Make the tests reliable.", stop=True)
    write_run(layout, p, T3, "20260621-0002000000-301-0001", status="failed", start_s=120,
              end_s=700, exit_code=-1, error="stopped by operator (SIGTERM)")
    write_task(layout, p, T4, "Deploy to staging.", depends_on=[T2, T5])
    write_task(layout, p, T5, "Refactor the models.")
    write_run(layout, p, T5, "20260621-0004000000-501-0001", status="running", start_s=240,
              agent="gemini", stdout_mtime_s=3400)
    write_task(layout, "infra", T6, "Rotate the keys.")
    write_run(layout, "infra", T6, "20260621-0005000000-601-0001", status="running",
              start_s=300, agent="claude", stdout_mtime_s=3000)
    for seq, (kind, body) in enumerate((
            ("INFO", "starting root agent (restart #0)"),
            ("PROGRESS", "read 12 files"),
            ("FACT", "the bug is in session.py"),
            ("DECISION", "patch the loop, not the caller"),
            ("ERROR", "test_login failed\ntraceback follows"),
            ("WARNING", "root agent failed on restart #0"),
            ("QUESTION", "may I change the public API?"),
            ("USER", "yes, keep it backwards compatible"),
            ("RUN_START", "run started"),
            ("RUN_STOP", "run stopped"),
            ("PROGRESS", "evil \x1b[31mred\x1b[0m \x07 text"),
    ), 1):
        post(layout, p, T1, kind, body, seq, run="20260621-0002100000-102-0001")
    post(layout, "infra", T6, "QUESTION", "which key vault should I use?", 20,
         run="20260621-0005000000-601-0001")
    post(layout, p, None, "FACT", "project kickoff", 30)
    return layout


def hold_loop_lock(task_dir: str):
    """Hold the task's supervisor lock as a live loop would; close the returned file to free it."""
    fh = open(os.path.join(task_dir, "TASK-LOOP.lock"), "a+")
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fh


# ---- usage, budgets, limit waits, stuck tasks (issue 10) -------------------------------------

SPEND = "spend"
U1 = "task-20260621-000600-limit-wait"
U2 = "task-20260621-000700-over-budget"
U3 = "task-20260621-000800-flaky-net"
U4 = "task-20260621-000900-backing-off"
U5 = "task-20260621-001000-codex-tokens"
U6 = "task-20260621-001100-not-logged-in"
U1_RUN = "20260621-0006000000-701-0001"
U2_RUNS = ("20260621-0007000000-702-0001", "20260621-0007300000-702-0002")
U5_RUN = "20260621-0010000000-705-0001"
BUDGET_REASON = "budget of $5.00 reached ($5.12 spent)"
LIMIT_UNTIL_NS = FROZEN_NS + 65 * 60 * NS  # 02:05 UTC
QUESTION_ID = "MSG-20260621-000041-000000000-PID00001-0041"


def build_usage_root(root: str) -> tuple[Layout, list[str]]:
    """One project whose tasks show usage and every loop state. Returns the layout and the task
    dirs whose supervisor must look alive (hold their loop locks: :func:`hold_loop_lock`)."""
    from conductor.store.loopstate import LoopState, write_loop_state
    layout = Layout(root)
    p = SPEND
    claude = dict(model="claude-sonnet-4-5", session_id="4f1c2a9e-0000-4000-8000-00000000c1a0")
    # A usage limit: the run failed on it; the loop waits until it resets.
    d1 = write_task(layout, p, U1, "Port the parser.")
    write_run(layout, p, U1, U1_RUN, status="failed", start_s=360, end_s=600, exit_code=1,
              error="You've hit your usage limit. Resets at 2:05am (UTC).", failure="limit",
              limit_reset=LIMIT_UNTIL_NS, input_tokens=48_200, output_tokens=3_100,
              cached_tokens=40_000, cost_usd=0.42, turns=7, **claude)
    write_loop_state(d1, LoopState("limit", reason="You've hit your usage limit.",
                                   since=BASE_NS + 600 * NS, until=LIMIT_UNTIL_NS))
    # A budget: spent; a QUESTION waits for the operator.
    d2 = write_task(layout, p, U2, "Rewrite the importer.")
    write_run(layout, p, U2, U2_RUNS[0], status="completed", start_s=420, end_s=1500,
              exit_code=0, input_tokens=900_000, output_tokens=41_000, cached_tokens=850_000,
              cost_usd=3.30, turns=40, **claude)
    write_run(layout, p, U2, U2_RUNS[1], status="completed", start_s=1800, end_s=2600,
              exit_code=0, previous=U2_RUNS[0], input_tokens=500_000, output_tokens=22_000,
              cached_tokens=480_000, cost_usd=1.82, turns=21, **claude)
    write_loop_state(d2, LoopState("budget", reason=BUDGET_REASON, since=BASE_NS + 2600 * NS,
                                   question=QUESTION_ID))
    post(layout, p, U2, "QUESTION", BUDGET_REASON + ". Continue? Answer with a new budget "
         "(e.g. 10), yes for another $5.00, or no.", 41)
    # Identical failures tripped the circuit breaker: the loop ended.
    write_task(layout, p, U3, "Sync the mirrors.")
    for n in range(3):
        write_run(layout, p, U3, f"20260621-00{8 + n:02d}000000-703-000{n + 1}", status="failed",
                  start_s=480 + 60 * n, end_s=500 + 60 * n, exit_code=1, agent="codex",
                  error="stream error: connection refused", failure="network",
                  input_tokens=1_200, output_tokens=0)
    write_loop_state(layout.task_dir(p, U3), LoopState(
        "stuck", reason="stream error: connection refused", since=BASE_NS + 700 * NS,
        failures=3))
    # Backing off after a failure: the next attempt in 40 s.
    d4 = write_task(layout, p, U4, "Tidy the changelog.")
    write_run(layout, p, U4, "20260621-0009000000-704-0001", status="failed", start_s=540,
              end_s=560, exit_code=1, error="agent exited with code 1", failure="agent",
              input_tokens=2_000, output_tokens=150, cost_usd=0.01, turns=1, **claude)
    write_loop_state(d4, LoopState("backoff", reason="agent exited with code 1",
                                   since=BASE_NS + 560 * NS, until=FROZEN_NS + 40 * NS,
                                   failures=2))
    # Tokens without a cost (codex), done.
    write_task(layout, p, U5, "Summarise the logs.", done=True)
    write_run(layout, p, U5, U5_RUN, status="completed", start_s=600, end_s=780, exit_code=0,
              agent="codex", model="gpt-5-codex", session_id="0199a1b2-c3d4-7000-8000-0000000c0dex",
              input_tokens=12_000, output_tokens=800, cached_tokens=9_000, turns=1)
    # A failure no retry fixes: the loop ended at once.
    write_task(layout, p, U6, "Label the issues.")
    write_run(layout, p, U6, "20260621-0011000000-706-0001", status="failed", start_s=660,
              end_s=662, exit_code=1, error="Invalid API key · Please run /login",
              failure="auth")
    write_loop_state(layout.task_dir(p, U6), LoopState(
        "failed", reason="auth: Invalid API key · Please run /login", since=BASE_NS + 662 * NS))
    return layout, [d1, d2, d4]
