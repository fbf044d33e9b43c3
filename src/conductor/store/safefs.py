"""The one safe way to touch a name under the runs root.

Agents write into their run and task dirs, so any name below the root may be a symbolic link
(to anywhere, or dangling), a FIFO, a directory, a device or a huge file, and may change between
two calls. Every open, read, write, create, chmod, rename and delete of a name under the root
goes through here:

* The path is walked one component at a time from the root with directory file descriptors and
  ``O_NOFOLLOW``, so no level below the root can be a symbolic link, and a directory swapped for
  a link between our check and our use is caught by the kernel, not by a racy ``lstat``. The
  root itself is the operator's choice and may be a link.
* Files are opened with ``O_NONBLOCK`` and checked with ``fstat`` before any read, so a FIFO
  never blocks us, and a device or directory is refused with one line naming the file.
* Reads are capped: callers pass the largest size they accept, and a bigger file is refused
  without being read.
* Writes of whole files go to a temporary file in the same directory and are renamed over the
  name, through the directory's descriptor: a reader never sees half a file, and a link planted
  at the name is replaced, never written through.
* Deletes unlink through the parent's descriptor; trees are removed by :func:`shutil.rmtree`
  with ``dir_fd`` (its descriptor-based walk never follows a link).

Errors are :class:`UnsafeFileError` (a :class:`LayoutError`): one line, ``<path>: <what>``.
Plain absence is reported as ``None``/``False`` by the readers and deleters, as callers treat a
missing marker as "not there" rather than as an error.

This is hand-written on ``os`` calls because no library offers ``O_NOFOLLOW`` walks with
``dir_fd`` and ``O_NONBLOCK`` opens; the standard library's ``shutil.rmtree(dir_fd=…)`` is used
where it fits.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from ..errors import LayoutError

FILE_MODE = 0o644
DIR_MODE = 0o755

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC  # the root may be a link
_NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 16


class UnsafeFileError(LayoutError):
    """A name under the root is not what it must be (a link, a FIFO, too big, outside the root)."""


def describe(mode: int) -> str:
    """What kind of file ``mode`` is, in the words our messages use."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "an unknown kind of file"


def reason(exc: OSError) -> str:
    """The lower-case words for an OS error, as our messages write them."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return (exc.strerror or str(exc)).lower()


def _link_refused(path: str) -> UnsafeFileError:
    return UnsafeFileError(f"{path}: is a symbolic link; refusing to follow it below the runs root")


# ---- where a path is ---------------------------------------------------------------------------

def components(root: str, path: str) -> list[str]:
    """The names from ``root`` down to ``path``; refuses a path outside the root."""
    root = os.path.abspath(root)
    full = os.path.abspath(path)
    if full == root:
        return []
    prefix = root.rstrip(os.sep) + os.sep
    if "\x00" in full or not full.startswith(prefix):
        raise UnsafeFileError(f"{_printable(path)}: outside the runs root {root}")
    parts = full[len(prefix):].split(os.sep)
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeFileError(f"{_printable(path)}: not a plain path below the runs root")
    return parts


def _printable(text: str) -> str:
    return text.encode("unicode_escape", "backslashreplace").decode("ascii") \
        if not text.isprintable() else text


def open_dir(root: str, path: str, *, create: bool = False) -> int:
    """A descriptor of the directory ``path`` under ``root``; no level below the root may be a
    link or anything but a directory. ``create`` makes missing levels (mode 0755). The caller
    closes the descriptor."""
    return _open_parts(os.path.abspath(root), components(root, path), create)


def _open_parts(root: str, parts: list[str], create: bool) -> int:
    """:func:`open_dir` of ``root``/``parts`` (``root`` absolute, ``parts`` checked). The walk
    is on the hot path of every read (a run-info read opens five levels), so error texts are
    built only when there is an error."""
    try:
        fd = os.open(root, _ROOT_FLAGS)
    except OSError as exc:
        if create and exc.errno == errno.ENOENT:
            os.makedirs(root, DIR_MODE, exist_ok=True)
            fd = os.open(root, _ROOT_FLAGS)
        elif exc.errno == errno.ENOENT:  # no root yet: nothing below it exists either
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", root) from None
        else:
            raise _error(root, "open", exc) from None
    try:
        for depth, part in enumerate(parts):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd) if not create else -1
            except OSError:
                child = -1
            if child < 0:  # missing, or something odd: the careful path says which
                child = _descend(fd, part, os.path.join(root, *parts[:depth + 1]), create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _descend(fd: int, name: str, where: str, create: bool) -> int:
    """Open the directory ``name`` below ``fd``; raise on anything odd. ``fd`` stays open."""
    try:
        if create:
            try:
                os.mkdir(name, DIR_MODE, dir_fd=fd)
            except FileExistsError:
                pass
        child = os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = _kind_at(fd, name)
            if kind == "a symbolic link":
                raise _link_refused(where) from None
            raise UnsafeFileError(f"{where}: is {kind}, expected a directory") from None
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", where) from None
        raise _error(where, "open", exc) from None
    return child


def _kind_at(dir_fd: int, name: str) -> str:
    try:
        return describe(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return "missing"


def _error(path: str, what: str, exc: OSError) -> UnsafeFileError:
    return UnsafeFileError(f"{path}: {what}: {reason(exc)}")


class _Parent:
    """``with _Parent(root, path) as (dir_fd, name)``: the open parent directory of ``path``."""

    def __init__(self, root: str, path: str, create: bool = False) -> None:
        self.root, self.path, self.create = root, path, create

    def __enter__(self) -> tuple[int, str]:
        parts = components(self.root, self.path)  # refuses escapes before anything is opened
        if not parts:
            raise UnsafeFileError(f"{os.path.abspath(self.path)}: is the runs root itself")
        self.fd = _open_parts(os.path.abspath(self.root), parts[:-1], self.create)
        return self.fd, parts[-1]

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


# ---- descriptor-relative operations ----------------------------------------------------------

def open_leaf(path: str, flags: int = os.O_RDONLY, mode: int = FILE_MODE, *,
              dir_fd: int | None = None) -> int:
    """Open the regular file ``path`` (relative to ``dir_fd`` when given) without following a
    link at its name and without blocking on a FIFO; a plain :class:`OSError` otherwise
    (``ELOOP`` for a link, ``EINVAL`` "not a regular file" for a FIFO, device or directory
    opened for reading, ``ENXIO`` for a FIFO nobody reads opened for writing).

    For callers that already trust the directory (a bus path checked by the layout, the file of
    a lock) and map errors to their own words; :func:`open_regular_at` is the same open with our
    one-line messages. ``O_NONBLOCK`` is cleared again for writes (Linux ignores it for reads of
    regular files)."""
    fd = os.open(path, flags | _NOFOLLOW, mode, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if flags & (os.O_WRONLY | os.O_RDWR):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular_at(dir_fd: int, name: str, path: str, flags: int = os.O_RDONLY,
                    mode: int = FILE_MODE) -> int:
    """Open the regular file ``name`` in ``dir_fd``; ``path`` names it in errors.

    :func:`open_leaf` with our messages (:class:`UnsafeFileError`); for a write to an existing
    file, also refuses a file with other hard links (it could be a file outside the root linked
    in).
    """
    try:
        fd = open_leaf(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_refused(path) from None
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", path) from None
        if exc.errno in (errno.EINVAL, errno.EISDIR, errno.ENXIO, errno.EWOULDBLOCK):
            raise UnsafeFileError(
                f"{path}: is {_kind_at(dir_fd, name)}, expected a regular file") from None
        raise _error(path, "open", exc) from None
    if flags & (os.O_WRONLY | os.O_RDWR) and not flags & os.O_EXCL:
        links = os.fstat(fd).st_nlink
        if links > 1:
            os.close(fd)
            raise UnsafeFileError(f"{path}: has {links} hard links; refusing to write "
                                  "through it")
    return fd


def read_fd(fd: int, path: str, limit: int) -> bytes:
    """All of an open regular file, refusing one over ``limit`` bytes (at most limit+1 read)."""
    size = os.fstat(fd).st_size
    if size > limit:
        raise too_large(path, limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total) or 1)
        except OSError as exc:
            raise _error(path, "read", exc) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise too_large(path, limit)


def too_large(path: str, limit: int) -> UnsafeFileError:
    return UnsafeFileError(f"{path}: larger than {_size(limit)}; refusing to read it")


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


def write_atomic_at(dir_fd: int, name: str, path: str, data: bytes,
                    mode: int = FILE_MODE) -> None:
    """Write ``data`` to a temporary file beside ``name``, fsync it and rename it over ``name``.

    A link or FIFO planted at ``name`` is replaced, never followed; a directory there is an
    error. On failure (a full disk) the old file stays and the temporary file is removed.
    """
    tmp = f".{name}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise _error(path, "write: create temp file", exc) from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        _unlink_quietly(dir_fd, tmp)
        if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
            raise UnsafeFileError(f"{path}: is {_kind_at(dir_fd, name)}, expected a regular "
                                  "file") from None
        raise _error(path, "write", exc) from None
    except BaseException:
        _unlink_quietly(dir_fd, tmp)
        raise


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def unlink_at(dir_fd: int, name: str, path: str) -> bool:
    """Remove the non-directory ``name`` (a link is removed, not followed); False if absent."""
    try:
        os.unlink(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise UnsafeFileError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        if exc.errno == errno.EPERM and _kind_at(dir_fd, name) == "a directory":
            raise UnsafeFileError(f"{path}: is a directory, expected a file") from None
        raise _error(path, "remove", exc) from None


# ---- root-anchored operations ----------------------------------------------------------------

def lstat(root: str, path: str) -> os.stat_result | None:
    """``lstat`` of ``path``, every level above it checked; None when it does not exist."""
    try:
        with _Parent(root, path) as (dir_fd, name):
            return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _error(path, "inspect", exc) from None


def is_file(root: str, path: str) -> bool:
    """``path`` exists and is a regular file (not a link to one); levels above it checked."""
    try:
        st = lstat(root, path)
    except UnsafeFileError:
        return False
    return st is not None and stat.S_ISREG(st.st_mode)


def is_dir(root: str, path: str) -> bool:
    """``path`` exists and is a real directory (not a link to one); levels above it checked."""
    try:
        st = lstat(root, path)
    except UnsafeFileError:
        return False
    return st is not None and stat.S_ISDIR(st.st_mode)


def read_bytes(root: str, path: str, limit: int) -> bytes | None:
    """The content of the regular file ``path`` (None when absent), at most ``limit`` bytes."""
    try:
        with _Parent(root, path) as (dir_fd, name):
            fd = open_regular_at(dir_fd, name, path)
    except FileNotFoundError:
        return None
    try:
        return read_fd(fd, path, limit)
    finally:
        os.close(fd)


def read_text(root: str, path: str, limit: int) -> str | None:
    """:func:`read_bytes` decoded as UTF-8, bad bytes replaced (U+FFFD)."""
    data = read_bytes(root, path, limit)
    return None if data is None else data.decode("utf-8", "replace")


def read_tail(root: str, path: str, max_bytes: int) -> bytes | None:
    """The last ``max_bytes`` of the regular file ``path`` (None when absent)."""
    fd = open_file(root, path)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - max_bytes)
        chunks, want = [], size - start
        while want > 0:
            chunk = os.pread(fd, min(_CHUNK, want), start)
            if not chunk:
                break
            chunks.append(chunk)
            start += len(chunk)
            want -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _error(path, "read", exc) from None
    finally:
        os.close(fd)


def open_file(root: str, path: str, flags: int = os.O_RDONLY, mode: int = FILE_MODE, *,
              create_dirs: bool = False) -> int | None:
    """A descriptor of the regular file ``path`` (checked as :func:`open_regular_at` does);
    None when it does not exist and ``flags`` do not create it. The caller closes it."""
    try:
        with _Parent(root, path, create=create_dirs) as (dir_fd, name):
            return open_regular_at(dir_fd, name, path, flags, mode)
    except FileNotFoundError:
        if flags & os.O_CREAT:
            raise
        return None


def open_append(root: str, path: str, mode: int = FILE_MODE) -> int:
    """An ``O_APPEND`` descriptor of ``path``, created if missing (a log, agent stdout)."""
    fd = open_file(root, path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    assert fd is not None
    return fd


def write_atomic(root: str, path: str, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`write_atomic_at`)."""
    try:
        with _Parent(root, path) as (dir_fd, name):
            write_atomic_at(dir_fd, name, path, data, mode)
    except FileNotFoundError:
        raise UnsafeFileError(f"{path}: write: directory {os.path.dirname(path)} does not "
                              "exist") from None


def create_exclusive(root: str, path: str, data: bytes, mode: int = FILE_MODE) -> bool:
    """Create ``path`` with ``data`` unless anything (a link included) is there already.

    Returns whether it was created. A write that fails (a full disk) removes the new file, so
    no empty or partial file is left behind.
    """
    with _Parent(root, path) as (dir_fd, name):
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode,
                         dir_fd=dir_fd)
        except FileExistsError:
            return False
        except OSError as exc:
            raise _error(path, "create", exc) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
        except OSError as exc:
            os.close(fd)
            _unlink_quietly(dir_fd, name)
            raise _error(path, "write", exc) from None
        os.close(fd)
        return True


def unlink(root: str, path: str) -> bool:
    """Remove the file or link ``path`` (never what a link points to); False if absent."""
    try:
        with _Parent(root, path) as (dir_fd, name):
            return unlink_at(dir_fd, name, path)
    except FileNotFoundError:
        return False


def rmtree(root: str, path: str) -> bool:
    """Remove the directory ``path`` and all below it without following any link (links are
    removed, not entered); a link or file at ``path`` itself is removed as such. False if
    absent."""
    try:
        with _Parent(root, path) as (dir_fd, name):
            try:
                st = os.lstat(name, dir_fd=dir_fd)
            except FileNotFoundError:
                return False
            if not stat.S_ISDIR(st.st_mode):
                return unlink_at(dir_fd, name, path)
            import shutil  # only gc and task delete remove trees: not on every verb's path
            errors: list[str] = []

            def onerror(_func, failed, info) -> None:
                exc = info[1]
                if not isinstance(exc, FileNotFoundError):
                    errors.append(f"{failed}: {reason(exc) if isinstance(exc, OSError) else exc}")

            if sys.version_info >= (3, 12):
                shutil.rmtree(name, dir_fd=dir_fd,
                              onexc=lambda func, failed, exc: onerror(func, failed, (0, exc)))
            else:
                shutil.rmtree(name, dir_fd=dir_fd, onerror=onerror)
            if errors:
                raise UnsafeFileError(f"{path}: remove: {errors[0]}")
            return True
    except FileNotFoundError:
        return False


def makedirs(root: str, path: str) -> None:
    """``mkdir -p`` below the root (mode 0755), refusing links and non-directories on the way."""
    os.close(open_dir(root, path, create=True))


def listdir(root: str, path: str) -> list[str]:
    """The names in the directory ``path`` (empty when it does not exist)."""
    try:
        fd = open_dir(root, path)
    except FileNotFoundError:
        return []
    try:
        return os.listdir(fd)
    except OSError as exc:
        raise _error(path, "list", exc) from None
    finally:
        os.close(fd)


def identity(root: str, path: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the directory ``path`` reached safely from the root, or None when
    it cannot be reached (gone, or a link now). The runner compares this before and after an
    agent ran, because the agent controls its run dir meanwhile."""
    try:
        fd = open_dir(root, path)
    except (OSError, UnsafeFileError):
        return None
    try:
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    finally:
        os.close(fd)


# ---- directories and anchors -----------------------------------------------------------------

DIR, FILE, LINK, OTHER = "dir", "file", "link", "other"


def entries(root: str, path: str) -> dict[str, str]:
    """The names in the directory ``path`` and what each is (:data:`DIR`, :data:`FILE`,
    :data:`LINK` or :data:`OTHER`: a FIFO, socket or device), read through the directory's
    descriptor so a link is reported as one, never entered. Empty when ``path`` does not exist;
    a link or non-directory at ``path`` (or above it) raises :class:`UnsafeFileError`."""
    try:
        fd = open_dir(root, path)
    except FileNotFoundError:
        return {}
    try:
        return entries_at(fd, path)
    finally:
        os.close(fd)


def entries_at(fd: int, path: str) -> dict[str, str]:
    """:func:`entries` of the directory open at ``fd`` (``path`` names it in errors)."""
    out: dict[str, str] = {}
    try:
        with os.scandir(fd) as it:
            for entry in it:
                try:
                    if entry.is_symlink():
                        kind = LINK
                    elif entry.is_dir(follow_symlinks=False):
                        kind = DIR
                    elif entry.is_file(follow_symlinks=False):
                        kind = FILE
                    else:
                        kind = OTHER
                except OSError:  # gone between listing and looking
                    continue
                out[entry.name] = kind
    except OSError as exc:
        raise _error(path, "list", exc) from None
    return out


def open_subdir_at(dir_fd: int, name: str, path: str) -> int:
    """A descriptor of the directory ``name`` below ``dir_fd`` (``path`` names it in errors),
    refusing a link or anything but a directory; the caller closes it. For scanners that walk
    many siblings: each level is opened once, not once per file below it."""
    return _descend(dir_fd, name, path, False)


def subdirs(root: str, path: str) -> list[str]:
    """The names of the real directories (not links to them) in ``path``; empty when it does
    not exist, is a link, or is not a directory (a scanner skips those)."""
    try:
        found = entries(root, path)
    except UnsafeFileError:
        return []
    return [name for name, kind in found.items() if kind == DIR]


def above(path: str, levels: int) -> str:
    """The directory ``levels`` above ``path``: the runs root of a path whose shape is known
    (2 above a task dir, 4 above a run dir, 5 above a run's file)."""
    out = os.path.abspath(path)
    for _ in range(levels):
        out = os.path.dirname(out)
    return out


def mtime_ns(root: str, path: str) -> int | None:
    """``st_mtime_ns`` of ``path`` itself (a link's own time, never its target's)."""
    try:
        st = lstat(root, path)
    except UnsafeFileError:
        return None
    return None if st is None else st.st_mtime_ns


def layout_root(path: str) -> str:
    """The runs root of a file of a run (``<root>/<p>/<t>/runs/<r>/<name>``) or of a task
    (``<root>/<p>/<t>/<name>``), by the path's shape: for readers (the console's panes) handed
    a path without its root."""
    full = os.path.abspath(path)
    if os.path.basename(above(full, 2)) == "runs":
        return above(full, 5)
    return above(full, 3)


def open_view(path: str) -> int | None:
    """:func:`open_file` of a run's or task's file for reading, its root found by
    :func:`layout_root`: None when absent; a link, FIFO, device or directory raises
    :class:`UnsafeFileError` (one line naming the file) without blocking."""
    return open_file(layout_root(path), path)
