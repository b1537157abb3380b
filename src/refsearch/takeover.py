"""What a build takes over from the current generation, so that an update costs what changed.

Two things are kept from one build to the next:

- *its reading of the sources* (`records.reading.jsonl` in each generation: a line naming the
  reader, then a line per source file, which the next build copies when it reads the file alike): the
  size and time it had, the page key it was read under, and per entry its id, what duplicate
  planning needs (dedupe.plan_facts) and where its record went: a row of the generation, or, for
  an entry merged with another (either side), a line of `records.raw.jsonl` (the entry as read,
  before the merge). A file whose size and time are unchanged is not read again (`Reading`,
  sources.Recall): its entries are planned from these facts, so merging stays global across all
  files while only the changed ones are parsed. A Markdown page keeps its sections' digests too
  (markdown.read_markdown), so a changed page is parsed again only in the sections that changed.
- *its rows*: a record whose stored line is byte for byte the one the build would write keeps
  its vector, facets, names, BM25 postings (lexical.BM25Builder.add_kept) and point on the map
  (topicmap.write places only the new ones) without being read, embedded or tokenized again.

Rows are taken over only when the generation was written with this refsearch's records and
lexical formats and its vectors come from the same encoder; the reading only when refsearch's own
code is the same (`reader_digest`: a changed parser must read everything again). `--force` takes
nothing over. Everything read here comes from an index directory, which is untrusted: the reading
is checked entry by entry and ignored whole when anything is off (the build then reads every file),
and every reference taken from it is checked as a query checks the records.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np

from . import store, vectors
from .atomic import naming, write_file
from .files import REBUILD, read_index_file
from .catalog import RECORDS, Catalog, KeptRows, StoredLines, _json_line, _reference, record_key, split_hash
from .errors import IndexProblem
from .lexical import BM25Index
from .records import Reference
from .sources.dedupe import plan_facts_valid

READING, RAW = "records.reading.jsonl", "records.raw.jsonl"
_PACKAGE = Path(__file__).resolve().parent


def reader_digest() -> str:
    """Which refsearch read the sources: the size and time of every module of the package (a stat
    each, ~0.1 ms), so a reading is reused only by the code that made it."""
    digest = hashlib.sha256()
    for folder in (_PACKAGE, _PACKAGE / "sources"):
        for path in sorted(folder.glob("*.py")):
            info = path.stat()
            digest.update(f"{path.name}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:32]


class Previous:
    """The current generation, opened for a build to take over from (its checksums verified)."""

    def __init__(self, generation: store.Generation):
        self.generation = generation
        self.manifest = generation.manifest
        self.catalog = Catalog(generation)

    # --- rows --------------------------------------------------------------------------------------

    @cached_property
    def stored(self) -> StoredLines:
        """Every stored line, in row order."""
        return self.catalog.stored_lines()

    def let_go_of_rows(self) -> None:
        """Drop the stored lines and the catalog as taken over (hundreds of MB at 184,000 papers)
        once every row is written: BM25's postings, merged next, are a build's peak of memory."""
        for name in ("stored", "kept_rows"):
            self.__dict__.pop(name, None)

    @cached_property
    def hashes(self) -> list[str]:
        """Each row's content hash."""
        hashes = self.stored.hashes()
        for row in [row for row, digest in enumerate(hashes) if digest is None]:  # written before hashes came first
            hashes[row] = str(_json_line(self.stored[row], self.catalog, row).get("content_hash", ""))
        return hashes

    @cached_property
    def first_row_of_hash(self) -> dict[str, int]:
        """content hash -> the first row holding it."""
        hashes = self.hashes
        return dict(zip(reversed(hashes), range(len(hashes) - 1, -1, -1)))

    @cached_property
    def _later_rows_of_hash(self) -> dict[str, list[int]]:
        """content hash -> the rows after the first holding it (few: a dict of a list per row took 0.4 s)."""
        first, later = self.first_row_of_hash, {}
        if len(first) < len(self.hashes):
            for row in [row for row, digest in enumerate(self.hashes) if first[digest] != row]:
                later.setdefault(self.hashes[row], []).append(row)
        return later

    @cached_property
    def hash_of_id(self) -> dict[str, str]:
        return dict(zip(self.catalog.ids, self.hashes))

    def reference(self, row: int) -> Reference:
        """A row's reference as stored (not as a query shows it: no derived topic), checked."""
        stored = self.stored[row]
        return _reference(_json_line(stored, self.catalog, row), self.catalog, row)

    def row_of_line(self, line: bytes, content_hash: str) -> int | None:
        """The first row whose stored record is `line` (catalog.record_line, whose content hash is
        `content_hash`) but for its place in the sources, if rows may be taken over. Only the rows
        with that content hash are compared: an index of the whole catalog's lines cost 1 s at
        184,000 rows."""
        if not self.rows_reusable:
            return None
        key = record_key(line)
        first = self.first_row_of_hash.get(content_hash)
        for row in () if first is None else (first, *self._later_rows_of_hash.get(content_hash, ())):
            split = split_hash(self.stored[row])
            if split and record_key(split[0]) == key:
                return row
        return None

    @cached_property
    def vectors_store(self) -> vectors.VectorStore:
        manifest = self.manifest
        return vectors.open_store(self.generation.directory, manifest["vectors"], manifest["count"],
                                  manifest["model"]["dimension"])

    @cached_property
    def kept_rows(self) -> KeptRows:
        """The catalog as rows are taken over from it (CatalogWriter.add_kept)."""
        return self.catalog.kept_rows()

    @cached_property
    def lexical(self) -> tuple[BM25Index, np.ndarray]:
        """The BM25 index and its documents' lengths."""
        index = BM25Index.load(self.generation.directory)
        if index.n_docs != self.catalog.count:
            raise IndexProblem(f"{self.generation.directory}: lexical index and records disagree; {REBUILD}.")
        return index, BM25Index.load_lengths(self.generation.directory, index.n_docs)

    @cached_property
    def map_points(self) -> np.ndarray | None:
        """The previous map's points, or None (built before maps, or damaged)."""
        from . import topicmap

        try:
            return np.asarray(topicmap.load(self.generation))
        except IndexProblem:
            return None

    rows_reusable = vectors_reusable = False  # set by `allow_rows`

    def allow_rows(self, vectors_fingerprint: str, settings: dict) -> None:
        """Vectors (and an IVF store's training) may be taken over when they are this encoder's;
        rows too when the generation was written in this refsearch's formats (`settings`: the
        manifest's `lexical` and `records`)."""
        manifest = self.manifest
        self.vectors_reusable = manifest["model"]["vectors_fingerprint"] == vectors_fingerprint
        self.rows_reusable = (self.vectors_reusable and "lexical.lengths.npy" in manifest["files"]
                              and all(manifest.get(key) == value for key, value in settings.items()))

    # --- the reading -------------------------------------------------------------------------------

    @cached_property
    def reading(self) -> "Reading | None":
        if READING not in self.manifest["files"] or RAW not in self.manifest["files"]:
            return None
        try:
            return Reading(self)
        except (IndexProblem, ValueError, TypeError, KeyError, RecursionError):
            return None  # an unreadable reading is no reason to fail the build: read every file


class Reading:
    """The previous build's reading of the sources (sources.Recall)."""

    def __init__(self, previous: Previous):
        generation = previous.generation
        header, *lines = read_index_file(generation.path(READING)).split(b"\n")[:-1]
        raw = read_index_file(generation.path(RAW)).split(b"\n")[:-1]
        count = previous.catalog.count
        if json.loads(header) != {"reader": reader_digest()}:
            raise ValueError("another reader")
        self._files: dict[str, dict] = {}
        self._lines: dict[str, bytes] = {}  # path -> the line holding its reading (line_if_alike)
        for line in lines:
            file = json.loads(line)
            if not (isinstance(file, dict) and all(isinstance(file.get(k), str) for k in ("path", "key"))
                    and all(type(file.get(k)) is int for k in ("size", "mtime_ns"))
                    and isinstance(file.get("warnings"), list) and all(isinstance(w, str) for w in file["warnings"])
                    and (file.get("skipped") is None or isinstance(file["skipped"], str))
                    and isinstance(file.get("entries"), list)):
                raise ValueError("not a file's reading")
            for entry in file["entries"]:
                if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                        and plan_facts_valid(entry[1]) and type(entry[2]) is int and -len(raw) <= entry[2] < count):
                    raise ValueError("not an entry's reading")
            self._files[file["path"]] = file
            self._lines[file["path"]] = line
        self._previous = previous
        self._raw = raw

    def recall(self, path: Path, key: str):
        try:
            info = os.stat(path)
        except OSError:
            return None
        file = self._files.get(os.path.abspath(path))
        if file is None or (info.st_size, info.st_mtime_ns) != (file["size"], file["mtime_ns"]):
            return None
        return self.before(path, key)

    def before(self, path: Path, key: str):
        from .sources import Recalled

        file = self._files.get(os.path.abspath(path))
        if file is None or file["key"] != key:
            return None
        return Recalled(file["entries"], list(file["warnings"]), file["skipped"], file.get("markdown"))

    def line_if_alike(self, file: dict) -> bytes | None:
        """The line that holds `file` (a file's reading as `write_reading` takes it) if this reading
        holds it alike: an unchanged file's reading is copied, not written out again (0.7 s for
        184,000 entries)."""
        return self._lines[file["path"]] if self._files.get(file["path"]) == file else None

    def raw_line(self, where: int) -> bytes:
        if where < 0:
            return self._raw[-where - 1]
        split = split_hash(self._previous.stored[where])
        if split is None:
            raise IndexProblem(f"{self._previous.generation.path(RECORDS)}: damaged (row {where} is not a stored "
                               f"record); {REBUILD}.")
        return split[0]

    def reference(self, where: int) -> Reference:
        if where >= 0:
            return self._previous.reference(where)
        catalog = self._previous.catalog
        return _reference(_json_line(self.raw_line(where), catalog, where), catalog, where)


def write_reading(path: Path, raw_path: Path, files: Iterable[dict], raw_lines: Iterable[bytes],
                  previous: Reading | None) -> None:
    """Write a generation's reading (`files`: dicts as `Reading` reads them; a file's line of the
    `previous` reading when it holds the file alike) and its raw lines."""
    with naming(raw_path), open(raw_path, "wb") as handle:
        for line in raw_lines:
            handle.write(line + b"\n")
    lines = [json.dumps({"reader": reader_digest()}).encode()]
    for file in files:
        line = previous.line_if_alike(file) if previous else None
        lines.append(line if line is not None else json.dumps(file, ensure_ascii=False).encode())
    lines.append(b"")
    write_file(path, b"\n".join(lines))

