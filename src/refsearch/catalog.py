"""The references of a generation, read by row: a query reads only the records it returns.

Files (all in the generation directory):
    records.jsonl         one reference per line, in vector order, with its content hash
    records.offsets.npy   uint64 (count + 1): byte offset of each line, so row i is one seek and read
    records.ids.json      the ids in row order (read only when an id is looked up)
    facets.json           the distinct pages, topics, kinds and venues; a topic derived by the build
                          (derived_topics.py: the page had none) is marked "derived"
    facets.npy            int32 (count, 5): per row its page, topic, kind and venue number, and its year (0: none)
    facets.authors.json   the distinct author names; facets.author_ptr.npy / facets.author_ids.npy give
                          each row's authors (read only when a query filters by author)
    records.names.json    the names people use for a reference besides its id: citation key, DOI and
                          URL -> the rows holding it (read only when `show` or `related` is given such a name)
    facets.tags.json      the distinct tags; facets.tag_ptr.npy / facets.tag_ids.npy each row's tags
    facets.topic_ptr.npy  with facets.topic_ids.npy: every topic path of each row (its topic first, then
                          `also_topics`), as numbers into facets.json's topics (read by topic filters)

Why an offset table into JSON Lines rather than SQLite: the records stay one plain, greppable file
that any tool reads, a row costs one `pread`, and filters run on the small facet arrays with numpy
(a topic or page filter is decided once per distinct topic, not once per reference), which is faster
than a LIKE scan and costs no extra import.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import json
import re
from array import array
from functools import cached_property
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from .errors import IndexProblem
from .records import OMITTED_WHEN_EMPTY, Reference, normalised_url
from .atomic import naming, write_file
from .files import REBUILD, open_index_file, read_index_file, read_index_json
from .store import Generation
from .vectors import load_npy, save_npy

RECORDS = "records.jsonl"
OFFSETS = "records.offsets.npy"
IDS = "records.ids.json"
FACETS = "facets.json"
FACET_ROWS = "facets.npy"
AUTHORS, AUTHOR_PTR, AUTHOR_IDS = "facets.authors.json", "facets.author_ptr.npy", "facets.author_ids.npy"
NAMES = "records.names.json"
TAGS, TAG_PTR, TAG_IDS = "facets.tags.json", "facets.tag_ptr.npy", "facets.tag_ids.npy"
TOPIC_PTR, TOPIC_IDS = "facets.topic_ptr.npy", "facets.topic_ids.npy"
FILES = (RECORDS, OFFSETS, IDS, FACETS, FACET_ROWS, AUTHORS, AUTHOR_PTR, AUTHOR_IDS, TAGS, TAG_PTR, TAG_IDS,
         TOPIC_PTR, TOPIC_IDS, NAMES)
# What a build makes of its sources (records, facets, names): a new version makes an older index
# stale, so it is read again (its vectors reused) instead of missing what the new reading adds.
RECORDS_FORMAT = 5  # 3: pages without headings get derived topics (facets.json marks them "derived");
# 4: the content hash first in each line (a build takes unchanged rows over), names list every row
# 5: Markdown read from markdown-it's inline tokens (a lone '*' kept, code spans closed as GitHub closes them)
NAME_KINDS = ("key", "doi", "url")
PAGE, TOPIC, KIND, VENUE, YEAR = range(5)
COLUMNS = 5


@dataclasses.dataclass(frozen=True)
class TopicEntry:
    page: int
    path: tuple[str, ...]
    path_en: tuple[str, ...]
    derived: bool = False  # derived by the build (derived_topics.py), not read from the source


DERIVED = "derived"  # the mark of a derived topic in facets.json


class RowFacts(NamedTuple):
    """What the catalog's facets and names take from a reference."""

    id: str
    page: tuple[str, str]  # (title, key)
    topic: tuple[tuple[str, ...], tuple[str, ...]]  # (path, English path), as the source gave it
    kind: str | None
    venue: str | None
    year: int
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    also_topics: tuple[tuple[str, ...], ...]
    names: tuple[tuple[str, str], ...]  # (NAME_KINDS entry, name)


@dataclasses.dataclass
class KeptRows:
    """A previous generation's catalog as a build takes rows over from it (Catalog.kept_rows)."""

    ids: list[str]
    values: np.ndarray  # (rows, COLUMNS): page, topic, kind, venue and year numbers
    pages: list[tuple[str, str]]
    kinds: list[str | None]
    venues: list[str | None]
    authors: list[str]
    tags: list[str]
    source_topics: list[tuple[tuple[str, ...], tuple[str, ...]]]  # per topic, (path, English path) as read: () if derived
    topic_paths: list[tuple[str, ...]]
    lists: dict[str, tuple[np.ndarray, np.ndarray]]  # "author", "tag", "topic" -> (pointers, numbers)
    named: dict[int, list[tuple[str, str]]]  # row -> its names


def row_facts(ref: Reference) -> RowFacts:
    key = ref.id.split("/")[0] if "/" in ref.id else ref.page  # ids given by a source need not start with a page key
    names = tuple((kind, name) for kind, name in (("key", ref.cite_key), ("doi", ref.doi), ("url", normalised_url(ref.url)))
                  if name)
    return RowFacts(ref.id, (ref.page, key), (ref.topic, ref.topic_en), ref.kind, ref.venue, ref.year or 0,
                    tuple(ref.authors), tuple(dict.fromkeys(ref.tags)), tuple(ref.also_topics), names)


# A stored line is the record with its content hash first, then its place in the sources:
# `{"content_hash": "<32 hex>", "source": "file:line", "id": …}`, so a build tells an unchanged record
# (moved or not: a line inserted above it changes its place only), and its hash, from the bytes
# alone (`split_hash`, `record_key`).
HASH_PREFIX = b'{"content_hash": "'
_HASH_END = len(HASH_PREFIX) + 32
_HEX = frozenset(b"0123456789abcdef")
_SOURCE = re.compile(rb'\{"source": "(?:[^"\\]|\\.)*", ')


def record_line(ref: Reference) -> bytes:
    """A reference as the catalog stores it, without its content hash (one JSON object, no newline):
    what `Reference.to_json` gives, `source` first. Built from the fields directly: `to_json`'s
    deep copy (dataclasses.asdict) took 100 µs a reference, most of an update's reading."""
    record = {"source": ref.source}
    for name in _STORED:
        value = getattr(ref, name)
        if value or name not in OMITTED_WHEN_EMPTY:
            record[name] = value
    return json.dumps(record, ensure_ascii=False).encode()


def record_key(line: bytes) -> bytes | None:
    """`line` (record_line) without its place in the sources; None for another shape."""
    found = _SOURCE.match(line)
    return line[found.end():] if found else None


def with_place(line: bytes, source: str) -> bytes:
    """`line` (record_line) with another place in the sources."""
    key = record_key(line)
    if key is None:
        raise IndexProblem(f"a stored record is damaged (no place in the sources); {REBUILD}.")
    return b'{"source": %s, %s' % (json.dumps(source, ensure_ascii=False).encode(), key)


def with_hash(line: bytes, content_hash: str) -> bytes:
    """The stored line of `line` (record_line) and its content hash, newline included."""
    return b"%s%s\", %s\n" % (HASH_PREFIX, content_hash.encode(), line[1:])


def split_hash(stored: bytes) -> tuple[bytes, str] | None:
    """(record line, content hash) of a line `with_hash` wrote; None for any other shape (an index
    written before hashes came first, or damage)."""
    if (not stored.startswith(HASH_PREFIX) or stored[_HASH_END:_HASH_END + 3] != b'", '
            or not _HEX.issuperset(stored[len(HASH_PREFIX):_HASH_END])):
        return None
    return b"{" + stored[_HASH_END + 3:].rstrip(b"\n"), stored[len(HASH_PREFIX):_HASH_END].decode()


class StoredLines(collections.abc.Sequence):
    """The stored lines of a records file (`with_hash`), row by row, as bytes."""

    def __init__(self, data: bytes, offsets: np.ndarray):
        self._data, self._offsets = data, offsets
        self._bounds = offsets.tolist()

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __getitem__(self, row: int) -> bytes:
        return self._data[self._bounds[row]:self._bounds[row + 1]]

    def joined(self, rows: np.ndarray, replaced: dict[int, bytes]) -> tuple[list[bytes | memoryview], np.ndarray]:
        """The lines of `rows` one after another, in pieces (`replaced[i]` instead of the stored
        line of the i-th), and each line's length: rows that follow each other are one view of the
        records, not a copy (copying 350 MB twice took 0.5 s at 184,000 papers)."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self._offsets[rows + 1] - self._offsets[rows]
        for at, line in replaced.items():
            lengths[at] = len(line)
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        if replaced:
            places = np.fromiter(replaced, dtype=np.int64, count=len(replaced))
            cuts = np.union1d(cuts, np.concatenate([places, places + 1]))
        pieces, bounds, data = [], self._bounds, memoryview(self._data)
        for start, end in zip([0, *cuts.tolist()], [*cuts.tolist(), len(rows)]):
            if start < end:
                line = replaced.get(start) if end - start == 1 else None
                pieces.append(line if line is not None else data[bounds[int(rows[start])]:bounds[int(rows[end - 1]) + 1]])
        return pieces, lengths

    def rows_with(self, needle: bytes) -> np.ndarray:
        """Whether each line holds `needle` (found in one pass over the records, not line by line)."""
        found, at = np.zeros(len(self), dtype=bool), self._data.find(needle)
        while at >= 0:
            row = int(np.searchsorted(self._offsets, at, side="right")) - 1
            found[row] = True
            at = self._data.find(needle, self._bounds[row + 1])
        return found

    def hashes(self) -> np.ndarray:
        """Each line's content hash as `split_hash` reads it, as ASCII bytes (b"" where it reads
        none), all rows at once: row by row took 0.5 s at 184,000 rows."""
        starts, width = self._offsets[:-1], _HASH_END + 3
        rows = np.flatnonzero(self._offsets[1:] - starts >= width)
        heads = np.frombuffer(self._data, dtype=np.uint8)[starts[rows][:, None] + np.arange(width)]
        digits = heads[:, len(HASH_PREFIX):_HASH_END]
        shaped = ((heads[:, :len(HASH_PREFIX)] == np.frombuffer(HASH_PREFIX, np.uint8)).all(axis=1)
                  & (heads[:, _HASH_END:] == np.frombuffer(b'", ', np.uint8)).all(axis=1)
                  & (((digits >= ord("0")) & (digits <= ord("9"))) | ((digits >= ord("a")) & (digits <= ord("f")))).all(axis=1))
        hashes = np.zeros(len(self), dtype=f"S{_HASH_END - len(HASH_PREFIX)}")
        hashes[rows[shaped]] = np.ascontiguousarray(digits[shaped]).view(hashes.dtype).ravel()
        return hashes


class CatalogWriter:
    """Streams references into the catalog files of a generation being written."""

    def __init__(self, path_of):
        self._records_path = path_of(RECORDS)
        with naming(self._records_path):
            self._records = open(self._records_path, "wb")
        self._offsets = array("Q", [0])
        self._ids: list[str] = []
        self._facet_rows = array("i")
        self._lists = {name: (array("q", [0]), array("i")) for name in ("author", "tag", "topic")}
        self._path_of = path_of
        self._pages: dict[tuple[str, str], int] = {}
        self._topics: dict[tuple, int] = {}
        self._kinds: dict[str | None, int] = {}
        self._venues: dict[str | None, int] = {}
        self._authors: dict[str, int] = {}
        self._name_table: dict[str, dict[str, list[int]]] = {kind: {} for kind in NAME_KINDS}
        self._tags: dict[str, int] = {}
        self._derived: list[tuple[int, str]] = []  # (page, label), numbered after the source's topics

    def add(self, ref: Reference, content_hash: str) -> None:
        self.add_line(with_hash(record_line(ref), content_hash), row_facts(ref))

    def add_line(self, line: bytes, facts: "RowFacts") -> None:
        """A stored line (`with_hash`) with what the facets need of it: a build adds a row it takes
        over from the previous generation this way, without reading the reference again."""
        with naming(self._records_path):
            self._records.write(line)
        self._offsets.append(self._offsets[-1] + len(line))
        self._ids.append(facts.id)
        page = self._pages.setdefault(facts.page, len(self._pages))
        topic = self._topics.setdefault((page, *facts.topic), len(self._topics))
        kind = self._kinds.setdefault(facts.kind, len(self._kinds))
        venue = self._venues.setdefault(facts.venue, len(self._venues))
        self._facet_rows.extend((page, topic, kind, venue, facts.year))
        self._listed("author", (self._authors.setdefault(name, len(self._authors)) for name in facts.authors))
        self._listed("tag", (self._tags.setdefault(tag, len(self._tags)) for tag in facts.tags))
        self._listed("topic", (topic, *(self._topics.setdefault((page, path, ()), len(self._topics))
                                        for path in facts.also_topics)))
        row = len(self._ids) - 1
        for kind, name in facts.names:
            self._name_table[kind].setdefault(name, []).append(row)

    def add_kept(self, kept: KeptRows, rows: Sequence[int], lines: Sequence[bytes | memoryview], lengths: np.ndarray) -> None:
        """Rows of a previous catalog taken over, with their stored lines now (one after another, in
        pieces, each line `lengths` long): what `add_line` row by row gives (the same numbers, in
        order of first appearance), a run at a time in numpy (row by row, 184,000 rows took 7 s)."""
        if not len(rows):
            return
        rows = np.asarray(rows, dtype=np.int64)
        with naming(self._records_path):
            for piece in lines:
                self._records.write(piece)
        ends = self._offsets[-1] + np.cumsum(lengths, dtype=np.int64)
        self._offsets.extend(ends.tolist())
        first_row = len(self._ids)
        self._ids.extend([kept.ids[row] for row in rows.tolist()])
        values = kept.values[rows]
        page = _renumbered(values[:, PAGE], self._pages, kept.pages)
        kind = _renumbered(values[:, KIND], self._kinds, kept.kinds)
        venue = _renumbered(values[:, VENUE], self._venues, kept.venues)
        topics, counts = _flattened(kept.lists["topic"], rows)
        also = np.ones(len(topics), dtype=bool)
        also[np.cumsum(counts) - counts] = False  # each row's list starts with its topic, then its also_topics
        topics[~also] = values[:, TOPIC]
        width = len(kept.topic_paths)

        def topic_key(code: int) -> tuple:  # (this catalog's page, the topic's path, its English path)
            (page_number, topic), also_topic = divmod(code // 2, width), code % 2
            return (page_number, kept.topic_paths[topic], ()) if also_topic else (page_number, *kept.source_topics[topic])

        codes = (np.repeat(page, counts) * width + topics) * 2 + also
        topic_numbers = _renumbered_codes(codes, self._topics, topic_key)
        self._facet_rows.frombytes(np.column_stack((page, topic_numbers[~also], kind, venue, values[:, YEAR]))
                                   .astype(np.int32).tobytes())
        for name, numbers, names in (("author", self._authors, kept.authors), ("tag", self._tags, kept.tags)):
            listed, counts_of = _flattened(kept.lists[name], rows)
            self._listed_run(name, _renumbered(listed, numbers, names), counts_of)
        self._listed_run("topic", topic_numbers, counts)
        for row, old in enumerate(rows.tolist(), start=first_row):
            for kind_name, name in kept.named.get(old, ()):
                self._name_table[kind_name].setdefault(name, []).append(row)

    def _listed_run(self, name: str, numbers: np.ndarray, counts: np.ndarray) -> None:
        ptr, ids = self._lists[name]
        ids.frombytes(numbers.astype(np.int32).tobytes())
        ptr.extend((ptr[-1] + np.cumsum(counts)).tolist())

    def _listed(self, name: str, numbers) -> None:
        ptr, ids = self._lists[name]
        ids.extend(numbers)
        ptr.append(len(ids))

    def written(self, row: int) -> Reference:
        """A reference already written, read back from the records file (a build does not keep them)."""
        with naming(self._records_path):
            self._records.flush()
            with open(self._records_path, "rb") as handle:
                handle.seek(self._offsets[row])
                data = json.loads(handle.read(self._offsets[row + 1] - self._offsets[row]))
        return Reference.from_json({key: value for key, value in data.items() if key != "content_hash"})

    def flat_pages(self) -> dict[tuple[str, str], np.ndarray]:
        """The pages none of whose references has a topic (title, key), each with its rows."""
        headed = {page for page, path, _ in self._topics if path}
        pages = np.frombuffer(self._facet_rows, dtype=np.int32).reshape(-1, COLUMNS)[:, PAGE]
        return {key: np.flatnonzero(pages == number) for key, number in self._pages.items() if number not in headed}

    def set_derived(self, derived) -> None:
        """Give the rows of flat pages their derived topics (`derived_topics.PageTopics`)."""
        rows = np.frombuffer(self._facet_rows, dtype=np.int32).reshape(-1, COLUMNS)
        ptr, ids = (np.frombuffer(values, dtype=dtype) for values, dtype in zip(self._lists["topic"], (np.int64, np.int32)))
        for topics in derived:
            first = len(self._topics) + len(self._derived)
            self._derived.extend((self._pages[topics.page], label) for label in topics.labels)
            rows[topics.rows, TOPIC] = first + topics.assignment
            ids[ptr[topics.rows]] = first + topics.assignment  # each row's topic list starts with its topic

    def discard(self) -> None:
        """Close the files unfinished: the generation being written failed (its folder is removed)."""
        with contextlib.suppress(OSError):
            self._records.close()

    def finish(self) -> list[str]:
        with naming(self._records_path):
            self._records.close()
        save_npy(self._path_of(OFFSETS), np.frombuffer(self._offsets, dtype=np.uint64))
        for (ptr_name, ids_name), (ptr, ids) in zip(((AUTHOR_PTR, AUTHOR_IDS), (TAG_PTR, TAG_IDS), (TOPIC_PTR, TOPIC_IDS)),
                                                    self._lists.values()):
            save_npy(self._path_of(ptr_name), np.frombuffer(ptr, dtype=np.int64))
            save_npy(self._path_of(ids_name), np.frombuffer(ids, dtype=np.int32))
        save_npy(self._path_of(FACET_ROWS), np.frombuffer(self._facet_rows, dtype=np.int32).reshape(-1, COLUMNS))
        write_file(self._path_of(IDS), json.dumps(self._ids, ensure_ascii=False).encode())
        facets = {"pages": [list(p) for p in self._pages],
                  "topics": [[page, list(path), list(path_en)] for page, path, path_en in self._topics]
                  + [[page, [label], [], DERIVED] for page, label in self._derived],
                  "kinds": list(self._kinds), "venues": list(self._venues)}
        write_file(self._path_of(FACETS), json.dumps(facets, ensure_ascii=False).encode())
        write_file(self._path_of(AUTHORS), json.dumps(list(self._authors), ensure_ascii=False).encode())
        write_file(self._path_of(NAMES), json.dumps(self._name_table, ensure_ascii=False).encode())
        write_file(self._path_of(TAGS), json.dumps(list(self._tags), ensure_ascii=False).encode())
        return list(FILES)


def _flattened(listing: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lists of `rows` (a pointers and numbers pair) one after another, and each one's length."""
    ptr, numbers = listing
    starts, counts = ptr[rows], ptr[rows + 1] - ptr[rows]
    at = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    return numbers[at].astype(np.int64), counts


def _renumbered(old: np.ndarray, numbers: dict, names: Sequence) -> np.ndarray:
    """`old` (numbers into `names`) as numbers in `numbers` (name -> number), a name not yet there
    numbered in order of first appearance, as `setdefault` row by row numbers it."""
    return _renumbered_codes(old, numbers, names.__getitem__)


def _renumbered_codes(codes: np.ndarray, numbers: dict, key_of: Callable[[int], Any]) -> np.ndarray:
    """`codes` as numbers in `numbers` (key -> number) of their keys (`key_of(code)`), a key not yet
    there numbered in order of first appearance."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    distinct, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    new = np.empty(len(distinct), dtype=np.int64)
    new[order] = [numbers.setdefault(key_of(code), len(numbers)) for code in distinct[order].tolist()]
    return new[inverse.reshape(-1)]


class Catalog:
    """Read side. Construction checks the small files' shapes against the manifest's count."""

    def __init__(self, generation: Generation):
        self.generation = generation
        self.count: int = generation.manifest["count"]
        self._offsets = load_npy(generation.path(OFFSETS), "uint64", (self.count + 1,))
        self._facet_rows = load_npy(generation.path(FACET_ROWS), "int32", (self.count, COLUMNS))
        self._size = generation.manifest["files"][RECORDS]["size"]
        if int(self._offsets[0]) != 0 or int(self._offsets[-1]) != self._size:
            self._damaged(OFFSETS, "offsets do not match the records file")
        facets = self._json(FACETS)
        try:
            self.pages = [(str(title), str(key)) for title, key in facets["pages"]]
            self.topics = [_topic_entry(entry) for entry in facets["topics"]]
            self.kinds = [None if kind is None else str(kind) for kind in facets["kinds"]]
            self.venues = [None if venue is None else str(venue) for venue in facets["venues"]]
        except (KeyError, TypeError, ValueError, OverflowError):
            self._damaged(FACETS, "unexpected contents")
        if any(not 0 <= topic.page < len(self.pages) for topic in self.topics):
            self._damaged(FACETS, "a topic names a page that is not there")
        self._limits = {PAGE: len(self.pages), TOPIC: len(self.topics), KIND: len(self.kinds), VENUE: len(self.venues)}
        self._checked: dict[int, np.ndarray] = {}
        self._cache: dict[int, Reference] = {}
        self._derived = any(topic.derived for topic in self.topics)

    def facet(self, column: int) -> np.ndarray:
        """One facet column (PAGE, TOPIC, KIND, VENUE, YEAR) for every row, checked when first used
        (a filter or a topic listing reads the whole column anyway; a plain query reads none)."""
        if column not in self._checked:
            values = np.asarray(self._facet_rows[:, column])
            limit = self._limits.get(column)
            if limit is not None and len(values) and not 0 <= values.min() <= values.max() < limit:
                self._damaged(FACET_ROWS, "facet numbers out of range")
            self._checked[column] = values
        return self._checked[column]

    def reference(self, row: int) -> Reference:
        if row in self._cache:
            return self._cache[row]
        if not 0 <= row < self.count:
            raise IndexProblem(f"{self.generation.directory}: row {row} is not in the index; {REBUILD}.")
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        if not 0 <= start < end <= self._size:
            self._damaged(OFFSETS, f"row {row} lies outside the records file")
        with open_index_file(self.generation.path(RECORDS)) as handle:
            handle.seek(start)
            ref = self._decode(handle.read(end - start), row)
        self._cache[row] = ref
        return ref

    def references(self, rows: Sequence[int]) -> list[Reference]:
        return [self.reference(int(row)) for row in rows]

    def __iter__(self) -> Iterator[Reference]:
        """Every reference in row order (reads the whole records file once: evaluation, listings)."""
        if len(self._cache) == self.count:
            return (self._cache[row] for row in range(self.count))
        self._cache = {row: ref for row, (ref, _) in enumerate(self.rows_with_hashes())}
        return iter(self._cache.values())

    def rows_with_hashes(self) -> Iterator[tuple[Reference, str]]:
        with open_index_file(self.generation.path(RECORDS)) as handle:
            for row, line in enumerate(handle):
                if row >= self.count:
                    self._damaged(RECORDS, "more rows than the manifest counts")
                data = _json_line(line, self, row)
                yield self._topic_shown(_reference(data, self, row), row), str(data.get("content_hash", ""))

    def stored_lines(self) -> "StoredLines":
        """Every stored line, in row order (a build compares them with what it reads now)."""
        data = read_index_file(self.generation.path(RECORDS), self._size)
        if len(data) != self._size:
            self._damaged(RECORDS, "its size changed")
        offsets = np.asarray(self._offsets, dtype=np.int64)
        if (np.diff(offsets) < 0).any():  # lines are cut by these (StoredLines): they must not go back
            self._damaged(OFFSETS, "offsets out of order")
        return StoredLines(data, offsets)

    def kept_rows(self) -> "KeptRows":
        """The facet arrays as a build taking rows over reads them (all checked here once: they
        come from an untrusted index)."""
        for column in (PAGE, TOPIC, KIND, VENUE):
            self.facet(column)
        authors, tags, topics = self.author_names(), self.tag_names(), self.topics
        lists = {}
        for name, (ptr_name, ids_name, limit) in (("author", (AUTHOR_PTR, AUTHOR_IDS, len(authors))),
                                                  ("tag", (TAG_PTR, TAG_IDS, len(tags))),
                                                  ("topic", (TOPIC_PTR, TOPIC_IDS, len(topics)))):
            owners, values = self._listing(ptr_name, ids_name, limit)
            lists[name] = (np.searchsorted(owners, np.arange(self.count + 1)), values)
        if self.count and np.diff(lists["topic"][0]).min() < 1:
            self._damaged(TOPIC_IDS, "a row without its topic")
        named: dict[int, list[tuple[str, str]]] = {}
        for kind, table in self._name_table.items():
            for name, holders in table.items():
                for row in holders:
                    named.setdefault(row, []).append((kind, name))
        return KeptRows(self.ids, np.asarray(self._facet_rows), self.pages, self.kinds, self.venues, authors, tags,
                        [((), ()) if topic.derived else (topic.path, topic.path_en) for topic in topics],
                        [topic.path for topic in topics], lists, named)

    @cached_property
    def ids(self) -> list[str]:
        ids = self._json(IDS)
        if not isinstance(ids, list) or len(ids) != self.count or not all(isinstance(i, str) for i in ids):
            self._damaged(IDS, "ids do not match the records")
        return ids

    def author_names(self) -> list[str]:
        """Every distinct author name (read from disk on each call: only filters and their messages ask)."""
        return self._names(AUTHORS)

    def tag_names(self) -> list[str]:
        """Every distinct tag (read from disk on each call, as author_names)."""
        return self._names(TAGS)

    def rows_by_author(self, needle: str) -> np.ndarray:
        """Which rows have an author whose name contains `needle` (case-insensitive)."""
        needle = needle.casefold()
        return self._rows_listing(AUTHOR_PTR, AUTHOR_IDS, [needle in name.casefold() for name in self._names(AUTHORS)])

    def rows_by_tag(self, tag: str) -> np.ndarray:
        """Which rows carry the tag `tag` (the whole tag, case-insensitive: Zotero's tags are names)."""
        tag = tag.strip().casefold()
        return self._rows_listing(TAG_PTR, TAG_IDS, [name.casefold() == tag for name in self._names(TAGS)])

    def rows_by_topic(self, wanted: Sequence[bool]) -> np.ndarray:
        """Which rows are filed under a topic `wanted` marks (one flag per entry of `topics`), by
        their topic or any of their other topic paths."""
        rows, numbers = self.topic_pairs()
        allowed = np.zeros(self.count, dtype=bool)
        allowed[rows[np.asarray(wanted, dtype=bool)[numbers]]] = True
        return allowed

    def _names(self, name: str) -> list[str]:
        self._built_with(name)
        names = self._json(name)
        if not isinstance(names, list) or not all(isinstance(item, str) for item in names):
            self._damaged(name, "not a list of names")
        return names

    def topic_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, topic number) for every topic path of every row, in row order (an index built
        before topic lists: each row's topic)."""
        if TOPIC_PTR not in self.generation.manifest["files"]:
            return np.arange(self.count), self.facet(TOPIC)
        return self._listing(TOPIC_PTR, TOPIC_IDS, len(self.topics))

    def _rows_listing(self, ptr_name: str, ids_name: str, wanted: Sequence[bool]) -> np.ndarray:
        """Rows whose list (authors, tags) holds a number `wanted` marks."""
        wanted = np.asarray(wanted, dtype=bool)
        rows, ids = self._listing(ptr_name, ids_name, len(wanted))
        allowed = np.zeros(self.count, dtype=bool)
        allowed[rows[wanted[ids]]] = True
        return allowed

    def _listing(self, ptr_name: str, ids_name: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's list as (row, number) pairs, from a pointer and a numbers array, checked."""
        self._built_with(ptr_name)
        ptr = load_npy(self.generation.path(ptr_name), "int64", (self.count + 1,))
        ids = load_npy(self.generation.path(ids_name), "int32", (None,))
        if (len(ids) != int(ptr[-1]) or int(ptr[0]) != 0 or np.any(np.diff(ptr) < 0)
                or (len(ids) and not 0 <= int(ids.min()) <= int(ids.max()) < limit)):
            self._damaged(ids_name, "numbers out of range")
        return np.repeat(np.arange(self.count), np.diff(ptr)), np.asarray(ids)

    def _built_with(self, name: str) -> None:
        if name not in self.generation.manifest["files"]:
            raise IndexProblem(f"{self.generation.directory}: built by an older refsearch, without {name}; "
                               "run `refsearch build` to update it.")

    @cached_property
    def row_of(self) -> dict[str, int]:
        return {ref_id: row for row, ref_id in enumerate(self.ids)}

    def named(self, kind: str, name: str) -> int | None:
        """The row a citation key, DOI or normalised URL names (`kind`: one of NAME_KINDS), or None;
        None too for an index built before names were kept (its callers fall back to titles)."""
        rows = self._name_table.get(kind, {}).get(name)
        return rows[0] if rows else None

    @cached_property
    def _name_table(self) -> dict[str, dict[str, list[int]]]:
        """kind -> name -> the rows holding it, in row order (an index written before the records
        format 4 gives each name its first row only)."""
        if NAMES not in self.generation.manifest["files"]:
            return {}
        names = self._json(NAMES)
        if not isinstance(names, dict) or not all(kind in NAME_KINDS and isinstance(table, dict) for kind, table in names.items()):
            self._damaged(NAMES, "not a table of names and rows")
        for table in names.values():
            for name, rows in table.items():
                rows = table[name] = [rows] if type(rows) is int else rows
                if not (isinstance(rows, list) and rows and all(type(row) is int and 0 <= row < self.count for row in rows)):
                    self._damaged(NAMES, "not a table of names and rows")
        return names

    def _decode(self, line: bytes, row: int) -> Reference:
        return self._topic_shown(_reference(_json_line(line, self, row), self, row), row)

    def _topic_shown(self, ref: Reference, row: int) -> Reference:
        """`ref` with its derived topic, when its page had none (one facet cell read)."""
        if not self._derived:
            return ref
        number = int(self._facet_rows[row, TOPIC])
        if not 0 <= number < len(self.topics):
            self._damaged(FACET_ROWS, "facet numbers out of range")
        topic = self.topics[number]
        if not topic.derived:
            return ref
        return dataclasses.replace(ref, topic=topic.path, topic_en=topic.path_en, topic_source=DERIVED)

    def _json(self, name: str) -> Any:
        return read_index_json(self.generation.path(name))

    def _damaged(self, name: str, why: str):
        raise IndexProblem(f"{self.generation.path(name)}: damaged ({why}); {REBUILD}.")


def _json_line(line: bytes, catalog: Catalog, row: int) -> dict:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        catalog._damaged(RECORDS, f"row {row} is not a JSON object")
    return data


NOT_STORED = {"topic_source"}  # set when a reference is read (Catalog._topic_shown), never written
_FIELDS = {field.name: str(field.type) for field in dataclasses.fields(Reference) if field.name not in NOT_STORED}
_STORED = [name for name in _FIELDS if name != "source"]


def _reference(data: dict, catalog: Catalog, row: int) -> Reference:
    """A Reference from a stored row, each field checked against the record type (the file is untrusted)."""
    values = {key: value for key, value in data.items() if key != "content_hash"}
    for key, value in values.items():
        kind = _FIELDS.get(key)
        if kind is None or not _fits(value, kind):
            catalog._damaged(RECORDS, f"row {row} has an unexpected field {key!r}")
    if not isinstance(values.get("id"), str) or not isinstance(values.get("title"), str) or not isinstance(values.get("page"), str):
        catalog._damaged(RECORDS, f"row {row} lacks an id, title or page")
    return Reference.from_json(values)


def _fits(value: object, kind: str) -> bool:
    if value is None:
        return "None" in kind
    if kind.startswith("tuple[tuple"):
        return isinstance(value, list) and all(_fits(item, "tuple[str]") for item in value)
    if kind.startswith("tuple"):
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind.startswith("dict"):
        return isinstance(value, dict)
    if kind.startswith("int"):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def _topic_entry(entry: object) -> TopicEntry:
    """[page, path, path_en] of a topic from the source, or [page, [label], [], "derived"]."""
    if not isinstance(entry, list) or len(entry) not in (3, 4) or (len(entry) == 4 and entry[3] != DERIVED):
        raise ValueError("not a topic")
    return TopicEntry(int(entry[0]), _strings(entry[1]), _strings(entry[2]), len(entry) == 4)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a list of strings")
    return tuple(value)
