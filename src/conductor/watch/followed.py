"""``FollowWatcher``: the fast path for the few files the operator is looking at.

The root watcher (:class:`conductor.watch.RootWatcher`) drives watchfiles over the whole root
with a 20 ms step: a write reaches the console 20-40 ms later, most of the 50 ms budget from an
append to the screen (issue 12). A shorter step for 10,000 directories costs idle CPU, so this
watcher covers only the files the panes follow (the detail pane's logs, the feed's bus) with a
plain inotify descriptor (the stdlib's ``ctypes`` and ``select``) on their few parent
directories, and a thread that blocks on it: no step, no wake-up while nothing is written.

A target is *armed* once its directory is watched; right after arming, an event is sent for it
anyway (a read to the end of the file), so a write made while the target changed is read then,
and every later write raises an event. From the arming batch on, a root-watcher event for an
armed file asks for nothing the fast path has not asked for: the scheduler drops its read
(:class:`conductor.console.scheduler.Following` ``fast``), so a line is read once, not twice.
A directory that goes away (or a queue overflow) disarms or re-sends, and the root watcher is
still there for everything else (heartbeats, task re-reads).

Linux only; :func:`available` is False elsewhere, and the app does not start it when the root
is polled (``--poll``, a network file system: other machines' writes raise no inotify event).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import select
import struct
import threading
import time
from dataclasses import dataclass
from typing import AsyncIterator, Mapping

from .events import BUS_GREW, LOG_GREW, WatchEvent

IN_MODIFY = 0x00000002
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

DIR_MASK = (IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
            | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)
_HEADER = struct.Struct("iIII")

KINDS = (LOG_GREW, BUS_GREW)


@dataclass(frozen=True)
class FastBatch:
    """What the fast path saw: ``events`` (one per followed file that changed, or was just
    armed) and ``armed``, the files it watches from this batch on."""
    events: list[WatchEvent]
    armed: frozenset[str]


_libc = None


def _inotify():
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's (no search)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        _libc = lib
    return _libc


def available() -> bool:
    """inotify can be used here (Linux with a C library that has it)."""
    try:
        return hasattr(_inotify(), "inotify_init1")
    except OSError:
        return False


class FollowWatcher:
    """Events for a small, changing set of files: :meth:`target` (from the event loop, never
    blocking) says which; :meth:`batches` yields :class:`FastBatch` lists as they change.

    ``gap`` is the shortest time between two batches (writes in between are coalesced), so a
    file written a thousand times a second is read at most 1/gap times a second.
    """

    def __init__(self, root: str | None = None, *, gap: float = 0.01) -> None:
        self.root = root  # on a network file system: no fast path (checked in the thread)
        self.gap = gap
        self._lock = threading.Lock()
        self._wanted: dict[str, str] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipe_open = True
        self._thread: threading.Thread | None = None
        self.armed: frozenset[str] = frozenset()  # as last sent (thread's view)
        self.failed = ""

    # ---- control (any thread) ------------------------------------------------------
    def target(self, files: Mapping[str, str]) -> None:
        """Follow these files from now on: ``{path: "log_grew" or "bus_grew"}``."""
        wanted = {p: k for p, k in files.items() if p and k in KINDS}
        with self._lock:
            if wanted == self._wanted and set(wanted) <= self.armed:
                return  # unchanged (a file not armed yet, its directory missing, is retried)
            self._wanted = wanted
        self._poke()

    def stop(self) -> None:
        self._stop.set()
        self._poke()
        if self._thread is None:
            self._close_pipe()  # never started: nothing else closes it

    def _poke(self) -> None:
        with self._lock:  # never write to a closed (maybe reused) descriptor
            if not self._pipe_open:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:  # full: a wake-up is pending anyway
                pass

    # ---- the stream ----------------------------------------------------------------
    async def batches(self) -> AsyncIterator[FastBatch]:
        if self._stop.is_set():
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[FastBatch | None] = asyncio.Queue()

        def send(item: FastBatch | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                self._stop.set()

        self._thread = threading.Thread(target=self._run, args=(send,), daemon=True,
                                        name="conductor-follow")
        self._thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self.stop()

    # ---- the thread ----------------------------------------------------------------
    def _run(self, send) -> None:
        from .watcher import NETWORK_FS, filesystem_type
        fs_type = filesystem_type(self.root) if self.root else None
        if fs_type in NETWORK_FS:
            self.failed = f"runs root is on {fs_type}: no notifications for other machines' writes"
            send(None)
            self._close_pipe()
            return
        try:
            fd = _inotify().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        except (OSError, AttributeError) as exc:
            self.failed = f"no inotify: {exc}"
            send(None)
            self._close_pipe()
            return
        try:
            self._loop(fd, send)
        except OSError as exc:
            self.failed = f"inotify failed: {exc}"
        finally:
            os.close(fd)
            self._close_pipe()
            send(None)

    def _close_pipe(self) -> None:
        with self._lock:
            if not self._pipe_open:
                return
            self._pipe_open = False
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _loop(self, fd: int, send) -> None:
        lib = _inotify()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        dirs: dict[str, int] = {}          # watched directory -> wd
        by_wd: dict[int, str] = {}
        targets: dict[str, str] = {}       # armed path -> kind
        pending: dict[str, str] = {}       # path -> kind, to send
        last_sent = 0.0
        while not self._stop.is_set():
            timeout = None
            if pending:
                timeout = max(0, int((last_sent + self.gap - time.monotonic()) * 1000) + 1)
            ready = {f for f, _ in poller.poll(timeout)}
            if self._stop.is_set():
                return
            changed_armed = False
            if self._wake_r in ready:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                with self._lock:
                    wanted = dict(self._wanted)
                new_dirs = {os.path.dirname(p) for p in wanted}
                for d in [d for d in dirs if d not in new_dirs]:
                    wd = dirs.pop(d)
                    by_wd.pop(wd, None)
                    lib.inotify_rm_watch(fd, wd)
                for d in sorted(new_dirs - set(dirs)):
                    wd = lib.inotify_add_watch(fd, os.fsencode(d), DIR_MASK)
                    if wd >= 0:  # missing, not a directory, a symlink: the root watcher's
                        dirs[d], by_wd[wd] = wd, d
                fresh = {p: k for p, k in wanted.items() if os.path.dirname(p) in dirs}
                for p, k in fresh.items():
                    if targets.get(p) != k:
                        pending[p] = k  # armed now: read to the end once
                targets = fresh
                pending = {p: k for p, k in pending.items() if p in targets}
                changed_armed = frozenset(targets) != self.armed
            if fd in ready:
                for wd, mask, name in _read_events(fd):
                    if mask & IN_Q_OVERFLOW:
                        pending.update(targets)
                        continue
                    directory = by_wd.get(wd)
                    if directory is None:
                        continue
                    if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                        # the directory is gone: its files are the root watcher's again
                        dirs.pop(directory, None)
                        by_wd.pop(wd, None)
                        if mask & IN_IGNORED == 0:
                            lib.inotify_rm_watch(fd, wd)
                        targets = {p: k for p, k in targets.items()
                                   if os.path.dirname(p) != directory}
                        pending = {p: k for p, k in pending.items() if p in targets}
                        changed_armed = True
                        continue
                    path = os.path.join(directory, name)
                    kind = targets.get(path)
                    if kind is not None:
                        pending[path] = kind
            now = time.monotonic()
            due = bool(pending) and now >= last_sent + self.gap
            if due or changed_armed:
                events = [WatchEvent(k, path=p, file=os.path.basename(p))
                          for p, k in (pending.items() if due else ())]
                self.armed = frozenset(targets)
                send(FastBatch(events, self.armed))
                if due:
                    pending, last_sent = {}, now


def _read_events(fd: int) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return out
        if not data:
            return out
        pos = 0
        while pos + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
            pos += _HEADER.size
            name = data[pos:pos + length].split(b"\0", 1)[0]
            pos += length
            out.append((wd, mask, os.fsdecode(name)))
