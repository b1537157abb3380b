"""The index directory: immutable generations, an atomic pointer to the current one, a build lock.

Layout of `DIR`:
    CURRENT                 name of the live generation (replaced atomically)
    gen-<n>/manifest.json   schema version, model, sources, per-file sizes and sha256
    gen-<n>/records.jsonl   one reference per line, in vector order, with its content hash
    gen-<n>/vectors.faiss   the dense vectors (inner product on L2-normalised rows)
    gen-<n>/lexical.*       the BM25 index and its vocabulary (see lexical.py)
    encoder-<fingerprint>/  the ONNX query encoder, shared by generations
    .lock                   held by a build

A build writes a whole new generation in a temporary directory, fsyncs it, renames it into place
and only then swaps CURRENT, so a reader sees either the old index or the new one, never a mix,
whenever a build dies. Generations older than the previous one are removed by the next build.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import IndexProblem, RefsearchError

SCHEMA_VERSION = 1
INDEX_FORMAT = "refsearch/index"
REBUILD = "run `refsearch build --force`"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory."""
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


@contextlib.contextmanager
def build_lock(directory: Path, wait: bool = True) -> Iterator[None]:
    """One build at a time per index; a second one waits (saying so) or fails clearly."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if not wait:
                raise RefsearchError(
                    f"{directory}: another build is running on this index; try again when it ends."
                ) from None
            print(f"refsearch: waiting for another build of {directory} to finish…", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_generation(directory: Path) -> Path | None:
    pointer = directory / "CURRENT"
    try:
        name = pointer.read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    if not name.startswith("gen-") or "/" in name or not (directory / name).is_dir():
        raise IndexProblem(f"{pointer}: points to a missing generation {name!r}; {REBUILD}.")
    return directory / name


@dataclass
class Generation:
    """A finished generation on disk: its manifest has been checked, its files not yet read."""

    directory: Path
    manifest: dict

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def encoder_dir(self) -> Path | None:
        name = self.manifest["model"].get("encoder_dir")
        return self.directory.parent / name if name else None


def open_generation(directory: Path, verify: bool = True) -> Generation | None:
    """The current generation, or None when the directory holds no index yet."""
    generation = current_generation(directory)
    if generation is None:
        return None
    manifest_path = generation / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexProblem(f"{manifest_path}: unreadable manifest ({error}); {REBUILD}.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != INDEX_FORMAT:
        raise IndexProblem(f"{manifest_path}: not a refsearch index manifest; {REBUILD}.")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexProblem(
            f"{directory}: index schema version {manifest.get('schema_version')} but this refsearch "
            f"reads version {SCHEMA_VERSION}; {REBUILD}."
        )
    if not _complete(manifest):
        raise IndexProblem(f"{manifest_path}: incomplete or damaged manifest; {REBUILD}.")
    if verify:
        for name, expected in manifest["files"].items():
            _verify_file(generation / name, expected)
    return Generation(generation, manifest)


def _complete(manifest: dict) -> bool:
    """The fields every reader relies on, with the right types (a damaged manifest can be valid JSON)."""
    files, model, sources = manifest.get("files"), manifest.get("model"), manifest.get("sources")
    return (isinstance(files, dict) and all(isinstance(v, dict) and isinstance(v.get("size"), int)
                                            and isinstance(v.get("sha256"), str) for v in files.values())
            and isinstance(model, dict) and all(isinstance(model.get(k), str) for k in ("id", "fingerprint", "encoder"))
            and isinstance(model.get("dimension"), int)
            and isinstance(sources, dict) and isinstance(sources.get("files"), list) and isinstance(sources.get("roots"), list)
            and isinstance(manifest.get("count"), int) and isinstance(manifest.get("lexical"), dict)
            and all(_plain_name(name) for name in (*files, model.get("encoder_dir") or "encoder")))


def _plain_name(name: str) -> bool:
    """A file name inside the index directory: a damaged manifest must not point elsewhere."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _verify_file(path: Path, expected: dict) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        raise IndexProblem(f"{path}: index file is missing; {REBUILD}.") from None
    if size != expected["size"]:
        raise IndexProblem(f"{path}: index file is truncated or damaged ({size} bytes, expected {expected['size']}); {REBUILD}.")
    if sha256_file(path) != expected["sha256"]:
        raise IndexProblem(f"{path}: index file is corrupted (checksum mismatch); {REBUILD}.")


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


def _next_number(directory: Path) -> int:
    numbers = [int(p.name[4:]) for p in directory.glob("gen-*") if p.name[4:].isdigit()]
    return max(numbers, default=0) + 1


def collect_garbage(directory: Path) -> None:
    """Keep the current and the previous generation (a reader may still hold it); drop the rest.

    Called under the build lock, so leftover temp directories are from dead builds.
    """
    current = current_generation(directory)
    generations = sorted((p for p in directory.glob("gen-*") if p.name[4:].isdigit()),
                         key=lambda p: int(p.name[4:]))
    keep = {current.name} if current else set()
    older = [g for g in generations if current and int(g.name[4:]) < int(current.name[4:])]
    if older:
        keep.add(older[-1].name)
    for generation in generations:
        if generation.name not in keep:
            shutil.rmtree(generation, ignore_errors=True)
    for leftover in directory.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    used = set()
    for name in keep:
        with contextlib.suppress(OSError, ValueError, KeyError):
            manifest = json.loads((directory / name / "manifest.json").read_text("utf-8"))
            used.add(manifest["model"].get("encoder_dir"))
    for encoder in directory.glob("encoder-*"):
        if encoder.name not in used:
            shutil.rmtree(encoder, ignore_errors=True)


def install_encoder(directory: Path, exported: Path, fingerprint: str) -> str:
    """Copy the exported ONNX encoder into the index (once), so the index answers on its own."""
    name = f"encoder-{fingerprint}"
    target = directory / name
    if target.is_dir():
        return name
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=".tmp-encoder-"))
    try:
        for item in exported.iterdir():
            shutil.copyfile(item, tmp / item.name)
            fsync_path(tmp / item.name)
        fsync_path(tmp)
        os.rename(tmp, target)
        fsync_path(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name
