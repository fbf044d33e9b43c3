"""A real one-node Slurm on 127.0.0.1, for the tests and the benchmark.

Debian's ``slurmctld slurmd slurm-client munge`` (22.05), started from a temporary
``slurm.conf`` in a directory of ours: munge with its own socket and key, the controller and
one node on this host, no accounting storage, process tracking by process tree
(``proctrack/linuxproc``, no cgroups), a short ``KillWait``. Every daemon runs in the
foreground as a child of ours and is stopped by its pid (never by name).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
KILL_WAIT = 2


def missing() -> str:
    """Why a cluster cannot start here ("" when it can)."""
    gone = [name for name in PROGRAMS if not _which(name)]
    if gone:
        return f"Slurm is not installed (missing {', '.join(gone)}); .ci/run installs it"
    if os.geteuid() != 0:
        return "slurmd needs root to start jobs as their user"
    return ""


def _which(name: str) -> str:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONF = """\
ClusterName={name}
SlurmctldHost={ctl_host}({ctl_addr})
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/{spool}
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/{slurmd_pid}
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/{slurmd_log}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait={kill_wait}
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout={slurmd_timeout}
MessageTimeout={message_timeout}
SchedulerParameters=defer_batch_sched_max_jobs=0
{nodes}
PartitionName=debug Nodes={node_list} Default=YES MaxTime=INFINITE State=UP {partition}\
OverSubscribe=FORCE:64
"""
"""The test clusters' slurm.conf (this one-node cluster's and cluster2's multi-node one)."""


def prepare(directory: str) -> str:
    """The cluster's directories (state, spool, munge) and a fresh munge key; the key's path."""
    for sub in ("state", "spool", "munge"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    key = os.path.join(directory, "munge", "munge.key")
    with open(key, "wb") as f:
        f.write(os.urandom(128))
    os.chmod(key, 0o600)
    os.chmod(os.path.join(directory, "munge"), 0o700)
    return key


def munged_argv(directory: str, key: str) -> list[str]:
    """munged in the foreground with its own socket, key, pid, log and seed files."""
    return [_which("munged"), "--foreground", "--force", f"--socket={directory}/munge.socket",
            f"--key-file={key}", f"--pid-file={directory}/munge/munged.pid",
            f"--log-file={directory}/munge/munged.log",
            f"--seed-file={directory}/munge/munged.seed"]


def wait_until(ready, timeout: float, what: str, procs, directory: str):
    """``ready()``'s first truthy answer, polled every 0.1 s; a RuntimeError naming ``what``
    when one of ``procs`` (the daemons) exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs():
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: a daemon exited ({' '.join(proc.args[:2])}, "
                                   f"code {proc.returncode}); see {directory}/daemons.log and "
                                   f"{directory}/slurm*.log")
        try:
            found = ready()
            if found:
                return found
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s; see {directory}")


def stop_by_pid(procs: list[subprocess.Popen]) -> None:
    """Terminate each daemon (last started first), SIGKILL one that outlives 10 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    procs.clear()


def run_client(env: dict, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """A Slurm client command against the cluster ``env`` names."""
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=30,
                          check=check)


class Cluster:
    """A running one-node cluster; ``env`` is what a Slurm client needs (SLURM_CONF)."""

    def __init__(self, directory: str, cpus: int = 32) -> None:
        self.dir = directory
        self.cpus = cpus
        self.host = socket.gethostname().split(".")[0]
        self.conf = os.path.join(directory, "slurm.conf")
        self.procs: list[subprocess.Popen] = []
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.env["PATH"] = self.env.get("PATH", "") + ":/usr/sbin:/sbin"
        self.started = 0.0
        self.up_seconds = 0.0

    def start(self, timeout: float = 30.0) -> "Cluster":
        self.started = time.monotonic()
        key = prepare(self.dir)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(CONF.format(
                name="conductor-test", ctl_host=self.host, ctl_addr="127.0.0.1",
                ctld_port=_free_port(), d_port=_free_port(), dir=self.dir, spool="spool",
                slurmd_pid="slurmd.pid", slurmd_log="slurmd.log", kill_wait=KILL_WAIT,
                slurmd_timeout=30, message_timeout=10,
                nodes=f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                      "RealMemory=1000 State=UNKNOWN",
                node_list=self.host, partition=""))
        log = open(os.path.join(self.dir, "daemons.log"), "ab")
        self._spawn(munged_argv(self.dir, key), log)
        try:
            self._wait(lambda: os.path.exists(f"{self.dir}/munge.socket"), timeout, "munged")
        except BaseException:
            self.stop()
            raise
        self._spawn([_which("slurmctld"), "-D", "-i", "-f", self.conf], log)
        self._spawn([_which("slurmd"), "-D", "-f", self.conf, "-N", self.host], log)
        try:
            self._wait(self._node_idle, timeout, "slurmd (node idle)")
        except BaseException:
            self.stop()
            raise
        self.up_seconds = time.monotonic() - self.started
        return self

    def _spawn(self, argv: list[str], log) -> None:
        self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=log, env=self.env, start_new_session=True))

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=self.env,
                             capture_output=True, text=True, timeout=10)
        return out.returncode == 0 and out.stdout.strip().rstrip("*") in ("idle", "mixed")

    def _wait(self, ready, timeout: float, what: str) -> None:
        wait_until(ready, timeout, what, lambda: self.procs, self.dir)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_client(self.env, *argv, check=check)

    def stop(self) -> None:
        """Stop the daemons by pid: slurmd, slurmctld, then munged."""
        stop_by_pid(self.procs)
