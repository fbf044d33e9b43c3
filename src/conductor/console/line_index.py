"""A sparse line index over a growing text file, read by byte offset only.

Agent output files can reach gigabytes and keep growing while they are shown, so nothing here
ever reads a whole file. The index keeps one entry per ~256 KiB *chunk* (the byte offset of the
chunk's first line and that line's number); the offsets of the lines inside a chunk are computed
on demand from one bounded read and kept in a small LRU. A file is opened at its tail first
(read backwards from the end), so the last screen is available at once; the part before the tail
(the *prefix*) is indexed later by :meth:`LineIndex.build_prefix`, meant to run in a thread, and
merged with :meth:`LineIndex.merge_prefix`.

Line numbers count from the index's *origin* (the first byte indexed): before the prefix is
merged they are relative to the tail, afterwards absolute. Lines longer than ``LONG_LINE``
bytes get a chunk of their own, so a chunk holding several lines is always small enough to read
in one go, and a 100 MB line is never read whole.

This module must not import Textual: it is the data half of the log pane.
"""

from __future__ import annotations

import bisect
import os
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from conductor.store import safefs

from .text import neutralise
from ..words import count as plural_count

CHUNK_BYTES = 256 * 1024
"""A new chunk starts at the first line start at least this far from the current chunk's start."""
BLOCK_BYTES = 1024 * 1024
"""Bytes per read while scanning or searching."""
LONG_LINE = BLOCK_BYTES
"""Lines longer than this get a chunk to themselves."""
TAIL_BACK_BLOCK = 64 * 1024
TAIL_MAX_BYTES = 4 * 1024 * 1024
"""Reading backwards for the tail stops here once at least one line start has been found."""
CHUNK_CACHE_SIZE = 16


class Change(Enum):
    """What :meth:`LineIndex.check` found on disk."""

    SAME = "same"
    GROWN = "grown"
    RESET = "reset"
    """Truncated, replaced by another file (inode changed) or deleted."""


@dataclass(frozen=True, slots=True)
class ScanState:
    """Where scanning stopped: everything before ``line_end`` is split into complete lines."""

    lines: int
    """Complete (newline-terminated) lines from the origin to ``line_end``."""
    line_end: int
    """Offset just after the last newline: the start of the pending partial line."""
    scanned_to: int
    """Offset up to which bytes were read (the file size at the last scan)."""
    chunk_start: int
    """Start offset of the last, still open, chunk."""


@dataclass(frozen=True, slots=True)
class IndexDelta:
    """New chunk boundaries and state found after ``base``; applied on the owner's thread."""

    base: ScanState
    state: ScanState
    offsets: list[int]
    first_lines: list[int]


@dataclass(frozen=True, slots=True)
class PrefixIndex:
    """The chunks of the bytes before the tail's origin, counted from offset 0."""

    origin: int
    identity: tuple[int, int]
    offsets: array
    first_lines: array
    lines: int


@dataclass(frozen=True, slots=True)
class LineBytes:
    """The first bytes of one line (without its newline) and the line's full length."""

    data: bytes
    length: int
    complete: bool
    """False for the trailing line whose newline has not arrived yet."""

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.length


@dataclass(slots=True)
class _Scanner:
    """Walks bytes forward from a line start, counting lines and choosing chunk boundaries."""

    lines: int
    line_end: int
    chunk_start: int
    offsets: list[int] = field(default_factory=list)
    first_lines: list[int] = field(default_factory=list)

    def _boundary(self, offset: int) -> None:
        if offset > self.chunk_start:
            self.offsets.append(offset)
            self.first_lines.append(self.lines)
            self.chunk_start = offset

    def feed(self, block: bytes, pos: int) -> None:
        """Account for ``block``, which starts at file offset ``pos``."""
        last = block.rfind(b"\n")
        if last < 0:
            return
        first = block.find(b"\n")
        # Only the first newline of a block can close a line longer than a block.
        if pos + first + 1 - self.line_end > LONG_LINE:
            self._boundary(self.line_end)
            self.lines += 1
            self.line_end = pos + first + 1
            self._boundary(self.line_end)
        else:
            self.lines += 1
            self.line_end = pos + first + 1
        cursor = first + 1
        while True:
            target = self.chunk_start + CHUNK_BYTES - pos - 1
            if target > last:
                break
            if target < cursor:  # the line just closed already filled the chunk
                self._boundary(pos + cursor)
                continue
            j = block.find(b"\n", target)
            self.lines += block.count(b"\n", cursor, j + 1)
            cursor = j + 1
            self.line_end = pos + cursor
            self._boundary(self.line_end)
        self.lines += block.count(b"\n", cursor, last + 1)
        self.line_end = pos + last + 1


def _scan(fd: int, start: int, stop: int, scanner: _Scanner,
          cancelled: Callable[[], bool] | None = None,
          progress: Callable[[int], None] | None = None) -> int:
    """Feed ``[start, stop)`` to ``scanner``; return the offset reached (``stop`` unless cut short)."""
    pos = start
    while pos < stop:
        if cancelled is not None and cancelled():
            return pos
        block = os.pread(fd, min(BLOCK_BYTES, stop - pos), pos)
        if not block:
            break
        scanner.feed(block, pos)
        pos += len(block)
        if progress is not None:
            progress(pos)
    return pos


def find_tail_origin(fd: int, size: int, want_lines: int) -> int:
    """Offset of a line start about ``want_lines`` lines before the end of the file."""
    pos = size
    found = 0
    lowest_start = -1
    while pos > 0:
        step = TAIL_BACK_BLOCK if size - pos < TAIL_MAX_BYTES else BLOCK_BYTES
        n = min(step, pos)
        pos -= n
        block = os.pread(fd, n, pos)
        end = len(block)
        if pos + end == size and block.endswith(b"\n"):
            end -= 1  # the final newline ends the last line, it starts none
        while True:
            i = block.rfind(b"\n", 0, end)
            if i < 0:
                break
            found += 1
            lowest_start = pos + i + 1
            end = i
            if found >= want_lines:
                return lowest_start
        if lowest_start >= 0 and size - pos >= TAIL_MAX_BYTES:
            return lowest_start
    return 0


def _identity(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _line_starts(data: bytes, base: int) -> array:
    starts = array("q", [base])
    pos = base
    for piece in data.split(b"\n")[:-1]:
        pos += len(piece) + 1
        starts.append(pos)
    starts.pop()  # the offset after the last newline starts the next chunk
    return starts


class LineIndex:
    """Sparse index of one open file. Not thread-safe: mutate it on one thread only.

    The ``*_in_thread`` style methods (:meth:`scan_growth`, :meth:`build_prefix`) only read the
    index and the file through their own descriptor, so they may run in a worker thread while
    the owner keeps rendering; their results are applied by the owner.
    """

    def __init__(self, path: str, fd: int, identity: tuple[int, int], origin: int) -> None:
        self.path = path
        self._fd = fd
        self.identity = identity
        self.origin = origin
        self.offsets = array("q", [origin])
        self.first_lines = array("q", [0])
        self.state = ScanState(lines=0, line_end=origin, scanned_to=origin, chunk_start=origin)
        self._chunk_cache: OrderedDict[tuple[int, int], array] = OrderedDict()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open_tail(cls, path: str, tail_lines: int = 1000) -> LineIndex:
        """Open ``path`` and index only its last ``tail_lines`` lines (raises OSError, or
        :class:`~conductor.store.safefs.UnsafeFileError` for a link, FIFO or device at the name:
        opened through safefs from the runs root, never followed, never blocking)."""
        fd = safefs.open_view(path)
        if fd is None:
            raise FileNotFoundError(2, "no such file or directory", path)
        try:
            st = os.fstat(fd)
            origin = find_tail_origin(fd, st.st_size, tail_lines)
            index = cls(path, fd, _identity(st), origin)
            index.apply(index.scan_growth(st.st_size))
        except BaseException:
            os.close(fd)
            raise
        return index

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._chunk_cache.clear()

    def __del__(self) -> None:
        # An index opened by a worker whose answer was never handled (the pane went away
        # between the open and the message) still closes its descriptor.
        try:
            self.close()
        except (AttributeError, OSError):
            pass

    def dup_fd(self) -> int:
        """A descriptor of the same open file for a worker thread (the worker closes it)."""
        return os.dup(self._fd)

    # -- counts ----------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True once the index starts at byte 0 (line numbers are absolute)."""
        return self.origin == 0

    @property
    def complete_lines(self) -> int:
        return self.state.lines

    @property
    def line_count(self) -> int:
        """Lines to show: the complete ones plus a pending partial last line, if any."""
        return self.state.lines + (1 if self.state.scanned_to > self.state.line_end else 0)

    # -- growth ----------------------------------------------------------------------------

    def check(self) -> tuple[Change, int]:
        """Compare the file on disk with what was indexed; returns the change and the size."""
        try:
            st = os.lstat(self.path)  # a link swapped in is a new file: reopened, then refused
        except FileNotFoundError:
            return Change.RESET, 0
        if _identity(st) != self.identity or st.st_size < self.state.scanned_to:
            return Change.RESET, st.st_size
        if st.st_size > self.state.scanned_to:
            return Change.GROWN, st.st_size
        return Change.SAME, st.st_size

    def scan_growth(self, stop: int, fd: int | None = None,
                    cancelled: Callable[[], bool] | None = None) -> IndexDelta:
        """Scan the bytes appended since the last scan, up to ``stop``; does not change the index."""
        base = self.state
        scanner = _Scanner(lines=base.lines, line_end=base.line_end, chunk_start=base.chunk_start)
        reached = _scan(self._fd if fd is None else fd, base.scanned_to, stop, scanner, cancelled)
        state = ScanState(scanner.lines, scanner.line_end, reached, scanner.chunk_start)
        return IndexDelta(base, state, scanner.offsets, scanner.first_lines)

    def apply(self, delta: IndexDelta) -> int:
        """Apply a :meth:`scan_growth` result; returns how many lines were added (0 if stale)."""
        if delta.base != self.state:
            return 0
        before = self.line_count
        self._chunk_cache.pop((self.offsets[-1], self._chunk_line_count(len(self.offsets) - 1)), None)
        self.offsets.extend(delta.offsets)
        self.first_lines.extend(delta.first_lines)
        self.state = delta.state
        return self.line_count - before

    # -- prefix ----------------------------------------------------------------------------

    def build_prefix(self, fd: int, cancelled: Callable[[], bool] | None = None,
                     progress: Callable[[int], None] | None = None) -> PrefixIndex | None:
        """Index ``[0, origin)``; returns None when cancelled. Safe to run in a thread."""
        scanner = _Scanner(lines=0, line_end=0, chunk_start=0, offsets=[0], first_lines=[0])
        reached = _scan(fd, 0, self.origin, scanner, cancelled, progress)
        if reached < self.origin:
            return None
        pairs = [(o, n) for o, n in zip(scanner.offsets, scanner.first_lines) if o < self.origin]
        return PrefixIndex(origin=self.origin, identity=self.identity,
                           offsets=array("q", [o for o, _ in pairs]),
                           first_lines=array("q", [n for _, n in pairs]),
                           lines=scanner.lines)

    def merge_prefix(self, prefix: PrefixIndex) -> int:
        """Put the prefix in front; returns the number of lines that appeared before the tail."""
        if prefix.origin != self.origin or prefix.identity != self.identity or self.complete:
            return 0
        shift = prefix.lines
        self.offsets = prefix.offsets + self.offsets
        self.first_lines = prefix.first_lines + array("q", (n + shift for n in self.first_lines))
        s = self.state
        self.state = ScanState(s.lines + shift, s.line_end, s.scanned_to, s.chunk_start)
        self.origin = 0
        self._chunk_cache.clear()
        return shift

    # -- lines -----------------------------------------------------------------------------

    def reader(self, *, own_fd: bool = False,
               cache: OrderedDict[tuple[int, int], array] | None = None) -> LineReader:
        """A :class:`LineReader` over what the index knows now. ``own_fd``: on a duplicate
        descriptor, for a worker thread (the reader closes it), with ``cache`` as its chunk
        cache (one thread at a time); otherwise on the index's own descriptor and cache."""
        if own_fd:
            return LineReader(self.dup_fd(), self.offsets, self.first_lines, self.state,
                              self.origin, owns_fd=True, cache=cache)
        return LineReader(self._fd, self.offsets, self.first_lines, self.state, self.origin,
                          cache=self._chunk_cache)

    def reader_after(self, delta: IndexDelta, fd: int) -> LineReader:
        """A reader of the lines a :meth:`scan_growth` result adds (from the start of the
        index's last chunk on), before the owner applies it: for the thread that scanned.
        Does not own ``fd``."""
        offsets = array("q", self.offsets[-1:])
        offsets.extend(delta.offsets)
        first_lines = array("q", self.first_lines[-1:])
        first_lines.extend(delta.first_lines)
        return LineReader(fd, offsets, first_lines, delta.state, self.origin)

    def line_start(self, line: int) -> int:
        return self.reader().line_start(line)

    def line_span(self, line: int) -> tuple[int, int, bool]:
        return self.reader().line_span(line)

    def read_line(self, line: int, max_bytes: int) -> LineBytes:
        return self.reader().read_line(line, max_bytes)

    def line_of_offset(self, offset: int) -> int:
        return self.reader().line_of_offset(offset)

    def _chunk_line_count(self, chunk: int) -> int:
        upper = self.first_lines[chunk + 1] if chunk + 1 < len(self.first_lines) else self.state.lines
        return upper - self.first_lines[chunk]


class LineReader:
    """Reads lines through a frozen view of a :class:`LineIndex`: safe in a worker thread.

    It keeps the index's chunk arrays and the count of chunks at creation: the index only ever
    *extends* those arrays (growth) or replaces them (a merged prefix), so the first ``chunks``
    entries never change under it. Line numbers are those of the index's ``origin`` then; a
    reader made before a prefix merge numbers lines from the tail.
    """

    def __init__(self, fd: int, offsets: array, first_lines: array, state: ScanState,
                 origin: int, *, owns_fd: bool = False,
                 cache: OrderedDict[tuple[int, int], array] | None = None) -> None:
        self._fd = fd
        self._owns_fd = owns_fd
        self.offsets = offsets
        self.first_lines = first_lines
        self.chunks = len(offsets)
        self.state = state
        self.origin = origin
        self._cache: OrderedDict[tuple[int, int], array] = \
            OrderedDict() if cache is None else cache

    @property
    def line_count(self) -> int:
        return self.state.lines + (1 if self.state.scanned_to > self.state.line_end else 0)

    @property
    def first_line(self) -> int:
        """The first line this reader can read (a reader made by ``reader_after`` starts at
        the index's last chunk)."""
        return self.first_lines[0]

    @property
    def fd(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._owns_fd and self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> LineReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _chunk_line_count(self, chunk: int) -> int:
        upper = self.first_lines[chunk + 1] if chunk + 1 < self.chunks else self.state.lines
        return upper - self.first_lines[chunk]

    def _chunk_of_line(self, line: int) -> int:
        return bisect.bisect_right(self.first_lines, line, 0, self.chunks) - 1

    def _chunk_starts(self, chunk: int) -> array:
        start = self.offsets[chunk]
        count = self._chunk_line_count(chunk)
        key = (start, count)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if count <= 1:
            starts = array("q", [start] * count)
        else:
            end = self.offsets[chunk + 1] if chunk + 1 < self.chunks else self.state.line_end
            starts = _line_starts(os.pread(self._fd, end - start, start), start)
        self._cache[key] = starts
        if len(self._cache) > CHUNK_CACHE_SIZE:
            self._cache.popitem(last=False)
        return starts

    def line_start(self, line: int) -> int:
        """Byte offset where ``line`` starts (``line_count`` gives the offset after the last line)."""
        if line >= self.state.lines:
            return self.state.line_end if line == self.state.lines else self.state.scanned_to
        chunk = self._chunk_of_line(line)
        return self._chunk_starts(chunk)[line - self.first_lines[chunk]]

    def line_span(self, line: int) -> tuple[int, int, bool]:
        """``(start, end, complete)``; ``end`` excludes the newline."""
        if not 0 <= line < self.line_count:
            raise IndexError(line)
        start = self.line_start(line)
        if line >= self.state.lines:
            return start, self.state.scanned_to, False
        return start, self.line_start(line + 1) - 1, True

    def read_line(self, line: int, max_bytes: int) -> LineBytes:
        """At most ``max_bytes`` bytes of ``line``; a CR before the newline is dropped."""
        start, end, complete = self.line_span(line)
        length = end - start
        data = os.pread(self._fd, min(length, max_bytes), start) if length else b""
        if complete and len(data) == length and data.endswith(b"\r"):
            data = data[:-1]
            length -= 1
        return LineBytes(data, length, complete)

    def read_lines(self, lines: list[int], max_bytes: int) -> dict[int, LineBytes]:
        """:meth:`read_line` for each of ``lines`` (sorted), with one read per run of
        consecutive lines whose bytes fit in :data:`BLOCK_BYTES` (a screen is one read)."""
        out: dict[int, LineBytes] = {}
        i = 0
        while i < len(lines):
            j = i + 1
            first = self.line_span(lines[i])
            last = first
            while j < len(lines) and lines[j] == lines[j - 1] + 1:
                span = self.line_span(lines[j])
                if span[1] - first[0] > BLOCK_BYTES:
                    break
                last = span
                j += 1
            if j - i == 1:
                out[lines[i]] = self.read_line(lines[i], max_bytes)
                i = j
                continue
            base = first[0]
            block = os.pread(self._fd, last[1] + 1 - base, base)
            for line in lines[i:j]:
                start, end, complete = self.line_span(line)
                length = end - start
                data = block[start - base:start - base + min(length, max_bytes)]
                if complete and len(data) == length and data.endswith(b"\r"):
                    data = data[:-1]
                    length -= 1
                out[line] = LineBytes(data, length, complete)
            i = j
        return out

    def line_of_offset(self, offset: int) -> int:
        """Number of the line containing byte ``offset`` (must be within the index)."""
        chunk = bisect.bisect_right(self.offsets, offset, 0, self.chunks) - 1
        starts = self._chunk_starts(chunk)
        return self.first_lines[chunk] + max(bisect.bisect_right(starts, offset) - 1, 0)


MARKER_PREFIX = "\u2026 [+"


@dataclass(frozen=True, slots=True)
class DisplayLine:
    """One line ready to draw: neutralised text, cut to the maximum length."""

    text: str
    cut_at: int | None = None
    """Where the ``… [+N chars]`` marker starts, if the line was cut."""


def display_line(raw: LineBytes, max_chars: int) -> DisplayLine:
    """Decode (UTF-8, invalid bytes replaced), neutralise and cut a line.

    When only a prefix of the line was read, the hidden part is counted as the characters read
    but cut plus the bytes not read (exact for ASCII, an upper bound otherwise).
    """
    text = raw.data.decode("utf-8", errors="replace")
    if raw.truncated and text.endswith("\ufffd"):
        text = text[:-1]  # a multi-byte character split by the read limit
    text = neutralise(text)
    unread = raw.length - len(raw.data) if raw.truncated else 0
    if len(text) <= max_chars and not unread:
        return DisplayLine(text)
    hidden = max(len(text) - max_chars, 0) + unread
    shown = text[:max_chars]
    return DisplayLine(f"{shown}{MARKER_PREFIX}{plural_count(hidden, 'char')}]", cut_at=len(shown))


def read_display_lines(reader: LineReader, lines, max_chars: int,
                       cancelled: Callable[[], bool] | None = None) -> dict[int, DisplayLine]:
    """``lines`` ready to draw (at most ``4 * max_chars`` bytes read from each); the ones the
    reader does not hold are skipped. Meant for a worker thread: this is the pane's disk I/O."""
    wanted = sorted(line for line in lines if reader.first_line <= line < reader.line_count)
    if cancelled is not None and cancelled():
        return {}
    raw = reader.read_lines(wanted, max_chars * 4)
    return {line: display_line(data, max_chars) for line, data in raw.items()}


def find_forward(fd: int, start: int, stop: int, first_line: int, needle: bytes,
                 ignore_case: bool, cancelled: Callable[[], bool] | None = None) -> int | None:
    """Number of the first line at or after ``start`` (a line start numbered ``first_line``)
    containing ``needle`` (no newline in it), searching bytes ``[start, stop)``; None if absent."""
    if ignore_case:
        needle = needle.lower()
    keep = b""
    line = first_line  # line number at the start of ``keep``
    pos = start
    while pos < stop:
        if cancelled is not None and cancelled():
            return None
        data = os.pread(fd, min(BLOCK_BYTES, stop - pos), pos)
        if not data:
            break
        buf = keep + data
        i = (buf.lower() if ignore_case else buf).find(needle)
        if i >= 0:
            return line + buf.count(b"\n", 0, i)
        cut = max(len(buf) - (len(needle) - 1), 0)
        line += buf.count(b"\n", 0, cut)
        keep = buf[cut:]
        pos += len(data)
    return None


def find_backward(fd: int, start: int, stop: int, stop_line: int, needle: bytes,
                  ignore_case: bool, cancelled: Callable[[], bool] | None = None) -> int | None:
    """Number of the last line before ``stop`` containing ``needle``, searching bytes
    ``[start, stop)`` backwards; None if absent. ``stop_line`` is the number of the line that
    starts at ``stop`` (or, at the end of a file without a final newline, the partial line)."""
    if ignore_case:
        needle = needle.lower()
    keep = b""
    line_at_end = stop_line  # line number at the offset just after ``buf``
    pos = stop
    while pos > start:
        if cancelled is not None and cancelled():
            return None
        size = min(BLOCK_BYTES, pos - start)
        pos -= size
        buf = os.pread(fd, size, pos) + keep
        i = (buf.lower() if ignore_case else buf).rfind(needle)
        if i >= 0:
            return line_at_end - buf.count(b"\n", i)
        k = min(len(needle) - 1, len(buf))
        line_at_end -= buf.count(b"\n", k)
        keep = buf[:k]
    return None
