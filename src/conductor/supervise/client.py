"""The thin client of ``run-agent task`` and ``run-agent job``: hand the command to a
pre-imported fork server.

Starting a supervisor the ordinary way costs a Python process importing the whole runner
(~100 ms of CPU); fifty tasks started at once cost seconds. This module imports only builtin
modules (``_socket``, ``_signal``, ``fcntl``, ``select``). It connects to the current user's
server for this exact code (started on demand), passes its argv, environment, working
directory, umask and its stdin/stdout/stderr descriptors (SCM_RIGHTS), forwards SIGINT,
SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the forked supervisor, and ends as the supervisor ended: the same exit
status, or killed by the same signal.

:func:`handoff` returns None whenever the server cannot be used (opted out, an unusable socket
directory, a server that refuses or fails before it forked); the caller then runs the command
in its own process, as before.
"""

from __future__ import annotations

import os
import stat
import sys

import _signal
import _socket

OPT_OUT = "CONDUCTOR_FORKSERVER"         # "0", "off", "no" or "false": run in this process
DIR_ENV = "CONDUCTOR_FORKSERVER_DIR"     # where the socket lives (default below)
IDLE_ENV = "CONDUCTOR_FORKSERVER_IDLE"   # seconds an idle server lives (default server.IDLE)
# the verbs handed to the server: a task's supervisor, and one run (`run-agent job`, which
# agents call for child runs and scripts in loops); not the task verb's quick sub-verbs
VERBS = frozenset({"task", "job"})
SUBVERBS = frozenset({"resume", "stop", "cancel", "delete"})
# what a supervisor started as a process of its own would have got from a terminal or a kill
# (SIGUSR1 is the runner's "the operator stopped the task")
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGUSR1,
             _signal.SIGUSR2)
MAGIC = b"CDT1"
START_TIMEOUT = 20.0  # seconds to wait for a server we started to listen
# the environment that changes what a Python process imports or how it prints: a server is
# shared only by clients that agree on all of it
KEY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "PYTHONIOENCODING", "PYTHONUTF8",
           "PYTHONWARNINGS", "PYTHONHASHSEED", "PYTHONOPTIMIZE", "PYTHONDEVMODE",
           "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "LC_ALL", "LC_CTYPE", "LANG")

# messages from the server (and the supervisor): a kind byte and a signed 32-bit number
ACCEPTED = b"A"     # forked: the number is the supervisor's pid
PROVISIONAL = b"P"  # the supervisor's own word on its exit code, just before it exits
EXITED = b"X"       # the server reaped the supervisor: its exit code
SIGNALLED = b"S"    # the server reaped the supervisor: killed by this signal
REFUSED = b"R"      # not forked (stale code, a bad request): run the command yourself


def handoff(argv: list[str]) -> int | None:
    """Run ``argv`` (``task ...``) in a supervisor forked by the server; its exit status, or
    None when the caller must run it itself."""
    if not eligible(argv):
        return None
    path = socket_path()
    if path is None:
        return None
    sock = connect(path)
    if sock is None:
        return None
    try:
        return relay(sock, argv)
    finally:
        sock.close()


def eligible(argv: list[str]) -> bool:
    if not argv or argv[0] not in VERBS or (argv[0] == "task" and SUBVERBS.intersection(argv[1:2])):
        return False
    if os.environ.get(OPT_OUT, "").strip().lower() in ("0", "off", "no", "false"):
        return False
    flags = sys.flags
    if not sys.platform.startswith("linux") or flags.isolated or flags.ignore_environment \
            or flags.no_site or flags.dev_mode or flags.inspect or flags.interactive:
        return False
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return False  # a closed standard descriptor: nothing to pass
    return True


def runtime_dir() -> str | None:
    """The socket directory: ours, a directory (not a link), mode 0700; None otherwise."""
    d = os.environ.get(DIR_ENV, "")
    if not d:
        base = os.environ.get("XDG_RUNTIME_DIR", "")
        d = os.path.join(base, "conductor") if base.startswith("/") else f"/tmp/conductor-{os.getuid()}"
    try:
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(d)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return d


def code_key() -> str:
    """Names the code a server runs and the world its supervisors would run in: our version,
    the package's directory, the interpreter, the environment that changes imports (KEY_ENV),
    and what a process inherits besides its environment (resource limits, groups, priority,
    cgroup, namespaces). A server for other code, or started from another world, is never
    used: its supervisors would not be what this process would have run."""
    import conductor
    parts = [conductor.__version__, os.path.dirname(os.path.abspath(conductor.__file__)),
             sys.executable, sys.version, str(sys.flags.optimize),
             *(k + "=" + os.environ.get(k, "") for k in KEY_ENV), *inherited()]
    h = 0xCBF29CE484222325  # FNV-1a, 64 bits: no hashlib import on this path
    for byte in "\0".join(parts).encode("utf-8", "surrogateescape"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{conductor.__version__}-{h:016x}"


def inherited() -> list[str]:
    """What a forked supervisor would get from the server instead of from us."""
    import resource
    out = [str(os.getgid()), str(os.getgroups()), str(os.getpriority(os.PRIO_PROCESS, 0))]
    out += [f"{name}={resource.getrlimit(getattr(resource, name))}" for name in sorted(dir(resource))
            if name.startswith("RLIMIT_")]
    for ns in ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts"):
        try:
            out.append(os.readlink(f"/proc/self/ns/{ns}"))
        except OSError:
            out.append("")
    try:
        fd = os.open("/proc/self/cgroup", os.O_RDONLY | os.O_CLOEXEC)
        try:
            out.append(os.read(fd, 65536).decode("utf-8", "replace"))
        finally:
            os.close(fd)
    except OSError:
        out.append("")
    return out


def socket_path() -> str | None:
    d = runtime_dir()
    if d is None:
        return None
    path = os.path.join(d, f"task-{code_key()}.sock")
    return path if len(os.fsencode(path)) < 100 else None  # sun_path holds 108 bytes


def peer_uid(sock) -> int:
    """The uid of the process at the other end of a unix socket (SO_PEERCRED: pid, uid, gid)."""
    cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return int.from_bytes(cred[4:8], sys.byteorder)


def _try_connect(path: str):
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        if peer_uid(sock) != os.getuid():
            raise PermissionError("the server is another user's")
        return sock
    except OSError:
        sock.close()
        return None


def connect(path: str):
    """A connection to the server at ``path``, starting one when none listens; None when
    neither works."""
    sock = _try_connect(path)
    if sock is not None:
        return sock
    import fcntl
    try:
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one client starts the server; the others wait here
        sock = _try_connect(path)
        if sock is None and start_server(path):
            sock = _try_connect(path)
        return sock
    finally:
        os.close(lock)


def start_server(path: str) -> bool:
    """Start a server for ``path`` in a session of its own (stdio on /dev/null) and wait until
    it listens. Called with the start lock held."""
    import select
    try:
        os.unlink(path)  # a socket nobody listens on (its server died)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    import conductor
    top = os.path.dirname(os.path.dirname(os.path.abspath(conductor.__file__)))
    r, w = os.pipe()
    argv = [sys.executable, *(["-O"] * sys.flags.optimize), "-P", "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from conductor.supervise.server import main; main(sys.argv[2:])",
            top, path, "3", os.path.dirname(os.path.abspath(conductor.__file__))]
    try:
        os.posix_spawn(sys.executable, argv, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
            (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2),
            (os.POSIX_SPAWN_DUP2, w, 3)])
    except OSError:
        os.close(r)
        os.close(w)
        return False
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], START_TIMEOUT)
        return bool(ready) and os.read(r, 1) == b"1"
    except OSError:
        return False
    finally:
        os.close(r)


def encode_request(argv0: str, argv: list[str], environ: dict[bytes, bytes], umask: int) -> bytes:
    items = [str(umask).encode(), str(len(argv) + 1).encode(), os.fsencode(argv0),
             *(os.fsencode(a) for a in argv), *(k + b"=" + v for k, v in environ.items())]
    body = b"".join(len(item).to_bytes(4, "big") + item for item in items)
    return MAGIC + len(body).to_bytes(4, "big") + body


def relay(sock, argv: list[str]) -> int | None:
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None  # a working directory that is gone: the in-process path reports it
    request = encode_request(sys.argv[0], argv, dict(os.environb), umask)
    fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2, cwd))
    try:
        sent = sock.sendmsg([request[:8]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(request[sent:])
    except OSError:
        return None
    finally:
        os.close(cwd)

    def forward(signum, _frame):
        try:
            sock.send(bytes((signum,)))
        except OSError:
            pass

    old = {sig: _signal.signal(sig, forward) for sig in FORWARDED}
    accepted, provisional, buf = False, None, b""
    try:
        while True:
            try:
                data = sock.recv(256)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            while len(buf) >= 5:
                kind, number, buf = buf[:1], int.from_bytes(buf[1:5], "big", signed=True), buf[5:]
                if kind == ACCEPTED:
                    accepted = True
                elif kind == PROVISIONAL:
                    provisional = number
                elif kind == EXITED:
                    return number
                elif kind == SIGNALLED:
                    return _die_by(number, old)
                elif kind == REFUSED and not accepted:
                    return None
    finally:
        for sig, handler in old.items():
            _signal.signal(sig, handler)
    if not accepted:
        return None  # the server went away before it forked: nothing ran
    if provisional is not None:
        return provisional  # the server is gone; the supervisor said how it ended
    what = "the task's supervisor" if argv[0] == "task" else f"run-agent {argv[0]}"
    sys.stderr.write(f"Error: {what} ended without an exit status "
                     "(its fork server was killed)\n")
    return 1


def _die_by(signum: int, old: dict) -> int:
    """End the way the supervisor ended: killed by ``signum``."""
    for sig, handler in old.items():
        _signal.signal(sig, handler)
    old.clear()
    try:
        _signal.signal(signum, _signal.SIG_DFL)
    except (OSError, ValueError):
        pass  # SIGKILL and SIGSTOP cannot be caught: their disposition is already the default
    try:
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    return 128 + signum  # a signal we may not take (SIGKILL is never ours to reset)
