"""What a build takes over from the current generation, so that an update costs what changed.

Two things are kept from one build to the next:

- *its reading of the sources* (`records.reading.jsonl` in each generation: a line naming the
  reader, then per source file a line summing it up and a line of its entries, which the next
  build copies when it reads the file alike): the size and time it had, the page key it was read
  under, and per entry its id, what duplicate planning needs (dedupe.plan_facts) and where its
  record went: a row of the generation, or, for an entry merged with another (either side), a line
  of `records.raw.jsonl` (the entry as read, before the merge), each counted from the file's first.
  A file whose size and time are unchanged is not read again (`Reading`, sources.Recall): its
  entries are planned from these facts, so merging stays global across all files while only the
  changed ones are parsed. A file that was *alone* (no entry of it shared a work key with
  another file's, and its rows were one block) is taken whole (sources.Whole): its entries are
  not even parsed, unless an entry planned anew shares an id or work key with it, which the
  digests of its keys (`records.reading.keys.npy`, dedupe.key_digests) tell. A Markdown page keeps
  its sections' digests too (markdown.read_markdown), so a changed page is parsed again only in
  the sections that changed.
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
from .catalog import PAGE, RECORDS, TOPIC, Catalog, KeptRows, StoredLines, _json_line, _reference, record_key, split_hash
from .errors import IndexProblem
from .lexical import BM25Index
from .records import Reference
from .sources.dedupe import plan_facts_valid

READING, RAW, KEYS = "records.reading.jsonl", "records.raw.jsonl", "records.reading.keys.npy"
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
    def _hash_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[int]]]:
        """Each row's content hash (bytes), the rows in order of hash (rows of one hash in row
        order), the hashes in that order, and the hashes of rows written before hashes came first:
        bisected, not a dict of 184,000 strings (0.4 s)."""
        hashes = self.stored.hashes()
        odd: dict[str, list[int]] = {}
        for row in np.flatnonzero(hashes == b"").tolist():
            odd.setdefault(self._stored_hash(row), []).append(row)
        order = np.argsort(hashes, kind="stable")
        return hashes, order, hashes[order], odd

    def rows_of_hashes(self, digests: list[str]) -> list[list[int]]:
        """The rows holding each content hash of `digests`, in row order."""
        _, order, ordered, odd = self._hash_index
        wanted = np.array(digests, dtype=ordered.dtype)
        found = np.flatnonzero(wanted.astype(str) == np.array(digests, dtype=str))  # a hash of another width holds none
        starts, ends = np.searchsorted(ordered, wanted, "left"), np.searchsorted(ordered, wanted, "right")
        rows: list[list[int]] = [[] for _ in digests]
        for i in found.tolist():
            rows[i] = order[starts[i]:ends[i]].tolist()
        for i, digest in enumerate(digests):
            if digest in odd:
                rows[i] = sorted(rows[i] + odd[digest])
        return rows

    def first_rows_of_hashes(self, digests: list[str]) -> np.ndarray:
        """The first row holding each content hash of `digests` (-1: none)."""
        return np.array([rows[0] if rows else -1 for rows in self.rows_of_hashes(digests)], dtype=np.int64)

    def hash_of_row(self, row: int) -> str:
        """A row's content hash (one line split, unless every row's was read already)."""
        if "_hash_index" in self.__dict__ and (digest := self._hash_index[0][row]):
            return digest.decode()
        split = split_hash(self.stored[row])
        return split[1] if split else self._stored_hash(row)

    def _stored_hash(self, row: int) -> str:
        """The content hash inside a row's record (one written before hashes came first)."""
        return str(_json_line(self.stored[row], self.catalog, row).get("content_hash", ""))

    def hash_of_id(self, ref_id: str) -> str | None:
        """The content hash of the row holding `ref_id`, or None when no row does."""
        row = self.catalog.row_of.get(ref_id)
        return None if row is None else self.hash_of_row(row)

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
        for row in self.rows_of_hashes([content_hash])[0]:
            split = split_hash(self.stored[row])
            if split and record_key(split[0]) == key:
                return row
        return None

    def derived_topics_of(self, old_rows: np.ndarray) -> np.ndarray:
        """Each row's derived topic here, numbered among its page's (-1: a row not taken over,
        `old_rows` < 0, or one without a derived topic): an update assigns only the others to the
        topics it keeps (derived_topics.derive's `known`)."""
        catalog = self.catalog
        topics = catalog.topics
        known = np.full(len(old_rows), -1, dtype=np.int64)
        derived = np.array([topic.derived for topic in topics], dtype=bool)
        if not derived.any():
            return known
        page_of = np.array([topic.page for topic in topics], dtype=np.int64)
        first = np.full(len(catalog.pages), -1, dtype=np.int64)  # each page's first derived topic
        numbers = np.flatnonzero(derived)
        pages, at = np.unique(page_of[numbers], return_index=True)
        first[pages] = numbers[at]
        taken = np.flatnonzero(old_rows >= 0)
        topic = catalog.facet(TOPIC)[old_rows[taken]].astype(np.int64)
        ours = derived[topic] & (page_of[topic] == catalog.facet(PAGE)[old_rows[taken]])
        known[taken[ours]] = topic[ours] - first[page_of[topic[ours]]]
        return known

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
    def lexical(self) -> BM25Index:
        index = BM25Index.load(self.generation.directory)
        if index.n_docs != self.catalog.count:
            raise IndexProblem(f"{self.generation.directory}: lexical index and records disagree; {REBUILD}.")
        return index

    @cached_property
    def map_points(self) -> np.ndarray | None:
        """The previous map's points, or None (built before maps, or damaged)."""
        from . import topicmap

        try:
            return np.asarray(topicmap.load(self.generation))
        except IndexProblem:
            return None

    rows_reusable = vectors_reusable = lexical_reusable = False  # set by `allow_rows`

    def allow_rows(self, vectors_fingerprint: str, settings: dict) -> None:
        """Vectors (and an IVF store's training) may be taken over when they are this encoder's;
        BM25 files (the full text's) when they are in this refsearch's lexical format and
        tokenization; rows when both, and the records' format too (`settings`: the manifest's
        `lexical` and `records`)."""
        manifest = self.manifest
        self.vectors_reusable = manifest["model"]["vectors_fingerprint"] == vectors_fingerprint
        self.lexical_reusable = manifest.get("lexical") == settings["lexical"]
        self.rows_reusable = (self.vectors_reusable
                              and all(manifest.get(key) == value for key, value in settings.items()))

    # --- the reading -------------------------------------------------------------------------------

    @cached_property
    def reading(self) -> "Reading | None":
        if any(name not in self.manifest["files"] for name in (READING, RAW, KEYS)):
            return None
        try:
            return Reading(self)
        except (IndexProblem, ValueError, TypeError, KeyError, RecursionError):
            return None  # an unreadable reading is no reason to fail the build: read every file


class Reading:
    """The previous build's reading of the sources (sources.Recall). A file's entries are parsed and
    checked only when a build asks for them (a file taken whole never is: 184,000 entries took 1 s)."""

    def __init__(self, previous: Previous):
        generation = previous.generation
        header, *lines = read_index_file(generation.path(READING)).split(b"\n")[:-1]
        raw = read_index_file(generation.path(RAW)).split(b"\n")[:-1]
        keys = vectors.load_npy(generation.path(KEYS), "<u8", (None,))
        count = previous.catalog.count
        if json.loads(header) != {"reader": reader_digest()} or len(lines) % 2:
            raise ValueError("another reader")
        self._files: dict[str, dict] = {}
        self._entries_lines: dict[str, bytes] = {}  # path -> its entries' line, parsed when asked for
        self._parsed: dict[str, list | None] = {}  # path -> its entries as stored (None: damaged)
        blocks = []
        for summary, entries in zip(lines[::2], lines[1::2]):
            file = json.loads(summary)
            if not _file_reading(file, len(raw), count, len(keys)):
                raise ValueError("not a file's reading")
            if file["alone"]:
                blocks.append(file["rows"])
            self._files[file["path"]] = file
            self._entries_lines[file["path"]] = entries
        blocks.sort()
        if any(first + rows > later for (first, rows), (later, _) in zip(blocks, blocks[1:])):
            raise ValueError("files sharing rows")
        self._previous, self._raw, self._keys, self._count = previous, raw, keys, count

    def recall(self, path: Path, key: str):
        return self.before(path, key) if self._unchanged(path) else None

    def before(self, path: Path, key: str):
        from .sources import Recalled

        file = self._files.get(os.path.abspath(path))
        entries = self._entries(file) if file is not None and file["key"] == key else None
        if entries is None:
            return None
        return Recalled(entries, list(file["warnings"]), file["skipped"], file.get("markdown"))

    def whole(self, path: Path, key: str):
        from .sources import Whole
        from .sources.dedupe import Conflict

        file = self._files.get(os.path.abspath(path)) if self._unchanged(path) else None
        if file is None or file["key"] != key or not file["alone"] or file["keys"] is None:
            return None
        (first, rows), (raw_first, raws), (keys_first, keys) = file["rows"], file["raws"], file["keys"]
        return Whole(first, rows, file["entries"], np.asarray(self._keys[keys_first:keys_first + keys]),
                     self._raw[raw_first:raw_first + raws],
                     [Conflict(*conflict[:5], at=(0, conflict[5])) for conflict in file["conflicts"]],
                     list(file["warnings"]), file.get("markdown"))

    def entries_line(self, path: str) -> bytes:
        """The stored line of a file's entries (a file taken whole keeps it as it is)."""
        return self._entries_lines[path]

    def entries_line_if_alike(self, path: str, entries: list) -> bytes | None:
        """The stored line of a file's entries if it holds `entries` (as `write_reading` takes them):
        an unchanged file's entries are copied, not written out again."""
        return self._entries_lines[path] if path in self._parsed and self._parsed[path] == entries else None

    def _unchanged(self, path: Path) -> bool:
        try:
            info = os.stat(path)
        except OSError:
            return False
        file = self._files.get(os.path.abspath(path))
        return file is not None and (info.st_size, info.st_mtime_ns) == (file["size"], file["mtime_ns"])

    def _entries(self, file: dict) -> list[tuple[str, list, int]] | None:
        """A file's entries, `where` made absolute: a row, or -(n + 1) for raw line n; None when
        its line is damaged (the file is then read again)."""
        path = file["path"]
        if path not in self._parsed:
            try:
                entries = json.loads(self._entries_lines[path])
            except (ValueError, RecursionError):
                entries = None
            if not (isinstance(entries, list) and len(entries) == file["entries"] and all(
                    isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                    and plan_facts_valid(entry[1]) and type(entry[2]) is int for entry in entries)):
                entries = None
            self._parsed[path] = entries
        entries = self._parsed[path]
        if entries is None:
            return None
        rows, raws = file["rows"][0], file["raws"][0]
        found = [(ref_id, facts, where + rows if where >= 0 else where - raws) for ref_id, facts, where in entries]
        if not all(-len(self._raw) <= where < self._count for _, _, where in found):
            self._parsed[path] = None
            return None
        return found

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


def _file_reading(file: object, raws: int, rows: int, keys: int) -> bool:
    """Whether `file` is a file's reading as `write_reading` writes it, its rows, raw lines and
    keys within those of its generation."""
    def span(value: object, limit: int) -> bool:
        return (isinstance(value, list) and len(value) == 2 and all(type(v) is int and v >= 0 for v in value)
                and value[0] + value[1] <= limit)

    return (isinstance(file, dict) and all(isinstance(file.get(k), str) for k in ("path", "key"))
            and all(type(file.get(k)) is int for k in ("size", "mtime_ns", "entries"))
            and isinstance(file.get("warnings"), list) and all(isinstance(w, str) for w in file["warnings"])
            and (file.get("skipped") is None or isinstance(file["skipped"], str))
            and type(file.get("alone")) is bool and span(file.get("raws"), raws)
            and span(file.get("rows"), rows if file["alone"] else float("inf"))
            and file["entries"] >= 0 and (not file["alone"] or file["rows"][1] <= file["entries"])
            and (file.get("keys") is None or span(file["keys"], keys))
            and isinstance(file.get("conflicts"), list) and all(
                isinstance(c, list) and len(c) == 6 and all(isinstance(v, str) for v in c[:5]) and type(c[5]) is int
                for c in file["conflicts"]))


def write_reading(path: Path, raw_path: Path, keys_path: Path,
                  files: Iterable[tuple[dict, list | bytes, np.ndarray | None]], raw_lines: Iterable[bytes],
                  previous: Reading | None) -> None:
    """Write a generation's reading: per file its summary (a dict as `Reading` reads it, but for
    "keys", set here), its entries (where relative to the summary's "rows" and "raws"; bytes: the
    line as stored, or the `previous` reading's line when it holds them alike) and the digests of its
    entries (dedupe.key_digests, None for a file not alone); and its raw lines."""
    with naming(raw_path), open(raw_path, "wb") as handle:
        for line in raw_lines:
            handle.write(line + b"\n")
    lines, digests, taken = [json.dumps({"reader": reader_digest()}).encode()], [], 0
    for file, entries, keys in files:
        file["keys"] = None if keys is None else [taken, len(keys)]
        if keys is not None:
            digests.append(keys)
            taken += len(keys)
        if not isinstance(entries, bytes):
            alike = previous.entries_line_if_alike(file["path"], entries) if previous else None
            entries = alike if alike is not None else json.dumps(entries, ensure_ascii=False).encode()
        lines += [json.dumps(file, ensure_ascii=False).encode(), entries]
    lines.append(b"")
    write_file(path, b"\n".join(lines))
    vectors.save_npy(keys_path, np.concatenate(digests) if digests else np.zeros(0, np.uint64))
