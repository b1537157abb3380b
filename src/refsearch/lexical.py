"""BM25 over Chinese and English text, numpy only, stored as plain JSON + .npy arrays.

Why our own BM25 and not bm25s or SQLite FTS5: the index must load in milliseconds on the query
path, the tokenizer must handle Chinese without jieba's 0.5 s dictionary load, and the vocabulary
must be persisted and checked with the index (bm25s bugs #21/#91 came from mismatched vocabularies).
The whole scorer is a CSC matrix of precomputed BM25 term weights: a query is a few slice-adds.

Tokenisation (`TOKENIZER` names it; an index built with another one is refused):
- text is NFKC-normalised and lower-cased (after camelCase names are split: PagedAttention
  yields paged, attention and pagedattention, so "paged attention" finds it);
- runs of CJK characters become overlapping character bigrams (a lone character stays a unigram),
  so a 2-character word such as 切片 matches wherever it occurs, with no segmentation dictionary;
  Chinese technical terms found in the zh→en glossary (glossary.py) also emit the tokens of their
  English rendering, so "模型注册" meets "model registry" in either language;
- Latin/digit words are Snowball-stemmed (PyStemmer) unless they contain a digit (`k8s`, `cd4ml`,
  `v1`), stop words are dropped, and a hyphenated or dotted name (`multi-instance`, `ray.io`) yields
  its parts and the joined form (`multiinstance`) so either spelling matches.
"""

from __future__ import annotations

import json
import re
import unicodedata
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import IndexProblem
from .fusion import Ranking
from .glossary import glossary_matches

TOKENIZER = "refsearch-bm25-tokens@3"
FORMAT = "refsearch/bm25@1"
# A pasted paragraph or abstract is searched by its most informative terms (highest idf x count):
# beyond a few dozen, more terms add postings to scan but hardly change the ranking.
MAX_QUERY_TERMS = 64

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_]+(?:[-_./+][^\W_]+)*)", re.UNICODE)
_CJK_CHAR = re.compile(rf"[{_CJK}]")

STOP_WORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was "
    "what when where which who why will with".split()
)


@dataclass(frozen=True)
class QueryTerm:
    """One token of the query and the words the user typed that produced it (for highlighting)."""

    token: str
    surface: str


def _stemmer():
    import Stemmer  # PyStemmer: C Snowball, imports in under a millisecond

    return Stemmer.Stemmer("english")


_STEM = _stemmer()


_SEPARATOR = re.compile(r"[-_./+]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z][a-z])")  # PagedAttention -> Paged|Attention; not vLLM, MLflow


def _word_tokens(word: str) -> list[str]:
    parts = [p.lower() for chunk in _SEPARATOR.split(word) for p in _CAMEL.split(chunk) if p]
    tokens = [_normalise_word(p) for p in parts]
    if len(parts) > 1:
        tokens.append("".join(parts))
    return [t for t in tokens if t]


def _normalise_word(word: str) -> str:
    if word in STOP_WORDS:
        return ""
    if any(ch.isdigit() for ch in word):
        return word
    return _STEM.stemWord(word)


def _cjk_terms(run: str) -> list[QueryTerm]:
    grams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    terms = [QueryTerm(gram, gram) for gram in grams]
    for term, english in glossary_matches(run):
        terms.extend(QueryTerm(token, term) for word in english.split() for token in _word_tokens(word))
    return terms


def query_terms(text: str) -> list[QueryTerm]:
    """Tokens with the surface text they came from, in order (duplicates kept)."""
    text = unicodedata.normalize("NFKC", text)
    terms: list[QueryTerm] = []
    for match in _TOKEN.finditer(text):
        if match.group("cjk"):
            terms.extend(_cjk_terms(match.group("cjk")))
        else:
            word = match.group("word")
            # a word glued to CJK ("GPU切片") is split by the regex already; mixed scripts inside a
            # \w run (rare) are split here so CJK parts still get bigrams
            for piece in re.split(rf"([{_CJK}]+)", word):
                if not piece:
                    continue
                if _CJK_CHAR.match(piece):
                    terms.extend(_cjk_terms(piece))
                else:
                    terms.extend(QueryTerm(t, piece.lower()) for t in _word_tokens(piece))
    return terms


def tokenize(text: str) -> list[str]:
    return [term.token for term in query_terms(text)]


@dataclass
class LexicalHits:
    doc_ids: np.ndarray  # int64, best first
    scores: np.ndarray  # float32
    matched: dict[int, list[str]]  # doc id -> surface forms of the query terms it contains
    ceiling: float  # score of an average-length document holding every query term once

    def ranking(self) -> Ranking:
        return Ranking(self.doc_ids, self.scores, self.ceiling)


class BM25Index:
    """Precomputed BM25 weights in term-major (CSC) layout."""

    def __init__(self, vocab: dict[str, int], idf: np.ndarray, term_ptr: np.ndarray,
                 doc_ids: np.ndarray, weights: np.ndarray, n_docs: int, params: dict):
        self.vocab = vocab
        self.idf = idf
        self.term_ptr = term_ptr
        self.doc_ids = doc_ids
        self.weights = weights
        self.n_docs = n_docs
        self.params = params

    @classmethod
    def build(cls, documents: Iterable[Sequence[tuple[str, float]]], k1: float = 1.2,
              b: float = 0.75) -> "BM25Index":
        """`documents`: per document, (text, field weight) pairs; a weight scales term frequency."""
        vocab: dict[str, int] = {}
        # one posting per (document, term), in typed arrays: 16 bytes each rather than a Python tuple
        posting_terms, posting_docs, posting_tfs, lengths = array("q"), array("i"), array("f"), array("f")
        for doc, fields in enumerate(documents):
            counts: Counter[str] = Counter()
            for text, weight in fields:
                for token in tokenize(text):
                    counts[token] += weight
            lengths.append(sum(counts.values()))
            for token, tf in counts.items():
                posting_terms.append(vocab.setdefault(token, len(vocab)))
                posting_docs.append(doc)
                posting_tfs.append(tf)
        n_docs = len(lengths)
        avgdl = (sum(lengths) / n_docs) if n_docs else 0.0
        terms = np.frombuffer(posting_terms, dtype=np.int64)
        by_term = np.argsort(terms, kind="stable")  # within a term, documents stay in ascending order
        terms = terms[by_term]
        docs = np.frombuffer(posting_docs, dtype=np.int32)[by_term]
        tfs = np.frombuffer(posting_tfs, dtype=np.float32)[by_term]
        dl = np.frombuffer(lengths, dtype=np.float32)[docs]
        norm = k1 * (1 - b + b * dl / max(avgdl, 1e-9))
        weights = (tfs * (k1 + 1) / (tfs + norm)).astype(np.float32)
        df = np.bincount(terms, minlength=len(vocab)).astype(np.float64)
        idf = _idf(df, n_docs).astype(np.float32)
        term_ptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=term_ptr[1:])
        params = {"k1": k1, "b": b, "avgdl": avgdl}
        return cls(vocab, idf, term_ptr, docs, weights, n_docs, params)

    def term_id(self, token: str) -> int | None:
        """The token's row in the postings, or None; a vocabulary entry pointing nowhere is damage."""
        term = self.vocab.get(token)
        if term is not None and not (isinstance(term, int) and 0 <= term < len(self.idf)):
            raise IndexProblem(f"lexical vocabulary entry {token!r} is damaged; run `refsearch build --force`.")
        return term

    def document_frequency(self, term: int) -> int:
        return int(self.term_ptr[term + 1] - self.term_ptr[term])

    @property
    def unseen_idf(self) -> float:
        """The idf of a term no document contains: a query word the index cannot match at all."""
        return float(_idf(0.0, self.n_docs))

    def search(self, query: str, depth: int, allowed: np.ndarray | None = None) -> LexicalHits:
        """Top `depth` documents; `allowed` is a boolean mask applied before the cut."""
        scores = np.zeros(self.n_docs, dtype=np.float32)
        hits_by_term: list[tuple[str, np.ndarray]] = []
        ceiling = 0.0
        for token, surfaces in self._informative(_group_terms(query_terms(query))).items():
            term = self.term_id(token)
            ceiling += (self.unseen_idf if term is None else float(self.idf[term])) * len(surfaces)
            if term is None:
                continue
            start, end = self.term_ptr[term], self.term_ptr[term + 1]
            docs = self.doc_ids[start:end]
            scores[docs] += self.idf[term] * self.weights[start:end] * len(surfaces)
            hits_by_term.append((surfaces[0], docs))
        if allowed is not None:
            scores[~allowed] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > depth:
            candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        wanted = set(order.tolist())
        matched: dict[int, list[str]] = {}
        for surface, docs in hits_by_term:
            for doc in set(docs.tolist()) & wanted:
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

    def save(self, directory: Path) -> list[str]:
        meta = {"format": FORMAT, "tokenizer": TOKENIZER, "n_docs": self.n_docs,
                "params": self.params, "vocab": self.vocab}
        from .store import write_file
        from .vectors import save_npy

        write_file(directory / "lexical.json", json.dumps(meta, ensure_ascii=False).encode())
        for name in ("idf", "term_ptr", "doc_ids", "weights"):
            save_npy(directory / f"lexical.{name}.npy", getattr(self, name))
        return ["lexical.json"] + [f"lexical.{n}.npy" for n in ("idf", "term_ptr", "doc_ids", "weights")]

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        """Load and check the index; the postings are memory-mapped, not read."""
        from .store import read_index_json
        from .vectors import load_npy

        damaged = f"{directory}: lexical index is damaged or inconsistent; run `refsearch build --force`."
        meta = read_index_json(directory / "lexical.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("tokenizer") != TOKENIZER:
            found = (meta.get("format"), meta.get("tokenizer")) if isinstance(meta, dict) else None
            raise IndexProblem(
                f"{directory}: lexical index was written by another version ({found}); run `refsearch build --force`."
            )
        vocab, n_docs, params = meta.get("vocab"), meta.get("n_docs"), meta.get("params")
        if not (isinstance(vocab, dict) and isinstance(n_docs, int) and isinstance(params, dict)
                and isinstance(params.get("avgdl", 0), (int, float))):
            raise IndexProblem(damaged)
        term_ptr = load_npy(directory / "lexical.term_ptr.npy", "int64", (len(vocab) + 1,))
        postings = int(term_ptr[-1]) if len(term_ptr) else 0
        arrays = {"idf": load_npy(directory / "lexical.idf.npy", "float32", (len(vocab),)), "term_ptr": term_ptr,
                  "doc_ids": load_npy(directory / "lexical.doc_ids.npy", "int32", (postings,)),
                  "weights": load_npy(directory / "lexical.weights.npy", "float32", (postings,))}
        if (term_ptr[0] != 0 or np.any(np.diff(term_ptr) < 0)
                or (postings and (arrays["doc_ids"].min() < 0 or arrays["doc_ids"].max() >= n_docs))
                or not (np.isfinite(arrays["idf"]).all() and np.isfinite(arrays["weights"]).all())):
            raise IndexProblem(damaged)
        return cls(vocab, n_docs=n_docs, params=params, **arrays)


def _idf(df, n_docs: int):
    """BM25's idf (the +1 keeps it positive for terms in most documents)."""
    return np.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def _group_terms(terms: list[QueryTerm]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for term in terms:
        grouped.setdefault(term.token, []).append(term.surface)
    return grouped
