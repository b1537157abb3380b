"""BM25 over Chinese and English text, numpy only, stored as plain JSON + .npy arrays.

Why our own BM25 and not bm25s or SQLite FTS5: the index must load in milliseconds on the query
path, the tokenizer (tokenizer.py) must handle Chinese without jieba's 0.5 s dictionary load, and
the vocabulary must be persisted and checked with the index (bm25s bugs #21/#91 came from
mismatched vocabularies). The whole scorer is a CSC matrix of term frequencies, weighed by BM25 as a
query reads a term's postings: a query is a few slice-adds. Frequencies, not weights, are stored
because a weight depends on the average document length, which every added document moves: an
update would rewrite all 20 million weights of a 184,000-paper index (measured: 0.6 s), while its
frequencies stay as they are.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import IndexProblem
from .fusion import Ranking
from .tokenizer import TOKENIZER, QueryTerm, query_terms, tokenize

FORMAT = "refsearch/bm25@3"
# stored BM25 weights instead of frequencies: still read, so an index not yet updated (detached, or
# searched with --no-update) answers as it did; never written
WEIGHED_FORMAT = "refsearch/bm25@2"
# A pasted paragraph or abstract is searched by its most informative terms (highest idf x count):
# beyond a few dozen, more terms add postings to scan but hardly change the ranking.
MAX_QUERY_TERMS = 64
BM25_PARAMS = {"k1": 1.2, "b": 0.75}
FEW_NEW_POSTINGS = 50_000  # an update adding at most these is bisected term by term (lexical._places)
# what the lexical index was written with: a new tokenizer or file format makes an index stale (its
# update re-uses every vector), rather than unreadable
LEXICAL_SETTINGS = {**BM25_PARAMS, "tokenizer": TOKENIZER, "format": FORMAT}


@dataclass
class LexicalHits:
    doc_ids: np.ndarray  # int64, best first
    scores: np.ndarray  # float32
    matched: dict[int, list[str]]  # doc id -> surface forms of the query terms it contains
    ceiling: float  # score of an average-length document holding every query term once
    passages: dict[int, int] = field(default_factory=dict)  # doc id -> its best full-text passage (search.py)

    def ranking(self) -> Ranking:
        return Ranking(self.doc_ids, self.scores, self.ceiling)


class Terms:
    """The vocabulary, sorted by UTF-8 bytes: one blob of terms and their offsets, looked up by
    bisection. Memory-mapped, so opening an index reads none of it (a JSON vocabulary of 520,000
    terms took 1.3 s to load per query); a look-up reads ~20 short slices."""

    FOUND_KEPT = 65_536  # look-ups remembered: a batch or a server asks for the same words again

    def __init__(self, blob, offsets: np.ndarray):
        # a plain ndarray view of the mapped offsets: a memmap's own indexing costs ~1 µs a call
        self._blob, self._offsets = blob, np.asarray(offsets)
        self._found: dict[bytes, int | None] = {}

    @classmethod
    def of(cls, sorted_terms: list[bytes]) -> "Terms":
        offsets = np.zeros(len(sorted_terms) + 1, dtype=np.int64)
        np.cumsum([len(term) for term in sorted_terms], out=offsets[1:])
        return cls(b"".join(sorted_terms), offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row: int) -> bytes:
        return bytes(self._blob[int(self._offsets[row]):int(self._offsets[row + 1])])

    def find(self, token: str) -> int | None:
        wanted = token.encode("utf-8")
        if wanted not in self._found:
            if len(self._found) >= self.FOUND_KEPT:
                self._found.clear()
            row = bisect_left(self, wanted)
            self._found[wanted] = row if row < len(self) and self[row] == wanted else None
        return self._found[wanted]

    def spliced(self, dropped: np.ndarray, inserted: list[tuple[int, bytes]]) -> bytes:
        """The blob without the terms `dropped` marks, with each (position, term) of `inserted` (in
        order) put before the term at that position: copied a run at a time."""
        events = sorted([(int(place), 1, b"") for place in np.flatnonzero(dropped)]
                        + [(place, 0, term) for place, term in inserted])
        offsets, pieces, cursor = self._offsets, [], 0
        for place, drop, term in events:  # at one place: the terms put in first, then the drop
            pieces.append(self._blob[int(offsets[cursor]):int(offsets[max(place, cursor)])])
            cursor = max(place, cursor)
            if drop:
                cursor = place + 1
            else:
                pieces.append(term)
        pieces.append(self._blob[int(offsets[cursor]):int(offsets[-1])])
        return b"".join(bytes(piece) for piece in pieces)

    def save(self, directory: Path, prefix: str = "lexical") -> list[str]:
        from .atomic import write_file
        from .vectors import save_npy

        write_file(directory / f"{prefix}.terms.bin", bytes(self._blob))
        save_npy(directory / f"{prefix}.term_offsets.npy", self._offsets)
        return [f"{prefix}.terms.bin", f"{prefix}.term_offsets.npy"]


class BM25Index:
    """Term frequencies in term-major (CSC) layout, with each document's length, weighed by BM25 as
    a query reads them."""

    def __init__(self, terms: Terms, idf: np.ndarray, term_ptr: np.ndarray,
                 doc_ids: np.ndarray, frequencies: np.ndarray, n_docs: int, params: dict,
                 lengths: np.ndarray | None, weighed: bool = False):
        self.terms = terms
        self.idf = idf
        self.term_ptr = term_ptr
        self.doc_ids = doc_ids
        self.frequencies = frequencies  # float32: field weights scale a term's count
        self.n_docs = n_docs
        self.params = params
        self.lengths = lengths
        self.weighed = weighed  # `frequencies` holds BM25 weights (an index in WEIGHED_FORMAT): no lengths

    @cached_property
    def _norms(self) -> np.ndarray:
        """Each document's BM25 length normalisation, k1 (1 - b + b length / avgdl) (checked: the
        lengths come from an index, which is untrusted)."""
        k1, b, avgdl = self.params["k1"], self.params["b"], self.params["avgdl"]
        lengths = np.asarray(self.lengths, dtype=np.float32)
        if not (np.isfinite(lengths).all() and (lengths >= 0).all()):
            raise IndexProblem("the lexical index is damaged (a document length is not a number); "
                               "run `refsearch build --force`.")
        return (k1 * (1 - b + b * lengths / max(avgdl, 1e-9))).astype(np.float32)

    @classmethod
    def build(cls, documents: Iterable[Sequence[tuple[str, float]]], k1: float = BM25_PARAMS["k1"],
              b: float = BM25_PARAMS["b"]) -> "BM25Index":
        """`documents`: per document, (text, field weight) pairs; a weight scales term frequency."""
        builder = BM25Builder(k1, b)
        for fields in documents:
            builder.add(fields)
        return builder.finish()

    def term_id(self, token: str) -> int | None:
        """The token's row in the postings, or None."""
        return self.terms.find(token)

    @property
    def unseen_idf(self) -> float:
        """The idf of a term no document contains: a query word the index cannot match at all."""
        return float(_idf(0.0, self.n_docs))

    def document_frequency(self, token: str) -> int:
        """How many documents hold `token` (0 when none does)."""
        term = self.term_id(token)
        return 0 if term is None else int(self.term_ptr[term + 1] - self.term_ptr[term])

    def search(self, query: str, depth: int, allowed: np.ndarray | None = None,
               extra: Sequence[QueryTerm] = (), added: dict[int, float] | None = None) -> LexicalHits:
        """Top `depth` documents; `allowed` is a boolean mask applied before the cut.

        `extra`: weighted tokens a translation adds; they score but do not raise the ceiling,
        since they are other spellings of query words the ceiling already counts. `added`: scores
        from elsewhere (a document's best full-text passage, refsearch.fulltext) added before the cut.
        """
        scores = np.zeros(self.n_docs, dtype=np.float32)
        if added:
            scores[np.fromiter(added, dtype=np.int64, count=len(added))] += np.fromiter(
                added.values(), dtype=np.float32, count=len(added))
        hits_by_term: list[tuple[str, np.ndarray]] = []
        ceiling = 0.0
        for token, surfaces in self._informative(_group_terms(query_terms(query))).items():
            term = self.term_id(token)
            ceiling += (self.unseen_idf if term is None else float(self.idf[term])) * len(surfaces)
            if term is not None:
                hits_by_term.append((surfaces[0], self._add_term(scores, term, len(surfaces))))
        weights: dict[str, float] = {}
        for extra_term in extra:
            weights[extra_term.token] = weights.get(extra_term.token, 0.0) + extra_term.weight
        for token, surfaces in _group_terms(extra).items():
            term = self.term_id(token)
            if term is not None:
                hits_by_term.append((surfaces[0], self._add_term(scores, term, weights[token])))
        if allowed is not None:
            scores[~allowed] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > depth:
            candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        matched: dict[int, list[str]] = {}
        for surface, docs in hits_by_term:  # a term's documents are in ascending order: bisect, not a set
            if not len(docs):
                continue
            at = np.minimum(np.searchsorted(docs, order), len(docs) - 1)
            for doc in order[docs[at] == order].tolist():
                matched.setdefault(doc, []).append(surface)
        return LexicalHits(order.astype(np.int64), scores[order], matched, ceiling)

    def _informative(self, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        """All terms of a normal query; of a long one, the MAX_QUERY_TERMS the index weighs most
        (terms it does not hold are dropped there: they match nothing and would only lower the
        share of the query a document can match)."""
        if len(groups) <= MAX_QUERY_TERMS:
            return groups
        weighed = [(float(self.idf[term]) * len(surfaces), token) for token, surfaces in groups.items()
                   if (term := self.term_id(token)) is not None]
        kept = {token for _, token in sorted(weighed, reverse=True)[:MAX_QUERY_TERMS]}
        return {token: surfaces for token, surfaces in groups.items() if token in kept}

    def _add_term(self, scores: np.ndarray, term: int, weight: float) -> np.ndarray:
        """Add a term's weighted postings; what they point at is checked here, as they are read
        (checking every posting when the index opens would make each query's cost grow with it)."""
        start, end = int(self.term_ptr[term]), int(self.term_ptr[term + 1])
        docs = self.doc_ids[start:end]
        if not 0 <= start <= end <= len(self.doc_ids) or (len(docs) and not 0 <= docs.min() <= docs.max() < self.n_docs):
            raise IndexProblem("the lexical index is damaged (a posting names no reference); run `refsearch build --force`.")
        frequencies = self.frequencies[start:end]
        with np.errstate(all="ignore"):  # damage shows as a weight that is not a number: refused below
            if self.weighed:
                added = self.idf[term] * frequencies * weight
            else:
                added = frequencies * np.float32((self.params["k1"] + 1) * self.idf[term] * weight)
                added /= self._norms[docs] + frequencies
        if not np.isfinite(added).all():
            raise IndexProblem("the lexical index is damaged (a weight is not a number); run `refsearch build --force`.")
        scores[docs] += added
        return docs

    def save(self, directory: Path, prefix: str = "lexical") -> list[str]:
        """Write the index as `<prefix>.*` files (the references' is "lexical", the full text's "fulltext.lexical")."""
        meta = {"format": FORMAT, "tokenizer": TOKENIZER, "n_docs": self.n_docs, "terms": len(self.terms),
                "params": self.params}
        from .atomic import write_file
        from .vectors import save_npy

        write_file(directory / f"{prefix}.json", json.dumps(meta, ensure_ascii=False).encode())
        names = ("idf", "term_ptr", "doc_ids", "frequencies", "lengths")
        for name in names:
            save_npy(directory / f"{prefix}.{name}.npy", getattr(self, name))
        return [f"{prefix}.json", *self.terms.save(directory, prefix)] + [f"{prefix}.{n}.npy" for n in names]

    @classmethod
    def load(cls, directory: Path, prefix: str = "lexical") -> "BM25Index":
        """Load and check the index; the postings are memory-mapped, not read."""
        from .files import mapped_bytes, open_index_file, read_index_json
        from .vectors import load_npy

        damaged = f"{directory}: lexical index is damaged or inconsistent; run `refsearch build --force`."
        meta = read_index_json(directory / f"{prefix}.json")
        if not isinstance(meta, dict) or meta.get("format") not in (FORMAT, WEIGHED_FORMAT) or meta.get("tokenizer") != TOKENIZER:
            found = (meta.get("format"), meta.get("tokenizer")) if isinstance(meta, dict) else None
            raise IndexProblem(
                f"{directory}: lexical index was written by another version ({found}); run `refsearch build --force`."
            )
        terms, n_docs, params = meta.get("terms"), meta.get("n_docs"), meta.get("params")
        if not (isinstance(terms, int) and isinstance(n_docs, int) and isinstance(params, dict)
                and all(type(params.get(name)) in (int, float) for name in ("k1", "b", "avgdl"))):
            raise IndexProblem(damaged)
        term_ptr = load_npy(directory / f"{prefix}.term_ptr.npy", "int64", (terms + 1,))
        offsets = load_npy(directory / f"{prefix}.term_offsets.npy", "int64", (terms + 1,))
        postings, weighed = int(term_ptr[-1]), meta["format"] == WEIGHED_FORMAT
        arrays = {"idf": load_npy(directory / f"{prefix}.idf.npy", "float32", (terms,)), "term_ptr": term_ptr,
                  "doc_ids": load_npy(directory / f"{prefix}.doc_ids.npy", "int32", (postings,)),
                  "frequencies": load_npy(directory / f"{prefix}.{'weights' if weighed else 'frequencies'}.npy",
                                          "float32", (postings,)),
                  "lengths": None if weighed else load_npy(directory / f"{prefix}.lengths.npy", "float32", (n_docs,)),
                  "weighed": weighed}
        try:
            with open_index_file(directory / f"{prefix}.terms.bin") as handle:
                blob = mapped_bytes(handle, directory / f"{prefix}.terms.bin") if terms else b""
        except (OSError, ValueError):
            raise IndexProblem(damaged) from None
        if term_ptr[0] != 0 or offsets[0] != 0 or int(offsets[-1]) != len(blob):
            raise IndexProblem(damaged)
        return cls(Terms(blob, offsets), n_docs=n_docs, params=params, **arrays)


class BM25Builder:
    """Collects postings document by document (a build streams its references through it), in typed
    arrays: 12 bytes per (document, term) rather than a Python tuple. A build that takes documents
    over from the previous generation's index (`take_over`, `add_kept`) tokenizes only the others:
    the kept documents' postings are copied from the previous index."""

    def __init__(self, k1: float = BM25_PARAMS["k1"], b: float = BM25_PARAMS["b"]):
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        self._terms, self._docs, self._tfs, self._lengths = array("i"), array("i"), array("f"), array("f")
        self._old: tuple[BM25Index, np.ndarray] | None = None
        self._kept_old, self._kept_new = array("i"), array("i")

    def add(self, fields: Sequence[tuple[str, float]]) -> None:
        counts: dict[str, float] = {}
        for text, weight in fields:
            for token, count in Counter(tokenize(text)).items():  # counted in C: a PDF's passages are long
                counts[token] = counts.get(token, 0) + count * weight
        doc, vocab = len(self._lengths), self.vocab
        self._lengths.append(sum(counts.values()))
        self._terms.extend([vocab.setdefault(token, len(vocab)) for token in counts])
        self._docs.extend([doc] * len(counts))
        self._tfs.extend(counts.values())

    def take_over(self, old: BM25Index) -> None:
        """Documents of `old` may be added again by `add_kept`."""
        self._old = old

    def add_kept(self, old_docs: Sequence[int]) -> None:
        """The next documents are `old_docs` of the index given to `take_over`, unchanged."""
        start = len(self._lengths)
        self._kept_old.extend(old_docs)
        self._kept_new.extend(range(start, start + len(old_docs)))
        self._lengths.frombytes(np.asarray(self._old.lengths[np.asarray(old_docs, dtype=np.int64)], dtype=np.float32).tobytes())

    def finish(self, block: int = 1 << 20) -> BM25Index:
        """The index, postings placed term by term with a counting sort, a block at a time: beside
        the collected postings it needs only the final arrays (8 bytes a posting), not a full sort's
        index and copies (a 184,000-paper build peaked at 1.4 GB in a global argsort). Terms are
        numbered in their sorted order, which is what the vocabulary file is looked up by. The builder
        is spent afterwards: the collected postings are let go as soon as they are placed, so they
        and the final arrays are not both held while the index is saved."""
        if self._kept_old:
            return self._finish_with_kept()
        k1, b = self.k1, self.b
        ordered = sorted(token.encode("utf-8") for token in self.vocab)
        renumber = np.empty(len(ordered), dtype=np.int32)
        renumber[[self.vocab[token.decode("utf-8")] for token in ordered]] = np.arange(len(ordered), dtype=np.int32)
        self.vocab = {}
        n_docs = len(self._lengths)
        avgdl = (sum(self._lengths) / n_docs) if n_docs else 0.0
        terms = renumber[np.frombuffer(self._terms, dtype=np.int32)]
        self._terms = array("i")
        docs_in = np.frombuffer(self._docs, dtype=np.int32)
        tfs_in = np.frombuffer(self._tfs, dtype=np.float32)
        lengths = np.frombuffer(self._lengths, dtype=np.float32)
        df = np.bincount(terms, minlength=len(ordered))
        term_ptr = np.zeros(len(ordered) + 1, dtype=np.int64)
        np.cumsum(df, out=term_ptr[1:])
        cursor = term_ptr[:-1].copy()  # where each term's next posting goes
        doc_ids = np.empty(len(terms), dtype=np.int32)
        frequencies = np.empty(len(terms), dtype=np.float32)

        for start in range(0, len(terms), block):
            part = terms[start:start + block].copy()  # not a view: nothing of terms outlives the loop
            order = np.argsort(part, kind="stable")  # within a term, documents stay in ascending order
            sorted_terms = part[order]
            first = np.searchsorted(sorted_terms, sorted_terms, side="left")  # each run's first index
            destination = cursor[sorted_terms] + (np.arange(len(part)) - first)
            cursor += np.bincount(part, minlength=len(ordered))
            doc_ids[destination] = docs_in[start:start + block][order]
            frequencies[destination] = tfs_in[start:start + block][order]
        del terms, docs_in, tfs_in
        self._docs, self._tfs = array("i"), array("f")
        idf = _idf(df.astype(np.float64), n_docs).astype(np.float32)
        return BM25Index(Terms.of(ordered), idf, term_ptr, doc_ids, frequencies, n_docs,
                         {"k1": k1, "b": b, "avgdl": avgdl}, lengths.copy())

    def _finish_with_kept(self) -> BM25Index:
        """`finish` when documents were taken over: their postings come from the old index,
        renumbered into the merged vocabulary (the old one's terms still used, with the
        new documents' own terms put in their places: no Python list of the vocabulary, which
        sorting took seconds at 184,000 papers). The old postings stay in order when the documents
        taken over kept theirs (an update that adds or edits a few), and the new postings are put
        in among them; otherwise all are sorted again (numpy's lexsort, in C). Nothing per posting
        is made that the result does not need (each array of 20 million cost ~0.2 s at 184,000 papers)."""
        old = self._old
        n_docs = len(self._lengths)
        lengths = np.frombuffer(self._lengths, dtype=np.float32).copy()
        new_of_old = np.full(old.n_docs, -1, dtype=np.int32)  # 32 bits, and in place below: 20 million
        new_of_old[np.frombuffer(self._kept_old, dtype=np.int32)] = np.frombuffer(self._kept_new, dtype=np.int32)
        old_docs, old_ptr = np.asarray(old.doc_ids), np.asarray(old.term_ptr)
        dropped = new_of_old < 0
        if dropped.any():
            kept = ~dropped[old_docs]
            kept_before = np.zeros(len(kept) + 1, dtype=np.int64)
            np.cumsum(kept, out=kept_before[1:])
            counts = kept_before[old_ptr[1:]] - kept_before[old_ptr[:-1]]  # each old term's postings kept
            del kept_before
            docs, tfs = new_of_old[old_docs[kept]], np.asarray(old.frequencies)[kept]
            del kept
        else:
            counts, docs, tfs = np.diff(old_ptr), new_of_old[old_docs], np.asarray(old.frequencies)
        del old_docs
        used = counts > 0
        terms, number_of_old, number_of_new = _merged_vocabulary(old.terms, used,
                                                                 [token.encode("utf-8") for token in self.vocab])
        old_counts = np.zeros(len(terms), dtype=np.int64)  # by merged term: its old postings, first in `docs`
        old_counts[number_of_old[used]] = counts[used]
        new_terms = number_of_new[np.frombuffer(self._terms, dtype=np.int32)]
        new_docs, new_tfs = np.frombuffer(self._docs, dtype=np.int32), np.frombuffer(self._tfs, dtype=np.float32)
        self.vocab, self._terms, self._docs, self._tfs, self._old = {}, array("i"), array("i"), array("f"), None
        order = np.lexsort((new_docs, new_terms))
        new_terms, new_docs, new_tfs = new_terms[order], new_docs[order], new_tfs[order]
        if np.all(np.diff(new_of_old[~dropped]) > 0):  # (term, document) is still sorted: put the new postings in
            at = _places(docs, old_counts, new_terms, new_docs, n_docs)
            docs, tfs = np.insert(docs, at, new_docs).astype(np.int32), np.insert(tfs, at, new_tfs)
        else:
            all_terms = np.concatenate([np.repeat(np.arange(len(terms), dtype=np.int32), old_counts), new_terms])
            order = np.lexsort((np.concatenate([docs, new_docs]), all_terms))
            del all_terms
            docs = np.concatenate([docs, new_docs])[order].astype(np.int32)
            tfs = np.concatenate([tfs, new_tfs])[order]
        df = old_counts + np.bincount(new_terms, minlength=len(terms))
        term_ptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(df, out=term_ptr[1:])
        avgdl = float(lengths.sum(dtype=np.float64) / n_docs) if n_docs else 0.0
        idf = _idf(df.astype(np.float64), n_docs).astype(np.float32)
        return BM25Index(terms, idf, term_ptr, docs, tfs, n_docs,
                         {"k1": self.k1, "b": self.b, "avgdl": avgdl}, lengths)


def _places(docs: np.ndarray, old_counts: np.ndarray, terms: np.ndarray, new_docs: np.ndarray, n_docs: int) -> np.ndarray:
    """Where each new posting (`terms`, `new_docs`, sorted) goes among the old ones (`docs`, each
    term's ascending, `old_counts` of them per term, terms in order): bisected in its term's
    span; a term per old posting (20 million at 184,000 papers) is made only for many new ones."""
    starts = np.zeros(len(old_counts) + 1, dtype=np.int64)
    np.cumsum(old_counts, out=starts[1:])
    if len(terms) <= FEW_NEW_POSTINGS:
        return np.array([start + int(np.searchsorted(docs[start:end], doc)) for start, end, doc in
                         zip(starts[terms].tolist(), starts[terms + 1].tolist(), new_docs.tolist())], dtype=np.int64)
    keys = np.repeat(np.arange(len(old_counts), dtype=np.int64), old_counts)
    keys *= n_docs
    keys += docs
    return np.searchsorted(keys, terms.astype(np.int64) * n_docs + new_docs)


def _merged_vocabulary(old: Terms, used: np.ndarray, tokens: list[bytes]) -> tuple[Terms, np.ndarray, np.ndarray]:
    """The sorted vocabulary of the old terms still `used` and `tokens` (the new documents' terms),
    with each old term's and each token's number in it."""
    places = [bisect_left(old, token) for token in tokens]
    known = [place < len(old) and old[place] == token for place, token in zip(places, tokens)]
    used = used.copy()
    used[[place for place, inside in zip(places, known) if inside]] = True
    inserted = sorted((place, token) for place, token, inside in zip(places, tokens, known) if not inside)
    positions = np.array([place for place, _ in inserted], dtype=np.int64)
    kept = np.flatnonzero(used)
    number_of_old = np.full(len(old), -1, dtype=np.int64)
    number_of_old[kept] = np.arange(len(kept)) + np.searchsorted(positions, kept, side="right")
    number_of_inserted = np.searchsorted(kept, positions, side="left") + np.arange(len(positions))
    inserted_number = {token: number for (_, token), number in zip(inserted, number_of_inserted.tolist())}
    number_of_new = np.array([number_of_old[place] if inside else inserted_number[token]
                              for place, token, inside in zip(places, tokens, known)], dtype=np.int64)
    lengths = np.empty(len(kept) + len(inserted), dtype=np.int64)
    lengths[number_of_old[kept]] = np.diff(old._offsets)[kept]
    lengths[number_of_inserted] = [len(token) for _, token in inserted]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Terms(old.spliced(~used, inserted), offsets), number_of_old, number_of_new


def _idf(df, n_docs: int):
    """BM25's idf (the +1 keeps it positive for terms in most documents)."""
    return np.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def _group_terms(terms: Sequence[QueryTerm]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for term in terms:
        grouped.setdefault(term.token, []).append(term.surface)
    return grouped
