"""A real multi-node Slurm on this one host: every node a slurmd in its own namespaces.

Each node is Debian's ``slurmd`` started by ``unshare --net --uts --pid --mount --mount-proc
--fork``: its own network (a veth pair: ``10.x.k.2`` inside; ``10.x.k.1`` and the controller's
``10.x.0.1`` on our side), its own host name (the node's name: what ``uname -n`` says on that
node, so a run records the node it ran on), its own process table (a shell as pid 1 that starts
slurmd and reaps orphans; when slurmd dies pid 1 exits and every process of that node dies
with it, which is what a node failure is) and its own ``/proc``. The file system is shared, as
on a cluster. The controller (``slurmctld``) and munge run here; munge's socket is a path,
which every namespace sees.

Every daemon is a child of ours and is stopped by its pid (never by name); a node's namespaces,
and the veth pair with them, go away when its slurmd (pid 1 there) exits.

Needs root, ``unshare`` and ``nsenter`` (util-linux) and ``ip`` (iproute2): :func:`missing`
says what is not installed, :func:`refused` whether this host lets us make namespaces.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time

from .cluster import (CONF, KILL_WAIT, _free_port, _which, munged_argv, prepare, run_client,
                      stop_by_pid, wait_until)
from .cluster import missing as missing_slurm

# a node that stops answering is DOWN (its jobs NODE_FAIL) after about this many seconds
SLURMD_TIMEOUT = 5
MESSAGE_TIMEOUT = 2


NODE = "NodeName={name} NodeAddr={addr} CPUs={cpus} RealMemory=1000 State=UNKNOWN"

# the node's first process (pid 1 of its pid namespace): take the node's name, wait for our
# side to hand it its network, start its slurmd and reap every orphan of the node (as init does:
# slurmd leaves its slurmstepd to pid 1) until slurmd exits. Then the node stays up while its
# "stay" file is there (a slurmd crash on a live node), else pid 1 exits and the kernel kills
# whatever else still runs on the node (a node failure)
NODE_BOOT = """\
hostname "$1"
while [ ! -e "$2" ]; do sleep 0.02; done
"$3" -D -f "$4" -N "$1" &
wait
while [ -e "$5" ]; do sleep 0.1; done
"""


def missing() -> str:
    """What is not installed for a multi-node cluster ("" when all is): .ci/run installs it."""
    why = missing_slurm()
    if why:
        return why
    for program in ("unshare", "nsenter", "ip"):
        if not _which(program):
            return f"{program} is not installed (util-linux, iproute2); .ci/run installs it"
    return ""


def refused() -> str:
    """Why this host cannot make a node's namespaces ("" when it can): a container without
    CAP_SYS_ADMIN, say. Nothing to install for that."""
    try:
        done = subprocess.run([_which("unshare"), "--net", "--uts", "--pid", "--mount",
                               "--mount-proc", "--fork", "true"], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        return f"cannot make a node's namespaces here: {done.stderr.strip() or done.returncode}"
    return ""


def _free_subnet() -> int:
    """A third octet x with no 10.x.0.0/16 address or route on this host."""
    used = subprocess.run([_which("ip"), "-o", "addr"], capture_output=True, text=True).stdout + \
        subprocess.run([_which("ip"), "route"], capture_output=True, text=True).stdout
    for _ in range(200):
        x = random.randint(100, 250)
        if f"10.{x}." not in used:
            return x
    raise RuntimeError("no free 10.x.0.0/16 for the test cluster's nodes")


class Node:
    def __init__(self, name: str, index: int, net: int) -> None:
        self.name = name
        self.addr = f"10.{net}.{index}.2"
        self.gateway = f"10.{net}.{index}.1"
        self.proc: subprocess.Popen | None = None  # unshare, our child
        self.init = 0  # the node's pid 1 (a shell), this pid here
        self.pid = 0  # the node's slurmd, this pid here
        self.outer = ""  # our end of the node's veth pair
        self.stay = ""  # while this file is there, the node outlives its slurmd

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class MultiNodeCluster:
    """A running cluster of ``nodes`` nodes named ``<prefix>1``, ``<prefix>2``…; ``env`` is what
    a Slurm client needs (SLURM_CONF and Slurm's programs on PATH)."""

    def __init__(self, directory: str, nodes: int = 2, cpus: int = 8, prefix: str = "",
                 slurmd_timeout: int = SLURMD_TIMEOUT) -> None:
        self.dir = directory
        self.cpus = cpus
        self.slurmd_timeout = slurmd_timeout
        self.host = socket.gethostname().split(".")[0]
        self.conf = os.path.join(directory, "slurm.conf")
        self.net = 0
        self.controller = ""  # the controller's address, as the nodes reach it
        tag = prefix or f"cn{os.getpid() % 10000}n"
        self.nodes = [Node(f"{tag}{k}", k, 0) for k in range(1, nodes + 1)]
        self.procs: list[subprocess.Popen] = []  # munged, slurmctld
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.env["PATH"] = self.env.get("PATH", "") + ":/usr/sbin:/sbin"
        self.up_seconds = 0.0
        self._log = None

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def start(self, timeout: float = 30.0) -> "MultiNodeCluster":
        started = time.monotonic()
        self.net = _free_subnet()
        self.controller = f"10.{self.net}.0.1"
        for k, node in enumerate(self.nodes, 1):
            node.stay = os.path.join(self.dir, "spool", f"{node.name}.stay")
            node.addr, node.gateway = f"10.{self.net}.{k}.2", f"10.{self.net}.{k}.1"
            node.outer = f"cd{self.net}v{k}p{os.getpid() % 10000}"[:15]
        key = prepare(self.dir)
        for node in self.nodes:
            os.makedirs(os.path.join(self.dir, "spool", node.name), exist_ok=True)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(CONF.format(
                name="conductor-test2", ctl_host=self.host, ctl_addr=self.controller,
                ctld_port=_free_port(), d_port=_free_port(), dir=self.dir,
                spool="spool/%n", slurmd_pid="spool/%n.pid", slurmd_log="slurmd-%n.log",
                kill_wait=KILL_WAIT, partition="LLN=YES ",
                slurmd_timeout=self.slurmd_timeout, message_timeout=MESSAGE_TIMEOUT,
                nodes="\n".join(NODE.format(name=n.name, addr=n.addr, cpus=self.cpus)
                                for n in self.nodes),
                node_list=",".join(n.name for n in self.nodes)))
        self._log = open(os.path.join(self.dir, "daemons.log"), "ab")
        try:
            self._spawn(munged_argv(self.dir, key))
            self._wait(lambda: os.path.exists(f"{self.dir}/munge.socket"), timeout, "munged")
            # the nodes' networks first: slurmctld's address is on our end of each node's link
            for node in self.nodes:
                self._boot(node, timeout)
            self._spawn([_which("slurmctld"), "-D", "-i", "-f", self.conf])
            self._wait(self._all_idle, timeout, "every node idle")
        except BaseException:
            self.stop()
            raise
        self.up_seconds = time.monotonic() - started
        return self

    def _spawn(self, argv: list[str]) -> None:
        self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                           stderr=self._log, env=self.env,
                                           start_new_session=True))

    def _boot(self, node: Node, timeout: float) -> None:
        """Start ``node``: its namespaces, its half of a veth pair, then its slurmd."""
        go = os.path.join(self.dir, "spool", f"{node.name}.go")
        for path in (go, node.stay):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        node.proc = subprocess.Popen(
            [_which("unshare"), "--net", "--uts", "--pid", "--mount", "--mount-proc",
             "--fork", "--kill-child", "sh", "-c", NODE_BOOT, "node", node.name, go,
             _which("slurmd"), self.conf, node.stay],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=self.env,
            start_new_session=True)
        # unshare itself is in the new network namespace; its child is the node's pid 1
        node.init = self._wait(lambda: self._child_of(node.proc.pid), timeout,
                              f"node {node.name}'s first process")
        ip = _which("ip")
        inside = [_which("nsenter"), f"--net=/proc/{node.proc.pid}/ns/net", ip]
        for argv in (
                [ip, "link", "add", node.outer, "type", "veth", "peer", "name", "eth0",
                 "netns", str(node.proc.pid)],
                [ip, "addr", "add", f"{node.gateway}/24", "dev", node.outer],
                # the controller's address on every node's link: it stays while any node lives
                [ip, "addr", "add", f"{self.controller}/32", "dev", node.outer],
                [ip, "link", "set", node.outer, "up"],
                [*inside, "link", "set", "lo", "up"],
                [*inside, "addr", "add", f"{node.addr}/24", "dev", "eth0"],
                [*inside, "link", "set", "eth0", "up"],
                [*inside, "route", "add", "default", "via", node.gateway]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                raise RuntimeError(f"node {node.name}: {' '.join(argv[-6:])}: "
                                   f"{done.stderr.strip()}")
        with open(go, "w"):
            pass
        node.pid = self._wait(lambda: self._child_of(node.init, "slurmd"), timeout,
                              f"node {node.name}'s slurmd")

    @staticmethod
    def _child_of(pid: int, comm: str = "") -> int:
        """The first child of ``pid`` (named ``comm`` when given), 0 when there is none."""
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            return 0
        for kid in kids:
            try:
                with open(f"/proc/{kid}/comm", encoding="utf-8") as f:
                    name = f.read().strip()
            except OSError:
                continue
            if not comm or name == comm:
                return kid
        return 0

    def states(self) -> dict[str, str]:
        """``{node: state}`` as sinfo says (``idle``, ``mixed``, ``down*``…)."""
        out = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%N %T"], env=self.env,
                             capture_output=True, text=True, timeout=10)
        found = {}
        for line in out.stdout.splitlines():
            name, _, state = line.partition(" ")
            found[name] = state.strip()
        return found

    def _all_idle(self) -> bool:
        states = self.states()
        return all(states.get(n.name, "").rstrip("*") in ("idle", "mixed") for n in self.nodes)

    def _wait(self, ready, timeout: float, what: str):
        return wait_until(ready, timeout, what, lambda: self.procs + [
            n.proc for n in self.nodes if n.proc is not None], self.dir)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_client(self.env, *argv, check=check)

    def _slurmd_of(self, node: Node) -> int:
        """The node's slurmd pid while it is that (a child of the node's pid 1), else 0."""
        try:
            with open(f"/proc/{node.pid}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0
        return node.pid if node.pid and int(fields[1]) == node.init and fields[0] != "Z" else 0

    def fail_node(self, name: str) -> int:
        """A node failure: SIGKILL to the node's slurmd; the node's pid 1 then exits, and every
        process of that node dies with it (its jobs' runners and agents too). Returns the pid
        killed."""
        node = self.node(name)
        pid = self._slurmd_of(node)
        if not pid:
            raise RuntimeError(f"node {name}: its slurmd is not running")
        os.kill(pid, signal.SIGKILL)
        if node.proc is not None:
            node.proc.wait(timeout=30)
        return pid

    def crash_slurmd(self, name: str) -> int:
        """Only the node's slurmd dies (SIGKILL): the node, and the jobs' processes on it, go
        on, out of Slurm's reach. :meth:`end_node` ends the node. Returns the pid killed."""
        node = self.node(name)
        pid = self._slurmd_of(node)
        if not pid:
            raise RuntimeError(f"node {name}: its slurmd is not running")
        with open(node.stay, "w"):
            pass
        os.kill(pid, signal.SIGKILL)
        return pid

    def end_node(self, name: str) -> None:
        """The node (after :meth:`crash_slurmd`) goes down, with every process on it."""
        node = self.node(name)
        try:
            os.unlink(node.stay)
        except FileNotFoundError:
            pass
        if node.proc is not None:
            node.proc.wait(timeout=30)

    def restart_node(self, name: str, timeout: float = 30.0) -> None:
        """Boot a failed node again: new namespaces, its slurmd registers, the controller
        returns it to service (``ReturnToService=2``)."""
        node = self.node(name)
        if node.alive():
            return
        self._boot(node, timeout)
        self._wait(self._all_idle, timeout, "every node idle")

    def dead(self) -> list[str]:
        """The daemons that died without being told to (the controller's, or a node's
        not failed on purpose)."""
        return [" ".join(p.args[:1]) for p in self.procs if p.poll() is not None]

    def stop(self) -> None:
        """Stop the daemons by pid: each node's slurmd (its namespaces go with it), then
        slurmctld and munged."""
        for node in self.nodes:
            if node.stay:
                try:
                    os.unlink(node.stay)
                except FileNotFoundError:
                    pass
        for node in self.nodes:
            if node.alive() and self._slurmd_of(node):
                try:
                    os.kill(node.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.proc.kill()  # --kill-child: its pid 1, and so the whole node, dies too
                node.proc.wait()
        stop_by_pid(self.procs)
        if self._log is not None:
            self._log.close()
            self._log = None
