"""The index directory: immutable generations, an atomic pointer to the current one, a build lock.

Layout of `DIR`:
    CURRENT                 name of the live generation (replaced atomically)
    gen-<n>/manifest.json   schema version, counts, model, vector store, sources, per-file sizes and sha256
    gen-<n>/records.*       the references (catalog.py)
    gen-<n>/vectors.*       the dense vectors (vectors.py)
    gen-<n>/lexical.*       the BM25 index and its vocabulary (lexical.py)
    encoder-<fingerprint>/  the ONNX query encoder, shared by generations (and, hard-linked, by
                            indexes of the same model: encoders/sharing.py)
    .lock                   held by a build

A build writes a whole new generation in a temporary directory, fsyncs it, renames it into place
and only then swaps CURRENT, so a reader sees either the old index or the new one, never a mix,
whenever a build dies. Generations older than the previous one are removed by the next build.

An index directory may come from someone else, so everything read from it is checked: names in
the manifest must be plain file names, sizes must match, and every file of the index is opened
through `open_index_file`, which refuses a symbolic link (to anywhere), a FIFO or a device in its
place: a crafted index can make refsearch neither read elsewhere nor wait.
Opening an index for a query checks sizes only (a stat per file: it catches truncation, the damage
copies and full disks cause); the sha256 of every file is checked by `status` and by a build before
it reuses vectors, because hashing on every query would make query cost grow with the index.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from .errors import IndexBusy, IndexProblem, IndexReadOnly, RefsearchError

SCHEMA_VERSION = 2
INDEX_FORMAT = "refsearch/index"
REBUILD = "run `refsearch build --force`"
MAX_MANIFEST_BYTES = 64 << 20
GENERATION_NAME = re.compile(r"gen-[0-9]{1,9}")  # what a generation folder is called
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


def _sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError raised inside names `path` when it names no file: a failed write() or fsync()
    says only "No space left on device" or "Input/output error", not where."""
    try:
        yield
    except OSError as error:
        if error.filename is None:
            error.filename = str(path)
        raise


def fsync_path(path: Path) -> None:
    with naming(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """A new file of a generation being written (fsynced when the generation is published)."""
    with naming(path):
        path.write_bytes(data)


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory. Errors name `path`."""
    with naming(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    fsync_path(path.parent)


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


def current_generation(directory: Path) -> Path | None:
    pointer = directory / "CURRENT"
    if not os.path.lexists(pointer):  # CURRENT is only ever replaced, never removed: no race here
        return None
    name = read_index_file(pointer, 64)[:64].decode("utf-8", "replace").strip()
    generation = directory / name
    if not GENERATION_NAME.fullmatch(name) or generation.is_symlink() or not generation.is_dir():
        raise IndexProblem(f"{pointer}: points to a missing generation {name!r}; {REBUILD}.")
    return generation


@dataclass
class Generation:
    """A finished generation on disk: its manifest has been checked, its files' sizes too."""

    directory: Path
    manifest: dict

    @property
    def index_dir(self) -> Path:
        return self.directory.parent

    @functools.cached_property
    def sizes(self) -> list[tuple[str, int]]:
        """(path, size) of every file the manifest lists, for `check_sizes`."""
        return [(os.path.join(self.directory, name), entry["size"]) for name, entry in self.manifest["files"].items()]

    def path(self, name: str) -> Path:
        if not plain_name(name):
            raise IndexProblem(f"{self.directory}: the manifest names {name!r}, not a file in the index; {REBUILD}.")
        return self.directory / name


def open_generation(directory: Path, checksums: bool = False) -> Generation | None:
    """The current generation, or None when the directory holds no index yet.

    Sizes of all listed files are always checked; `checksums` also compares their sha256.
    """
    generation = current_generation(directory)
    if generation is None:
        return None
    manifest = read_manifest(generation / "manifest.json")
    for name, expected in manifest["files"].items():
        _verify_file(generation / name, expected, checksums)
    return Generation(generation, manifest)


def check_sizes(generation: Generation) -> None:
    """Each file of an opened generation is still a regular file of the size its manifest gives: a
    server calls it before every answer, so a file truncated or removed under it is an
    IndexProblem (503), not a read past its end. A stat per file, on paths joined once (17 files:
    ~25 µs; through pathlib, 170 µs)."""
    for path, size in generation.sizes:
        try:
            info = os.lstat(path)
        except OSError:
            info = None
        if info is None or info.st_size != size or not stat.S_ISREG(info.st_mode):
            _verify_file(Path(path), {"size": size}, checksum=False)  # raises, naming what is wrong


def read_manifest(path: Path) -> dict:
    data = read_index_file(path, MAX_MANIFEST_BYTES)
    try:
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError(f"over {MAX_MANIFEST_BYTES >> 20} MB")
        manifest = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise IndexProblem(f"{path}: unreadable manifest ({error}); {REBUILD}.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != INDEX_FORMAT:
        raise IndexProblem(f"{path}: not a refsearch index manifest; {REBUILD}.")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexProblem(
            f"{path.parent.parent}: index schema version {manifest.get('schema_version')!r:.20} but this "
            f"refsearch reads version {SCHEMA_VERSION}; {REBUILD}."
        )
    if not _complete(manifest):
        raise IndexProblem(f"{path}: incomplete or damaged manifest; {REBUILD}.")
    return manifest


def _complete(manifest: dict) -> bool:
    """The fields every reader relies on, with the right types (a damaged manifest can be valid JSON)."""
    files, model, sources = manifest.get("files"), manifest.get("model"), manifest.get("sources")
    vectors = manifest.get("vectors")
    return (isinstance(files, dict) and all(plain_name(name) and isinstance(v, dict) and _count(v.get("size"))
                                            and isinstance(v.get("sha256"), str) for name, v in files.items())
            and isinstance(model, dict) and all(isinstance(model.get(k), str) for k in ("id", "fingerprint", "encoder", "vectors_fingerprint"))
            and _count(model.get("dimension")) and 0 < model["dimension"] <= 65536
            and isinstance(vectors, dict) and isinstance(vectors.get("store"), str)
            and isinstance(vectors.get("files"), list) and all(plain_name(name) and name in files for name in vectors["files"])
            and isinstance(sources, dict) and isinstance(sources.get("roots"), list)
            and all(isinstance(root, str) for root in sources["roots"])
            and isinstance(sources.get("files"), list) and all(_source_entry(f, len(sources["roots"])) for f in sources["files"])
            and _count(manifest.get("count")) and isinstance(manifest.get("lexical"), dict))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _source_entry(entry: object, roots: int) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("root"), int) and 0 <= entry["root"] < roots
            and isinstance(entry.get("path"), str) and _count(entry.get("size"))
            and _count(entry.get("mtime_ns")) and isinstance(entry.get("sha256"), str))


def _verify_file(path: Path, expected: dict, checksum: bool) -> None:
    try:
        info = path.lstat()
    except OSError:
        raise IndexProblem(f"{path}: index file is missing; {REBUILD}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise IndexProblem(f"{path}: not a regular file (a link or a folder); {REBUILD}.")
    if info.st_size != expected["size"]:
        raise IndexProblem(f"{path}: index file is truncated or damaged ({info.st_size} bytes, expected {expected['size']}); {REBUILD}.")
    if checksum and _sha256_index_file(path) != expected["sha256"]:
        raise IndexProblem(f"{path}: index file is corrupted (checksum mismatch); {REBUILD}.")


def _sha256_index_file(path: Path) -> str:
    with open_index_file(path) as handle:
        try:
            return _sha256(handle)
        except OSError as error:
            raise IndexProblem(f"{path}: unreadable ({error.strerror or error}); {REBUILD}.") from None


def verify_checksums(generation: Generation) -> None:
    for name, expected in generation.manifest["files"].items():
        _verify_file(generation.path(name), expected, checksum=True)


class GenerationWriter:
    """Collects the files of a new generation in a temp directory and publishes them atomically."""

    def __init__(self, directory: Path):
        self.index_dir = directory
        self.tmp = Path(tempfile.mkdtemp(dir=directory, prefix=".tmp-gen-"))
        self.files: list[str] = []

    def path(self, name: str) -> Path:
        self.files.append(name)
        return self.tmp / name

    def publish(self, manifest: dict) -> Path:
        files = {}
        for name in self.files:
            fsync_path(self.tmp / name)
            files[name] = {"size": (self.tmp / name).stat().st_size, "sha256": sha256_file(self.tmp / name)}
        manifest = {"format": INDEX_FORMAT, "schema_version": SCHEMA_VERSION, **manifest, "files": files}
        write_atomic(self.tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        fsync_path(self.tmp)
        final = self.index_dir / f"gen-{_next_number(self.index_dir)}"
        os.rename(self.tmp, final)
        fsync_path(self.index_dir)
        write_atomic(self.index_dir / "CURRENT", final.name.encode())
        return final

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _generation_names(directory: Path) -> list[Path]:
    """Entries named gen-<n>, oldest first: generations, and whatever else took such a name."""
    return sorted((p for p in directory.glob("gen-*") if GENERATION_NAME.fullmatch(p.name)), key=lambda p: int(p.name[4:]))


def generations(directory: Path) -> list[Path]:
    """The generation directories, oldest first (a link named gen-<n> is not one: it is never followed)."""
    return [p for p in _generation_names(directory) if p.is_dir() and not p.is_symlink()]


def _next_number(directory: Path) -> int:
    return max((int(p.name[4:]) for p in _generation_names(directory)), default=0) + 1


def collect_garbage(directory: Path) -> None:
    """Keep the current and the previous generation (a reader may still hold it); drop the rest.

    Called under the build lock, so leftover temp directories are from dead builds.
    """
    current = current_generation(directory)
    keep = {current.name} if current else set()
    older = [g for g in generations(directory) if current and int(g.name[4:]) < int(current.name[4:])]
    if older:
        keep.add(older[-1].name)
    for entry in _generation_names(directory):
        if entry.name not in keep:
            remove(entry)
    for leftover in directory.glob(".tmp-*"):
        remove(leftover)
    used = set()
    for name in keep:
        with contextlib.suppress(RefsearchError, KeyError):
            used.add(read_manifest(directory / name / "manifest.json")["model"].get("encoder_dir"))
    for encoder in directory.glob("encoder-*"):
        if encoder.name not in used:
            remove(encoder)


def remove(path: Path) -> None:
    """A file, a link (not what it points to) or a whole folder; quietly, whatever is left of it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

