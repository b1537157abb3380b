"""Full text: each reference's full text (a Zotero attachment's extracted text) cut into passages,
searched by BM25 apart from the references, and quoted by the snippet of a hit it found.

Files (in a generation, only when some reference has a full text):
    fulltext.passages.bin   the passages' UTF-8 text, one after another
    fulltext.offsets.npy    uint64 (passages + 1): where each passage starts in it
    fulltext.rows.npy       int32 (passages): the reference row each passage belongs to
    fulltext.lexical.*      BM25 over the passages (lexical.py's files under another prefix)

Why passages in their own BM25 index, and not the text in the reference's: BM25 normalises a
document's score by its length, so 60,000 words of a PDF in one document would drown the title and
the notes of every reference that has a PDF, and favour those that have none. A passage is about as
long as an abstract. A reference's lexical score gains WEIGHT times its best passage's score (the
passages are searched first and handed to the references' search as `added`), and a hit remembers
that passage. The records stay small: a query reads the passages of the hits it returns, and
nothing of the full text of any other.
"""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import IndexProblem
from .lexical import BM25Builder, BM25Index
from .tokenizer import QueryTerm
from .atomic import link_or_copy, naming, write_file
from .files import REBUILD, open_index_file, read_index_json, sha256_file
from .store import Generation
from .text import passages
from .vectors import load_npy, save_npy

PASSAGES, OFFSETS, ROWS, PREFIX = "fulltext.passages.bin", "fulltext.offsets.npy", "fulltext.rows.npy", "fulltext.lexical"
OWNERS = "fulltext.owners.json"  # per reference with passages: its files (path, sha256) and passage range
# A reference's best passage counts half as much as a match in its own fields: the full text finds
# what the title, notes and abstract do not say, without outranking the references that say it.
WEIGHT = 0.5
PASSAGE_DEPTH = 4  # passages looked at per reference asked for (several passages of one reference compete)


class FullTextWriter:
    """The full-text files of a generation being written. References are noted as they stream past
    (`add`: a row and the files holding its full text); the text is read in `finish`, where the
    previous generation's full-text index is taken over whole when the same files with the same
    content belong to the references now (edits to the library that are not a new or changed full
    text: only which row each passage belongs to is written again); else every full text is read,
    cut into passages and indexed again."""

    def __init__(self, directory: Path, bm25_params: dict, previous: Generation | None = None):
        self._directory = directory
        self._params = bm25_params
        self._previous = previous
        self._owners: list[tuple[int, tuple[str, ...]]] = []

    def add(self, row: int, files: Sequence[str]) -> None:
        self._owners.append((row, tuple(files)))

    def finish(self, read: Callable[[Sequence[str]], str]) -> tuple[list[str], dict] | None:
        """Write the files; return their names and the manifest's `fulltext` entry (None: no reference
        has a full text). `read(files)` gives the text of a reference's files."""
        if not self._owners:
            return None
        owners = [(row, [[name, _digest(name)] for name in files]) for row, files in self._owners]
        reused = self._reuse(owners)
        return reused if reused is not None else self._index(owners, read)

    def _index(self, owners: list, read) -> tuple[list[str], dict] | None:
        offsets, rows, lexical, listed = array("Q", [0]), array("i"), BM25Builder(**self._params), []
        path = self._directory / PASSAGES
        with naming(path), open(path, "wb") as handle:
            for row, files in owners:
                found = passages(read([name for name, _ in files]))
                listed.append({"files": files, "passages": [len(rows), len(rows) + len(found)]})
                for passage in found:
                    data = passage.encode("utf-8")
                    handle.write(data)
                    offsets.append(offsets[-1] + len(data))
                    rows.append(row)
                    lexical.add([(passage, 1.0)])
        if not rows:
            path.unlink()
            return None
        save_npy(self._directory / OFFSETS, np.frombuffer(offsets, dtype=np.uint64))
        return self._finish(np.frombuffer(rows, dtype=np.int32), listed, lexical.finish().save(self._directory, PREFIX))

    def _reuse(self, owners: list) -> tuple[list[str], dict] | None:
        """The previous generation's passages and index when they were made from the same files with
        the same content (each now a row's full text, maybe another row's), else None."""
        previous = self._previous
        if previous is None or "fulltext" not in previous.manifest or OWNERS not in previous.manifest["files"]:
            return None
        row_of = {_key(files): row for row, files in owners}
        try:
            listed = read_index_json(previous.path(OWNERS))
            old = {_key(entry["files"]): entry["passages"] for entry in listed}
            if len(row_of) != len(owners) or len(old) != len(listed) or old.keys() != row_of.keys():
                return None  # a full text is new, changed or gone
            rows = np.full(int(previous.manifest["fulltext"]["passages"]), -1, dtype=np.int32)
            for key, (start, end) in old.items():
                rows[start:end] = row_of[key]
        except (IndexProblem, KeyError, TypeError, ValueError):
            return None  # an unreadable list is no reason to fail the build: index again
        if (rows < 0).any():
            return None
        names = [name for name in previous.manifest["files"] if name.startswith(f"{PREFIX}.")]
        for name in (PASSAGES, OFFSETS, *names):
            link_or_copy(previous.path(name), self._directory / name)
        listed = [{"files": [list(pair) for pair in key], "passages": list(span)} for key, span in old.items()]
        return self._finish(rows, listed, names, reused=True)

    def _finish(self, rows: np.ndarray, listed: list, lexical_files: list[str], reused: bool = False):
        save_npy(self._directory / ROWS, rows)
        write_file(self._directory / OWNERS, json.dumps(listed, ensure_ascii=False).encode())
        return [PASSAGES, OFFSETS, ROWS, OWNERS, *lexical_files], {"passages": len(rows), "references": len(listed),
                                                                   "reused": reused}


def _digest(name: str) -> str | None:
    """A full-text file's content identity (sha256), None when it cannot be read now."""
    try:
        return sha256_file(Path(name))
    except OSError:
        return None


def _key(files) -> tuple:
    return tuple((str(name), digest) for name, digest in files)




@dataclass
class PassageHits:
    """Per reference row: its best passage, that passage's weighted score and the query words it holds."""

    best: dict[int, int] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    matched: dict[int, list[str]] = field(default_factory=dict)


class FullText:
    """Read side: opened with the index when its manifest has a `fulltext` entry (arrays mapped)."""

    def __init__(self, generation: Generation, references: int):
        self.generation = generation
        entry, files = generation.manifest["fulltext"], generation.manifest["files"]
        count = entry.get("passages") if isinstance(entry, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not {PASSAGES, OFFSETS, ROWS} <= files.keys():
            self._damaged("the manifest's full-text entry")
        self.count = count
        self._references = references
        self._offsets = load_npy(generation.path(OFFSETS), "uint64", (self.count + 1,))
        self._rows = load_npy(generation.path(ROWS), "int32", (self.count,))
        self._size = files[PASSAGES]["size"]
        self.lexical = BM25Index.load(generation.directory, PREFIX)
        if self.lexical.n_docs != self.count or int(self._offsets[-1]) != self._size:
            self._damaged("the passages and their index disagree")

    def search(self, query: str, depth: int, allowed: np.ndarray | None = None,
               extra: Sequence[QueryTerm] = ()) -> PassageHits:
        """The best passages for `query` (`allowed`: which reference rows may match), per reference."""
        hits = self.lexical.search(query, depth * PASSAGE_DEPTH, None if allowed is None else allowed[self._rows],
                                   extra)
        found = PassageHits()
        rows = np.asarray(self._rows[hits.doc_ids]) if len(hits.doc_ids) else np.zeros(0, dtype=np.int32)
        if len(rows) and not 0 <= int(rows.min()) <= int(rows.max()) < self._references:
            self._damaged("a passage names no reference")
        for passage, row, score in zip(hits.doc_ids.tolist(), rows.tolist(), hits.scores.tolist()):
            if row not in found.best:  # best first: the first passage of a row is its best
                found.best[row] = passage
                found.scores[row] = WEIGHT * score
                found.matched[row] = hits.matched.get(passage, [])
        return found

    def passage(self, number: int) -> str:
        start, end = int(self._offsets[number]), int(self._offsets[number + 1])
        if not 0 <= start <= end <= self._size:
            self._damaged(f"passage {number} lies outside the passages file")
        with open_index_file(self.generation.path(PASSAGES)) as handle:
            handle.seek(start)
            return handle.read(end - start).decode("utf-8", "replace")

    def _damaged(self, why: str):
        raise IndexProblem(f"{self.generation.path(PASSAGES)}: damaged ({why}); {REBUILD}.")
