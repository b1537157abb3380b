"""File helpers for what refsearch reads and keeps on disk: the files of an index directory, which
may come from anyone, hashing, the lock that lets one build (or export) at a time, removal.

Every file of an index is opened through `open_index_file`, which refuses a symbolic link (to
anywhere), a FIFO or a device in its place: a crafted index can make refsearch neither read
elsewhere nor wait. Index files are memory-mapped by a query and read into memory by a server
(`read_instead_of_mapping`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from .errors import IndexBusy, IndexProblem, IndexReadOnly

REBUILD = "run `refsearch build --force`"
_MAPPING = True  # see read_instead_of_mapping


def read_instead_of_mapping() -> None:
    """Read index files into memory from now on instead of mapping them (the servers call it once).

    A query maps its arrays so that it reads only the pages it needs. A long-running server cannot:
    a mapped file truncated in place (`cp` or `rsync --inplace` over the served index) kills the
    process with SIGBUS at its next read of a page that is gone, and no check before the read closes
    that window while searches run. Read into memory, a file cut short while it is read is an
    IndexProblem, and one cut later changes nothing the server holds (the size check per request,
    `check_sizes`, then answers 503 until the index is rebuilt)."""
    global _MAPPING
    _MAPPING = False


def mapping() -> bool:
    """Whether index files are mapped (a query) or read into memory (a server)."""
    return _MAPPING


def mapped_bytes(handle: BinaryIO, path: Path) -> Any:
    """The whole of an open index file: a read-only map, or its bytes when files are read."""
    import mmap

    if _MAPPING:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return read_exactly(handle, path, os.fstat(handle.fileno()).st_size)


def read_exactly(handle: BinaryIO, path: Path, size: int) -> bytes:
    """`size` bytes from where `handle` is; IndexProblem when the file ends sooner (cut short while read)."""
    try:
        data = handle.read(size)
    except OSError as error:
        raise IndexProblem(f"{path}: unreadable ({error.strerror or error}); {REBUILD}.") from None
    if len(data) != size:
        raise IndexProblem(f"{path}: index file is truncated or damaged (it ended while it was read); {REBUILD}.")
    return data


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return _sha256(handle)


def sha256_each(paths: list[Path], digest_of: Callable[[Path], str] = sha256_file) -> list[str]:
    """Each file's `digest_of`, several files at once, largest first: hashlib lets go of the GIL,
    so the 700 MB a 184,000-paper update writes hash in about half the time on two cores."""
    if len(paths) < 2:
        return [digest_of(path) for path in paths]
    from concurrent.futures import ThreadPoolExecutor

    sizes = [path.stat().st_size for path in paths]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        started = {number: pool.submit(digest_of, paths[number])
                   for number in sorted(range(len(paths)), key=sizes.__getitem__, reverse=True)}
        return [started[number].result() for number in range(len(paths))]


def _sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def plain_name(name: object) -> bool:
    """A file name inside the index directory: a damaged or crafted manifest must not point elsewhere,
    nor put a line break or a terminal control in a message (every name refsearch writes is printable)."""
    return (isinstance(name, str) and name.isprintable() and bool(name) and "/" not in name and "\\" not in name
            and name not in (".", ".."))


@contextlib.contextmanager
def build_lock(directory: Path, wait: float | None = None, say: Callable[[str], None] | None = None,
               activity: str = "build") -> Iterator[None]:
    """One build at a time per index (or one `activity` at a time per folder: ONNX exports share it).
    `wait` None waits as long as it takes (saying so); a number bounds the wait in seconds (a query
    that wants to update a stale index) and then raises IndexBusy. A folder that cannot be written
    here (read-only medium) raises IndexReadOnly."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise IndexProblem(f"{directory / '.lock'}: is a symbolic link; remove it.") from None
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise IndexReadOnly(f"{directory}: cannot write here ({error.strerror}).") from None
        raise
    try:
        _acquire(fd, directory, wait, say or (lambda message: print(f"refsearch: {message}", file=sys.stderr)), activity)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, directory: Path, wait: float | None, say: Callable[[str], None], activity: str) -> None:
    deadline = None if wait is None else time.monotonic() + wait
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if deadline is not None and time.monotonic() >= deadline:
            raise IndexBusy(f"{directory}: another build is running on this index.")
        if deadline is None and not announced:
            say(f"waiting for another {activity} of {directory} to finish…")
            announced = True
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        time.sleep(0.05)


def open_index_file(path: Path) -> BinaryIO:
    """A file of the index, for reading: a regular file at that very path, or IndexProblem.

    The one way index files are opened. O_NOFOLLOW refuses a link in the file's place, O_NONBLOCK
    keeps a FIFO from blocking the open, and the check on the open descriptor (not on the path, which
    could change in between) refuses FIFOs, devices and folders.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise IndexProblem(f"{path}: index file is missing; {REBUILD}.") from None
    except OSError as error:
        why = "a symbolic link, not an index file" if error.errno == errno.ELOOP else f"unreadable ({error.strerror})"
        raise IndexProblem(f"{path}: {why}; {REBUILD}.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IndexProblem(f"{path}: not a regular file (a link, a folder or a device); {REBUILD}.")
    return os.fdopen(fd, "rb")


def read_index_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of an index file (at most `limit` + 1 of them); IndexProblem when it cannot be read."""
    with open_index_file(path) as handle:
        try:
            return handle.read(-1 if limit is None else limit + 1)
        except OSError as error:
            raise IndexProblem(f"{path}: unreadable ({error.strerror or error}); {REBUILD}.") from None


def read_index_json(path: Path) -> Any:
    """A JSON file of the index, parsed; IndexProblem naming it when it is not JSON."""
    try:
        return json.loads(read_index_file(path))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise IndexProblem(f"{path}: damaged ({error}); {REBUILD}.") from None


def sha256_index_file(path: Path) -> str:
    with open_index_file(path) as handle:
        try:
            return _sha256(handle)
        except OSError as error:
            raise IndexProblem(f"{path}: unreadable ({error.strerror or error}); {REBUILD}.") from None


def remove(path: Path) -> None:
    """A file, a link (not what it points to) or a whole folder; quietly, whatever is left of it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
