"""What the everyday verbs cost, as ratios to a bare ``python -c pass`` measured in the same run.

Run: python benchmarks/bench_verbs.py [rounds]  (temporary files; prints a table)

Each verb is a fresh process of the installed ``run-agent`` script, with the compiled bytecode a
pip install leaves (PYTHONDONTWRITEBYTECODE is dropped and every command runs once before it is
timed). The commands are timed in rounds, one of each per round, so a change of the machine's
load during the run touches every figure alike; each figure is the median over the rounds.
The 1-minute load average is read at the start and at the end.

Budgets (issue 11): ``bus post`` <= 2.5x, ``bus read --tail 20`` on 10,000 messages <= 3x,
``list --project`` on 10 tasks x 100 runs <= 4x, ``status --project`` on 1,000 runs <= 4x,
``run-agent job`` with a trivial ``command`` agent <= 4x (through the fork server, as a user's
job runs). ``list --all-runs`` (every run-info read, as ``list`` did before issue 11) and ``job``
in a process of its own (``CONDUCTOR_FORKSERVER=0``) are shown for comparison, without a budget.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from conductor.bus import Message, MessageBus
from conductor.store import RunInfo, write_run_info

PROJECT = "bench"
TASK = "task-20260221-101500-bench"
RUN = "20260221-1015000000-1234-0001"


def cli_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "run-agent")
    if os.path.exists(script):
        return [script]
    found = shutil.which("run-agent")
    return [found] if found else [sys.executable, "-m", "conductor"]


def load() -> float:
    return os.getloadavg()[0]


def build(d: str) -> tuple[dict, dict]:
    """The fixtures; returns {name: (argv, env, cwd)} and budgets."""
    cli = cli_command()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("CONDUCTOR_ROOT", None)

    # an agent's post: a run dir, its bus, the JRUN_* environment (spec 4.4)
    root = os.path.join(d, "root")
    task_dir = os.path.join(root, PROJECT, TASK)
    run_dir = os.path.join(task_dir, "runs", RUN)
    os.makedirs(run_dir)
    bus_path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    write_run_info(os.path.join(run_dir, "run-info.yaml"), RunInfo(
        run_id=RUN, project_id=PROJECT, task_id=TASK, status="running", pid=os.getpid(),
        pgid=os.getpgid(0), start_time=time.time_ns()))
    agent_env = dict(env, JRUN_PROJECT_ID=PROJECT, JRUN_TASK_ID=TASK, JRUN_ID=RUN,
                     JRUN_RUN_FOLDER=run_dir, JRUN_TASK_FOLDER=task_dir, JRUN_MESSAGE_BUS=bus_path)

    # a 10,000-message bus to read
    read_dir = os.path.join(d, "readroot", PROJECT, TASK)
    os.makedirs(read_dir)
    big = MessageBus(os.path.join(read_dir, "TASK-MESSAGE-BUS.md"))
    for i in range(10_000):
        big.append(Message(type="INFO", project_id=PROJECT, task_id=TASK, run_id=RUN,
                           body=f"message {i} " + "x" * (20 + i % 40)))
    big.close()

    # 10 tasks x 100 finished runs
    listroot = os.path.join(d, "listroot")
    base = 1767225600 * 10**9
    for t in range(10):
        task = f"task-20260101-000000-list{t:04d}"
        for r in range(100):
            run_id = f"20260101-10{r // 60:02d}{r % 60:02d}0000-{1000 + t}-0001"
            path = os.path.join(listroot, "lst", task, "runs", run_id)
            os.makedirs(path)
            write_run_info(os.path.join(path, "run-info.yaml"), RunInfo(
                run_id=run_id, project_id="lst", task_id=task, agent="claude",
                status="completed", exit_code=0, start_time=base + r * 10**9,
                end_time=base + r * 10**9 + 5 * 10**8))

    # a trivial command agent for `job`
    script = os.path.join(d, "agent.sh")
    with open(script, "w") as f:
        f.write("cat >/dev/null\necho ok\n")
    cfg = os.path.join(d, "config.yaml")
    with open(cfg, "w") as f:
        f.write(f"agents:\n  triv:\n    type: command\n    command: [/bin/sh, {script}]\n")
    jobroot = os.path.join(d, "jobroot")
    job = cli + ["job", "--root", jobroot, "--project", PROJECT, "--task", TASK, "--config", cfg,
                 "--agent", "triv", "--prompt", "x"]
    # `job` hands its command to the pre-imported fork server (docs/runner.md): a server of the
    # benchmark's own, started by the first (unmeasured) call, gone 5 s after the last
    server_env = dict(env, CONDUCTOR_FORKSERVER_DIR=os.path.join(d, "forkserver"),
                      CONDUCTOR_FORKSERVER_IDLE="5")

    cmds = {
        "python -c pass": ([sys.executable, "-c", "pass"], env, d),
        "bus post (agent, JRUN_*)": (cli + ["bus", "post", "--type", "FACT", "--body", "x"],
                                     agent_env, run_dir),
        "bus post --root --project --task": (cli + ["bus", "post", "--root", root, "--project",
                                                    PROJECT, "--task", TASK, "--body", "x"],
                                             env, d),
        "bus read --tail 20, 10k messages": (cli + ["bus", "read", "--root",
                                                    os.path.join(d, "readroot"), "--project",
                                                    PROJECT, "--task", TASK, "--tail", "20"],
                                             env, d),
        "list --project, 10 tasks x 100 runs": (cli + ["list", "--root", listroot, "--project",
                                                       "lst"], env, d),
        "status --project, 1,000 runs": (cli + ["status", "--root", listroot, "--project",
                                                "lst"], env, d),
        "list --project --all-runs (full read)": (cli + ["list", "--root", listroot,
                                                          "--project", "lst", "--all-runs"],
                                                  env, d),
        "job, trivial command agent": (job, server_env, d),
        "job, in a process of its own (no server)": (job, dict(env, CONDUCTOR_FORKSERVER="0"), d),
    }
    budgets = {"bus post (agent, JRUN_*)": 2.5, "bus post --root --project --task": 2.5,
               "bus read --tail 20, 10k messages": 3.0, "list --project, 10 tasks x 100 runs": 4.0,
               "status --project, 1,000 runs": 4.0, "job, trivial command agent": 4.0}
    return cmds, budgets


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as d:
        cmds, budgets = build(d)
        for argv, env, cwd in cmds.values():  # writes the .pyc files; checks each command works
            subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        load_start = load()
        for _ in range(rounds):
            for name, (argv, env, cwd) in cmds.items():
                t0 = time.perf_counter()
                subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - t0)
        load_end = load()
    base = statistics.median(times["python -c pass"])
    print(f"{rounds} rounds; load average {load_start:.2f} at the start, {load_end:.2f} at the end")
    print(f"| {'verb':40} | {'median':>9} | {'ratio':>6} | {'budget':>6} |")
    print(f"|{'-' * 42}|{'-' * 10}:|{'-' * 6}:|{'-' * 6}:|")
    for name, ts in times.items():
        med = statistics.median(ts)
        budget = budgets.get(name)
        mark = "" if budget is None else (" ok" if med / base <= budget else " OVER")
        print(f"| {name:40} | {med * 1e3:6.1f} ms | {med / base:5.2f}x | "
              f"{'—' if budget is None else f'{budget:g}x':>6} |{mark}")


if __name__ == "__main__":
    main()
