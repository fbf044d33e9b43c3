"""A message-bus file: locked appends, whole reads, a correct tail, incremental reading, rotation.

Appends follow spec 10: ``O_WRONLY|O_APPEND|O_CREAT``, an exclusive ``flock`` on the bus file
polled every 10 ms for up to 10 s, 3 attempts with 100/200 ms back-off. Beyond upstream:

* the separator and the entry go out in one ``write()``; a short write (disk full) is cut back
  off under the lock, so the file keeps its previous content;
* msg_id and ts are made under the lock, so file order is msg_id order for our writers;
* the appender checks that the file it locked is still the one at the path, so an entry never
  lands in a bus that rotation has just renamed;
* readers of new bytes take a shared lock for a moment, so they never see half an entry of a
  writer that locks (ours and upstream's both do).
"""

from __future__ import annotations

import collections
import errno
import os
import stat
import _thread
import time
from collections.abc import Iterator

from .. import locking
from ..errors import BusError, LockTimeout
from ..ids import new_msg_id
from ..store.safefs import open_leaf
from ..timefmt import now_ns
from .codec import encode_entry, parse
from .message import Message

LOCK_TIMEOUT = 10.0
ATTEMPTS = 3
BACKOFF = 0.1
READ_LOCK_TIMEOUT = 0.2
CHUNK = 1 << 20
TAIL_WINDOW = 64 * 1024


def check_bus_path(path: str) -> bool:
    """Refuse symlinks and non-regular files; return whether the bus exists."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BusError(f'message bus path "{path}": {exc.strerror}') from None
    if stat.S_ISLNK(st.st_mode):
        raise BusError(f'message bus path "{path}" is a symlink')
    if not stat.S_ISREG(st.st_mode):
        raise BusError(f'message bus path "{path}" is not a regular file')
    return True


def _open_read(path: str) -> int | None:
    if not check_bus_path(path):
        return None
    try:  # a FIFO swapped in after check_bus_path looked is opened without blocking, refused
        return open_leaf(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _open_error(path, exc, "read message bus") from None


def _open_error(path: str, exc: OSError, doing: str) -> BusError:
    if exc.errno == errno.ELOOP:
        return BusError(f'message bus path "{path}" is a symlink')
    if exc.errno in (errno.EINVAL, errno.ENXIO):  # not a regular file; a FIFO nobody reads
        return BusError(f'message bus path "{path}" is not a regular file')
    return BusError(f'{doing} "{path}": {exc.strerror}')


class MessageBus:
    """One bus file. Cheap to create.

    An appending bus keeps its file open between appends (never a lock: that is taken and
    released around each entry), checks under the lock that the path still names that file, and
    reopens it when it does not (rotation, deletion, a symlink put in its place). ``close()`` or
    dropping the object closes it. One instance may be shared by threads; after a fork the child
    opens its own descriptor, because flock locks belong to the open file, not the process.
    """

    def __init__(self, path: str, *, lock_timeout: float = LOCK_TIMEOUT, attempts: int = ATTEMPTS,
                 fsync: bool = False) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.attempts = max(1, attempts)
        self.fsync = fsync
        self._wfd: int | None = None
        self._wident: tuple[int, int] = (0, 0)
        self._wpid = 0
        self._mutex = _thread.allocate_lock()  # threading.Lock, without importing threading
        # "<path>: line N: header: ..." for each entry a limit of ours made us skip while
        # reading; callers that can warn print and clear it
        self.warnings: list[str] = []

    def close(self) -> None:
        fd, self._wfd = self._wfd, None
        if fd is not None and self._wpid == os.getpid():
            os.close(fd)

    def __enter__(self) -> "MessageBus":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ writing

    def append(self, msg: Message) -> Message:
        """Append one message; returns it as written (with msg_id, ts and issue_id filled in)."""
        if not msg.type:
            raise BusError("message type is empty")
        if not msg.project_id:
            raise BusError("project id is empty")
        last_error = "lock timeout"
        with self._mutex:
            for attempt in range(self.attempts):
                if attempt:
                    time.sleep(BACKOFF * (2 ** (attempt - 1)))
                try:
                    return self._append_once(msg)
                except LockTimeout as exc:
                    last_error = str(exc)
        raise BusError(f"append failed after {self.attempts} attempts: lock message bus: {last_error}")

    def _open_for_append(self) -> int:
        fd = self._wfd
        if fd is not None and self._wpid == os.getpid():
            return fd
        self._wfd = None  # a descriptor inherited through fork is the parent's: leave it be
        check_bus_path(self.path)
        try:
            fd = open_leaf(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _open_error(self.path, exc, "open message bus") from None
        st = os.fstat(fd)
        self._wfd, self._wident, self._wpid = fd, (st.st_dev, st.st_ino), os.getpid()
        return fd

    def _append_once(self, msg: Message) -> Message:
        while True:
            fd = self._open_for_append()
            locking.acquire(fd, self.lock_timeout)
            try:
                try:
                    now = os.lstat(self.path)
                    current = (now.st_dev, now.st_ino) == self._wident
                except FileNotFoundError:
                    current = False
                if current:
                    return self._write_locked(fd, msg)
            finally:
                locking.release(fd)
            self.close()  # rotated, deleted or replaced while we waited: open what is there now

    def _still_current(self, fd: int) -> bool:
        mine = os.fstat(fd)
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)

    def _write_locked(self, fd: int, msg: Message) -> Message:
        written = msg.copy()
        if not written.msg_id:
            written.msg_id = new_msg_id()
        if written.ts is None:
            written.ts = now_ns()
        if written.type == "ISSUE" and not written.issue_id:
            written.issue_id = written.msg_id
        try:
            entry = encode_entry(written)
        except UnicodeEncodeError as exc:
            raise BusError(f"message is not valid text: {exc.reason}") from None
        size = os.fstat(fd).st_size
        data = (b"\n" + entry) if size > 0 else entry
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise BusError(f'append to message bus "{self.path}": {exc.strerror}') from None
        written.offset = size + (1 if size > 0 else 0)
        return written

    # ------------------------------------------------------------------ reading

    def read_all(self) -> list[Message]:
        """Every message, streaming through the file in chunks."""
        return list(self.iter_messages())

    def iter_messages(self, start: int = 0) -> Iterator[Message]:
        fd = _open_read(self.path)
        if fd is None:
            return
        try:
            for messages, _offset, _line in _scan(fd, start, os.fstat(fd).st_size,
                                                  warnings=self.warnings, path=self.path,
                                                  lines_known=start == 0):
                yield from messages
        finally:
            os.close(fd)

    def read_since(self, since_id: str = "") -> list[Message]:
        """Messages after the first one whose msg_id is ``since_id`` (upstream's cursor rule)."""
        messages = self.read_all()
        if not since_id:
            return messages
        for idx, msg in enumerate(messages):
            if msg.msg_id == since_id:
                return messages[idx + 1:]
        raise BusError(f'since id "{since_id}" not found: since id not found')

    def tail(self, n: int) -> list[Message]:
        """The last ``n`` messages (all when ``n <= 0``), reading only the end of a big file."""
        return self.tail_with_offset(n)[0]

    def tail_with_offset(self, n: int) -> tuple[list[Message], int]:
        """The last ``n`` messages and the offset where a follower should continue."""
        fd = _open_read(self.path)
        if fd is None:
            return [], 0
        try:
            size = os.fstat(fd).st_size
            if n > 0:
                window = max(TAIL_WINDOW, n * 512)
                while True:
                    start = max(0, size - window)
                    data = os.pread(fd, size - start, start) if start < size else b""
                    begin = _entry_start_for_last(data, n, at_file_start=start == 0)
                    if begin is not None:
                        result = parse(data[begin:], base_offset=start + begin, final=True)
                        if len(result.messages) >= n or start == 0:
                            self.warnings += [_where(self.path, data, start, offset) + why
                                              for _i, offset, why in result.refused]
                            return result.messages[-n:], start + begin + result.consumed
                    if start == 0 or window >= size:
                        break
                    window *= 4
            last: collections.deque[Message] = collections.deque(maxlen=n if n > 0 else None)
            offset = 0
            for messages, offset, _line in _scan(fd, 0, size, warnings=self.warnings,
                                                 path=self.path):
                last.extend(messages)
            return list(last), offset
        finally:
            os.close(fd)

    def reader(self, offset: int = 0) -> "BusReader":
        return BusReader(self.path, offset)

    # ------------------------------------------------------------------ rotation

    def rotate(self, archive_path: str | None = None) -> str | None:
        """Rename the bus to an archive under the bus lock; None when there is no bus, or when
        another process rotated or removed it meanwhile. Only BusError is raised.

        The archive name is chosen under the lock, so two rotations (two ``gc`` runs) can never
        pick the same name and overwrite each other's archive.
        """
        if not check_bus_path(self.path):
            return None
        fd = _open_read(self.path)  # None: rotated (or deleted) since we looked
        if fd is None:
            return None
        try:
            locking.acquire(fd, self.lock_timeout)
            try:
                if not self._still_current(fd):
                    return None
                target = archive_path or self._archive_name()
                try:
                    os.rename(self.path, target)
                except FileNotFoundError:
                    return None
                except OSError as exc:
                    raise BusError(f'rotate message bus "{self.path}": '
                                   f"{(exc.strerror or str(exc)).lower()}") from None
            finally:
                locking.release(fd)
        finally:
            os.close(fd)
        return target

    def _archive_name(self) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"{self.path}.{stamp}.archived"
        suffix = 1
        while os.path.lexists(name):
            name = f"{self.path}.{stamp}-{suffix}.archived"
            suffix += 1
        return name


def _entry_start_for_last(data: bytes, n: int, *, at_file_start: bool) -> int | None:
    """Offset in ``data`` of the n-th last entry start (``---`` + ``msg_id:`` after a blank line).

    Entry starts are where writers put them: at the start of the file or after the empty
    separator line. Returns 0 when the window holds the file start and fewer starts exist.
    """
    count = 0
    pos = len(data)
    while True:
        pos = data.rfind(b"\n---", 0, pos)
        if pos < 0:
            break
        after = pos + 4
        line_end = data.find(b"\n", after)
        if line_end < 0 or data[after:line_end].rstrip(b"\r") != b"" \
                or not data.startswith(b"msg_id:", line_end + 1):
            continue
        before = data.rfind(b"\n", 0, pos)
        if data[before + 1:pos].rstrip(b"\r") != b"":
            continue
        count += 1
        if count >= n:
            return pos + 1
    if at_file_start:
        return 0
    return None


class BusReader:
    """Returns only the messages appended since its last call, from a byte offset.

    A partial trailing entry waits for its completion. When the file is replaced (rotation) the
    reader first drains what is left of the old file through its open descriptor, then starts the
    new file from the beginning; when the file shrinks it starts again from zero. ``reset`` is
    set after such a restart so callers can tell.
    """

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._line_no = 1
        self._lines_at: int | None = 0 if offset == 0 else None  # offset where _line_no holds
        self.resets = 0
        self.warnings: list[str] = []  # as MessageBus.warnings
        self._reopen()  # hold the file we start on, so a rotation before our first poll loses nothing

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def _reopen(self) -> bool:
        self.close()
        fd = _open_read(self.path)
        if fd is None:
            self._ident = None
            return False
        st = os.fstat(fd)
        self._fd, self._ident = fd, (st.st_dev, st.st_ino)
        return True

    def poll(self) -> list[Message]:
        """New complete messages since the last call (may be empty)."""
        out: list[Message] = []
        if self._fd is None and not self._reopen():
            return out
        try:
            st = os.lstat(self.path)
            current = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if current != self._ident:
            out.extend(self._read_new())  # drain the old file first
            if current is None:
                return out  # renamed and not re-created yet: keep the old file until it is
            self.offset, self._line_no, self._lines_at = 0, 1, 0  # the next file starts at zero
            self.resets += 1
            if not self._reopen():
                return out
        elif os.fstat(self._fd).st_size < self.offset:  # type: ignore[arg-type]
            self.offset, self._line_no, self._lines_at = 0, 1, 0
            self.resets += 1
        out.extend(self._read_new())
        return out

    def _read_new(self) -> list[Message]:
        fd = self._fd
        if fd is None:
            return []
        try:
            locking.acquire(fd, READ_LOCK_TIMEOUT, shared=True)
            locked = True
        except LockTimeout:
            locked = False
        try:
            end = os.fstat(fd).st_size
            out: list[Message] = []
            known = self._lines_at == self.offset  # not when a caller moved the offset
            for messages, offset, line_no in _scan(fd, self.offset, end, self._line_no,
                                                   warnings=self.warnings, path=self.path,
                                                   lines_known=known):
                out.extend(messages)
                self.offset, self._line_no = offset, line_no
                self._lines_at = offset if known else None
            return out
        finally:
            if locked:
                locking.release(fd)


def _where(path: str, data: bytes, start: int, offset: int) -> str:
    """``<path>: line N: `` for a byte offset in ``data`` read from ``start``; ``byte N`` when
    ``data`` is not from the start of the file."""
    if start == 0:
        line = data.count(b"\n", 0, offset) + 1
        return f"{path}: line {line}: "
    return f"{path}: byte {offset}: "


def _scan(fd: int, start: int, end: int, line_no: int = 1, *, warnings: list[str] | None = None,
          path: str = "", lines_known: bool = True) -> Iterator[tuple[list[Message], int, int]]:
    """Parse ``[start, end)`` in chunks: yields (messages, settled offset, next line number).

    Memory stays bounded by the chunk size plus the longest entry. Entries skipped by a limit of
    ours are added to ``warnings`` as ``<path>: line N: <why>`` (``byte N`` when ``line_no``
    does not count from the start of the file).
    """
    pending = b""
    pos = start
    settled = start
    while pos < end:
        chunk = os.pread(fd, min(max(CHUNK, len(pending)), end - pos), pos)
        if not chunk:
            break
        pos += len(chunk)
        data = pending + chunk
        result = parse(data, base_offset=settled, final=pos >= end, first_line_no=line_no)
        if result.refused and warnings is not None:
            warnings += [f"{path}: line {line_no + i}: {why}" if lines_known
                         else f"{path}: byte {offset}: {why}" for i, offset, why in result.refused]
        settled += result.consumed
        line_no += result.lines_consumed
        pending = data[result.consumed:]
        yield result.messages, settled, line_no
