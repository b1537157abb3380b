"""The index directory: immutable generations, an atomic pointer to the current one.

Layout of `DIR`:
    CURRENT                 name of the live generation (replaced atomically)
    gen-<n>/manifest.json   schema version, counts, model, vector store, sources, per-file sizes and sha256
    gen-<n>/records.*       the references (catalog.py)
    gen-<n>/vectors.*       the dense vectors (vectors.py)
    gen-<n>/lexical.*       the BM25 index and its vocabulary (lexical.py)
    encoder-<fingerprint>/  the ONNX query encoder, shared by generations (and, hard-linked, by
                            indexes of the same model: encoders/sharing.py)
    .lock                   held by a build (files.build_lock)

A build writes a whole new generation in a staging folder and publishes it (atomic.py) before it
swaps CURRENT, so a reader sees either the old index or the new one, never a mix, whenever a build
dies. Generations older than the previous one are removed by the next build.

An index directory may come from someone else, so everything read from it is checked: names in
the manifest must be plain file names, sizes must match, and every file is opened through
`files.open_index_file`. Opening an index for a query checks sizes only (a stat per file: it
catches truncation, the damage copies and full disks cause); the sha256 of every file is checked
by `status` and by a build before it reuses vectors, because hashing on every query would make
query cost grow with the index.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .atomic import publish_file, publish_folder, staging, write_file
from .errors import IndexProblem, RefsearchError
from .files import REBUILD, plain_name, read_index_file, remove, sha256_each, sha256_index_file

SCHEMA_VERSION = 2
INDEX_FORMAT = "refsearch/index"
MAX_MANIFEST_BYTES = 64 << 20
GENERATION_NAME = re.compile(r"gen-[0-9]{1,9}")  # what a generation folder is called


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
    _verify({generation / name: expected for name, expected in manifest["files"].items()}, checksums)
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
            _verify_file(Path(path), {"size": size})  # raises, naming what is wrong


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


def _verify(files: dict[Path, dict], checksums: bool) -> None:
    """Each file is as its manifest entry says: its size, and with `checksums` its sha256 (the
    files hashed together: `files.sha256_each`)."""
    for path, expected in files.items():
        _verify_file(path, expected)
    if checksums:
        paths = list(files)
        for path, digest in zip(paths, sha256_each(paths, sha256_index_file)):
            if digest != files[path]["sha256"]:
                raise IndexProblem(f"{path}: index file is corrupted (checksum mismatch); {REBUILD}.")


def _verify_file(path: Path, expected: dict) -> None:
    """The file is there, a regular file of the expected size."""
    try:
        info = path.lstat()
    except OSError:
        raise IndexProblem(f"{path}: index file is missing; {REBUILD}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise IndexProblem(f"{path}: not a regular file (a link or a folder); {REBUILD}.")
    if info.st_size != expected["size"]:
        raise IndexProblem(f"{path}: index file is truncated or damaged ({info.st_size} bytes, expected {expected['size']}); {REBUILD}.")


def verify_checksums(generation: Generation) -> None:
    _verify({generation.path(name): expected for name, expected in generation.manifest["files"].items()}, True)


class GenerationWriter:
    """Collects the files of a new generation in a staging folder and publishes them atomically."""

    def __init__(self, directory: Path):
        self.index_dir = directory
        self._staging = contextlib.ExitStack()
        self.tmp = self._staging.enter_context(staging(directory, ".tmp-gen-"))
        self.files: list[str] = []

    def path(self, name: str) -> Path:
        self.files.append(name)
        return self.tmp / name

    def publish(self, manifest: dict) -> Path:
        digests = sha256_each([self.tmp / name for name in self.files])
        files = {name: {"size": (self.tmp / name).stat().st_size, "sha256": digest}
                 for name, digest in zip(self.files, digests)}
        manifest = {"format": INDEX_FORMAT, "schema_version": SCHEMA_VERSION, **manifest, "files": files}
        write_file(self.tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        final = self.index_dir / f"gen-{_next_number(self.index_dir)}"
        publish_folder(self.tmp, final)
        publish_file(self.index_dir / "CURRENT", final.name.encode())
        self._staging.close()
        return final

    def discard(self) -> None:
        self._staging.close()


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


