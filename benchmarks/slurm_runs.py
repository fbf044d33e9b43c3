"""20 runs through a real one-node Slurm: submit -> RUNNING, submit -> done, and stop latency.

Run (as root, with Debian's slurmctld slurmd slurm-client munge installed):
    python benchmarks/slurm_runs.py [N]

Starts the test cluster of tests/slurm_real/cluster.py in a temporary directory (stopped by pid
at the end), places N runs (default 20) of a `command` agent through the Slurm executor at once
(conductor.runner.placed.place_run, one thread each, as N task loops would), and prints the
median and worst of each figure, the Slurm calls made, and the load average.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "slurm_real"))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import cluster as slurm_cluster  # noqa: E402

AGENT = """\
import os, pathlib, signal, sys, time
if sys.argv[1] == "sleep":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    pathlib.Path(os.environ["JRUN_TASK_FOLDER"], "ready").write_text("")
    time.sleep(120)
print("ok")
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    why = slurm_cluster.missing()
    if why:
        print(f"skipped: {why}")
        return 0
    from conductor.config.model import AgentConfig
    from conductor.executor import registry
    from conductor.runner.job import JobRequest
    from conductor.runner.placed import place_run
    from conductor.runner.stop import stop_run
    from conductor.store import read_run_info

    with tempfile.TemporaryDirectory() as base:
        found = slurm_cluster.Cluster(os.path.join(base, "slurm")).start()
        try:
            os.environ["SLURM_CONF"] = found.conf
            os.environ["PATH"] = found.env["PATH"]
            executor = registry.executor("slurm")
            executor.heartbeat_interval = 1.0
            script = os.path.join(base, "agent.py")
            with open(script, "w") as f:
                f.write(AGENT)
            root = os.path.join(base, "runs")
            env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "src"))
            running: list[float] = []
            done: list[float] = []
            lock = threading.Lock()

            def one(i: int) -> None:
                submitted = time.monotonic()
                seen = {}

                def started(info) -> None:
                    seen["dir"] = os.path.dirname(info.prompt_path)

                def watch() -> None:  # RUNNING = the node's runner recorded the agent
                    while "dir" not in seen:
                        time.sleep(0.02)
                    path = os.path.join(seen["dir"], "run-info.yaml")
                    while True:
                        try:
                            if read_run_info(path).host_pid:
                                break
                        except Exception:  # noqa: BLE001 - being written
                            pass
                        time.sleep(0.02)
                    with lock:
                        running.append(time.monotonic() - submitted)

                w = threading.Thread(target=watch, daemon=True)
                w.start()
                agent = AgentConfig(name="cmd", type="command",
                                    command=[sys.executable, script, "ok"])
                result = place_run("slurm", JobRequest(
                    root=root, project="bench", task=f"task-20261130-120000-b{i:04d}",
                    prompt="go", agent=agent, environ=env, on_started=started), poll=0.2)
                assert result.ok, result.error
                with lock:
                    done.append(time.monotonic() - submitted)
                w.join(timeout=10)

            calls0 = executor.calls
            t0 = time.monotonic()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - t0
            calls = executor.calls - calls0

            # stop latency: a sleeping agent, stopped through scancel
            stops = []
            for i in range(3):
                box = {}
                agent = AgentConfig(name="cmd", type="command",
                                    command=[sys.executable, script, "sleep"])
                task = f"task-20261130-120000-s{i:04d}"
                t = threading.Thread(target=lambda: box.setdefault("r", place_run(
                    "slurm", JobRequest(root=root, project="bench", task=task, prompt="go",
                                        agent=agent, environ=env), poll=0.2)))
                t.start()
                ready = os.path.join(root, "bench", task, "ready")
                while not os.path.exists(ready):
                    time.sleep(0.02)
                runs_dir = os.path.join(root, "bench", task, "runs")
                run_dir = os.path.join(runs_dir, os.listdir(runs_dir)[0])
                s0 = time.monotonic()
                stop_run(run_dir, grace=10, force=True)
                stops.append(time.monotonic() - s0)
                t.join()
        finally:
            found.stop()

    def fig(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.2f} s, worst {max(xs):.2f} s"

    print(f"Slurm 22.05 one-node cluster up in {found.up_seconds:.1f} s")
    print(f"{n} runs at once: wall {wall:.1f} s; {calls} Slurm commands by the placing side")
    print(f"  submit -> agent running: {fig(running)}")
    print(f"  submit -> run done:      {fig(done)}")
    print(f"  stop (scancel, agent ends, record written): {fig(stops)}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
