"""``RootWatcher``: batches of typed events for a runs root, from inotify or a cheap poll.

Settings come from the measurements in ``notes/textual-perf.md`` section 3: watchfiles with
``step=20, debounce=200, rust_timeout=1000`` gave p95 46-63 ms from an append to the screen and
0.27 % of a core idle with 10,000 run dirs; watchfiles' own ``force_polling`` cost 25 % of a core,
so the fallback is :class:`conductor.watch.poller.TreePoller` instead.

The watcher drives watchfiles' ``RustNotify`` (the engine under ``watchfiles.awatch``) itself,
with the same arguments ``awatch`` would pass, for three reasons: registering 10,000 directories
takes 0.1-0.8 s and must happen in a worker thread, not on the console's event loop (``awatch``
builds its watcher on the loop); the caller needs to know when the watch is in place
(:attr:`RootWatcher.ready`), so that a scan made after that point misses nothing; and every
timeout is a chance to notice that the root was removed or replaced, which inotify never reports.

Falls back to polling when inotify cannot be used: the watch limit is reached, the backend
fails, or the root is on a network file system (where other machines' writes raise no
notification). A root that does not exist yet is polled for until it appears. Whenever the
watch is re-established (root created or replaced, switch to polling) the batch is one
``rescan`` event: re-read everything.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncGenerator, AsyncIterator

from .events import Classifier, WatchEvent, dedupe, rescan_event
from .poller import TreePoller

INOTIFY = "inotify"
POLLING = "polling"

# Types whose other clients' writes raise no inotify event on this machine.
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "gpfs", "afs",
    "beegfs", "vboxsf", "virtiofs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone",
    "fuse.gcsfuse", "fuse.juicefs",
})


def filesystem_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The file system type of the mount holding ``path`` (Linux), or None when unknown."""
    real = os.path.realpath(path)
    best, best_type = "", None  # type: tuple[str, str | None]
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                left, sep, right = line.partition(" - ")
                fields = left.split()
                if not sep or len(fields) < 5:
                    continue
                mount = fields[4].replace("\\040", " ")
                inside = real == mount or real.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    words = right.split()
                    best, best_type = mount, (words[0] if words else None)
    except OSError:
        return None
    return best_type


class _AnyEvent:
    """What RustNotify polls between steps: set by ``stop()`` or by the generator's cleanup."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class RootWatcher:
    """Watches one runs root; iterate :meth:`batches` for lists of :class:`WatchEvent`.

    ``mode`` is ``"inotify"`` or ``"polling"`` (``reason`` says why polling); ``ready`` is set
    once changes are being caught, and cleared while the watcher waits for the root to exist.
    One ``batches()`` iteration per watcher; :meth:`stop` ends it.
    """

    def __init__(self, root: str, *, force_polling: bool = False, debounce_ms: int = 200,
                 step_ms: int = 20, poll_interval: float = 1.0, rust_timeout_ms: int = 1000,
                 cold_every: int = 30) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.force_polling = force_polling
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.poll_interval = poll_interval
        self.rust_timeout_ms = rust_timeout_ms
        self.cold_every = cold_every
        self.mode = POLLING if force_polling else INOTIFY
        self.reason = "polling requested" if force_polling else ""
        self.ready = threading.Event()
        self.classify = Classifier(self.root)
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._inotify_failed = False

    # ---- control -------------------------------------------------------------------
    def stop(self) -> None:
        """End :meth:`batches` (from any thread); an in-flight wait returns within a step."""
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the watch is in place; False on timeout or stop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ready.is_set():
            if self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                return False
            await asyncio.sleep(0.01)
        return True

    # ---- the stream ----------------------------------------------------------------
    async def batches(self) -> AsyncIterator[list[WatchEvent]]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stop.is_set():
            return
        halt = threading.Event()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conductor-watch")
        restarted = False
        try:
            while not self._stop.is_set():
                if not self._root_exists():
                    restarted = True
                    if not await self._wait_for_root():
                        return
                if self._use_inotify():
                    self.mode, self.reason = INOTIFY, ""
                    source: AsyncGenerator[list[WatchEvent], None] = \
                        self._inotify(executor, halt, restarted)
                else:
                    self.mode = POLLING
                    source = self._polling(executor, restarted)
                try:
                    async for batch in source:
                        yield batch
                finally:
                    await source.aclose()  # its cleanup runs now, while the executor lives
                self.ready.clear()
                restarted = True
        finally:
            self.ready.clear()
            halt.set()
            executor.shutdown(wait=False)

    def _use_inotify(self) -> bool:
        if self.force_polling or self._inotify_failed:
            return False
        fs_type = filesystem_type(self.root)
        if fs_type in NETWORK_FS:
            self._inotify_failed = True
            self.reason = f"runs root is on {fs_type}: no notifications for other machines' writes"
            return False
        return True

    async def _inotify(self, executor: ThreadPoolExecutor, halt: threading.Event,
                       restarted: bool) -> AsyncGenerator[list[WatchEvent], None]:
        from watchfiles._rust_notify import RustNotify
        loop = asyncio.get_running_loop()
        stop_event = _AnyEvent(self._stop, halt)

        def make() -> RustNotify:
            # (paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied):
            # an unreadable directory is skipped, as the poller and the store skip it.
            return RustNotify([self.root], False, False, 300, True, True)

        try:
            notify = await loop.run_in_executor(executor, make)
        except FileNotFoundError:
            # The root, or a directory under it, went away while watches were added: retry.
            await self._sleep(min(self.poll_interval, 0.2))
            return
        except (OSError, RuntimeError) as exc:
            self._fall_back(exc)
            return
        if repr(notify).startswith("RustNotify(Poll"):
            # watchfiles quietly polls every file when inotify is missing (ENOSYS); ours is cheaper.
            executor.submit(notify.close)
            self._fall_back(OSError("no inotify on this system"))
            return
        try:
            identity = self._root_identity()
            self.ready.set()
            if restarted:
                yield [rescan_event(self.root)]
            while not self._stop.is_set():
                try:
                    raw = await loop.run_in_executor(
                        executor, notify.watch, self.debounce_ms, self.step_ms,
                        self.rust_timeout_ms, stop_event)
                except (OSError, RuntimeError) as exc:
                    self._fall_back(exc)
                    return
                if raw == "stop":
                    return
                if self._root_identity() != identity:
                    return  # removed or replaced: inotify says nothing more about it
                if isinstance(raw, set) and any(path == self.root for _c, path in raw):
                    return  # the root itself was removed (maybe already re-created)
                if isinstance(raw, set) and raw:
                    events = dedupe(e for e in map(self.classify, (p for _c, p in raw)) if e)
                    if events:
                        yield events
        finally:
            try:
                executor.submit(notify.close)  # after any in-flight watch() returned
            except RuntimeError:  # executor already shut down: dropping it stops its thread
                pass

    async def _polling(self, executor: ThreadPoolExecutor,
                       restarted: bool) -> AsyncGenerator[list[WatchEvent], None]:
        loop = asyncio.get_running_loop()
        poller = TreePoller(self.root, cold_every=self.cold_every)
        await loop.run_in_executor(executor, poller.prime)
        identity = self._root_identity()
        self.ready.set()
        if restarted:
            yield [rescan_event(self.root)]
        while not await self._sleep(self.poll_interval):
            if self._root_identity() != identity:
                return
            paths = await loop.run_in_executor(executor, poller.scan)
            events = dedupe(e for e in map(self.classify, paths) if e)
            if events:
                yield events

    def _fall_back(self, exc: BaseException) -> None:
        self._inotify_failed = True
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.reason = f"inotify unavailable: {text}"

    # ---- helpers -------------------------------------------------------------------
    def _root_exists(self) -> bool:
        return os.path.isdir(self.root)

    def _root_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.root)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    async def _wait_for_root(self) -> bool:
        """Poll until the root exists; False when stopped first."""
        self.ready.clear()
        previous = (self.mode, self.reason)
        self.mode, self.reason = POLLING, "waiting for the runs root to exist"
        while not self._root_exists():
            if await self._sleep(self.poll_interval):
                return False
        self.mode, self.reason = previous
        return True

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early on stop; True when stopped."""
        if self._stop.is_set():
            return True
        assert self._wake is not None
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        return self._stop.is_set()
