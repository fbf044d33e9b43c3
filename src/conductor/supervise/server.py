"""The fork server: one per user and per code (client.code_key), with the runner imported once.

Started on demand by :func:`conductor.supervise.client.connect` in a session of its own, it
listens on ``<dir>/task-<key>.sock`` (``dir`` ours and mode 0700), accepts only peers of its own
uid (SO_PEERCRED), and for each request forks a supervisor that is the same as one started as a
process of its own: a new session, the client's descriptors as stdin/stdout/stderr, its working
directory, umask, environment and argv, then ``conductor.cli.main.main``. The server relays
the signals ``client.FORWARDED`` names from the client, SIGKILLs the supervisor when the client
is gone without its answer (as killing the process of an ordinary ``run-agent task`` kills its supervisor), and
reports how the supervisor ended when it reaps it. It exits after ``IDLE`` seconds with no
supervisor and no request, and refuses to fork (the client then runs the command itself) once
any of its loaded conductor modules changed on disk: an upgrade never runs old code.
"""

from __future__ import annotations

import gc
import io
import os
import selectors
import signal
import socket
import sys
import time

from . import client as proto

IDLE = 120.0
MAX_REQUEST = 16 << 20
READ_TIMEOUT = 5.0  # a client sends its request at once; one that does not is dropped
PRELOAD = ("conductor.cli.main", "conductor.cli.runner_cmd", "conductor.runner", "conductor.agents",
           "conductor.config", "conductor.store", "conductor.bus", "conductor.formats",
           "conductor.secrets", "conductor.orchestrator")
NOT_PRELOADED = ("conductor.agents.rest", "conductor.agents.sse")  # the REST child's own modules
PARSERS: dict = {}  # (program name, verb) -> the verb's parser, built once by the server


def main(args: list[str]) -> None:
    """``args``: the socket path, the descriptor to write b"1" to once listening, and the
    package directory the client runs (the server must run the same one)."""
    path, ready, package_dir = args[0], int(args[1]), args[2]
    # whatever else the first client had open and inheritable is not ours to hold (a pipe
    # its caller reads to the end would never end while we live)
    os.closerange(ready + 1, 1 << 16)
    import conductor
    if os.path.dirname(os.path.abspath(conductor.__file__)) != package_dir:
        return  # not the client's code: it sees no "1" and runs the command itself
    preload()
    os.chdir("/")
    try:
        idle = float(os.environ.get(proto.IDLE_ENV, "") or IDLE)
    except ValueError:
        idle = IDLE
    Server(path, idle).serve(ready)


def preload() -> None:
    """Import what a supervisor runs, so that a forked one imports (almost) nothing: the task
    verb's CLI and every module of the packages below it (not the console, not Textual)."""
    import importlib
    import pkgutil

    for name in PRELOAD:
        module = importlib.import_module(name)
        for info in pkgutil.iter_modules(getattr(module, "__path__", ())):
            if info.ispkg or info.name == "__main__" or f"{name}.{info.name}" in NOT_PRELOADED:
                continue
            try:
                importlib.import_module(f"{name}.{info.name}")
            except Exception:  # noqa: BLE001 - a missing optional dependency: imported later, if ever
                continue
    from ..cli.main import build_parser
    for prog in ("run-agent", "conductor"):
        for verb in proto.VERBS:
            PARSERS[prog, verb] = build_parser(prog, verb)


def module_files() -> dict[str, tuple[int, int, int]]:
    """(mtime, size, inode) of every loaded conductor module's file."""
    out = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or not (name == "conductor" or name.startswith("conductor.")):
            continue
        try:
            st = os.stat(path)
        except OSError:
            st = None
        out[path] = (st.st_mtime_ns, st.st_size, st.st_ino) if st else (0, 0, 0)
    return out


def peer_allowed(cred: bytes, uid: int) -> bool:
    """SO_PEERCRED's (pid, uid, gid): only a process of our own uid may have a supervisor."""
    return len(cred) >= 12 and int.from_bytes(cred[4:8], sys.byteorder) == uid


def decode_request(body: bytes) -> tuple[int, list[bytes], list[bytes]]:
    """(umask, argv, environment items) from a request body (client.encode_request)."""
    items, i = [], 0
    while i < len(body):
        n = int.from_bytes(body[i:i + 4], "big")
        items.append(body[i + 4:i + 4 + n])
        i += 4 + n
    if i != len(body) or len(items) < 3:
        raise ValueError("malformed request")
    umask, argc = int(items[0]), int(items[1])
    if not 1 <= argc <= len(items) - 2:
        raise ValueError("malformed request")
    return umask, items[2:2 + argc], items[2 + argc:]


def _message(kind: bytes, number: int) -> bytes:
    return kind + number.to_bytes(4, "big", signed=True)


class Server:
    def __init__(self, path: str, idle: float) -> None:
        self.path = path
        self.idle = idle
        self.files = module_files()
        self.stale = False
        self.children: dict[int, socket.socket | None] = {}  # pid -> its client's connection
        self.sel = selectors.DefaultSelector()

    def serve(self, ready: int) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.inode = os.stat(self.path).st_ino
        self.listener.listen(256)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        gc.collect()
        gc.freeze()  # what was imported stays shared with the children (no copy on write)
        os.write(ready, b"1")
        os.close(ready)
        last = time.monotonic()
        while True:
            busy = bool(self.children)
            timeout = None if busy else max(0.0, self.idle - (time.monotonic() - last))
            events = self.sel.select(timeout)
            for key, _ in events:
                if key.data == "accept":
                    self.accept()
                elif key.data == "wake":
                    self.drain_wakeup()
                    self.reap()
                else:
                    self.from_client(key.fileobj, key.data)
            self.reap()
            if self.stale and not self.children:
                self.shut_down()  # nothing more is forked from old code; clients start anew
                return
            if self.children or events:
                last = time.monotonic()
            elif time.monotonic() - last >= self.idle:
                self.shut_down()
                return

    # ---- requests ------------------------------------------------------------------------

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        try:
            cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            if not peer_allowed(cred, os.getuid()):
                conn.close()  # another user (or root) asking: nothing is read from it
                return
            conn.settimeout(READ_TIMEOUT)
            umask, argv, env, fds = self.read_request(conn)
        except (OSError, ValueError):
            conn.close()
            return
        try:
            if self.stale or module_files() != self.files:
                self.stale = True  # an upgrade or an edit: the code on disk is not ours
                conn.sendall(_message(proto.REFUSED, 0))
                conn.close()
                return
            self.fork(conn, umask, argv, env, fds)
        finally:
            for fd in fds:
                os.close(fd)  # the child has its copies; holding them would keep pipes open

    def read_request(self, conn) -> tuple[int, list[bytes], list[bytes], list[int]]:
        fds: list[int] = []
        try:
            data, ancdata, _flags, _addr = conn.recvmsg(8, socket.CMSG_SPACE(4 * 8))
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    usable = len(payload) - len(payload) % 4
                    fds += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                            for i in range(0, usable, 4)]
            while len(data) < 8:
                more = conn.recv(8 - len(data))
                if not more:
                    raise ValueError("short request")
                data += more
            if data[:4] != proto.MAGIC or len(fds) != 4:
                raise ValueError("not a request")
            size = int.from_bytes(data[4:8], "big")
            if size > MAX_REQUEST:
                raise ValueError("request too large")
            chunks, got = [], 0
            while got < size:
                chunk = conn.recv(min(1 << 20, size - got))
                if not chunk:
                    raise ValueError("short request")
                chunks.append(chunk)
                got += len(chunk)
            umask, argv, env = decode_request(b"".join(chunks))
            return umask, argv, env, fds
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def fork(self, conn, umask: int, argv: list[bytes], env: list[bytes], fds: list[int]) -> None:
        conn.settimeout(None)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, proto.FORWARDED)
        pid = os.fork()
        if pid == 0:
            try:
                self.close_in_child(conn)
                child(conn, umask, argv, env, fds, blocked)
            finally:
                os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        try:
            conn.sendall(_message(proto.ACCEPTED, pid))
        except OSError:
            pass  # the client is gone: the EOF below kills the supervisor
        conn.setblocking(False)
        self.children[pid] = conn
        self.sel.register(conn, selectors.EVENT_READ, pid)

    def close_in_child(self, conn) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.sel.close()
        for other in (self.listener, self.wake_r, self.wake_w,
                      *(c for c in self.children.values() if c is not None and c is not conn)):
            other.close()

    def from_client(self, conn, pid: int) -> None:
        try:
            data = conn.recv(256)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if pid not in self.children:
            return
        if not data:  # the client died (or closed) before the supervisor ended
            self.forget(conn)
            self.children[pid] = None
            _kill(pid, signal.SIGKILL)  # not reaped yet, so the pid is still this child's
            return
        for signum in data:
            if signum in proto.FORWARDED:
                _kill(pid, signum)

    def forget(self, conn) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def drain_wakeup(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except OSError:
            pass

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            if os.WIFSIGNALED(status):
                message = _message(proto.SIGNALLED, os.WTERMSIG(status))
            else:
                message = _message(proto.EXITED, os.waitstatus_to_exitcode(status))
            try:
                conn.setblocking(True)
                conn.sendall(message)
            except OSError:
                pass
            self.forget(conn)

    def shut_down(self) -> None:
        """Remove our socket (under the start lock, and only if it is still ours) and go."""
        import fcntl
        try:
            lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            lock = None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            if lock is not None:
                os.close(lock)
        self.listener.close()


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def child(conn, umask: int, argv: list[bytes], env: list[bytes], fds: list[int],
          blocked) -> None:
    """In the forked process: become the client's supervisor, run the command, and exit."""
    code = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as a fresh interpreter has it
        os.setsid()
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        os.fchdir(fds[3])
        for fd in fds:
            os.close(fd)
        os.umask(umask)
        os.environ.clear()
        for item in env:
            key, _, value = item.partition(b"=")
            if key:
                os.environb[key] = value
        time.tzset()
        sys.argv = [os.fsdecode(a) for a in argv]
        _reopen_stdio()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a forwarded signal lands now
        from ..cli import main as cli
        build = cli.build_parser
        # the parser the server built (argparse's parse_args leaves it as it was): the child
        # runs main once and exits, so the swap lasts exactly as long as this command
        cli.build_parser = lambda prog, verb=None: PARSERS.get((prog, verb)) or build(prog, verb)
        code = cli.main(sys.argv[1:])
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say
                pass
        try:
            conn.sendall(_message(proto.PROVISIONAL, int(code) & 0xFF))
        except (OSError, TypeError, ValueError):
            pass
        os._exit(int(code) & 0xFF if isinstance(code, int) else 1)


def _exit_code(value) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    sys.stderr.write(f"{value}\n")
    return 1


def _reopen_stdio() -> None:
    """Standard streams on the client's descriptors, set up as a fresh interpreter would."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        old = getattr(sys, name)
        encoding = getattr(old, "encoding", None) or "utf-8"
        errors = getattr(old, "errors", None) or "strict"
        stream = open(fd, mode, encoding=encoding, errors=errors, newline="\n", closefd=False)
        if mode == "w" and isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=fd == 2 or os.isatty(fd))
        setattr(sys, name, stream)
