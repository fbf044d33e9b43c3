"""Runner figures beside upstream Go's and the issue's budgets.

Run: python benchmarks/bench_runner.py  (temporary directories; prints a table)
     python benchmarks/bench_runner.py concurrent [rounds]  (only the 50-task figure, three ways)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

from bench_verbs import cli_command  # the installed `run-agent` script, as users run it
from conductor.store import RunInfo, write_run_info

CLI = [sys.executable, "-m", "conductor"]


def config(d: str, script: str) -> str:
    path = os.path.join(d, "config.yaml")
    with open(path, "w") as f:
        f.write(f"agents:\n  triv:\n    type: command\n    command: [/bin/sh, {script}]\n")
    return path


def trivial_agent(d: str, done: bool, sleep: float = 0.0) -> str:
    path = os.path.join(d, "agent.sh")
    with open(path, "w") as f:
        f.write("cat >/dev/null\n")
        if sleep:
            f.write(f"sleep {sleep}\n")
        f.write("echo ok\n")
        if done:
            f.write('touch "$JRUN_TASK_FOLDER/DONE"\n')
    return path


def median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def job_figures(d: str) -> tuple[float, float, float, float]:
    """(wall of the installed `run-agent job`, of a bare `python -c pass` in the same rounds,
    CPU of a whole `job` process, CPU of `--version`), each a median."""
    cfg = config(d, trivial_agent(d, done=False))
    root = os.path.join(d, "runs")
    counter = iter(range(10**6))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed

    def one():
        subprocess.run(cli_command() + ["job", "--root", root, "--project", "bench", "--task",
                                        f"task-20260101-000000-job{next(counter):04d}", "--config",
                                        cfg, "--agent", "triv", "--prompt", "x"], env=env, check=True)

    def bare():
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
    one()  # writes the bytecode a pip install leaves
    walls, bares = [], []
    for _ in range(15):  # alternated, so a change of load touches both alike
        walls.append(median_time(one, 1))
        bares.append(median_time(bare, 1))
    wall, base = statistics.median(walls), statistics.median(bares)
    # CPU of the runner process itself (children excluded): run it and read its rusage
    cpu = []
    for _ in range(10):
        proc = psutil.Popen(CLI + ["job", "--root", root, "--project", "bench", "--task",
                                   f"task-20260101-000000-cpu{next(counter):04d}", "--config", cfg,
                                   "--agent", "triv", "--prompt", "x"])
        proc.wait()
    start_cpu = []
    for _ in range(10):
        t = os.times()
        subprocess.run(CLI + ["--version"], stdout=subprocess.DEVNULL, check=True)
        t2 = os.times()
        start_cpu.append(t2.children_user + t2.children_system - t.children_user - t.children_system)
    for _ in range(10):
        t = os.times()
        subprocess.run(CLI + ["job", "--root", root, "--project", "bench", "--task",
                              f"task-20260101-000000-cpu{next(counter):04d}", "--config", cfg,
                              "--agent", "triv", "--prompt", "x"], check=True)
        t2 = os.times()
        cpu.append(t2.children_user + t2.children_system - t.children_user - t.children_system)
    return wall, base, statistics.median(cpu), statistics.median(start_cpu)


def in_process_overhead(d: str, n: int = 30) -> float:
    """CPU seconds this process spends per run_job() (children excluded): the runner's overhead."""
    from conductor.config import load_config, select_agent
    from conductor.runner.job import JobRequest, run_job
    agent = select_agent(load_config(config(d, trivial_agent(d, done=False))), "triv")
    root = os.path.join(d, "inproc")
    run_job(JobRequest(root=root, project="bench", task="task-20260101-000000-warm", prompt="x", agent=agent))
    t0 = os.times()
    for i in range(n):
        run_job(JobRequest(root=root, project="bench", task=f"task-20260101-000000-in{i:04d}", prompt="x",
                           agent=agent))
    t1 = os.times()
    return (t1.user + t1.system - t0.user - t0.system) / n


def task_figure(d: str) -> float:
    cfg = config(d, trivial_agent(d, done=True))
    root = os.path.join(d, "runs")
    counter = iter(range(10**6))
    return median_time(lambda: subprocess.run(
        CLI + ["task", "--root", root, "--project", "bench", "--task",
               f"task-20260101-000000-one{next(counter):04d}", "--config", cfg, "--agent", "triv",
               "--prompt", "x"], check=True), 10)


def _bytecode_env(**extra: str) -> dict[str, str]:
    """Our environment with the compiled bytecode a pip install leaves (as bench_verbs.py)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def _fork_server(sock_dir: str):
    """The fork server listening in ``sock_dir`` (a psutil.Process), or None."""
    for proc in psutil.process_iter(["cmdline"]):
        if any(sock_dir in part for part in proc.info["cmdline"] or ()) and "-c" in proc.info["cmdline"]:
            return proc
    return None


def concurrent_tasks(d: str, n: int = 50, fork_server: bool = True,
                     cold: bool = False) -> tuple[float, float]:
    """Wall seconds for ``n`` `run-agent task` processes started at once to reach DONE (each
    must exit 0), and the CPU seconds per task of everything they ran (clients, supervisors,
    agents). With ``fork_server`` the tasks go through a fork server of their own (socket dir
    in ``d``), started and warmed by one task before the clock starts; without it each task is
    a supervisor process of its own (CONDUCTOR_FORKSERVER=0). ``cold``: no server yet, the
    first of the ``n`` starts it (the others wait for it), and its start-up counts in the CPU."""
    import resource
    cfg = config(d, trivial_agent(d, done=True, sleep=0.01))
    root = os.path.join(d, "runs")
    sock_dir = os.path.join(d, "fs")
    env = _bytecode_env(CONDUCTOR_FORKSERVER="1" if fork_server else "0",
                        CONDUCTOR_FORKSERVER_DIR=sock_dir, CONDUCTOR_FORKSERVER_IDLE="30")

    def argv(name: str) -> list[str]:
        return CLI + ["task", "--root", root, "--project", "many", "--task", f"task-20260101-000000-{name}",
                      "--config", cfg, "--agent", "triv", "--prompt", "x", "--restart-delay", "10ms"]
    subprocess.run(argv("warmup"), env=env, check=True)  # bytecode written, server started
    server = _fork_server(sock_dir) if fork_server else None
    if cold and server is not None:
        server.terminate()
        server.wait(30)
        server = None

    def server_cpu() -> float:
        if server is None:
            return 0.0
        t = server.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = server_cpu()
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv(f"c{i:04d}"), env=env) for i in range(n)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) + server_cpu() - cpu0
    assert codes == [0] * n, codes
    if fork_server and server is None:  # started by the batch: all it spent is the batch's
        server = _fork_server(sock_dir)
        cpu += server_cpu() if server is not None else 0.0
    if server is not None:
        server.terminate()
    return wall, cpu / n


def list_figure(d: str, runs: int = 1000) -> float:
    root = os.path.join(d, "runs")
    for t in range(50):
        task = f"task-20260101-000000-list{t:04d}"
        for r in range(runs // 50):
            run_id = f"20260101-0000000000-{t}-{r:04d}"
            path = os.path.join(root, "lst", task, "runs", run_id)
            os.makedirs(path)
            write_run_info(os.path.join(path, "run-info.yaml"), RunInfo(
                run_id=run_id, project_id="lst", task_id=task, status="completed", exit_code=0,
                start_time=1767225600 * 10**9 + r, end_time=1767225601 * 10**9 + r))
    return median_time(lambda: subprocess.run(CLI + ["list", "--root", root, "--project", "lst"],
                                              stdout=subprocess.DEVNULL, check=True), 5)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        wall, base, cpu, start_cpu = job_figures(d)
        rows.append(("`run-agent job`, trivial command agent (wall)",
                     f"{wall * 1e3:.0f} ms = {wall / base:.1f}x", "<= 4x", "10.7 ms"))
        rows.append(("  (bare `python -c pass` in the same rounds)", f"{base * 1e3:.1f} ms", "", ""))
        rows.append(("runner's own CPU per run (in-process run_job)", f"{in_process_overhead(d) * 1e3:.1f} ms",
                     "<= 10 ms", "—"))
        rows.append(("  (CPU of a whole `job` process incl. agent / of `--version`)",
                     f"{cpu * 1e3:.0f} / {start_cpu * 1e3:.0f} ms", "", ""))
    with tempfile.TemporaryDirectory() as d:
        rows.append(("one-attempt `run-agent task`", f"{task_figure(d) * 1e3:.0f} ms", "—", "16 ms"))
    for fork_server in (True, False):
        with tempfile.TemporaryDirectory() as d:
            load0 = os.getloadavg()[0]
            wall, cpu = concurrent_tasks(d, fork_server=fork_server)
            how = "fork server" if fork_server else "a process each"
            rows.append((f"50 concurrent tasks to DONE (10 ms agent), {how}", f"{wall:.2f} s",
                         "<= 1.5 s", "0.37–0.55 s"))
            rows.append((f"  (CPU per task, everything included; load {load0:.2f} -> "
                         f"{os.getloadavg()[0]:.2f})", f"{cpu * 1e3:.0f} ms", "", ""))
    with tempfile.TemporaryDirectory() as d:
        rows.append(("`list --project` with 1,000 runs", f"{list_figure(d) * 1e3:.0f} ms", "<= 150 ms", "~5 ms"))
    print(f"load average: {os.getloadavg()[0]:.2f}, cpus: {os.cpu_count()}")
    w = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(w)}  {'ours':<14} {'budget':<10} upstream Go")
    for name, ours, budget, go in rows:
        print(f"{name.ljust(w)}  {ours:<14} {budget:<10} {go}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["concurrent"]:  # only the 50-task figure, both ways, N rounds
        for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 1):
            for fork_server, cold in ((True, False), (True, True), (False, False)):
                with tempfile.TemporaryDirectory() as d:
                    load0 = os.getloadavg()[0]
                    wall, cpu = concurrent_tasks(d, fork_server=fork_server, cold=cold)
                    how = ("fork server, started by the batch" if cold else "fork server, running") \
                        if fork_server else "a process each"
                    print(f"{how}: {wall:.2f} s wall, "
                          f"{cpu * 1e3:.0f} ms CPU per task, load {load0:.2f} -> {os.getloadavg()[0]:.2f}",
                          flush=True)
    else:
        main()
