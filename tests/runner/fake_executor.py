"""A test-only remote executor: each "job" is the placed runner started as a process of its own
(the "node"), as Slurm would start it, and the executor keeps a log of every call so the tests
can see which calls happened, in which order, and how many placements each observe got.

``lose(job_id)`` plays a node failure: the runner dies without recording an end and the job
reads NODE_FAIL, while the agent it started goes on (a partitioned node) until ``stop`` kills
the whole job, as ``scancel`` does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from conductor.executor.base import (ALIVE, ENDED, Executor, Observation, Placement, StartSpec,
                                     StopResult)
from conductor.store import read_run_info


class FakeRemote(Executor):
    name = "fake"
    heartbeat_interval = 0.2

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.jobs: dict[str, subprocess.Popen] = {}
        self.lost: set[str] = set()
        self.run_dirs: dict[str, str] = {}
        self.log: list[tuple] = []
        self.lock = threading.Lock()

    def _note(self, *entry) -> None:
        with self.lock:
            self.log.append(entry)

    def start(self, spec: StartSpec) -> Placement:
        job_id = f"fake-{len(self.jobs) + 1}"
        with open(spec.stdout_path, "ab") as out, open(spec.stderr_path, "ab") as err:
            proc = subprocess.Popen(spec.argv, cwd=spec.cwd, env=spec.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        self.jobs[job_id] = proc
        self.run_dirs[job_id] = spec.run_dir
        self._note("start", job_id)
        return Placement(executor=self.name, run_id=spec.run_id, job_id=job_id,
                         cluster="testcluster", submit_time=time.time_ns())

    def observe(self, placements):
        self._note("observe", len(placements))
        out = []
        for p in placements:
            proc = self.jobs.get(p.job_id)
            if p.job_id in self.lost:
                out.append(Observation(ENDED, host="node1", reason="NODE_FAIL"))
            elif proc is None:
                out.append(Observation(ENDED, reason="no such job"))
            elif proc.poll() is None:
                out.append(Observation(ALIVE, host="node1"))
            else:
                out.append(Observation(ENDED, exit_code=proc.returncode, host="node1"))
        return out

    def lose(self, job_id: str) -> None:
        self._note("lose", job_id)
        self.lost.add(job_id)
        proc = self.jobs[job_id]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def _agent_group(self, job_id: str) -> int:
        try:
            return read_run_info(os.path.join(self.run_dirs[job_id], "run-info.yaml")).host_pid
        except Exception:  # noqa: BLE001 - no record, no agent
            return 0

    def stop(self, placement, grace, force, *, sent=False):
        self._note("stop", placement.job_id, force)
        proc = self.jobs.get(placement.job_id)
        if proc is None:
            return StopResult("refused", f"no such job {placement.job_id}")
        groups = [g for g in (proc.pid, self._agent_group(placement.job_id)) if g > 0]
        if proc.poll() is not None and placement.job_id not in self.lost:
            return StopResult("gone")
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL if placement.job_id in self.lost else
                          signal.SIGTERM)
            except OSError:
                pass
        try:
            proc.wait(timeout=grace)
            return StopResult("stopped")
        except subprocess.TimeoutExpired:
            if not force:
                return StopResult("timeout")
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except OSError:
                pass
        proc.wait()
        return StopResult("killed")

    def where(self, placement):
        return f"fake job {placement.job_id}"

    def calls(self, kind: str) -> list[tuple]:
        with self.lock:
            return [entry for entry in self.log if entry[0] == kind]


EXECUTOR = FakeRemote()
