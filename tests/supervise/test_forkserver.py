"""`run-agent task` through the fork server (docs/runner.md, "How task processes start").

Each test runs the same command through the thin client and in a process of its own
(CONDUCTOR_FORKSERVER=0) and compares what a user sees: exit status, stdout and stderr bytes,
what signals do. Every test has a socket directory of its own, and its server is stopped at
the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from conductor.store import read_run_info
from conductor.store.supervision import holder_pid, loop_alive
from conductor.supervise import client
from waiting import wait_for

PROJECT = "proj"
TASK = "task-20260221-101500-forked"


class Rig:
    def __init__(self, tmp_path, env):
        self.base = tmp_path
        self.root = str(tmp_path / "runs")
        self.sock_dir = str(tmp_path / "fs")
        self.env = dict(env)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.update(CONDUCTOR_FORKSERVER_DIR=self.sock_dir, CONDUCTOR_FORKSERVER_IDLE="60")

    def agent(self, name: str, body: str) -> str:
        """A command agent ``name`` running ``body`` under /bin/sh; the config's path."""
        script = self.base / f"{name}.sh"
        script.write_text("cat >/dev/null\n" + body)
        cfg = self.base / f"{name}.yaml"
        cfg.write_text(f"agents:\n  {name}:\n    type: command\n    command: [/bin/sh, {script}]\n")
        return str(cfg)

    def argv(self, cfg: str, agent: str, task: str = TASK, *extra: str) -> list[str]:
        return [sys.executable, "-m", "conductor", "task", "--root", self.root, "--project", PROJECT,
                "--task", task, "--config", cfg, "--agent", agent, "--prompt", "x",
                "--restart-delay", "10ms", *extra]

    def env_for(self, forked: bool) -> dict[str, str]:
        return {**self.env, "CONDUCTOR_FORKSERVER": "1" if forked else "0"}

    def run(self, argv: list[str], forked: bool) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env_for(forked), capture_output=True, timeout=120,
                              cwd=str(self.base))

    def popen(self, argv: list[str], forked: bool) -> subprocess.Popen:
        return subprocess.Popen(argv, env=self.env_for(forked), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=str(self.base))

    def task_dir(self, task: str = TASK) -> str:
        return os.path.join(self.root, PROJECT, task)

    def runs(self, task: str = TASK):
        d = os.path.join(self.task_dir(task), "runs")
        if not os.path.isdir(d):
            return []
        paths = [os.path.join(d, n, "run-info.yaml") for n in sorted(os.listdir(d))]
        return [read_run_info(p) for p in paths if os.path.exists(p)]  # a run being created

    def server_pid(self) -> int | None:
        """The pid of the server listening in our socket dir (from its SO_PEERCRED)."""
        for name in os.listdir(self.sock_dir) if os.path.isdir(self.sock_dir) else ():
            if not name.endswith(".sock"):
                continue
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(os.path.join(self.sock_dir, name))
                cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
                return int.from_bytes(cred[:4], sys.byteorder)
            except OSError:
                continue
            finally:
                s.close()
        return None

    def stop_server(self) -> None:
        pid = self.server_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not _alive(pid), timeout=30, what="the fork server to exit")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def rig(tmp_path, subprocess_env):
    r = Rig(tmp_path, subprocess_env)
    yield r
    r.stop_server()


def _pids(rig, task=TASK) -> set[int]:
    return {info.runner_pid for info in rig.runs(task)}


# ---- the same as in a process of its own ----------------------------------------------------

def test_a_task_to_done_is_the_same_through_the_server(rig):
    cfg = rig.agent("triv", 'echo hello\ntouch "$JRUN_TASK_FOLDER/DONE"\n')
    outcomes = []
    for forked, task in ((False, "task-20260221-101500-alone"), (True, TASK)):
        proc = rig.popen(rig.argv(cfg, "triv", task), forked)
        out, err = proc.communicate(timeout=120)
        outcomes.append((proc.returncode, out, err))
        assert open(rig.runs(task)[0].output_path, "rb").read() == b"hello\n"
        # in a process of its own the supervisor is that process; through the server it is a
        # child the server forked, with a pid of its own
        assert (_pids(rig, task) == {proc.pid}) is not forked
    assert outcomes[1] == outcomes[0] == (0, b"", b"")
    assert rig.server_pid() is not None


@pytest.mark.parametrize("extra, agent_body", [
    (["--task", "task-bad"], "exit 0\n"),                      # refused by the parser's checks
    (["--max-restarts", "1"], "echo oops >&2\nexit 3\n"),      # the loop gives up
    (["--agent", "nosuch"], "exit 0\n"),                       # no such agent in the config
    (["--restart-delay", "soon"], "exit 0\n"),                 # argparse's own usage error
])
def test_errors_are_the_same_bytes_and_exit_status(rig, extra, agent_body):
    cfg = rig.agent("triv", agent_body)
    results = []
    for forked, task in ((False, "task-20260221-101500-alone"), (True, TASK)):
        argv = rig.argv(cfg, "triv", task) + extra
        results.append(rig.run(argv, forked))
    alone, forked = results
    assert forked.returncode == alone.returncode != 0
    assert forked.stdout == alone.stdout
    assert forked.stderr.replace(TASK.encode(), b"T") == alone.stderr.replace(
        b"task-20260221-101500-alone", b"T")
    assert rig.server_pid() is not None  # it did go through the server


def _started(rig, task=TASK):
    """The run whose agent has started (it wrote `started` in the task dir)."""
    if not os.path.exists(os.path.join(rig.task_dir(task), "started")):
        return None
    live = [i for i in rig.runs(task) if i.pid > 0 and i.status == "running"]
    return live[-1] if live else None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_client_does_what_it_does_to_a_supervisor(rig, signum):
    cfg = rig.agent("slow", 'touch "$JRUN_TASK_FOLDER/started"\nexec sleep 60\n')
    outcomes = []
    for forked, task in ((False, "task-20260221-101500-alone"), (True, TASK)):
        proc = rig.popen(rig.argv(cfg, "slow", task, "--max-restarts", "1"), forked)
        info = wait_for(lambda: _started(rig, task), what="the agent to start")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        wait_for(lambda: not _alive(info.pid), timeout=30, what="the agent to end")
        final = read_run_info(os.path.join(rig.task_dir(task), "runs", info.run_id, "run-info.yaml"))
        outcomes.append((proc.returncode, out, err.replace(task.encode(), b"T")
                         .replace(info.run_id.encode(), b"R"), final.status, final.error_summary,
                         loop_alive(rig.task_dir(task))))
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][3] == "failed" and outcomes[0][5] is False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGQUIT, signal.SIGUSR2])
def test_a_signal_between_attempts_kills_both_the_same_way(rig, signum):
    """A signal while the loop waits for its restart delay: the default action, in both."""
    cfg = rig.agent("fail", "exit 1\n")
    codes = []
    for forked, task in ((False, "task-20260221-101500-alone"), (True, TASK)):
        proc = rig.popen(rig.argv(cfg, "fail", task, "--max-restarts", "3", "--restart-delay", "60s"),
                         forked)
        wait_for(lambda: any(i.status == "failed" for i in rig.runs(task)), what="the first attempt")
        wait_for(lambda: holder_pid(rig.task_dir(task)), what="the lock")
        proc.send_signal(signum)
        proc.communicate(timeout=60)
        codes.append(proc.returncode)
        wait_for(lambda: not loop_alive(rig.task_dir(task)), what="the lock to be released")
    assert codes == [-signum, -signum]


# ---- `run-agent job` through the server ----------------------------------------------------

def _job_argv(rig, cfg: str, agent: str, task: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "conductor", "job", "--root", rig.root, "--project", PROJECT,
            "--task", task, "--config", cfg, "--agent", agent, "--prompt", "x", *extra]


@pytest.mark.parametrize("agent_body, extra", [
    ("echo hello\n", ["-f"]),              # followed: the agent's output on our stdout
    ("echo oops >&2\nexit 3\n", []),        # the agent fails
    ("exit 0\n", ["--agent", "nosuch"]),    # no such agent in the config
])
def test_a_job_is_the_same_through_the_server(rig, agent_body, extra):
    cfg = rig.agent("triv", agent_body)
    outcomes = []
    for forked, task in ((False, "task-20260221-101500-alone"), (True, TASK)):
        proc = rig.popen(_job_argv(rig, cfg, "triv", task, *extra), forked)
        out, err = proc.communicate(timeout=120)
        runs = rig.runs(task)
        shown = (out + err).replace(task.encode(), b"T")
        for info in runs:
            shown = shown.replace(info.run_id.encode(), b"R")
        outcomes.append((proc.returncode, shown, [(i.status, i.exit_code) for i in runs]))
        if runs:  # through the server it ran in a process the server forked
            assert (runs[0].runner_pid == proc.pid) is not forked
    assert outcomes[1] == outcomes[0]
    assert rig.server_pid() is not None


def test_a_signal_to_a_job_client_stops_its_agent_as_it_would_the_job(rig):
    cfg = rig.agent("slow", 'touch "$JRUN_TASK_FOLDER/started"\nexec sleep 60\n')
    outcomes = []
    for forked, task in ((False, "task-20260221-101500-alone"), (True, TASK)):
        proc = rig.popen(_job_argv(rig, cfg, "slow", task), forked)
        info = wait_for(lambda: _started(rig, task), what="the agent to start")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        wait_for(lambda: not _alive(info.pid), timeout=30, what="the agent to end")
        final = read_run_info(os.path.join(rig.task_dir(task), "runs", info.run_id, "run-info.yaml"))
        outcomes.append((proc.returncode, final.status))
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][1] == "failed"


# ---- a killed supervisor, a killed client -----------------------------------------------------

def test_a_killed_forked_supervisor_is_detected(rig):
    cfg = rig.agent("slow", 'touch "$JRUN_TASK_FOLDER/started"\nexec sleep 60\n')
    proc = rig.popen(rig.argv(cfg, "slow"), forked=True)
    info = wait_for(lambda: _started(rig), what="the agent to start")
    supervisor = holder_pid(rig.task_dir())
    assert supervisor == info.runner_pid and supervisor != proc.pid
    assert loop_alive(rig.task_dir())
    os.kill(supervisor, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # the client ends as its supervisor did
    assert not loop_alive(rig.task_dir())      # what status, list and the console read
    assert _alive(info.pid)                    # the run survives its supervisor, as ever
    # a new supervisor takes the task over (no "already has a running loop")
    os.killpg(info.pid, signal.SIGKILL)
    wait_for(lambda: not _alive(info.pid), what="the agent to end")
    cfg_done = rig.agent("done", 'touch "$JRUN_TASK_FOLDER/DONE"\n')
    again = rig.run(rig.argv(cfg_done, "done"), forked=True)
    assert (again.returncode, again.stderr) == (0, b"")


def test_runs_survive_the_client_being_killed(rig):
    cfg = rig.agent("slow", 'touch "$JRUN_TASK_FOLDER/started"\nexec sleep 60\n')
    proc = rig.popen(rig.argv(cfg, "slow"), forked=True)
    info = wait_for(lambda: _started(rig), what="the agent to start")
    supervisor = holder_pid(rig.task_dir())
    proc.kill()
    proc.communicate(timeout=60)
    # as when the process of a supervisor of its own is killed: the loop is gone, the run not
    wait_for(lambda: not _alive(supervisor), what="the supervisor to be killed with its client")
    wait_for(lambda: not loop_alive(rig.task_dir()), what="the lock to be released")
    assert _alive(info.pid)
    os.killpg(info.pid, signal.SIGKILL)
    wait_for(lambda: not _alive(info.pid), what="the agent to end")


# ---- when the server is not used ------------------------------------------------------------

def test_opting_out_runs_the_supervisor_in_the_process(rig):
    cfg = rig.agent("triv", 'touch "$JRUN_TASK_FOLDER/DONE"\n')
    proc = rig.popen(rig.argv(cfg, "triv"), forked=False)
    proc.communicate(timeout=120)
    assert proc.returncode == 0 and _pids(rig) == {proc.pid}
    assert rig.server_pid() is None


@pytest.mark.parametrize("how", ["group-writable", "a link", "a file", "another owner"])
def test_an_unusable_socket_dir_falls_back_to_the_process(rig, how, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    if how == "group-writable":
        os.mkdir(rig.sock_dir, 0o700)
        os.chmod(rig.sock_dir, 0o770)
    elif how == "a link":
        os.symlink(target, rig.sock_dir)
    elif how == "a file":
        open(rig.sock_dir, "w").close()
    else:
        if os.getuid() != 0:
            pytest.skip("needs root to give the directory away")
        os.mkdir(rig.sock_dir, 0o700)
        os.chown(rig.sock_dir, 65534, 65534)
    cfg = rig.agent("triv", 'touch "$JRUN_TASK_FOLDER/DONE"\n')
    proc = rig.popen(rig.argv(cfg, "triv"), forked=True)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (0, b"", b"")
    assert _pids(rig) == {proc.pid}      # ran in the process itself
    assert os.listdir(target) == []      # nothing was put through the link


# ---- security and versions ------------------------------------------------------------------

def _cred(pid: int, uid: int, gid: int) -> bytes:
    return b"".join(n.to_bytes(4, sys.byteorder) for n in (pid, uid, gid))


def test_the_server_accepts_only_its_own_uid():
    from conductor.supervise.server import peer_allowed
    assert peer_allowed(_cred(123, 1000, 1000), 1000)
    assert not peer_allowed(_cred(123, 1001, 1000), 1000)
    assert not peer_allowed(_cred(123, 0, 0), 1000)   # not even root's requests
    assert not peer_allowed(b"", 1000)


def test_the_client_talks_only_to_a_server_of_its_own_uid(monkeypatch, tmp_path):
    path = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    try:
        assert client._try_connect(path) is not None
        monkeypatch.setattr(client, "peer_uid", lambda _sock: os.getuid() + 1)
        assert client._try_connect(path) is None
    finally:
        listener.close()


def test_another_version_never_uses_the_same_server(monkeypatch, tmp_path):
    import conductor
    monkeypatch.setenv(client.DIR_ENV, str(tmp_path / "fs"))
    first = client.socket_path()
    monkeypatch.setattr(conductor, "__version__", "9.9.9")
    assert client.socket_path() != first and "9.9.9" in client.socket_path()
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    assert client.socket_path() not in (first, None)


def test_a_server_whose_code_changed_on_disk_refuses_and_the_client_runs_itself(rig):
    cfg = rig.agent("triv", 'touch "$JRUN_TASK_FOLDER/DONE"\n')
    first = rig.popen(rig.argv(cfg, "triv", "task-20260221-101500-first"), forked=True)
    first.communicate(timeout=120)
    server = rig.server_pid()
    assert first.returncode == 0 and server is not None
    # a module the server loaded is replaced (an upgrade, an edit): touch changes its mtime.
    # The file the server's processes import (the rig's PYTHONPATH may name the checkout while
    # this process imports an installed copy)
    path = subprocess.run([sys.executable, "-c", "import conductor.supervise.server as s; "
                           "print(s.__file__)"], env=rig.env, capture_output=True, text=True,
                          check=True).stdout.strip()
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        second = rig.popen(rig.argv(cfg, "triv"), forked=True)
        out, err = second.communicate(timeout=120)
        assert (second.returncode, out, err) == (0, b"", b"")
        assert _pids(rig) == {second.pid}  # refused: it ran the supervisor itself
        wait_for(lambda: not _alive(server), what="the stale server to exit")
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_what_a_process_inherits_keys_the_server(monkeypatch, tmp_path):
    """Resource limits (and groups, priority, cgroup, namespaces) come from the server's world
    to its supervisors: a client in another world never uses that server."""
    import resource
    monkeypatch.setenv(client.DIR_ENV, str(tmp_path / "fs"))
    first = client.socket_path()
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0 if soft else min(hard, 1024), hard))
        assert client.socket_path() != first
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    assert client.socket_path() == first


def test_the_server_holds_none_of_the_first_clients_other_descriptors(rig):
    """A pipe the first client inherited (beyond stdin/stdout/stderr) is not kept open by the
    server it starts: whoever reads that pipe to its end is not kept waiting."""
    cfg = rig.agent("triv", 'touch "$JRUN_TASK_FOLDER/DONE"\n')
    r, w = os.pipe()
    proc = subprocess.Popen(rig.argv(cfg, "triv"), env=rig.env_for(True), pass_fds=(w,),
                            cwd=str(rig.base))
    os.close(w)
    assert proc.wait(timeout=120) == 0
    assert rig.server_pid() is not None
    import select
    readable, _, _ = select.select([r], [], [], 30)
    assert readable and os.read(r, 1) == b""  # EOF: nobody holds the write end any more
    os.close(r)


def test_a_socket_left_by_a_dead_server_is_replaced(rig):
    cfg = rig.agent("triv", 'touch "$JRUN_TASK_FOLDER/DONE"\n')
    os.mkdir(rig.sock_dir, 0o700)
    env = rig.env_for(True)
    path = subprocess.run([sys.executable, "-c", "from conductor.supervise import client; "
                           "print(client.socket_path())"], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)  # bound, never listening, closed: what a killed server leaves
    dead.close()
    proc = rig.popen(rig.argv(cfg, "triv"), forked=True)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (0, b"", b"")
    assert proc.pid not in _pids(rig) and rig.server_pid() is not None


def test_a_killed_server_leaves_its_supervisors_and_their_exit_status(rig):
    go = rig.base / "go"
    cfg = rig.agent("wait", f'touch "$JRUN_TASK_FOLDER/started"\nwhile [ ! -e {go} ]; do sleep 0.05; done\n'
                            'touch "$JRUN_TASK_FOLDER/DONE"\n')
    proc = rig.popen(rig.argv(cfg, "wait"), forked=True)
    wait_for(lambda: _started(rig), what="the agent to start")
    server = rig.server_pid()
    os.kill(server, signal.SIGKILL)
    wait_for(lambda: not _alive(server), what="the server to die")
    assert loop_alive(rig.task_dir())  # the supervisor goes on without it
    go.touch()
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (0, b"", b"")  # the status the supervisor sent itself
    assert [i.status for i in rig.runs()] == ["completed"]

