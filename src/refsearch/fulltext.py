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

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import IndexProblem
from .lexical import BM25Builder, BM25Index, QueryTerm
from .store import REBUILD, Generation, naming, open_index_file
from .text import passages
from .vectors import load_npy, save_npy

PASSAGES, OFFSETS, ROWS, PREFIX = "fulltext.passages.bin", "fulltext.offsets.npy", "fulltext.rows.npy", "fulltext.lexical"
# A reference's best passage counts half as much as a match in its own fields: the full text finds
# what the title, notes and abstract do not say, without outranking the references that say it.
WEIGHT = 0.5
PASSAGE_DEPTH = 4  # passages looked at per reference asked for (several passages of one reference compete)


class FullTextWriter:
    """Collects the passages of the references of a generation being written (row by row)."""

    def __init__(self, directory: Path, bm25_params: dict):
        self._directory = directory
        self._path = directory / PASSAGES
        self._handle = None
        self._offsets = array("Q", [0])
        self._rows = array("i")
        self._lexical = BM25Builder(**bm25_params)
        self.references = 0

    def add(self, row: int, text: str) -> None:
        found = passages(text)
        if not found:
            return
        if self._handle is None:
            with naming(self._path):
                self._handle = open(self._path, "wb")
        self.references += 1
        for passage in found:
            data = passage.encode("utf-8")
            with naming(self._path):
                self._handle.write(data)
            self._offsets.append(self._offsets[-1] + len(data))
            self._rows.append(row)
            self._lexical.add([(passage, 1.0)])

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()

    def finish(self) -> tuple[list[str], dict] | None:
        """The files written and the manifest's `fulltext` entry; None when no reference had a full text."""
        if self._handle is None:
            return None
        with naming(self._path):
            self._handle.close()
        save_npy(self._directory / OFFSETS, np.frombuffer(self._offsets, dtype=np.uint64))
        save_npy(self._directory / ROWS, np.frombuffer(self._rows, dtype=np.int32))
        files = [PASSAGES, OFFSETS, ROWS, *self._lexical.finish().save(self._directory, PREFIX)]
        return files, {"passages": len(self._rows), "references": self.references}


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

    @classmethod
    def open(cls, generation: Generation, references: int) -> "FullText | None":
        return cls(generation, references) if "fulltext" in generation.manifest else None

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
